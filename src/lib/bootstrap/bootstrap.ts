/**
 * Bootstrap of one etcd member: the one implementation behind `steward serve`'s initializer
 * (`/initialization/start`, docs/serve.md "Initialization" and "Multi-member bootstrap") and the
 * one-shot `steward bootstrap` (docs/commands.md "bootstrap"; the flow as a diagram with its log
 * lines and metrics: docs/kubernetes.md "Bootstrap flow").
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
import type { Logger } from 'pino'
import { StewardError, messageOf } from '../errors.ts'
import type { LeaseApi } from '../k8s/leases.ts'
import { restoreFullSnapshot, type DeltaApplyMode } from '../restore/restore.ts'
import type { TempEtcdLimits } from '../restore/temp-etcd.ts'
import type { Clock } from '../serve/clock.ts'
import type { ClusterAdmin } from '../serve/cluster.ts'
import { initialClusterEntries, memberName, readEtcdConfigMap, urlsOf, type EtcdConfigMap } from '../serve/components/etcd-config/render.ts'
import type { EtcdbrMetrics } from '../serve/metrics.ts'
import type { BackupStore } from '../snapshot/backup-store.ts'
import { validateDataDir } from '../validate/validate.ts'
import { addSelfAsLearner, isMemberInCluster, removeSelf, type MembershipDeps } from './membership.ts'
import { checkSafeGuard, writeSafeGuard } from './safe-guard.ts'
import type { MembershipTimings } from './timings.ts'

/** `full` checks the bbolt database's consistency; `sanity` only its structure and revision (docs/serve.md). */
export type ValidationMode = 'full' | 'sanity'

/** What a bootstrap works on (serve's options or `steward bootstrap`'s flags). */
export interface BootstrapOptions {
  /** etcd's data directory (`--data-dir`). */
  readonly dataDir: string
  /** druid's etcd config (`--etcd-config-file` / `ETCD_CONF`). */
  readonly etcdConfigPath: string
  /** `POD_NAME`: this member's name (with the config's `member-name-prefix`). */
  readonly podName: string | undefined
  readonly podNamespace: string | undefined
  readonly skipHashCheck: boolean
  /** Limits of the temporary etcd that replays deltas during a restore. */
  readonly restoreLimits: TempEtcdLimits
  /** How deltas are applied during a restore (`--delta-apply`, docs/restore.md) [direct]. */
  readonly deltaApply?: DeltaApplyMode
  /** Keep the delta chain's whole history (`--keep-delta-history`, docs/restore.md) [false]. */
  readonly keepDeltaHistory?: boolean
  /** Membership retries and timeouts (`--member-*`, `--learner-*` flags). */
  readonly membershipTimings: MembershipTimings
}

/** The resources a bootstrap uses; serve passes its runtime's, the command builds its own. */
export interface BootstrapDeps {
  readonly options: BootstrapOptions
  /** `null` without a store: nothing can be restored. */
  readonly store: BackupStore | null
  /** The cluster seam through `--service-endpoints` (created on first use; multi-member only). */
  readonly cluster: () => Promise<ClusterAdmin>
  /** The member-lease API, for the was-member fallback when no member answers; absent: no fallback. */
  readonly memberLeases?: (() => Promise<LeaseApi>) | undefined
  readonly metrics: EtcdbrMetrics
  readonly logger: Logger
  readonly clock: Clock
  /** Restore progress (bytes of the full snapshot read, total bytes). */
  readonly onRestoreProgress?: ((bytes: number, total: number | undefined) => void) | undefined
}

export type BootstrapAction = 'none' | 'fresh-start' | 'restored' | 'joined-as-learner' | 'rejoined-as-learner'

export interface BootstrapOutcome {
  /** What was done: nothing (data dir valid), fresh start (etcd creates the data dir), restored, joined / rejoined as learner. */
  readonly action: BootstrapAction
  readonly detail: string
  /** This member's name. */
  readonly member: string | undefined
  /** `true` when `initial-cluster` has more than one entry. */
  readonly multiMember: boolean
  /** Revision of the valid or restored data dir; absent when etcd starts empty or joins as a learner. */
  readonly revision?: number | undefined
  /** Decimal member ID etcd gave the learner; absent when etcd said it already existed, or no member was added. */
  readonly memberId?: string | undefined
}

