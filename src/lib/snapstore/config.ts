/**
 * Where a backup store is: the validated, driver-independent description every command
 * builds from `--store URL` or etcd-backup-restore's flags (`--storage-provider`,
 * `--store-container`, `--store-prefix`, `--store-endpoint-override`, …).
 */
import type { SnapstoreDriverId } from './types.ts'

export interface StoreConfig {
  /** Driver id (etcd-backup-restore's provider name). */
  readonly provider: SnapstoreDriverId
  /**
   * Bucket (S3, GCS) or container (ABS); for Local the directory that holds the objects
   * (a relative one is taken relative to `$HOME`, as etcd-backup-restore does).
   */
  readonly container: string
  /** Store prefix, without the `/v2` that is appended for writes. `''` means the container root. */
  readonly prefix: string
  /** Endpoint of an S3-compatible, Azurite or GCS-emulator server. */
  readonly endpointOverride?: string | undefined
  /** Upload part size in bytes (≥ 5 MiB). @default 5242880 */
  readonly minChunkSize: number
  /** Parts uploaded in parallel. @default 5 */
  readonly maxParallelChunkUploads: number
  /**
   * etcd-backup-restore's `--snapstore-temp-directory`. Kept so its flags parse; no driver needs
   * it, since uploads stream without temp files and restores work beside the data dir.
   * @default os.tmpdir()
   */
  readonly tempDir: string
  /**
   * Prefix of credential environment variables (`''` for the primary store, `SOURCE_` for the
   * source of a copy, `SECONDARY_` for a secondary store), as etcd-backup-restore reads them.
   */
  readonly envPrefix: string
}

/** Defaults for the tuning fields (etcd-backup-restore's). */
export const STORE_DEFAULTS = {
  minChunkSize: 5 * 1024 * 1024,
  maxParallelChunkUploads: 5,
} as const
