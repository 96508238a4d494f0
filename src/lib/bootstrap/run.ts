/**
 * `steward bootstrap` as one library call: opens what {@link bootstrapMember} needs from
 * serve's resolved options (store, the cluster seam through `--service-endpoints`, the member
 * lease client), runs the same bootstrap the initializer runs, and closes everything again
 * (docs/commands.md "bootstrap").
 */
import type { Logger } from 'pino'
import { messageOf } from '../errors.ts'
import { connectLeaseApi, type LeaseApi } from '../k8s/leases.ts'
import { systemClock } from '../serve/clock.ts'
import { createClusterAdmin, type ClusterAdmin } from '../serve/cluster.ts'
import { createMetrics } from '../serve/metrics.ts'
import type { ServeOptions } from '../serve/options.ts'
import { BackupStore } from '../snapshot/backup-store.ts'
import { openSnapstore } from '../snapstore/registry.ts'
import { bootstrapMember, type BootstrapOutcome, type ValidationMode } from './bootstrap.ts'
import { StewardError } from '../errors.ts'

export type BootstrapRunOptions = Pick<
  ServeOptions,
  'dataDir' | 'etcdConfigPath' | 'podName' | 'podNamespace' | 'skipHashCheck' | 'restoreLimits' | 'deltaApply' | 'keepDeltaHistory' | 'membershipTimings' | 'etcd' | 'serviceEndpoints' | 'store' | 'kubeconfig' | 'memberLease'
>

export interface BootstrapResult extends BootstrapOutcome {
  readonly dataDir: string
  readonly mode: ValidationMode
  /** Wall time of the whole bootstrap, seconds. */
  readonly durationSeconds: number
}

/**
 * Runs one bootstrap of this member and releases every client it opened.
 * @param options serve's resolved options (the bootstrap command resolves its flags with serve's resolver)
 * @throws StewardError `CONFIG_INVALID` without `POD_NAME` (the member name and its safe-guard
 *   come from it); as {@link bootstrapMember}; `STORE_*` when the store cannot be opened
 */
export async function runBootstrap(
  options: BootstrapRunOptions,
  mode: ValidationMode,
  run: { readonly logger: Logger; readonly signal: AbortSignal; readonly onRestoreProgress?: (bytes: number, total: number | undefined) => void },
): Promise<BootstrapResult> {
  if (!options.podName) {
    throw new StewardError('CONFIG_INVALID', 'bootstrap', 'POD_NAME is not set: the member name (and its safe-guard) comes from it', {
      hints: ['druid sets POD_NAME from metadata.name; at a shell: POD_NAME=<pod> steward bootstrap …'],
    })
  }
  const started = performance.now()
  const store = options.store ? new BackupStore(await openSnapstore(options.store), options.store.prefix) : null
  let cluster: Promise<ClusterAdmin> | null = null
  let leases: Promise<LeaseApi> | null = null
  try {
    const outcome = await bootstrapMember(
      {
        options,
        store,
        cluster: () => (cluster ??= createClusterAdmin(options, run.logger)),
        memberLeases: options.memberLease ? () => (leases ??= connectLeaseApi({ kubeconfig: options.kubeconfig, namespace: options.podNamespace })) : undefined,
        // One-shot: nothing scrapes these; the steps' log lines are what the command shows.
        metrics: createMetrics(),
        logger: run.logger,
        clock: systemClock,
        onRestoreProgress: run.onRestoreProgress,
      },
      mode,
      run.signal,
    )
    return { ...outcome, dataDir: options.dataDir, mode, durationSeconds: (performance.now() - started) / 1000 }
  } finally {
    await (cluster as Promise<ClusterAdmin> | null)?.then((c) => c.close()).catch((error: unknown) => run.logger.debug({ err: error }, `closing the cluster client: ${messageOf(error)}`))
    await store?.snapstore.dispose?.()
  }
}
