/**
 * Defragmentation of etcd members, in etcd-defrag's order of operations (docs/defrag.md):
 * resolve members → health check of every member (stop before any change if one fails) →
 * status of each target → maintenance lock → one physical compaction → per member, followers
 * first and the leader last (re-read before every member, so a leader that moved by itself still
 * goes last): fresh status → rule → [move leadership away] → defragment → status after →
 * optional NOSPACE disarm. An operation: no timers of its own (waiting goes through
 * `deps.sleep`), no signals, no process exit; cancellation through `signal`.
 */
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import type { MaintenanceEtcd, MaintenanceStatus } from './etcd.ts'
import { checkHealth, describeAlarms, type EndpointHealth } from './health.ts'
import { hexId, listMembers, votingEndpoints, type MemberEndpoint } from './members.ts'
import { ruleVariables, type DefragRule } from './rule.ts'

export interface DefragDeps {
  readonly etcd: MaintenanceEtcd
  /** Waits `ms` milliseconds; rejects when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  /** Epoch milliseconds. */
  now(): number
  /** Progress, in order (for log lines). */
  onEvent?(event: DefragEvent): void
}

/** The maintenance lock's settings. */
export interface LockOptions {
  /** Election name; the key is `election/<name>/<lease ID>`. */
  readonly name: string
  /** Lease TTL, seconds: how long a dead holder keeps the lock. */
  readonly ttlSeconds: number
  /** Value stored in the key: who holds it (host, pid). */
  readonly holder: string
}

export interface DefragOptions {
  /** Endpoints given by the user (`--endpoints`). */
  readonly endpoints: readonly string[]
  /** Defragment every voting member from the member list instead of `endpoints`. */
  readonly cluster: boolean
  readonly excludeLocalhost: boolean
  /** Health-check only `endpoints` instead of every member. */
  readonly skipHealthcheckClusterEndpoints: boolean
  /** Compact (physically) to the current revision before the first defragmentation. */
  readonly compaction: boolean
  /** Go on with the next member after a member's failure. */
  readonly continueOnError: boolean
  /** Defragment only members for which this is true; all members without a rule. */
  readonly rule?: DefragRule | undefined
  /** Quota the rule and the disarm threshold use, bytes. */
  readonly quotaBytes: number
  /** Plan only: no compaction, lock, leader move, defragmentation or disarm. */
  readonly dryRun: boolean
  /** Before defragmenting the leader, transfer leadership to a defragmented, up-to-date follower. */
  readonly moveLeader: boolean
  /** Pause after each defragmentation but the last, milliseconds. */
  readonly waitBetweenDefragsMs: number
  /** After a run without failures, disarm NOSPACE when every target is at or below `disalarmThreshold` of the quota. */
  readonly autoDisalarm: boolean
  /** Ratio in (0, 1). */
  readonly disalarmThreshold: number
  /** Take this lock before the first change; none when undefined. */
  readonly lock?: LockOptions | undefined
  /** How long a transferee may lag behind the leader's raft index before it is given up, ms. [5000] */
  readonly catchUpTimeoutMs?: number
}

export interface Sizes {
  readonly dbSizeBytes: number
  readonly dbSizeInUseBytes: number
}

export type MemberAction = 'defragmented' | 'skipped' | 'dry-run' | 'failed'

export interface MemberOutcome {
  readonly endpoint: string
  readonly memberId: string
  readonly action: MemberAction
  /** Whether the member led the cluster when its turn came (before any transfer). */
  readonly wasLeader: boolean
  /** Member ID leadership was transferred to before this member's defragmentation. */
  readonly leaderMovedTo?: string | undefined
  readonly before?: Sizes | undefined
  readonly after?: Sizes | undefined
  /** Epoch ms when the defragment call was sent / answered. */
  readonly startedAt?: number | undefined
  readonly finishedAt?: number | undefined
  readonly error?: string | undefined
}

export interface DefragResult {
  readonly dryRun: boolean
  readonly health: readonly EndpointHealth[]
  readonly compaction?: { readonly revision: number; readonly endpoint: string; readonly ok: boolean; readonly error?: string | undefined } | undefined
  readonly lock?: { readonly taken: boolean; readonly leaseId?: string | undefined; readonly waitedMs: number; readonly note?: string | undefined } | undefined
  readonly members: readonly MemberOutcome[]
  readonly failures: number
  readonly disalarm?: { readonly disarmed: readonly string[]; readonly note: string } | undefined
}

