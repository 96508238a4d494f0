/**
 * Delta snapshot defaults, in a module of their own so that commands can show them in `--help`
 * without loading the delta snapshotter (watch, recorder) on every start-up.
 */

/** etcd-backup-restore's `--delta-snapshot-memory-limit` default, bytes (10 MiB). */
export const DEFAULT_DELTA_MEMORY_LIMIT_BYTES = 10 * 1024 * 1024
/** etcd-backup-restore's `--delta-snapshot-period` default, seconds. */
export const DEFAULT_DELTA_PERIOD_SECONDS = 20
