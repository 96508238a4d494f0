/**
 * One initialization of a single-member etcd (what `/initialization/start` runs, docs/serve.md
 * "Initialization"): validate the data dir (`src/lib/validate`); when it is missing, corrupt or
 * behind the newest backup, restore it from the store (`src/lib/restore`) with this member's
 * identity from druid's ConfigMap. A missing data dir with no backup is a fresh start (etcd
 * creates it). Multi-member bootstrap (learners, scale-up) is not implemented yet: a member of
 * a multi-member cluster with a valid or missing data dir passes, anything else fails.
 */
import { StewardError } from '../../../errors.ts'
import { restoreFullSnapshot } from '../../../restore/restore.ts'
import { validateDataDir } from '../../../validate/validate.ts'
import type { ServeContext } from '../../component.ts'
import { initialClusterEntries, memberName, readEtcdConfigMap, urlsOf } from '../etcd-config/render.ts'
import type { ValidationMode } from './state.ts'

export interface InitializationOutcome {
  readonly action: 'none' | 'fresh-start' | 'restored'
  readonly detail: string
}

/** @throws StewardError from validation, restore, or `DATA_DIR_INVALID` when nothing can fix the data dir */
export async function initializeMember(ctx: ServeContext, mode: ValidationMode, signal: AbortSignal): Promise<InitializationOutcome> {
  const { options, store, metrics } = ctx
  const config = await readEtcdConfigMap(options.etcdConfigPath)
  const entries = initialClusterEntries(config)
  const started = performance.now()
  let validation
  try {
    validation = await validateDataDir(options.dataDir, store ?? undefined)
    metrics.validationDuration.observe({ succeeded: 'true' }, (performance.now() - started) / 1000)
  } catch (error) {
    metrics.validationDuration.observe({ succeeded: 'false' }, (performance.now() - started) / 1000)
    throw error
  }
  ctx.logger.info({ component: 'initializer', mode, status: validation.status, revision: validation.revision }, `data dir ${options.dataDir}: ${validation.status}`)
  if (validation.valid) return { action: 'none', detail: `data dir valid (revision ${validation.revision})` }
  const failure = new StewardError(validation.failure?.code ?? 'DATA_DIR_INVALID', 'initializer', validation.failure?.message ?? validation.status)
  if (validation.status === 'DataDirectoryLocked') throw failure
  const missing = validation.status === 'DataDirectoryNotExist'
  if (entries.length > 1) {
    if (missing) return { action: 'fresh-start', detail: 'no data dir; etcd joins the cluster' }
    throw new StewardError(failure.code, 'initializer', `${failure.reason}; restoring a member of a multi-member cluster is not supported by steward serve yet`)
  }
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
      signal,
    })
    metrics.restorationDuration.observe({ restore: 'single_member', succeeded: 'true' }, (performance.now() - restoreStarted) / 1000)
    return { action: 'restored', detail: `restored ${result.snapshot} + ${result.deltasApplied} delta(s) to revision ${result.revision} (data dir was ${validation.status})` }
  } catch (error) {
    metrics.restorationDuration.observe({ restore: 'single_member', succeeded: 'false' }, (performance.now() - restoreStarted) / 1000)
    throw error
  }
}