export type DefragEvent =
  | { type: 'health'; health: EndpointHealth }
  | { type: 'status'; status: MaintenanceStatus }
  | { type: 'lock-waiting'; name: string }
  | { type: 'lock-taken'; leaseId: string; waitedMs: number }
  | { type: 'lock-skipped'; reason: string }
  | { type: 'compaction'; revision: number; endpoint: string; error?: string | undefined }
  | { type: 'plan'; endpoints: readonly string[] }
  | { type: 'member-start'; status: MaintenanceStatus }
  | { type: 'member-skip'; endpoint: string; reason: string }
  | { type: 'leader-move'; from: string; to: string; endpoint: string; error?: string | undefined }
  | { type: 'defragmenting'; endpoint: string }
  | { type: 'defragmented'; endpoint: string; tookMs: number; error?: string | undefined; after?: MaintenanceStatus | undefined }
  | { type: 'wait'; ms: number }
  | { type: 'disalarm'; note: string }

/** The summary of a run that failed on at least one member. */
export function defragFailure(result: DefragResult): StewardError {
  const failed = result.members.filter((m) => m.action === 'failed')
  return new StewardError('DEFRAG_FAILED', 'defrag', `${result.failures} (total ${result.members.length}) member(s) failed: ${failed.map((m) => `${m.endpoint}: ${m.error}`).join('; ')}`, {
    details: { failed: failed.map((m) => m.endpoint) },
  })
}

/**
 * Runs the defragmentation described above. Per-member failures are counted in the result
 * (`failures`), not thrown.
 * @throws StewardError CLUSTER_UNHEALTHY (health check; before any change), ETCD_* (member list
 *   or status of a target), MAINTENANCE_LOCK_FAILED (the lock's lease could not be granted or
 *   was lost), ABORTED (signal)
 */
