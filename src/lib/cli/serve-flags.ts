/**
 * Flags of `steward serve` / `steward server`: every flag of `etcdbrctl server` with the same
 * name, meaning and Go-style values (durations `1m0s`, booleans `--flag=true`), so druid's
 * StatefulSet arguments work unchanged (docs/serve.md "Flags and environment"). Flags steward
 * accepts but does not act on are declared in {@link serveIgnoredFlags}; the command logs one
 * warning for each one given (docs/compatibility.md "Accepted and ignored flags").
 */
import { Flags } from '@oclif/core'
import { compressionFlags, deltaApplyFlags, etcdFlags, storeFlags } from './flags.ts'
import { ignoredFlags } from './ignored-flags.ts'

const S = 'SERVER'
const SNAP = 'SNAPSHOTTER'
const LE = 'LEADER ELECTION'
const RS = 'RESTORATION'
const SEC = 'SECONDARY STORE'
const K8S = 'KUBERNETES'
const MEMBERSHIP = 'MEMBERSHIP'

const OBSOLETE_V041 = 'obsolete flag of etcd-backup-restore v0.41'
const MEMBER_IDENTITY = 'the member identity comes from the etcd config file (ETCD_CONF) and POD_NAME'
const NO_COMPACTION = 'the temporary etcd of a restore does not compact'

/** etcdbrctl server flags that `steward serve` accepts and does not act on, with why. */
export const serveIgnoredFlags = ignoredFlags({
  name: { type: 'string', reason: MEMBER_IDENTITY },
  'initial-cluster': { type: 'string', reason: MEMBER_IDENTITY },
  'initial-cluster-token': { type: 'string', reason: MEMBER_IDENTITY },
  'initial-advertise-peer-urls': { type: 'string', multiple: true, reason: MEMBER_IDENTITY },
  'restoration-temp-snapshots-dir': { type: 'string', reason: 'steward restores in a work dir beside --data-dir' },
  'max-fetchers': { type: 'integer', reason: 'steward streams deltas one at a time' },
  'max-call-send-message-size': { type: 'integer', reason: 'unused by etcd-backup-restore as well' },
  'auto-compaction-mode': { type: 'string', reason: NO_COMPACTION },
  'auto-compaction-retention': { type: 'string', reason: NO_COMPACTION },
  'config-file': { type: 'string', reason: 'etcdbrctl server config files are not read; use --config' },
  // Obsolete: passed by older druid / etcd-backup-restore releases (v0.41.x), removed since.
  'experimental-fail-below-revision': { type: 'string', reason: OBSOLETE_V041 },
  'enable-etcd-member-gc': { type: 'boolean', reason: OBSOLETE_V041 },
  'k8s-member-gc-duration': { type: 'string', reason: OBSOLETE_V041 },
  'next-cluster-version-compatible': { type: 'boolean', reason: 'obsolete flag, removed from etcd-backup-restore' },
})

/**
 * Retries and timeouts of multi-member bootstrap (learner add, rejoin, promotion), on serve and
 * bootstrap; values are checked by `resolveMembershipTimings` (src/lib/bootstrap/timings.ts).
 */
export const membershipTimingFlags = {
  'member-list-attempts': Flags.integer({ summary: 'Tries of Get + MemberList through --service-endpoints before the cluster counts as unreachable. [default: 4]', helpGroup: MEMBERSHIP }),
  'member-list-backoff': Flags.string({ summary: 'Wait after the first failed member-list try, doubled after each further one (Go duration). [default: 2s]', helpGroup: MEMBERSHIP }),
  'member-call-timeout': Flags.string({ summary: 'Timeout of each MemberList, MemberAdd, MemberRemove and MemberPromote call (Go duration). [default: 5s]', helpGroup: MEMBERSHIP }),
  'learner-add-attempts': Flags.integer({ summary: 'MemberAdd (as learner) attempts on scale-up and rejoin, the data dir cleared before each. [default: 6]', helpGroup: MEMBERSHIP }),
  'learner-add-backoff': Flags.string({ summary: 'Wait after the first failed learner add, doubled after each further one, +0-10% jitter (Go duration). [default: 2s]', helpGroup: MEMBERSHIP }),
  'learner-add-max-backoff': Flags.string({ summary: 'Longest wait between learner adds (Go duration). [default: 2m]', helpGroup: MEMBERSHIP }),
  'too-many-learners-wait': Flags.string({ summary: 'Extra wait when etcd answers "too many learner members" (Go duration; 0s: none). [default: 5s]', helpGroup: MEMBERSHIP }),
}

