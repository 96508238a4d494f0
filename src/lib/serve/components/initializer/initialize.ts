/**
 * One initialization (what `/initialization/start` runs, docs/serve.md "Initialization" and
 * "Multi-member bootstrap").
 *
 * Single member (`initial-cluster` has one entry): validate the data dir (`src/lib/validate`);
 * when it is missing, corrupt or behind the newest backup, restore it from the store
 * (`src/lib/restore`) with this member's identity from druid's ConfigMap. A missing data dir
 * with no backup is a fresh start (etcd creates it).
 *
 * Multi-member (more than one entry): was this member in the cluster (listed by name through
 * the service endpoints; if nobody answers, does its member lease have a holder)? If not and
 * the cluster answers without it, this is a scale-up: clear the data dir and join as a learner
 * (no validation). Otherwise validate; a valid data dir passes, a missing one on a cluster
 * that never had this member is a fresh start, and anything else in a running cluster is
 * repaired by removing this member, clearing the data dir and re-adding it as a learner (etcd
 * then streams the data from the leader; nothing is restored from the store).
 */
import { StewardError, messageOf } from '../../../errors.ts'
import { restoreFullSnapshot } from '../../../restore/restore.ts'
import { validateDataDir } from '../../../validate/validate.ts'
import { clusterAdminFor } from '../../cluster.ts'
import type { ServeContext } from '../../component.ts'
import { leaseApiFor } from '../../k8s.ts'
import { initialClusterEntries, memberName, readEtcdConfigMap, urlsOf, type EtcdConfigMap } from '../etcd-config/render.ts'
import { DEFAULT_MEMBERSHIP_TIMINGS, addSelfAsLearner, isMemberInCluster, removeSelf, type MembershipDeps, type MembershipTimings } from './membership.ts'
import { checkSafeGuard, writeSafeGuard } from './safe-guard.ts'
import type { ValidationMode } from './state.ts'

export interface InitializationOutcome {
  readonly action: 'none' | 'fresh-start' | 'restored' | 'joined-as-learner' | 'rejoined-as-learner'
  readonly detail: string
}

/**
 * @param timings membership retries and timeouts (tests shorten them)
 * @throws StewardError `DATA_DIR_WRONG_MEMBER` (safe-guard), from validation, restore, membership
 *   (`MEMBER_JOIN_FAILED`, `ETCD_*`), or `DATA_DIR_INVALID` when nothing can fix the data dir
 */
export async function initializeMember(ctx: ServeContext, mode: ValidationMode, signal: AbortSignal, timings: MembershipTimings = DEFAULT_MEMBERSHIP_TIMINGS): Promise<InitializationOutcome> {
  const { options } = ctx
  const config = await readEtcdConfigMap(options.etcdConfigPath)
  const entries = initialClusterEntries(config)
  // The volume must be this member's before anything reads, clears or restores it (POD_NAME names the member).
  const guarded = options.podName ? memberName(config, options.podName) : null
  if (guarded) await checkSafeGuard(options.dataDir, options.podNamespace, guarded)
  const outcome = entries.length > 1 ? await initializeClusterMember(ctx, config, mode, signal, timings) : await initializeSingleMember(ctx, config, mode, signal)
  if (guarded) await writeSafeGuard(options.dataDir, { namespace: options.podNamespace ?? '', member: guarded })
  return outcome
}

async function initializeSingleMember(ctx: ServeContext, config: EtcdConfigMap, mode: ValidationMode, signal: AbortSignal): Promise<InitializationOutcome> {
  const { options, store, metrics } = ctx
  const validation = await validate(ctx, mode)
  if (validation.valid) return { action: 'none', detail: `data dir valid (revision ${validation.revision})` }
  const failure = new StewardError(validation.failure?.code ?? 'DATA_DIR_INVALID', 'initializer', validation.failure?.message ?? validation.status)
  if (validation.status === 'DataDirectoryLocked') throw failure
  const missing = validation.status === 'DataDirectoryNotExist'
  const latest = store ? await store.latestSet() : null
  if (!latest?.full) {
    if (missing) return { action: 'fresh-start', detail: store ? 'no data dir and no backup; etcd starts empty' : 'no data dir and no store; etcd starts empty' }
    throw new StewardError(failure.code, 'initializer', `${failure.reason}; no full snapshot in the store to restore from, so the data dir is left as it is`)
  }
  const name = memberName(config, options.podName)
  const restoreStarted = performance.now()
  try {
    const result = await restoreFullSnapshot(store!, {
      dataDir: options.dataDir,
      // The data dir failed validation; replacing it with the backup is what initialization is for (as etcd-backup-restore).
      force: true,
      member: {
        name,
        initialCluster: typeof config['initial-cluster'] === 'string' ? config['initial-cluster'] : `${name}=${urlsOf(config, 'initial-advertise-peer-urls', name).split(',')[0]}`,
        initialClusterToken: typeof config['initial-cluster-token'] === 'string' ? config['initial-cluster-token'] : 'etcd-cluster',
        initialAdvertisePeerUrls: urlsOf(config, 'initial-advertise-peer-urls', name).split(','),
      },
      skipHashCheck: options.skipHashCheck,
      limits: options.restoreLimits,
      deltaApply: options.deltaApply,
      signal,
    })
    metrics.restorationDuration.observe({ restore: 'single_member', succeeded: 'true' }, (performance.now() - restoreStarted) / 1000)
    return { action: 'restored', detail: `restored ${result.snapshot} + ${result.deltasApplied} delta(s) to revision ${result.revision} (data dir was ${validation.status})` }
  } catch (error) {
    metrics.restorationDuration.observe({ restore: 'single_member', succeeded: 'false' }, (performance.now() - restoreStarted) / 1000)
    throw error
  }
}