export async function defragment(deps: DefragDeps, options: DefragOptions, signal?: AbortSignal): Promise<DefragResult> {
  const { etcd } = deps
  const emit = (event: DefragEvent) => deps.onEvent?.(event)
  const checkAborted = () => {
    if (signal?.aborted) throw new StewardError('ABORTED', 'defrag', 'defragmentation cancelled')
  }

  // 1. Members and health.
  const members = await listMembers(etcd, options.endpoints)
  const voting = votingEndpoints(members, options.excludeLocalhost)
  const healthSet = options.skipHealthcheckClusterEndpoints ? [...options.endpoints] : voting.map((m) => m.endpoint)
  const health = await checkHealth(etcd, healthSet, deps.now)
  for (const h of health) emit({ type: 'health', health: h })
  const unhealthy = health.filter((h) => !h.healthy)
  if (unhealthy.length > 0) {
    throw new StewardError('CLUSTER_UNHEALTHY', 'defrag', `no member was touched: ${unhealthy.map((h) => `${h.endpoint} is unhealthy (${h.error})`).join('; ')}`, {
      details: { unhealthy: unhealthy.map((h) => ({ endpoint: h.endpoint, error: h.error })) },
      hints: ['fix the member first; NOSPACE is the only alarm defragmentation runs under', 'CORRUPT needs an operator: see docs/defrag.md'],
    })
  }
  checkAborted()

  // 2. Targets and their status (any failure stops the run, as in etcd-defrag).
  const targetEndpoints = options.cluster ? voting.map((m) => m.endpoint) : [...options.endpoints]
  const targets: MaintenanceStatus[] = []
  for (const endpoint of targetEndpoints) {
    const status = await etcd.status(endpoint)
    emit({ type: 'status', status })
    if (targets.some((t) => t.memberId === status.memberId)) continue
    if (status.isLearner) {
      emit({ type: 'member-skip', endpoint, reason: 'learner (etcd refuses defragmentation on learners)' })
      continue
    }
    targets.push(status)
  }
  const firstStatus = targets[0]
  if (!firstStatus) return { dryRun: options.dryRun, health, members: [], failures: 0 }

  // 3. The lock, before the first change.
  let lock: Awaited<ReturnType<MaintenanceEtcd['lock']>> | undefined
  let lockResult: DefragResult['lock']
  if (options.lock && !options.dryRun) {
    emit({ type: 'lock-waiting', name: options.lock.name })
    const started = deps.now()
    try {
      lock = await etcd.lock(voting.map((m) => m.endpoint), options.lock.name, options.lock.ttlSeconds, options.lock.holder, signal)
      lockResult = { taken: true, leaseId: lock.leaseId, waitedMs: deps.now() - started }
      emit({ type: 'lock-taken', leaseId: lock.leaseId, waitedMs: deps.now() - started })
    } catch (error) {
      if (isStewardError(error, 'ABORTED')) throw error
      // Under NOSPACE etcd refuses the lease grant the lock needs; defragmentation is the way out.
      if (/database space exceeded|NOSPACE/i.test(messageOf(error))) {
        const note = 'not taken: the cluster is out of space (NOSPACE) and refuses the lease; defragmenting without it'
        lockResult = { taken: false, waitedMs: deps.now() - started, note }
        emit({ type: 'lock-skipped', reason: note })
      } else {
        throw new StewardError('MAINTENANCE_LOCK_FAILED', 'defrag', `could not take the maintenance lock ${options.lock.name}: ${messageOf(error)}`, { cause: error, hints: ['pass --lock=false to run without it (only when no other steward defragments this cluster)'] })
      }
    }
  }

  try {
    // 4. Compaction: once, physical, to the first target's revision, sent to a follower.
    const plan = orderLeaderLast(targets)
    let compaction: DefragResult['compaction']
    if (options.compaction && !options.dryRun) {
      const endpoint = plan[0]?.endpoint ?? firstStatus.endpoint
      try {
        await etcd.compact(endpoint, firstStatus.revision, true)
        compaction = { revision: firstStatus.revision, endpoint, ok: true }
      } catch (error) {
        // A compaction failure is reported, not counted (etcd-defrag), e.g. "already compacted".
        compaction = { revision: firstStatus.revision, endpoint, ok: false, error: messageOf(error) }
      }
      emit({ type: 'compaction', revision: firstStatus.revision, endpoint, error: compaction.error })
    }
    emit({ type: 'plan', endpoints: plan.map((t) => t.endpoint) })

    // 5. Members one at a time.
    const outcomes: MemberOutcome[] = []
    let remaining = plan.map((t) => t.endpoint)
    let failures = 0
    while (remaining.length > 0) {
      checkAborted()
      if (lock?.lost.aborted) {
        throw new StewardError('MAINTENANCE_LOCK_FAILED', 'defrag', `the maintenance lock was lost (${messageOf(lock.lost.reason)}); stopped before ${remaining.join(', ')}`)
      }
      const next = await pickNext(etcd, remaining)
      remaining = remaining.filter((e) => e !== (next.ok ? next.status.endpoint : next.endpoint))
      if (!next.ok) {
        failures++
        outcomes.push({ endpoint: next.endpoint, memberId: '', action: 'failed', wasLeader: false, error: next.error })
        if (!options.continueOnError) break
        continue
      }
      const outcome = await defragmentOne(deps, options, next.status, voting, outcomes, next.others, signal, emit)
      outcomes.push(outcome)
      if (outcome.action === 'failed') {
        failures++
        if (!options.continueOnError) break
      }
      if (outcome.action === 'defragmented' && options.waitBetweenDefragsMs > 0 && remaining.length > 0) {
        emit({ type: 'wait', ms: options.waitBetweenDefragsMs })
        await deps.sleep(options.waitBetweenDefragsMs, signal)
      }
    }

    // 6. NOSPACE disarm after a clean run.
    let disalarm: DefragResult['disalarm']
    if (options.autoDisalarm && !options.dryRun && failures === 0) {
      disalarm = await disarmNospaceBelow(etcd, outcomes.map((o) => o.endpoint), options.quotaBytes, options.disalarmThreshold)
      emit({ type: 'disalarm', note: disalarm.note })
    }
    return { dryRun: options.dryRun, health, compaction, lock: lockResult, members: outcomes, failures, disalarm }
  } finally {
    await lock?.release()
  }
}

