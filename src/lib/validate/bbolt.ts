/**
 * Reads etcd's store revision from a bbolt file without starting etcd or taking the file lock
 * (the page reader and the format live in `src/lib/bbolt/`).
 *
 * etcd keeps revisions in bucket `key`, keyed by 8-byte big-endian main revision, `_`, 8-byte
 * sub revision (+ `t` for tombstones). The store revision is the last key's main revision, or
 * the compaction revision in bucket `meta` (`finishedCompactRev`) when that is higher: a
 * compaction at the newest revision removes that revision's tombstones, and etcd then resumes
 * from the compaction revision (etcd 3.5 `mvcc/kvstore.go` restore).
 */
import { StewardError } from '../errors.ts'
import { BboltReader } from '../bbolt/reader.ts'

/** What {@link readBboltRevision} finds. */
export interface BboltInfo {
  /** Page size in bytes. */
  readonly pageSize: number
  /** Transaction id of the meta page in use. */
  readonly txid: number
  /**
   * etcd's store revision: the main revision of the last key in bucket `key`, or the
   * compaction revision when higher; 1 when both are absent, as etcd-backup-restore reads it.
   */
  readonly revision: number
  /** Revision of the last finished compaction (`meta/finishedCompactRev`); 0 when never compacted. */
  readonly compactedRevision: number
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
    const lastRevision = lastKey && lastKey.length >= 8 ? Number(lastKey.readBigUInt64BE(0)) : 1
    const compactedRevision = await readCompactedRevision(reader, top.find((b) => b.name.toString('latin1') === 'meta')?.value)
    return { pageSize: reader.pageSize, txid: reader.meta.txid, revision: Math.max(lastRevision, compactedRevision), compactedRevision, buckets }
  } finally {
    await reader.close()
  }
}

const FINISHED_COMPACT_REV = Buffer.from('finishedCompactRev')

/** Main revision of `meta/finishedCompactRev` (a revision key: 8-byte big-endian main, `_`, sub); 0 when absent. */
async function readCompactedRevision(reader: BboltReader, metaBucket: Buffer | undefined): Promise<number> {
  if (!metaBucket) return 0
  for await (const leaf of reader.leafPages(metaBucket)) {
    for (const element of reader.elements(leaf)) {
      if (element.flags === 0 && FINISHED_COMPACT_REV.equals(element.key) && element.value.length >= 8) return Number(Buffer.from(element.value).readBigUInt64BE(0))
    }
  }
  return 0
}
