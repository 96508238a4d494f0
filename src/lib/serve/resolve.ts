/**
 * Turns `steward serve`'s parsed flags and the environment into {@link ServeOptions}
 * (etcdbrctl's defaults where a flag is absent), validating each value and naming the flag in
 * any error.
 */
import { resolveMembershipTimings, type MembershipTimingFlags } from '../bootstrap/timings.ts'
import type { ConfigFile } from '../config/file.ts'
import { resolvePrefixedStore, type PrefixedStoreFlags } from '../config/prefixed-store.ts'
import { parseDuration } from '../config/duration.ts'
import { resolveTempEtcdLimits } from '../config/restore.ts'
import { resolveCompression, resolveEtcdConnection, resolveStore, splitList, type CompressionFlags, type EtcdFlags, type StoreFlags } from '../config/resolve.ts'
import { DEFAULT_DELTA_MEMORY_LIMIT_BYTES } from '../delta/snapshotter.ts'
import { StewardError } from '../errors.ts'
import { GC_POLICIES, type GcPolicy } from '../gc/plan.ts'
import type { StoreConfig } from '../snapstore/config.ts'
import { DEFAULT_ETCD_CONF, type ServeGcOptions, type ServeOptions, type ServeSecondaryOptions } from './options.ts'
import { parseCron } from './scheduler.ts'

export interface ServeFlags extends EtcdFlags, StoreFlags, CompressionFlags, PrefixedStoreFlags<'secondary'>, MembershipTimingFlags {
  'etcd-config-file'?: string | undefined
  'use-etcd-wrapper'?: boolean | undefined
  'secondary-backup-sync-enabled'?: boolean | undefined
  'secondary-backup-sync-period'?: string | undefined
  'service-endpoints'?: string[] | undefined
  'etcd-defrag-timeout'?: string | undefined
  'server-port'?: number | undefined
  'server-cert'?: string | undefined
  'server-key'?: string | undefined
  'enable-profiling'?: boolean | undefined
  'shutdown-grace-period'?: string | undefined
  schedule?: string | undefined
  'delta-snapshot-period'?: string | undefined
  'delta-snapshot-memory-limit'?: number | undefined
  'garbage-collection-period'?: string | undefined
  'garbage-collection-policy'?: string | undefined
  'max-backups'?: number | undefined
  'delta-snapshot-retention-period'?: string | undefined
  'defragmentation-schedule'?: string | undefined
  'move-leader'?: boolean | undefined
  'alarm-check-period'?: string | undefined
  'backoff-multiplier'?: number | undefined
  'backoff-attempt-limit'?: number | undefined
  'backoff-threshold-time'?: string | undefined
  'reelection-period'?: string | undefined
  'etcd-connection-timeout-leader-election'?: string | undefined
  'data-dir'?: string | undefined
  'skip-hash-check'?: boolean | undefined
  'delta-apply'?: string | undefined
  'keep-delta-history'?: boolean | undefined
  'embedded-etcd-quota-bytes'?: number | undefined
  'max-request-bytes'?: number | undefined
  'max-txn-ops'?: number | undefined
  kubeconfig?: string | undefined
  'enable-snapshot-lease-renewal'?: boolean | undefined
  'full-snapshot-lease-name'?: string | undefined
  'delta-snapshot-lease-name'?: string | undefined
  'enable-member-lease-renewal'?: boolean | undefined
  'k8s-heartbeat-duration'?: string | undefined
  'enable-etcd-member-status'?: boolean | undefined
}

/** etcdbrctl server defaults (docs/serve.md). */
export const SERVE_DEFAULTS = {
  serverPort: 8080,
  schedule: '0 */1 * * *',
  deltaSnapshotPeriod: '20s',
  reelectionPeriod: '5s',
  leaderElectionTimeout: '5s',
  backoffMultiplier: 2,
  backoffAttemptLimit: 6,
  backoffThreshold: '128s',
  shutdownGrace: '30s',
  defragmentationSchedule: '0 0 */3 * *',
  garbageCollectionPeriod: '1m',
  garbageCollectionPolicy: 'Exponential',
  maxBackups: 7,
  secondaryBackupSyncPeriod: '1h',
  fullSnapshotLeaseName: 'full-snapshot-revisions',
  deltaSnapshotLeaseName: 'delta-snapshot-revisions',
  k8sHeartbeat: '30s',
  alarmCheckPeriod: '1m',
  etcdWrapperPort: 9095,
} as const

function moreThanOneSecond(seconds: number, flag: string): number {
  if (seconds > 1) return seconds
  throw new StewardError('CONFIG_INVALID', 'config', `${flag}: must be longer than 1s, got ${seconds}s`)
}

function positiveSeconds(text: string, flag: string): number {
  const seconds = parseDuration(text, flag)
  if (seconds > 0) return seconds
  throw new StewardError('CONFIG_INVALID', 'config', `${flag}: must be positive, got ${text}`)
}