async function validate(ctx: ServeContext, mode: ValidationMode, multiMember = false) {
  const started = performance.now()
  let validation
  try {
    // A multi-member data dir is never compared with the store: other members may have written newer backups.
    validation = await validateDataDir(ctx.options.dataDir, multiMember ? undefined : (ctx.store ?? undefined))
    ctx.metrics.validationDuration.observe({ succeeded: 'true' }, (performance.now() - started) / 1000)
  } catch (error) {
    ctx.metrics.validationDuration.observe({ succeeded: 'false' }, (performance.now() - started) / 1000)
    throw error
  }
  ctx.logger.info({ component: 'initializer', mode, status: validation.status, revision: validation.revision }, `data dir ${ctx.options.dataDir}: ${validation.status}`)
  return validation
}

/** Whether this member's lease has a holder (etcd-backup-restore's fallback when no member answers); false without Kubernetes access. */
async function leaseHasHolder(ctx: ServeContext, name: string): Promise<boolean> {
  if (!ctx.options.memberLease) return false
  try {
    const lease = await (await leaseApiFor(ctx)).get(name, 5000)
    return Boolean(lease.holderIdentity)
  } catch (error) {
    ctx.logger.info({ component: 'initializer', err: error }, `reading member lease ${name} failed: ${messageOf(error)}; assuming this member was not in the cluster`)
    return false
  }
}

/** The multi-member path (see the module docstring). @throws StewardError `MEMBER_JOIN_FAILED`, `ETCD_*`, validation codes */
async function initializeClusterMember(ctx: ServeContext, config: EtcdConfigMap, mode: ValidationMode, signal: AbortSignal, timings: MembershipTimings): Promise<InitializationOutcome> {
  const { options, logger } = ctx
  const name = memberName(config, options.podName)
  const peerUrls = urlsOf(config, 'initial-advertise-peer-urls', name).split(',')
  const deps: MembershipDeps = { cluster: await clusterAdminFor(ctx), clock: ctx.clock, logger, metrics: ctx.metrics, timings, signal }

  // 1. Was this member in the cluster?
  let wasMember: boolean
  let members: Awaited<ReturnType<typeof isMemberInCluster>>['members'] | null = null
  try {
    const found = await isMemberInCluster(name, deps)
    wasMember = found.member !== undefined
    members = found.members
    logger.info({ component: 'initializer', member: name, wasMember, members: members.length }, wasMember ? `member ${name} is in the cluster` : `member ${name} is not in the cluster's member list`)
  } catch (error) {
    wasMember = await leaseHasHolder(ctx, name)
    logger.info({ component: 'initializer', member: name, wasMember }, `no member answered through ${deps.cluster.endpoints.join(',')} (${messageOf(error)}); member lease ${wasMember ? 'has' : 'has no'} holder`)
  }

  // 2. Scale-up: the cluster answers (checked a second time) and does not list this member.
  if (!wasMember) {
    let scaledUp = false
    try {
      const again = await isMemberInCluster(name, deps)
      scaledUp = again.member === undefined
    } catch {
      scaledUp = false
    }
    if (scaledUp) {
      logger.info({ component: 'initializer', member: name, peerUrls }, `scale-up detected: ${name} joins the running cluster as a learner (data dir cleared)`)
      const id = await addSelfAsLearner(options.dataDir, peerUrls, deps)
      return { action: 'joined-as-learner', detail: `joined the cluster as a learner${id ? ` (member ID ${id})` : ''}; promoted once in sync` }
    }
  }

  // 3. Validate.
  const validation = await validate(ctx, mode, true)
  if (validation.valid) return { action: 'none', detail: `data dir valid (revision ${validation.revision})` }
  const failure = new StewardError(validation.failure?.code ?? 'DATA_DIR_INVALID', 'initializer', validation.failure?.message ?? validation.status)
  if (validation.status === 'DataDirectoryLocked') throw failure
  if (!wasMember && validation.status === 'DataDirectoryNotExist') return { action: 'fresh-start', detail: 'no data dir on a new cluster; etcd bootstraps with the other members' }

  // 4. Invalid data of a (former) member: remove self, clear the data dir, re-add as learner.
  logger.warn({ component: 'initializer', member: name, status: validation.status }, `data dir is ${validation.status}: removing ${name} from the cluster and re-adding it as a learner`)
  if (!members) {
    try {
      members = (await isMemberInCluster(name, deps)).members
    } catch (error) {
      throw new StewardError(failure.code, 'initializer', `${failure.reason}; the other members do not answer, so this member cannot rejoin (${messageOf(error)})`, { cause: error })
    }
  }
  await removeSelf(name, peerUrls, members, deps)
  const id = await addSelfAsLearner(options.dataDir, peerUrls, deps)
  return { action: 'rejoined-as-learner', detail: `data dir was ${validation.status}; rejoined as a learner${id ? ` (member ID ${id})` : ''}` }
}
