/**
 * Flag groups shared by commands. Names follow etcd-backup-restore's (`--endpoints`,
 * `--storage-provider`, `--store-container`, `--store-prefix`, `--cacert`, …) so existing
 * CronJobs and scripts keep working, plus steward's `--store URL` shorthand. Flags carry no
 * defaults here: an unset flag falls through to its environment variable, then the config
 * file, then the default (see `src/lib/config/resolve.ts`).
 */
import { Flags } from '@oclif/core'
import { ignoredFlags } from './ignored-flags.ts'

export const globalFlags = {
  config: Flags.string({ summary: 'Config file (JSON or YAML). Default: .stewardrc / steward.config.* found from the working directory up.', env: 'STEWARD_CONFIG', helpGroup: 'GLOBAL' }),
  // Checked by resolveLogLevel (src/lib/log.ts), which also names STEWARD_LOG_LEVEL in its errors.
  'log-level': Flags.string({ summary: 'Level of the JSON log lines on stderr: fatal, error, warn, info, debug, trace, silent (or etcdbrctl\'s 0-6). Env: STEWARD_LOG_LEVEL (empty: the default). [default: warn on a terminal, else info]', helpGroup: 'GLOBAL' }),
}

export const etcdFlags = {
  endpoints: Flags.string({ char: 'e', multiple: true, summary: 'etcd client URLs, comma-separated or repeated. [default: http://127.0.0.1:2379]', env: 'STEWARD_ENDPOINTS', helpGroup: 'ETCD' }),
  'etcd-username': Flags.string({ summary: 'etcd user name.', env: 'STEWARD_ETCD_USERNAME', helpGroup: 'ETCD' }),
  'etcd-password': Flags.string({ summary: 'etcd password.', env: 'STEWARD_ETCD_PASSWORD', helpGroup: 'ETCD' }),
  cacert: Flags.string({ summary: 'CA bundle (PEM) that signed etcd\'s serving certificate.', env: 'STEWARD_CACERT', helpGroup: 'ETCD' }),
  cert: Flags.string({ summary: 'Client certificate (PEM) for mutual TLS.', env: 'STEWARD_CERT', helpGroup: 'ETCD' }),
  key: Flags.string({ summary: 'Private key (PEM) of --cert.', env: 'STEWARD_KEY', helpGroup: 'ETCD' }),
  'insecure-skip-tls-verify': Flags.boolean({ summary: 'Accept any server certificate (testing only).', allowNo: true, helpGroup: 'ETCD' }),
  'etcd-connection-timeout': Flags.string({ summary: 'Deadline of each etcd call (Go duration). [default: 30s]', helpGroup: 'ETCD' }),
  'etcd-snapshot-timeout': Flags.string({ summary: 'Deadline of a whole snapshot stream. [default: 15m]', helpGroup: 'ETCD' }),
}

/** Where the backups are: every command that reads or writes the store. */
export const storeLocationFlags = {
  store: Flags.string({ summary: 'Backup store URL: file:///dir, s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix.', env: 'STEWARD_STORE', helpGroup: 'STORE' }),
  'storage-provider': Flags.string({ summary: 'etcd-backup-restore provider name: Local, S3, GCS, ABS, ECS, OCS (alternative to --store).', env: 'STEWARD_STORAGE_PROVIDER', helpGroup: 'STORE' }),
  'store-container': Flags.string({ summary: 'Bucket / container; for Local a directory (relative: under $HOME). Env: STORAGE_CONTAINER.', helpGroup: 'STORE' }),
  'store-prefix': Flags.string({ summary: 'Prefix inside the container; snapshots go under <prefix>/v2/.', env: 'STEWARD_STORE_PREFIX', helpGroup: 'STORE' }),
  'store-endpoint-override': Flags.string({ summary: 'Endpoint of an S3-compatible, Azurite or GCS-emulator server.', helpGroup: 'STORE' }),
}

/** etcd-backup-restore's snapstore flag that steward never needs (any command). */
const snapstoreTempDirectory = ignoredFlags({
  'snapstore-temp-directory': { type: 'string', reason: 'steward streams uploads without temp files and restores beside --data-dir' },
})

/** Store flags of commands that write snapshots: where, and how uploads are cut. */
export const storeFlags = {
  ...storeLocationFlags,
  'max-parallel-chunk-uploads': Flags.integer({ summary: 'Parts uploaded in parallel. [default: 5]', min: 1, helpGroup: 'STORE' }),
  'min-chunk-size': Flags.integer({ summary: 'Upload part size in bytes, at least 5 MiB. [default: 5242880]', helpGroup: 'STORE' }),
  ...snapstoreTempDirectory,
}

/**
 * Store flags of commands that only read the store (list, restore, validate): etcdbrctl takes
 * its upload flags on every command, so they are accepted here and ignored with a warning, but
 * left out of `--help`.
 */
export const storeReadFlags = {
  ...storeLocationFlags,
  ...ignoredFlags({
    'max-parallel-chunk-uploads': { type: 'integer', hidden: true, reason: 'this command uploads nothing' },
    'min-chunk-size': { type: 'integer', hidden: true, reason: 'this command uploads nothing' },
    'snapstore-temp-directory': { type: 'string', hidden: true, reason: 'steward restores beside --data-dir without temp snapshot files' },
  }),
}