/** @throws StewardError `CONFIG_INVALID` naming the flag */
export function resolveServeOptions(flags: ServeFlags, file: ConfigFile, env: NodeJS.ProcessEnv = process.env): ServeOptions {
  // In etcdbrctl's server an empty --storage-provider means "no backups" (not Local).
  const hasStore = Boolean(flags.store) || Boolean(flags['storage-provider'])
  const multiplier = flags['backoff-multiplier'] ?? SERVE_DEFAULTS.backoffMultiplier
  const schedule = flags.schedule ?? SERVE_DEFAULTS.schedule
  parseCron(schedule, '--schedule')
  const defragmentationSchedule = flags['defragmentation-schedule'] ?? SERVE_DEFAULTS.defragmentationSchedule
  parseCron(defragmentationSchedule, '--defragmentation-schedule')
  const etcd = resolveEtcdConnection(flags, file)
  const memoryLimit = flags['delta-snapshot-memory-limit']
  const store = hasStore ? resolveStore(flags, file, env) : null
  return {
    serverPort: flags['server-port'] ?? SERVE_DEFAULTS.serverPort,
    serverHost: env['STEWARD_SERVER_HOST'] || '0.0.0.0',
    serverCertFile: flags['server-cert'] || undefined,
    serverKeyFile: flags['server-key'] || undefined,
    enableProfiling: flags['enable-profiling'] ?? false,
    etcdConfigPath: flags['etcd-config-file'] || env['ETCD_CONF'] || DEFAULT_ETCD_CONF,
    podName: env['POD_NAME'] || undefined,
    podNamespace: env['POD_NAMESPACE'] || undefined,
    dataDir: flags['data-dir'] ?? file.restore?.dataDir ?? 'default.etcd',
    etcd: flags['etcd-defrag-timeout'] ? { ...etcd, defragTimeoutSeconds: parseDuration(flags['etcd-defrag-timeout'], '--etcd-defrag-timeout') } : etcd,
    serviceEndpoints: splitList(flags['service-endpoints'] ?? []),
    store,
    compression: resolveCompression(flags, file),
    fullSnapshotSchedule: schedule,
    deltaSnapshotPeriodSeconds: parseDuration(flags['delta-snapshot-period'] ?? SERVE_DEFAULTS.deltaSnapshotPeriod, '--delta-snapshot-period'),
    deltaSnapshotMemoryLimitBytes: memoryLimit !== undefined && memoryLimit >= 1 ? memoryLimit : DEFAULT_DELTA_MEMORY_LIMIT_BYTES,
    reelectionPeriodSeconds: moreThanOneSecond(parseDuration(flags['reelection-period'] ?? SERVE_DEFAULTS.reelectionPeriod, '--reelection-period'), '--reelection-period'),
    leaderElectionTimeoutSeconds: moreThanOneSecond(
      parseDuration(flags['etcd-connection-timeout-leader-election'] ?? SERVE_DEFAULTS.leaderElectionTimeout, '--etcd-connection-timeout-leader-election'),
      '--etcd-connection-timeout-leader-election',
    ),
    backoff: {
      multiplier,
      attemptLimit: flags['backoff-attempt-limit'] ?? SERVE_DEFAULTS.backoffAttemptLimit,
      thresholdSeconds: parseDuration(flags['backoff-threshold-time'] ?? SERVE_DEFAULTS.backoffThreshold, '--backoff-threshold-time'),
    },
    shutdownGraceSeconds: parseDuration(flags['shutdown-grace-period'] ?? SERVE_DEFAULTS.shutdownGrace, '--shutdown-grace-period'),
    restoreLimits: resolveTempEtcdLimits(flags),
    deltaApply: flags['delta-apply'] === 'etcd' ? 'etcd' : 'direct',
    keepDeltaHistory: flags['keep-delta-history'] ?? false,
    skipHashCheck: flags['skip-hash-check'] ?? false,
    garbageCollection: resolveServeGc(flags),
    secondary: resolveSecondary(flags, store, env),
    defragmentationSchedule,
    defragTimeoutSeconds: etcd.defragTimeoutSeconds,
    kubeconfig: flags.kubeconfig || undefined,
    snapshotLeases: flags['enable-snapshot-lease-renewal']
      ? {
          fullLeaseName: flags['full-snapshot-lease-name'] || SERVE_DEFAULTS.fullSnapshotLeaseName,
          deltaLeaseName: flags['delta-snapshot-lease-name'] || SERVE_DEFAULTS.deltaSnapshotLeaseName,
        }
      : null,
    memberLease: flags['enable-member-lease-renewal'] ? { heartbeatSeconds: positiveSeconds(flags['k8s-heartbeat-duration'] ?? SERVE_DEFAULTS.k8sHeartbeat, '--k8s-heartbeat-duration') } : null,
    etcdMemberStatus: flags['enable-etcd-member-status'] ? { heartbeatSeconds: positiveSeconds(flags['k8s-heartbeat-duration'] ?? SERVE_DEFAULTS.k8sHeartbeat, '--k8s-heartbeat-duration') } : null,
    moveLeader: flags['move-leader'] ?? true,
    alarmCheckPeriodSeconds: parseDuration(flags['alarm-check-period'] ?? SERVE_DEFAULTS.alarmCheckPeriod, '--alarm-check-period'),
    membershipTimings: resolveMembershipTimings(flags),
    useEtcdWrapper: flags['use-etcd-wrapper'] ?? false,
    etcdWrapperPort: resolveWrapperPort(env['STEWARD_ETCD_WRAPPER_PORT']),
  }
}

