/**
 * Everything `steward serve` is configured with, resolved and validated from etcdbrctl-style
 * flags and the environment (docs/serve.md "Flags and environment"). The command parses flags;
 * this module turns them into values with units.
 */
import type { CompressionPolicy } from '../compression/index.ts'
import type { EtcdConnectionConfig } from '../etcd/config.ts'
import type { StoreConfig } from '../snapstore/config.ts'
import type { TempEtcdLimits } from '../restore/temp-etcd.ts'

/** Default path of druid's ConfigMap file inside the sidecar; `ETCD_CONF` overrides it. */
export const DEFAULT_ETCD_CONF = '/var/etcd/config/etcd.conf.yaml'

export interface ServeOptions {
  /** HTTP(S) listen port (`--server-port`, default 8080); 0 picks a free port (tests). */
  readonly serverPort: number
  /** Listen address [`0.0.0.0`; `STEWARD_SERVER_HOST`]. */
  readonly serverHost: string
  /** PEM files; HTTPS iff both are set (`--server-cert`, `--server-key`). */
  readonly serverCertFile: string | undefined
  readonly serverKeyFile: string | undefined
  /** `--enable-profiling`: expose `/debug/pprof/heap` (a V8 heap snapshot). */
  readonly enableProfiling: boolean
  /** druid's ConfigMap file (`ETCD_CONF`, default {@link DEFAULT_ETCD_CONF}); read by `/config` and the initializer. */
  readonly etcdConfigPath: string
  /** `POD_NAME` (this member's name without `member-name-prefix`). */
  readonly podName: string | undefined
  readonly podNamespace: string | undefined
  /** etcd's data directory (`--data-dir`). */
  readonly dataDir: string
  readonly etcd: EtcdConnectionConfig
  /** `--service-endpoints` (the cluster's client Service), for member lists. */
  readonly serviceEndpoints: readonly string[]
  /** `null` when no `--storage-provider` is given: no backups, snapshot routes answer 405. */
  readonly store: StoreConfig | null
  readonly compression: CompressionPolicy
  /** `--schedule`, 5-field cron of full snapshots. */
  readonly fullSnapshotSchedule: string
  /** `--delta-snapshot-period`, seconds; < 1 disables deltas. */
  readonly deltaSnapshotPeriodSeconds: number
  /** `--delta-snapshot-memory-limit`, bytes. */
  readonly deltaSnapshotMemoryLimitBytes: number
  /** `--reelection-period`, seconds. */
  readonly reelectionPeriodSeconds: number
  /** `--etcd-connection-timeout-leader-election`, seconds. */
  readonly leaderElectionTimeoutSeconds: number
  /** `--backoff-multiplier`, `--backoff-attempt-limit`, `--backoff-threshold-time` (seconds). */
  readonly backoff: { readonly multiplier: number; readonly attemptLimit: number; readonly thresholdSeconds: number }
  /** How long SIGTERM lets an in-flight snapshot finish before aborting it, seconds (`--shutdown-grace-period`). */
  readonly shutdownGraceSeconds: number
  /** Limits of the temporary etcd that replays deltas during a restore. */
  readonly restoreLimits: TempEtcdLimits
  readonly skipHashCheck: boolean
  /** Settings other components (GC, defragmentation) read. */
  readonly garbageCollection: { readonly policy: string; readonly periodSeconds: number; readonly maxBackups: number; readonly deltaRetentionSeconds: number }
  readonly defragmentationSchedule: string
  readonly defragTimeoutSeconds: number
  /** `--move-leader` [true]: the defragmenter moves leadership away before defragmenting a leading member. */
  readonly moveLeader: boolean
  /** `--alarm-check-period`, seconds; 0 disables the alarms component. */
  readonly alarmCheckPeriodSeconds: number
}
