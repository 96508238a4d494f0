/**
 * Membership steps of multi-member bootstrap (docs/serve.md "Multi-member bootstrap"), as
 * etcd-backup-restore takes them, with its numbers as defaults (src/lib/bootstrap/timings.ts; flags
 * override them):
 *
 * - {@link isMemberInCluster}: `Get` + `MemberList` through the service endpoints, this member
 *   matched by **name** (a learner added but never started has an empty name, so it counts as
 *   "not a member"); 4 tries, 2 s then ×2 between them, 5 s per call.
 * - {@link addSelfAsLearner}: up to 6 attempts, each first deleting the data dir, then
 *   `MemberAdd(isLearner)` with this member's peer URLs; "member/peer URL already exists" is
 *   success (an earlier attempt got through); "too many learners" waits 5 s more; between
 *   attempts 2 s ×2 (10 % jitter, capped at 120 s).
 * - {@link removeSelf}: `MemberRemove` of the member with this name or one of these peer URLs.
 */
import { rm } from 'node:fs/promises'
import type { Logger } from 'pino'
import { StewardError, messageOf } from '../errors.ts'
import { sleep, type Clock } from '../serve/clock.ts'
import type { ClusterAdmin } from '../serve/cluster.ts'
import type { ClusterMember } from '../serve/etcd-seam.ts'
import type { EtcdbrMetrics } from '../serve/metrics.ts'
import type { MembershipTimings } from './timings.ts'

export { DEFAULT_MEMBERSHIP_TIMINGS, type MembershipTimings } from './timings.ts'

export interface MembershipDeps {
  readonly cluster: ClusterAdmin
  readonly clock: Clock
  readonly logger: Logger
  readonly metrics: EtcdbrMetrics
  readonly timings: MembershipTimings
  readonly signal: AbortSignal
}

const COMPONENT = 'initializer'

/** etcd's answers that mean "this peer is already a member" (ErrPeerURLexist, ErrMemberExist). */
export function isAlreadyMember(error: unknown): boolean {
  return /already exist|peer ?urls? exists?/i.test(messageOf(error))
}

/** etcd's "too many learner members in cluster". */
export function isTooManyLearners(error: unknown): boolean {
  return /too many learner/i.test(messageOf(error))
}

/** etcd's ErrMemberNotLearner: promotion already happened. */
export function isNotLearner(error: unknown): boolean {
  return /can only promote a learner member$|not a learner/i.test(messageOf(error).trim())
}

/** etcd's ErrLearnerNotReady: the learner has not caught up with the leader yet (not an error). */
export function isLearnerNotReady(error: unknown): boolean {
  return /in sync with leader|not ready/i.test(messageOf(error))
}

/**
 * Whether a member called `name` is in the cluster's member list.
 * @returns the answer and the list
 * @throws the last StewardError `ETCD_*` when no try got an answer
 */
export async function isMemberInCluster(name: string, deps: MembershipDeps): Promise<{ member: ClusterMember | undefined; members: ClusterMember[] }> {
  let last: unknown
  for (let attempt = 1; attempt <= deps.timings.probeAttempts; attempt++) {
    try {
      const members = await deps.cluster.members(deps.timings.callTimeoutMs)
      return { member: members.find((m) => m.name === name), members }
    } catch (error) {
      last = error
      deps.logger.info({ component: COMPONENT, attempt, endpoints: deps.cluster.endpoints }, `listing the cluster's members failed (try ${attempt}/${deps.timings.probeAttempts}): ${messageOf(error)}`)
      if (attempt < deps.timings.probeAttempts) await sleep(deps.clock, deps.timings.probeBackoffMs * 2 ** (attempt - 1), deps.signal)
    }
  }
  throw last
}

/**
 * Deletes `dataDir` and adds this member as a learner, with retries.
 * @returns the learner's member ID, or `null` when etcd said it already exists
 * @throws StewardError `MEMBER_JOIN_FAILED` after the last attempt
 */
export async function addSelfAsLearner(dataDir: string, peerUrls: readonly string[], deps: MembershipDeps): Promise<string | null> {
  const started = performance.now()
  const observe = (succeeded: boolean) => deps.metrics.addLearnerDuration.observe({ succeeded: String(succeeded) }, (performance.now() - started) / 1000)
  let last: unknown
  for (let attempt = 1; attempt <= deps.timings.addAttempts; attempt++) {
    await rm(dataDir, { recursive: true, force: true })
    try {
      const id = await deps.cluster.addLearner(peerUrls, deps.timings.callTimeoutMs)
      observe(true)
      deps.logger.info({ component: COMPONENT, memberId: id, peerUrls, attempt }, `added this member as a learner (member ID ${id})`)
      return id
    } catch (error) {
      if (isAlreadyMember(error)) {
        observe(true)
        deps.logger.info({ component: COMPONENT, peerUrls, attempt }, `this member is already in the cluster (${messageOf(error)}): treated as added`)
        return null
      }
      last = error
      deps.logger.warn({ component: COMPONENT, attempt, peerUrls }, `adding this member as a learner failed (attempt ${attempt}/${deps.timings.addAttempts}): ${messageOf(error)}`)
      if (attempt === deps.timings.addAttempts) break
      if (isTooManyLearners(error)) await sleep(deps.clock, deps.timings.tooManyLearnersWaitMs, deps.signal)
      const base = Math.min(deps.timings.addBackoffMs * 2 ** (attempt - 1), deps.timings.addBackoffCapMs)
      await sleep(deps.clock, base * (1 + Math.random() * 0.1), deps.signal)
    }
  }
  observe(false)
  throw new StewardError('MEMBER_JOIN_FAILED', COMPONENT, `could not add this member as a learner after ${deps.timings.addAttempts} attempts: ${messageOf(last)}`, {
    cause: last,
    hints: ['check that the other members are healthy and reachable through --service-endpoints', 'etcd allows one learner at a time: another member may still be catching up'],
  })
}

/**
 * Removes this member (matched by name, else by one of its peer URLs) from the cluster.
 * @returns whether a member was removed
 * @throws StewardError `ETCD_*`
 */
export async function removeSelf(name: string, peerUrls: readonly string[], members: readonly ClusterMember[], deps: MembershipDeps): Promise<boolean> {
  const self = members.find((m) => m.name === name) ?? members.find((m) => m.peerUrls.some((u) => peerUrls.includes(u)))
  if (!self) return false
  const started = performance.now()
  try {
    await deps.cluster.remove(self.id, deps.timings.callTimeoutMs)
    deps.metrics.memberRemoveDuration.observe({ succeeded: 'true' }, (performance.now() - started) / 1000)
    deps.logger.info({ component: COMPONENT, memberId: self.id }, `removed this member (ID ${self.id}) from the cluster`)
    return true
  } catch (error) {
    deps.metrics.memberRemoveDuration.observe({ succeeded: 'false' }, (performance.now() - started) / 1000)
    throw error
  }
}