/** The etcd config druid mounts (what etcd-wrapper's etcd gets as --config-file, after /config's rewrite); serve and bootstrap. */
export const etcdConfigFileFlag = {
  'etcd-config-file': Flags.string({ summary: 'druid\'s etcd config (the ConfigMap\'s etcd.conf.yaml). Env: ETCD_CONF. [default: /var/etcd/config/etcd.conf.yaml]', helpGroup: RS }),
}

export const serveFlags = {
  ...etcdFlags,
  ...storeFlags,
  ...compressionFlags,
  ...serveIgnoredFlags,
  ...membershipTimingFlags,
  ...etcdConfigFileFlag,
  'use-etcd-wrapper': Flags.boolean({ summary: 'After updating this member\'s changed peer URLs (MemberUpdate), POST /stop to etcd-wrapper (port 9095 on the host of the first --endpoints) so etcd restarts with them.', allowNo: true, helpGroup: S }),
  'service-endpoints': Flags.string({ multiple: true, summary: 'Client URLs of the etcd cluster\'s Service (comma-separated).', helpGroup: 'ETCD' }),
  'insecure-transport': Flags.boolean({ summary: 'etcdbrctl form; the scheme of --endpoints decides (http or https).', allowNo: true, helpGroup: 'ETCD' }),
  'etcd-defrag-timeout': Flags.string({ summary: 'Deadline of a defragment call (Go duration). [default: 8m]', helpGroup: 'ETCD' }),
  'server-port': Flags.integer({ char: 'p', min: 0, max: 65535, summary: 'HTTP(S) port of the sidecar API. [default: 8080]', helpGroup: S }),
  'server-cert': Flags.string({ summary: 'PEM certificate: serve HTTPS (with --server-key).', helpGroup: S }),
  'server-key': Flags.string({ summary: 'PEM private key of --server-cert.', helpGroup: S }),
  'enable-profiling': Flags.boolean({ summary: 'Expose /debug/pprof/heap (V8 heap snapshot).', allowNo: true, helpGroup: S }),
  'shutdown-grace-period': Flags.string({ summary: 'On SIGTERM, how long an in-flight snapshot may finish before it is aborted (Go duration). [default: 30s]', helpGroup: S }),
  schedule: Flags.string({ char: 's', summary: 'Cron (5 fields) of full snapshots. [default: 0 */1 * * *]', helpGroup: SNAP }),
  'delta-snapshot-period': Flags.string({ summary: 'Store a delta this often when there are events (Go duration); below 1s disables deltas. [default: 20s]', helpGroup: SNAP }),
  'delta-snapshot-memory-limit': Flags.integer({ summary: 'Cut a delta once its events reach this many bytes. [default: 10485760]', helpGroup: SNAP }),
  'garbage-collection-period': Flags.string({ summary: 'How often the leader collects old backups (Go duration); 1s or less disables it. [default: 1m]', helpGroup: SNAP }),
  'garbage-collection-policy': Flags.string({ summary: 'Exponential or LimitBased. [default: Exponential]', helpGroup: SNAP }),
  'max-backups': Flags.integer({ char: 'm', summary: 'LimitBased: backups (full snapshot + deltas) to keep, at least 1. [default: 7]', helpGroup: SNAP }),
  'delta-snapshot-retention-period': Flags.string({ summary: 'Keep deltas of older backups created within this period (Go duration). [default: 0s]', helpGroup: SNAP }),
  'defragmentation-schedule': Flags.string({ summary: 'Cron (5 fields) of defragmenting this steward\'s own member, under the maintenance lock. [default: 0 0 */3 * *]', helpGroup: SNAP }),
  'move-leader': Flags.boolean({ summary: 'Before defragmenting a member that leads, move leadership to a healthy, up-to-date member. [default: true]', allowNo: true, helpGroup: SNAP }),
  'alarm-check-period': Flags.string({ summary: 'How often the alarm list is read (NOSPACE is recovered, CORRUPT reported); 0s disables (Go duration). [default: 1m]', helpGroup: SNAP }),
  'backoff-multiplier': Flags.integer({ min: 1, summary: 'Retry backoff multiplier (waits multiplier^n seconds). [default: 2]', helpGroup: SNAP }),
  'backoff-attempt-limit': Flags.integer({ min: 1, summary: 'Attempts before the backoff stops growing. [default: 6]', helpGroup: SNAP }),
  'backoff-threshold-time': Flags.string({ summary: 'Longest backoff wait (Go duration). [default: 128s]', helpGroup: SNAP }),
  'reelection-period': Flags.string({ summary: 'How often this member\'s leadership is checked (Go duration, > 1s). [default: 5s]', helpGroup: LE }),
  'etcd-connection-timeout-leader-election': Flags.string({ summary: 'Timeout of the leadership probe (Go duration, > 1s). [default: 5s]', helpGroup: LE }),
  'data-dir': Flags.string({ char: 'd', summary: 'etcd\'s data directory (validated and restored by the initializer). [default: default.etcd]', helpGroup: RS }),
  'skip-hash-check': Flags.boolean({ summary: 'Do not compare restored snapshots with their SHA-256 trailer.', allowNo: true, helpGroup: RS }),
  ...deltaApplyFlags(RS),
  'embedded-etcd-quota-bytes': Flags.integer({ min: 1, summary: 'Backend quota of the temporary etcd that replays deltas. [default: 8589934592]', helpGroup: RS }),
  'max-request-bytes': Flags.integer({ min: 1, summary: 'Request size limit of the temporary etcd. [default: 10485760]', helpGroup: RS }),
  'max-txn-ops': Flags.integer({ min: 1, summary: 'Operations per transaction of the temporary etcd. [default: 10240]', helpGroup: RS }),
  'enable-snapshot-lease-renewal': Flags.boolean({ summary: 'Keep druid\'s full- and delta-snapshot leases at the newest snapshot revisions (docs/kubernetes.md).', allowNo: true, helpGroup: K8S }),
  'full-snapshot-lease-name': Flags.string({ summary: 'Name of the full-snapshot lease. [default: full-snapshot-revisions]', helpGroup: K8S }),
  'delta-snapshot-lease-name': Flags.string({ summary: 'Name of the delta-snapshot lease. [default: delta-snapshot-revisions]', helpGroup: K8S }),
  'enable-member-lease-renewal': Flags.boolean({ summary: 'Renew this member\'s lease (holder <member>:<cluster>:Leader|Member) every --k8s-heartbeat-duration.', allowNo: true, helpGroup: K8S }),
  'k8s-heartbeat-duration': Flags.string({ summary: 'Period of member lease renewals and EtcdMember status updates (Go duration). [default: 30s]', helpGroup: K8S }),
  'enable-etcd-member-status': Flags.boolean({ summary: 'Keep this member\'s druid.gardener.cloud EtcdMember status (IDs, role, DB size, transitions) current every --k8s-heartbeat-duration; off by itself on 404/403 (docs/kubernetes.md "EtcdMember"). [default: false]', allowNo: true, helpGroup: K8S }),
  kubeconfig: Flags.string({ summary: 'Kubernetes client configuration; else KUBECONFIG, the in-cluster service account, ~/.kube/config.', helpGroup: K8S }),
  'secondary-backup-sync-enabled': Flags.boolean({ summary: 'While leading, copy the primary store\'s backups to a secondary store on becoming leader and every --secondary-backup-sync-period, and collect the secondary\'s garbage.', allowNo: true, helpGroup: SEC }),
  'secondary-backup-sync-period': Flags.string({ summary: 'How often the secondary store is synced (Go duration). [default: 1h]', helpGroup: SEC }),
  'secondary-store': Flags.string({ summary: 'Secondary store URL (file://, s3://, gs://, azblob://); steward\'s form of the flags below.', helpGroup: SEC }),
  'secondary-storage-provider': Flags.string({ summary: 'Secondary provider (Local, S3, GCS, ABS, ECS, OCS). [default: the primary\'s]', helpGroup: SEC }),
  'secondary-store-container': Flags.string({ summary: 'Secondary bucket / container / Local directory. Env: SECONDARY_STORAGE_CONTAINER.', helpGroup: SEC }),
  'secondary-store-endpoint-override': Flags.string({ summary: 'Secondary endpoint of an S3-compatible, Azurite or GCS-emulator server.', helpGroup: SEC }),
  'secondary-store-prefix': Flags.string({ summary: 'Secondary prefix. [default: the primary\'s]', helpGroup: SEC }),
  'secondary-max-parallel-chunk-uploads': Flags.integer({ summary: 'Secondary store: parallel chunk uploads.', helpGroup: SEC }),
  'secondary-min-chunk-size': Flags.integer({ summary: 'Secondary store: bytes per chunk of a multipart upload.', helpGroup: SEC }),
  'secondary-snapstore-temp-directory': Flags.string({ summary: 'Secondary store: temp dir. [default: the primary\'s]', helpGroup: SEC }),
}
