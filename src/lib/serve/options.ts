/**
 * Everything `steward serve` is configured with, resolved and validated from etcdbrctl-style
 * flags and the environment (docs/serve.md "Flags and environment"). The command parses flags;
 * this module turns them into values with units.
 */
import type { CompressionPolicy } from '../compression/index.ts'
import type { EtcdConnectionConfig } from '../etcd/config.ts'
import type { StoreConfig } from '../snapstore/config.ts'
import type { TempEtcdLimits } from '../restore/temp-etcd.ts'
import type { GcPolicy } from '../gc/plan.ts'
import type { MembershipTimings } from '../bootstrap/timings.ts'

/** Default path of druid's ConfigMap file inside the sidecar; `ETCD_CONF` overrides it. */
export const DEFAULT_ETCD_CONF = '/var/etcd/config/etcd.conf.yaml'

/** Garbage collection in `serve` (docs/gc.md "In steward serve"). */
export interface ServeGcOptions {
  readonly policy: GcPolicy
  /** Seconds between runs; ≤ 1 disables the garbage collector (as etcdbrctl). */
  readonly periodSeconds: number
  /** `LimitBased`: full snapshots to keep (≥ 1 then). */
  readonly maxBackups: number
  /** Deltas of older backups created within this many seconds are kept. */
  readonly deltaRetentionSeconds: number
}

/** Dual-site backup sync (`--secondary-backup-sync-enabled`; docs/serve.md "Secondary store"). */
export interface ServeSecondaryOptions {
  /** The secondary store (`--secondary-*` flags, `SECONDARY_` environment). */
  readonly store: StoreConfig
  /** Seconds between syncs (`--secondary-backup-sync-period`, default 1h); a sync also runs on becoming leader. */
  readonly periodSeconds: number
}

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
  /** druid's ConfigMap file (`--etcd-config-file`, else `ETCD_CONF`, default {@link DEFAULT_ETCD_CONF}); read by `/config` and the initializer. */
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
  /** `--delta-apply`: how the initializer's restore applies deltas (docs/restore.md, "Applying deltas"). */
  readonly deltaApply: 'direct' | 'etcd'
  /** `--keep-delta-history`: the direct apply keeps the whole delta chain's history (docs/restore.md, "Compacted history"). */
  readonly keepDeltaHistory: boolean
  readonly skipHashCheck: boolean
  /**
   * The garbage collector's settings (`--garbage-collection-policy`, `--garbage-collection-period`,
   * `--max-backups`, `--delta-snapshot-retention-period`); a period of 1 s or less disables it.
   */
  readonly garbageCollection: ServeGcOptions
  /** `null` unless `--secondary-backup-sync-enabled`. */
  readonly secondary: ServeSecondaryOptions | null
  readonly defragmentationSchedule: string
  readonly defragTimeoutSeconds: number
  /** `--kubeconfig`; else `KUBECONFIG`, the in-cluster service account, `~/.kube/config` (docs/kubernetes.md). */
  readonly kubeconfig: string | undefined
  /** `--enable-snapshot-lease-renewal` with the lease names; `null` when off. */
  readonly snapshotLeases: { readonly fullLeaseName: string; readonly deltaLeaseName: string } | null
  /** `--enable-member-lease-renewal` with `--k8s-heartbeat-duration` (seconds); `null` when off. */
  readonly memberLease: { readonly heartbeatSeconds: number } | null
  /**
   * `--enable-etcd-member-status` (steward's, default off): keep this member's EtcdMember status
   * current every `--k8s-heartbeat-duration` (seconds) and on role changes; `null` when off.
   */
  readonly etcdMemberStatus: { readonly heartbeatSeconds: number } | null
  /** `--move-leader` [true]: the defragmenter moves leadership away before defragmenting a leading member. */
  readonly moveLeader: boolean
  /** `--alarm-check-period`, seconds; 0 disables the alarms component. */
  readonly alarmCheckPeriodSeconds: number
  /** Retries and timeouts of learner add, rejoin and promotion (`--member-*`, `--learner-*`, `--too-many-learners-wait`). */
  readonly membershipTimings: MembershipTimings
  /**
   * `--use-etcd-wrapper` [false, as etcdbrctl]: after a peer-URL update, ask etcd-wrapper to restart
   * etcd (`POST <scheme>://<host of the first --endpoints>:<etcdWrapperPort>/stop`).
   */
  readonly useEtcdWrapper: boolean
  /** etcd-wrapper's port [9095, as etcd-wrapper's default; `STEWARD_ETCD_WRAPPER_PORT` for tests and non-default wrappers]. */
  readonly etcdWrapperPort: number
}
