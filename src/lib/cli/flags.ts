/**
 * Flag groups shared by commands. Names follow etcd-backup-restore's (`--endpoints`,
 * `--storage-provider`, `--store-container`, `--store-prefix`, `--cacert`, …) so existing
 * CronJobs and scripts keep working, plus steward's `--store URL` shorthand. Flags carry no
 * defaults here: an unset flag falls through to its environment variable, then the config
 * file, then the default (see `src/lib/config/resolve.ts`).
 */
import { Flags } from '@oclif/core'

export const globalFlags = {
  config: Flags.string({ summary: 'Config file (JSON or YAML). Default: .stewardrc / steward.config.* found from the working directory up.', env: 'STEWARD_CONFIG', helpGroup: 'GLOBAL' }),
  'log-level': Flags.option({ options: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, summary: 'Level of the JSON log lines on stderr.', env: 'STEWARD_LOG_LEVEL', helpGroup: 'GLOBAL' })(),
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

export const storeFlags = {
  store: Flags.string({ summary: 'Backup store URL: file:///dir, s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix.', env: 'STEWARD_STORE', helpGroup: 'STORE' }),
  'storage-provider': Flags.string({ summary: 'etcd-backup-restore provider name: Local, S3, GCS, ABS, ECS, OCS (alternative to --store).', env: 'STEWARD_STORAGE_PROVIDER', helpGroup: 'STORE' }),
  'store-container': Flags.string({ summary: 'Bucket / container; for Local a directory (relative: under $HOME). Env: STORAGE_CONTAINER.', helpGroup: 'STORE' }),
  'store-prefix': Flags.string({ summary: 'Prefix inside the container; snapshots go under <prefix>/v2/.', env: 'STEWARD_STORE_PREFIX', helpGroup: 'STORE' }),
  'store-endpoint-override': Flags.string({ summary: 'Endpoint of an S3-compatible, Azurite or GCS-emulator server.', helpGroup: 'STORE' }),
  'max-parallel-chunk-uploads': Flags.integer({ summary: 'Parts uploaded in parallel. [default: 5]', min: 1, helpGroup: 'STORE' }),
  'min-chunk-size': Flags.integer({ summary: 'Upload part size in bytes, at least 5 MiB. [default: 5242880]', helpGroup: 'STORE' }),
  'snapstore-temp-directory': Flags.string({ summary: 'Accepted for etcd-backup-restore compatibility and not used: steward streams uploads without temp files and restores beside --data-dir.', helpGroup: 'STORE' }),
}

export const compressionFlags = {
  compression: Flags.string({ summary: 'Compression of new snapshots: gzip, zlib, lzw, zstd, none. [default: gzip]', env: 'STEWARD_COMPRESSION', helpGroup: 'COMPRESSION' }),
  'compress-snapshots': Flags.boolean({ summary: 'etcd-backup-restore form: compress or not (use with --compression-policy).', allowNo: true, helpGroup: 'COMPRESSION' }),
  'compression-policy': Flags.string({ summary: 'etcd-backup-restore form: gzip, zlib or lzw.', helpGroup: 'COMPRESSION' }),
  'compression-level': Flags.integer({ summary: 'Compression level: gzip and zlib 1–9, zstd 1–19. [default: gzip/zlib 6, zstd 3]', env: 'STEWARD_COMPRESSION_LEVEL', helpGroup: 'COMPRESSION' }),
  'compression-workers': Flags.integer({ summary: 'Threads compressing a gzip or zlib full snapshot in parallel blocks. [default: available cores]', env: 'STEWARD_COMPRESSION_WORKERS', helpGroup: 'COMPRESSION' }),
}

export const restoreMemberFlags = {
  name: Flags.string({ summary: 'Member name of the restored data dir. [default: default]', helpGroup: 'MEMBER' }),
  'initial-cluster': Flags.string({ summary: 'name=peerURL,… of all members. [default: default=http://localhost:2380]', helpGroup: 'MEMBER' }),
  'initial-cluster-token': Flags.string({ summary: 'Cluster token. [default: etcd-cluster]', helpGroup: 'MEMBER' }),
  'initial-advertise-peer-urls': Flags.string({ multiple: true, summary: 'This member\'s peer URLs. [default: http://localhost:2380]', helpGroup: 'MEMBER' }),
}