export const compressionFlags = {
  compression: Flags.string({ summary: 'Compression of new snapshots: gzip, zlib, lzw, zstd, none. [default: gzip]', env: 'STEWARD_COMPRESSION', helpGroup: 'COMPRESSION' }),
  'compress-snapshots': Flags.boolean({ summary: 'etcd-backup-restore form: compress or not (use with --compression-policy).', allowNo: true, helpGroup: 'COMPRESSION' }),
  'compression-policy': Flags.string({ summary: 'etcd-backup-restore form: gzip, zlib or lzw.', helpGroup: 'COMPRESSION' }),
  'compression-level': Flags.integer({ summary: 'Compression level: gzip and zlib 1–9, zstd 1–19. [default: gzip/zlib 6, zstd 3]', env: 'STEWARD_COMPRESSION_LEVEL', helpGroup: 'COMPRESSION' }),
  'compression-workers': Flags.integer({ summary: 'Threads compressing a gzip or zlib full snapshot in parallel blocks. [default: available cores]', env: 'STEWARD_COMPRESSION_WORKERS', helpGroup: 'COMPRESSION' }),
}

/**
 * How a restore applies deltas (`--delta-apply`, `--keep-delta-history`; docs/restore.md), one
 * definition for `steward restore` and serve's initializer (and so `steward bootstrap`).
 * @param helpGroup the group they are listed under in `--help`
 */
export function deltaApplyFlags(helpGroup?: string) {
  const group = helpGroup ? { helpGroup } : {}
  return {
    'delta-apply': Flags.string({ options: ['direct', 'etcd'], summary: 'How deltas are applied: direct (merged into a copy of the full snapshot database, the fast default) or etcd (replayed through a temporary etcd). See docs/restore.md. [default: direct]', ...group }),
    'keep-delta-history': Flags.boolean({ summary: 'Direct delta apply: keep every revision of the delta chain (forensics) instead of compacting at etcd-backup-restore\'s point, the last revision of the last 10th delta. See docs/restore.md.', allowNo: true, ...group }),
  }
}

export const restoreMemberFlags = {
  name: Flags.string({ summary: 'Member name of the restored data dir. [default: default]', helpGroup: 'MEMBER' }),
  'initial-cluster': Flags.string({ summary: 'name=peerURL,… of all members. [default: default=http://localhost:2380]', helpGroup: 'MEMBER' }),
  'initial-cluster-token': Flags.string({ summary: 'Cluster token. [default: etcd-cluster]', helpGroup: 'MEMBER' }),
  'initial-advertise-peer-urls': Flags.string({ multiple: true, summary: 'This member\'s peer URLs. [default: http://localhost:2380]', helpGroup: 'MEMBER' }),
}

/**
 * etcdbrctl `snapshot` flags with no meaning for a one-shot (or `--watch` delta) steward
 * snapshot: full-snapshot schedules, garbage collection, defragmentation and the snapshotter's
 * restart backoff belong to `steward serve` and its own commands. See docs/compatibility.md.
 */
export const snapshotIgnoredFlags = ignoredFlags({
  'insecure-transport': { type: 'boolean', reason: 'TLS follows the endpoints\' scheme (https:// uses TLS)' },
  'service-endpoints': { type: 'string', multiple: true, reason: 'steward snapshot talks to --endpoints only' },
  'etcd-defrag-timeout': { type: 'duration', reason: 'steward snapshot does not defragment' },
  'defragmentation-schedule': { type: 'string', reason: 'steward snapshot does not defragment' },
  schedule: { type: 'string', char: 's', reason: 'steward snapshot takes one snapshot per run (--watch: deltas); schedule full snapshots with a CronJob or steward serve' },
  'garbage-collection-period': { type: 'duration', reason: 'steward snapshot collects no garbage' },
  'garbage-collection-policy': { type: 'string', reason: 'steward snapshot collects no garbage' },
  'max-backups': { type: 'integer', char: 'm', reason: 'steward snapshot collects no garbage' },
  'delta-snapshot-retention-period': { type: 'duration', reason: 'steward snapshot collects no garbage' },
  'backoff-multiplier': { type: 'integer', reason: 'etcd and store calls retry with steward\'s own bounded backoff' },
  'backoff-attempt-limit': { type: 'integer', reason: 'etcd and store calls retry with steward\'s own bounded backoff' },
  'backoff-threshold-time': { type: 'duration', reason: 'etcd and store calls retry with steward\'s own bounded backoff' },
})

/** etcdbrctl `restore` flags with no meaning for steward's restore. See docs/compatibility.md. */
export const restoreIgnoredFlags = ignoredFlags({
  'restoration-temp-snapshots-dir': { type: 'string', reason: 'deltas stream from the store into a work dir beside --data-dir' },
  'max-fetchers': { type: 'integer', reason: 'deltas are fetched and applied one at a time, in bounded memory' },
  'max-call-send-message-size': { type: 'integer', reason: 'unused by etcd-backup-restore as well' },
  'auto-compaction-mode': { type: 'string', reason: 'the temporary etcd compacts as it replays; set the restored member\'s compaction in its etcd config' },
  'auto-compaction-retention': { type: 'string', reason: 'the temporary etcd compacts as it replays; set the restored member\'s compaction in its etcd config' },
})