/** Kept for the initializer's callers. */
export type InitializationOutcome = BootstrapOutcome

/**
 * Bootstraps this member's data dir and membership (see the module docstring), checking the
 * data-volume safe-guard first and marking the volume after.
 * @param mode validation mode (`full` | `sanity`)
 * @param signal aborts a restore or a backoff wait (`ABORTED`)
 * @returns what was done (nothing is written when the data dir is valid, apart from the safe-guard markers)
 * @throws StewardError `CONFIG_INVALID` (etcd config, `POD_NAME`), `DATA_DIR_WRONG_MEMBER` (safe-guard),
 *   `DATA_DIR_*` from validation or when nothing can fix the data dir, `STORE_*` / `SNAPSHOT_*` from
 *   the restore, `MEMBER_JOIN_FAILED` / `ETCD_*` from membership
 */
export async function bootstrapMember(deps: BootstrapDeps, mode: ValidationMode, signal: AbortSignal): Promise<BootstrapOutcome> {
  const { options } = deps
  const config = await readEtcdConfigMap(options.etcdConfigPath)
  const entries = initialClusterEntries(config)
  // The volume must be this member's before anything reads, clears or restores it (POD_NAME names the member).
  const guarded = options.podName ? memberName(config, options.podName) : null
  if (guarded) await checkSafeGuard(options.dataDir, options.podNamespace, guarded)
  deps.logger.info({ component: 'initializer', member: guarded ?? undefined, mode, members: entries.length, dataDir: options.dataDir }, `bootstrap of ${guarded ?? 'this member'} started (${entries.length > 1 ? `${entries.length}-member cluster` : 'single member'}, validation ${mode})`)
  const outcome = entries.length > 1 ? await bootstrapClusterMember(deps, config, mode, signal) : await bootstrapSingleMember(deps, config, mode, signal)
  if (guarded) await writeSafeGuard(options.dataDir, { namespace: options.podNamespace ?? '', member: guarded })
  return { ...outcome, member: guarded ?? undefined, multiMember: entries.length > 1 }
}

type StepOutcome = Omit<BootstrapOutcome, 'member' | 'multiMember'>

async function bootstrapSingleMember(deps: BootstrapDeps, config: EtcdConfigMap, mode: ValidationMode, signal: AbortSignal): Promise<StepOutcome> {
  const { options, store, metrics } = deps
  const validation = await validate(deps, mode)
  if (validation.valid) return { action: 'none', detail: `data dir valid (revision ${validation.revision})`, revision: validation.revision ?? undefined }
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
  deps.logger.info({ component: 'initializer', member: name, snapshot: latest.full.name }, `data dir is ${validation.status}: restoring it from the store`)
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
      ...(options.deltaApply ? { deltaApply: options.deltaApply } : {}),
      ...(options.keepDeltaHistory ? { keepDeltaHistory: true } : {}),
      onProgress: deps.onRestoreProgress,
      signal,
    })
    metrics.restorationDuration.observe({ restore: 'single_member', succeeded: 'true' }, (performance.now() - restoreStarted) / 1000)
    return { action: 'restored', detail: `restored ${result.snapshot} + ${result.deltasApplied} delta(s) to revision ${result.revision} (data dir was ${validation.status})`, revision: result.revision }
  } catch (error) {
    metrics.restorationDuration.observe({ restore: 'single_member', succeeded: 'false' }, (performance.now() - restoreStarted) / 1000)
    throw error
  }
}

async function validate(deps: BootstrapDeps, mode: ValidationMode, multiMember = false) {
  const started = performance.now()
  let validation
  try {
    // A multi-member data dir is never compared with the store: other members may have written newer backups.
    validation = await validateDataDir(deps.options.dataDir, multiMember ? undefined : (deps.store ?? undefined))
    deps.metrics.validationDuration.observe({ succeeded: 'true' }, (performance.now() - started) / 1000)
  } catch (error) {
    deps.metrics.validationDuration.observe({ succeeded: 'false' }, (performance.now() - started) / 1000)
    throw error
  }
  deps.logger.info({ component: 'initializer', mode, status: validation.status, revision: validation.revision }, `data dir ${deps.options.dataDir}: ${validation.status}`)
  return validation
}