/** Followers in status order, then the leader(s). */
function orderLeaderLast(targets: readonly MaintenanceStatus[]): MaintenanceStatus[] {
  if (targets.length < 2) return [...targets]
  return [...targets.filter((t) => t.leaderId !== t.memberId), ...targets.filter((t) => t.leaderId === t.memberId)]
}

/**
 * The next member: the first remaining one that does not lead the cluster now (leadership is
 * re-read every time), or the leader when it is the only one left.
 */
async function pickNext(etcd: MaintenanceEtcd, remaining: readonly string[]): Promise<{ ok: true; status: MaintenanceStatus; others: string[] } | { ok: false; endpoint: string; error: string }> {
  const statuses: MaintenanceStatus[] = []
  for (const endpoint of remaining) {
    try {
      statuses.push(await etcd.status(endpoint))
    } catch (error) {
      return { ok: false, endpoint, error: `status before defragmentation: ${messageOf(error)}` }
    }
  }
  const status = statuses.find((s) => s.leaderId !== s.memberId) ?? (statuses[0] as MaintenanceStatus)
  return { ok: true, status, others: statuses.filter((s) => s !== status).map((s) => s.memberId) }
}

async function defragmentOne(
  deps: DefragDeps,
  options: DefragOptions,
  status: MaintenanceStatus,
  voting: readonly MemberEndpoint[],
  done: readonly MemberOutcome[],
  remainingIds: readonly string[],
  signal: AbortSignal | undefined,
  emit: (event: DefragEvent) => void,
): Promise<MemberOutcome> {
  const { etcd } = deps
  const { endpoint, memberId } = status
  const before = { dbSizeBytes: status.dbSizeBytes, dbSizeInUseBytes: status.dbSizeInUseBytes }
  const wasLeader = status.leaderId === memberId
  const base = { endpoint, memberId, wasLeader, before }
  emit({ type: 'member-start', status })
  if (options.rule) {
    let wanted: boolean
    try {
      wanted = options.rule.evaluate(ruleVariables(status.dbSizeBytes, status.dbSizeInUseBytes, options.quotaBytes))
    } catch (error) {
      return { ...base, action: 'failed', error: messageOf(error) }
    }
    if (!wanted) {
      emit({ type: 'member-skip', endpoint, reason: `rule "${options.rule.source}" is false` })
      return { ...base, action: 'skipped' }
    }
  }
  if (options.dryRun) {
    emit({ type: 'member-skip', endpoint, reason: `dry run: would defragment${wasLeader && options.moveLeader && voting.length > 1 ? ' after moving the leader away' : ''}` })
    return { ...base, action: 'dry-run' }
  }
  let leaderMovedTo: string | undefined
  if (wasLeader && options.moveLeader && voting.length > 1) {
    try {
      leaderMovedTo = await moveLeaderAway(deps, options, status, voting, done, remainingIds, signal)
      emit({ type: 'leader-move', from: memberId, to: leaderMovedTo, endpoint })
    } catch (error) {
      emit({ type: 'leader-move', from: memberId, to: '', endpoint, error: messageOf(error) })
      // Never defragment a leader when the user asked for a move: that is the stall --move-leader exists to avoid.
      return { ...base, action: 'failed', error: `leadership could not be moved away, so the member was not defragmented: ${messageOf(error)}` }
    }
  }
  emit({ type: 'defragmenting', endpoint })
  const startedAt = deps.now()
  try {
    await etcd.defragment(endpoint)
  } catch (error) {
    const finishedAt = deps.now()
    emit({ type: 'defragmented', endpoint, tookMs: finishedAt - startedAt, error: messageOf(error) })
    return { ...base, leaderMovedTo, action: 'failed', startedAt, finishedAt, error: `defragment: ${messageOf(error)}` }
  }
  const finishedAt = deps.now()
  let after: MaintenanceStatus
  try {
    after = await etcd.status(endpoint)
  } catch (error) {
    emit({ type: 'defragmented', endpoint, tookMs: finishedAt - startedAt })
    return { ...base, leaderMovedTo, action: 'failed', startedAt, finishedAt, error: `status after defragmentation: ${messageOf(error)}` }
  }
  emit({ type: 'defragmented', endpoint, tookMs: finishedAt - startedAt, after })
  return { ...base, leaderMovedTo, action: 'defragmented', startedAt, finishedAt, after: { dbSizeBytes: after.dbSizeBytes, dbSizeInUseBytes: after.dbSizeInUseBytes } }
}

