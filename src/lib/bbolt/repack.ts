/**
 * Rewrites a bbolt file into a new one with the same top-level buckets, records, bucket
 * sequences and meta flags, packed into full pages with no free page: what a defragmentation
 * does to the file, done with steward's streaming reader and writer (`reader.ts`, `writer.ts`:
 * `pread`/`write`, no mmap, memory bounded by one page per tree level, the writer's 4 MiB
 * buffer and the first key of every leaf). Used after etcd compacted a restored history
 * (docs/restore.md, "Compacted history"), so that no process maps the database and its
 * defragmented copy at once.
 */
import { rm } from 'node:fs/promises'
import { BboltReader } from './reader.ts'
import { BboltWriter, type FinishedBucket } from './writer.ts'
import { BUCKET_HEADER_BYTES } from './format.ts'
import { StewardError } from '../errors.ts'
import { garbageReleaser } from '../memory.ts'

/**
 * Copies every record of `sourcePath` into a new file `targetPath` (no SHA-256 trailer).
 * @returns the new file's size in bytes
 * @throws StewardError `SNAPSHOT_NOT_BBOLT`, `DATA_DIR_INVALID` (broken source; a nested
 *   bucket, which etcd never writes), `ABORTED`; an OS error when `targetPath` cannot be written
 */
export async function repackBbolt(sourcePath: string, targetPath: string, signal?: AbortSignal): Promise<{ sizeBytes: number }> {
  const reader = await BboltReader.open(sourcePath)
  let writer: BboltWriter | undefined
  try {
    writer = await BboltWriter.create(targetPath, reader.pageSize, signal)
    const release = garbageReleaser()
    let copied = 0
    const buckets: FinishedBucket[] = []
    for (const bucket of await reader.topBuckets()) {
      if (signal?.aborted) throw new StewardError('ABORTED', 'restore', 'restore aborted')
      if (bucket.value.readBigUInt64LE(0) === 0n && bucket.value.length > BUCKET_HEADER_BYTES) {
        buckets.push({ name: bucket.name, inlineValue: bucket.value })
        continue
      }
      const tree = writer.tree()
      for await (const leaf of reader.leafPages(bucket.value)) {
        for (const element of reader.elements(leaf)) {
          if (element.flags) throw reader.broken(`bucket "${bucket.name.toString('latin1')}" holds a nested bucket (etcd never writes them)`)
          await tree.put(Buffer.from(element.key), Buffer.from(element.value))
        }
        copied += leaf.length
        release(copied)
      }
      buckets.push({ name: bucket.name, rootPgid: await tree.finish(), sequence: bucket.value.readBigUInt64LE(8) })
    }
    const meta = reader.meta
    const written = await writer.finish(buckets, { txid: meta.txid + 1, rootSequence: meta.rootSequence, metaFlags: meta.flags })
    writer = undefined
    return { sizeBytes: written.sizeBytes }
  } catch (error) {
    if (writer) {
      await writer.abandon()
      await rm(targetPath, { force: true })
    }
    throw error
  } finally {
    await reader.close()
  }
}