/** Whether this member's lease has a holder (etcd-backup-restore's fallback when no member answers); false without Kubernetes access. */
async function leaseHasHolder(deps: BootstrapDeps, name: string): Promise<boolean> {
  if (!deps.memberLeases) return false
  try {
    const lease = await (await deps.memberLeases()).get(name, 5000)
    return Boolean(lease.holderIdentity)
  } catch (error) {
    deps.logger.info({ component: 'initializer', err: error }, `reading member lease ${name} failed: ${messageOf(error)}; assuming this member was not in the cluster`)
    return false
  }
}

/** The multi-member path (see the module docstring). @throws StewardError `MEMBER_JOIN_FAILED`, `ETCD_*`, validation codes */
async function bootstrapClusterMember(deps: BootstrapDeps, config: EtcdConfigMap, mode: ValidationMode, signal: AbortSignal): Promise<StepOutcome> {
  const { options, logger } = deps
  const name = memberName(config, options.podName)
  const peerUrls = urlsOf(config, 'initial-advertise-peer-urls', name).split(',')
  const membership: MembershipDeps = { cluster: await deps.cluster(), clock: deps.clock, logger, metrics: deps.metrics, timings: options.membershipTimings, signal }

  // 1. Was this member in the cluster?
  let wasMember: boolean
  let members: Awaited<ReturnType<typeof isMemberInCluster>>['members'] | null = null
  try {
    const found = await isMemberInCluster(name, membership)
    wasMember = found.member !== undefined
    members = found.members
    logger.info({ component: 'initializer', member: name, wasMember, members: members.length }, wasMember ? `member ${name} is in the cluster` : `member ${name} is not in the cluster's member list`)
  } catch (error) {
    wasMember = await leaseHasHolder(deps, name)
    logger.info({ component: 'initializer', member: name, wasMember }, `no member answered through ${membership.cluster.endpoints.join(',')} (${messageOf(error)}); member lease ${wasMember ? 'has' : 'has no'} holder`)
  }

  // 2. Scale-up: the cluster answers (checked a second time) and does not list this member.
  if (!wasMember) {
    let scaledUp = false
    try {
      const again = await isMemberInCluster(name, membership)
      scaledUp = again.member === undefined
    } catch {
      scaledUp = false
    }
    if (scaledUp) {
      logger.info({ component: 'initializer', member: name, peerUrls }, `scale-up detected: ${name} joins the running cluster as a learner (data dir cleared)`)
      const id = await addSelfAsLearner(options.dataDir, peerUrls, membership)
      return { action: 'joined-as-learner', detail: `joined the cluster as a learner${id ? ` (member ID ${id})` : ''}; promoted once in sync`, memberId: id ?? undefined }
    }
  }

  // 3. Validate.
  const validation = await validate(deps, mode, true)
  if (validation.valid) return { action: 'none', detail: `data dir valid (revision ${validation.revision})`, revision: validation.revision ?? undefined }
  const failure = new StewardError(validation.failure?.code ?? 'DATA_DIR_INVALID', 'initializer', validation.failure?.message ?? validation.status)
  if (validation.status === 'DataDirectoryLocked') throw failure
  if (!wasMember && validation.status === 'DataDirectoryNotExist') return { action: 'fresh-start', detail: 'no data dir on a new cluster; etcd bootstraps with the other members' }

  // 4. Invalid data of a (former) member: remove self, clear the data dir, re-add as learner.
  logger.warn({ component: 'initializer', member: name, status: validation.status }, `data dir is ${validation.status}: removing ${name} from the cluster and re-adding it as a learner`)
  if (!members) {
    try {
      members = (await isMemberInCluster(name, membership)).members
    } catch (error) {
      throw new StewardError(failure.code, 'initializer', `${failure.reason}; the other members do not answer, so this member cannot rejoin (${messageOf(error)})`, { cause: error })
    }
  }
  await removeSelf(name, peerUrls, members, membership)
  const id = await addSelfAsLearner(options.dataDir, peerUrls, membership)
  return { action: 'rejoined-as-learner', detail: `data dir was ${validation.status}; rejoined as a learner${id ? ` (member ID ${id})` : ''}`, memberId: id ?? undefined }
}