/** etcd-wrapper's port: 9095 unless `STEWARD_ETCD_WRAPPER_PORT` names another. @throws StewardError `CONFIG_INVALID` */
function resolveWrapperPort(value: string | undefined): number {
  if (!value) return SERVE_DEFAULTS.etcdWrapperPort
  const port = Number(value)
  if (Number.isInteger(port) && port > 0 && port < 65536) return port
  throw new StewardError('CONFIG_INVALID', 'config', `STEWARD_ETCD_WRAPPER_PORT: ${JSON.stringify(value)} is not a port (1-65535)`)
}

/**
 * The garbage collector's settings, checked as etcdbrctl checks them at start-up: the policy is
 * `Exponential` or `LimitBased` (case-sensitive); `LimitBased` needs `--max-backups` ≥ 1.
 * @throws StewardError `CONFIG_INVALID` naming the flag
 */
export function resolveServeGc(flags: ServeFlags): ServeGcOptions {
  const policy = flags['garbage-collection-policy'] ?? SERVE_DEFAULTS.garbageCollectionPolicy
  if (!(GC_POLICIES as readonly string[]).includes(policy)) {
    throw new StewardError('CONFIG_INVALID', 'config', `--garbage-collection-policy: ${JSON.stringify(policy)} is not a policy; use ${GC_POLICIES.join(' or ')}`)
  }
  const maxBackups = flags['max-backups'] ?? SERVE_DEFAULTS.maxBackups
  if (policy === 'LimitBased' && !(maxBackups >= 1)) {
    throw new StewardError('CONFIG_INVALID', 'config', `--max-backups: must be at least 1 with --garbage-collection-policy LimitBased, got ${maxBackups}`)
  }
  return {
    policy: policy as GcPolicy,
    periodSeconds: parseDuration(flags['garbage-collection-period'] ?? SERVE_DEFAULTS.garbageCollectionPeriod, '--garbage-collection-period'),
    maxBackups,
    deltaRetentionSeconds: parseDuration(flags['delta-snapshot-retention-period'] ?? '0s', '--delta-snapshot-retention-period'),
  }
}

/**
 * The secondary store of the dual-site sync, or `null` when `--secondary-backup-sync-enabled` is
 * off. Completed as etcd-backup-restore completes it (`resolvePrefixedStore`): provider, prefix
 * and temp dir default to the primary store's, the container comes from
 * `--secondary-store-container` or `SECONDARY_STORAGE_CONTAINER`, credentials from
 * `SECONDARY_`-prefixed variables.
 * @throws StewardError `CONFIG_INVALID` when there is no primary store, the secondary has no
 *   container or resolves to the primary store itself, or a value is invalid (naming the `--secondary-*` flag)
 */
export function resolveSecondary(flags: ServeFlags, primary: StoreConfig | null, env: NodeJS.ProcessEnv): ServeSecondaryOptions | null {
  if (!flags['secondary-backup-sync-enabled']) return null
  if (!primary) throw new StewardError('CONFIG_INVALID', 'config', '--secondary-backup-sync-enabled needs a primary store (--storage-provider or --store): the secondary is synced from it')
  const store = resolvePrefixedStore(flags, 'secondary', 'SECONDARY_', primary, env)
  if (!store.container) {
    throw new StewardError('CONFIG_INVALID', 'config', 'secondary store: no container; set --secondary-store-container or SECONDARY_STORAGE_CONTAINER (or --secondary-store with a URL)')
  }
  const same = (c: StoreConfig) => [c.provider, c.container, c.prefix, c.endpointOverride ?? ''].join('\u0000')
  if (same(store) === same(primary)) {
    throw new StewardError('CONFIG_INVALID', 'config', `secondary store: ${store.provider} container ${JSON.stringify(store.container)} with prefix ${JSON.stringify(store.prefix)} is the primary store itself`, {
      hints: ['set --secondary-store-container (or SECONDARY_STORAGE_CONTAINER) and/or --secondary-storage-provider, --secondary-store-prefix'],
    })
  }
  const periodSeconds = parseDuration(flags['secondary-backup-sync-period'] ?? SERVE_DEFAULTS.secondaryBackupSyncPeriod, '--secondary-backup-sync-period')
  if (!(periodSeconds > 0)) throw new StewardError('CONFIG_INVALID', 'config', `--secondary-backup-sync-period: must be positive, got ${periodSeconds}s`)
  return { store, periodSeconds }
}