/**
 * Transfers leadership from `leader` to a voting member that is not waiting for its own
 * defragmentation in this run (preferring one already defragmented), answers, and has applied
 * everything the leader had committed when asked; then waits until the old leader follows.
 * @returns the new leader's member ID
 * @throws StewardError when no member qualifies, the transfer fails or does not take effect
 */
async function moveLeaderAway(
  deps: DefragDeps,
  options: DefragOptions,
  leader: MaintenanceStatus,
  voting: readonly MemberEndpoint[],
  done: readonly MemberOutcome[],
  remainingIds: readonly string[],
  signal: AbortSignal | undefined,
): Promise<string> {
  const { etcd } = deps
  const defragmented = new Set(done.filter((o) => o.action === 'defragmented').map((o) => o.memberId))
  const candidates = voting
    .filter((m) => m.memberId !== leader.memberId && !remainingIds.includes(m.memberId))
    .sort((a, b) => Number(defragmented.has(b.memberId)) - Number(defragmented.has(a.memberId)))
  const deadline = deps.now() + (options.catchUpTimeoutMs ?? 5000)
  const reasons: string[] = []
  for (const candidate of candidates) {
    try {
      await etcd.probe(candidate.endpoint)
      const target = (await etcd.status(leader.endpoint)).raftIndex
      for (;;) {
        const s = await etcd.status(candidate.endpoint)
        if (s.isLearner) throw new Error('is a learner')
        if (s.raftAppliedIndex >= target) break
        if (deps.now() > deadline) throw new Error(`applied raft index ${s.raftAppliedIndex} still behind the leader's ${target}`)
        await deps.sleep(50, signal)
      }
    } catch (error) {
      reasons.push(`${hexId(candidate.memberId)}: ${messageOf(error)}`)
      continue
    }
    await etcd.moveLeader(leader.endpoint, candidate.memberId)
    // Wait until the old leader itself reports the new one.
    for (;;) {
      const s = await etcd.status(leader.endpoint)
      if (s.leaderId !== leader.memberId && s.leaderId !== '0') return s.leaderId
      if (deps.now() > deadline + 10_000) throw new Error(`member ${hexId(leader.memberId)} still leads after the transfer`)
      await deps.sleep(50, signal)
    }
  }
  throw new Error(`no member can take over leadership${reasons.length ? ` (${reasons.join('; ')})` : ' (every other member is still to be defragmented or has no client URL)'}`)
}

/**
 * Disarms NOSPACE alarms when every one of `endpoints` is at or below `threshold` × quota
 * (physical size). Errors are reported in the note, not thrown (etcd-defrag keeps exit 0).
 */
export async function disarmNospaceBelow(etcd: MaintenanceEtcd, endpoints: readonly string[], quotaBytes: number, threshold: number): Promise<{ disarmed: string[]; note: string }> {
  try {
    const first = endpoints[0]
    if (!first) return { disarmed: [], note: 'no member to check' }
    const nospace = (await etcd.alarms(first)).filter((a) => a.alarm === 'NOSPACE')
    if (nospace.length === 0) return { disarmed: [], note: 'no NOSPACE alarm' }
    const limit = quotaBytes * threshold
    for (const endpoint of endpoints) {
      const s = await etcd.status(endpoint)
      if (s.dbSizeBytes > limit) return { disarmed: [], note: `NOSPACE left armed: ${endpoint} uses ${s.dbSizeBytes} bytes, above ${threshold} of the ${quotaBytes}-byte quota` }
    }
    for (const alarm of nospace) await etcd.disarm(first, alarm)
    return { disarmed: nospace.map((a) => a.memberId), note: `disarmed ${describeAlarms(nospace)}` }
  } catch (error) {
    return { disarmed: [], note: `disarming failed: ${messageOf(error)}` }
  }
}
