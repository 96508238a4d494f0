/**
 * Reads etcd's store revision from a bbolt file without starting etcd or taking the file lock
 * (the page reader and the format live in `src/lib/bbolt/`).
 *
 * etcd keeps revisions in bucket `key`, keyed by 8-byte big-endian main revision, `_`, 8-byte
 * sub revision (+ `t` for tombstones); the last key's main revision is the store revision.
 */
import { StewardError } from '../errors.ts'
import { BboltReader } from '../bbolt/reader.ts'

/** What {@link readBboltRevision} finds. */
export interface BboltInfo {
  /** Page size in bytes. */
  readonly pageSize: number
  /** Transaction id of the meta page in use. */
  readonly txid: number
  /** etcd's store revision (main revision of the last key in bucket `key`); 1 when the bucket is empty, as etcd-backup-restore reads it. */
  readonly revision: number
  /** Top-level bucket names. */
  readonly buckets: readonly string[]
}

/**
 * Reads page size, buckets and etcd's revision from a bbolt file.
 * @throws StewardError `SNAPSHOT_NOT_BBOLT` (no valid meta page), `DATA_DIR_INVALID` (structure
 *   broken or bucket `key` missing), `DATA_DIR_INVALID` when the file cannot be read
 */
export async function readBboltRevision(path: string): Promise<BboltInfo> {
  const reader = await BboltReader.open(path)
  try {
    const top = await reader.topBuckets()
    const buckets = top.map((b) => b.name.toString('latin1'))
    const keyBucket = top.find((b) => b.name.toString('latin1') === 'key')
    if (!keyBucket) {
      throw new StewardError('DATA_DIR_INVALID', 'bbolt', `${path} has no "key" bucket: not an etcd v3 database`, { details: { path, buckets } })
    }
    const lastKey = await reader.lastKeyOfBucket(keyBucket.value)
    const revision = lastKey && lastKey.length >= 8 ? Number(lastKey.readBigUInt64BE(0)) : 1
    return { pageSize: reader.pageSize, txid: reader.meta.txid, revision, buckets }
  } finally {
    await reader.close()
  }
}
