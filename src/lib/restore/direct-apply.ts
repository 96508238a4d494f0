/**
 * The direct delta apply (docs/restore.md, "Applying deltas"): instead of replaying deltas
 * through a temporary etcd, a new bbolt file is bulk-loaded from the full snapshot's file plus
 * the delta events, and `etcdutl snapshot restore` then restores that file.
 *
 * - Every top-level bucket of the snapshot is copied: its leaf pages as they are (only their
 *   page ids change), an inline bucket's value verbatim; branch levels are rebuilt.
 * - Bucket `key` is copied the same way and extended with one record per delta event after the
 *   snapshot's revision (src/lib/bbolt/mvcc.ts): revision key (main, sub = index of the event in
 *   its revision group, `t` for a delete) → mvccpb.KeyValue with the event's own key, value,
 *   create/mod revision and version, lease 0 (docs/restore.md, "Leases"); a delete → a
 *   tombstone holding only the key. etcd's revision is the last key's main revision, so it
 *   rises with the records; the rest of `meta` is rewritten by etcdutl.
 *
 * Memory: one page per tree level while reading, one page of pending records, a 4 MiB write
 * buffer, and the first key of every leaf of a tree (for its branch levels: ~30 bytes a leaf).
 */
import { rm } from 'node:fs/promises'
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import { revisionGroups, type GroupProgress } from '../delta/apply.ts'
import { BboltReader, type TopBucket } from '../bbolt/reader.ts'
import { BboltWriter, appendSha256Trailer, type FinishedBucket, type TreeBuilder } from '../bbolt/writer.ts'
import { encodeKeyValue, mainRevisionOf, revisionKey } from '../bbolt/mvcc.ts'
import { BUCKET_HEADER_BYTES, leafElement, pageCount } from '../bbolt/format.ts'
import type { DeltaEvent } from '../delta/decode.ts'
import { garbageReleaser } from '../memory.ts'
import type { DeltaSink, SinkApplied } from './deltas.ts'

const KEY_BUCKET = 'key'
const NO_VALUE = Buffer.alloc(0)

/** A merge in progress: apply deltas through {@link sink}, then {@link finish} (or {@link abandon}). */
export interface DirectMerge {
  /** The snapshot's store revision (1 when bucket `key` is empty). */
  readonly baseRevision: number
  readonly sink: DeltaSink
  /**
   * Copies the other buckets, writes the branch levels, metas and the SHA-256 trailer.
   * @returns the merged file's size in bytes without the trailer, and the revision it holds
   */
  finish(): Promise<{ sizeBytes: number; revision: number }>
  /** Closes both files after a failure and removes the merged file. */
  abandon(): Promise<void>
}

/**
 * Starts a merge of the bbolt file `snapshotPath` (a verified full snapshot, trailer or not)
 * into a new file `mergedPath`: copies bucket `key` right away; delta events are appended
 * through the returned sink.
 * @throws StewardError `SNAPSHOT_NOT_BBOLT`, `SNAPSHOT_CORRUPT` (a broken tree, no bucket `key`,
 *   a nested bucket), `DATA_DIR_WRITE_FAILED` (cannot create `mergedPath`), `ABORTED`
 */
export async function openDirectMerge(snapshotPath: string, mergedPath: string, source: string, signal?: AbortSignal): Promise<DirectMerge> {
  const reader = await BboltReader.open(snapshotPath)
  let writer: BboltWriter | undefined
  try {
    const top = await reader.topBuckets()
    const keyBucket = top.find((b) => b.name.toString('latin1') === KEY_BUCKET)
    if (!keyBucket) throw new StewardError('SNAPSHOT_CORRUPT', 'restore', `${source} has no "key" bucket: not an etcd v3 database`, { details: { source } })
    writer = await BboltWriter.create(mergedPath, reader.pageSize, signal).catch((error: unknown) => {
      throw new StewardError('DATA_DIR_WRITE_FAILED', 'restore', `cannot create ${mergedPath}: ${messageOf(error)}`, { cause: error, details: { path: mergedPath } })
    })
    const keys = writer.tree()
    const release = releaser()
    const lastKey = await copyBucket(reader, keyBucket, keys, source, release)
    const baseRevision = lastKey ? mainRevisionOf(lastKey) : 1
    return new Merge(reader, writer, keys, keyBucket, top, baseRevision, mergedPath, source, signal, release)
  } catch (error) {
    await writer?.abandon()
    await reader.close()
    if (writer) await rm(mergedPath, { force: true })
    throw error
  }
}

/**
 * Copies one bucket's records into `tree`: whole leaf pages of a tree bucket, the records of an
 * inline one. @returns the bucket's last key (null when empty)
 */
async function copyBucket(reader: BboltReader, bucket: TopBucket, tree: TreeBuilder, source: string, release: (bytes: number) => void): Promise<Buffer | null> {
  const inline = bucket.value.readBigUInt64LE(0) === 0n
  let last: Buffer | null = null
  try {
    for await (const leaf of reader.leafPages(bucket.value, true)) {
      if (inline) {
        for (const element of reader.elements(leaf)) {
          if (element.flags) throw new Error('nested buckets are not supported (etcd never writes them)')
          last = Buffer.from(element.key)
          await tree.put(last, Buffer.from(element.value))
        }
        continue
      }
      await tree.copyLeaf(leaf)
      release(leaf.length)
      const count = pageCount(leaf)
      if (count > 0) last = Buffer.from(leafElement(leaf, count - 1).key)
    }
  } catch (error) {
    if (isStewardError(error)) throw error
    throw new StewardError('SNAPSHOT_CORRUPT', 'restore', `${source}: bucket "${bucket.name.toString('latin1')}": ${messageOf(error)}`, { cause: error, details: { source } })
  }
  return last
}

/**
 * Counts bytes passed through the merge and collects garbage every few MiB (src/lib/memory.ts):
 * every page read and every parsed event is a fresh buffer outside V8's heap, which V8 alone
 * lets pile up to well over 100 MiB.
 */
function releaser(): (bytes: number) => void {
  const release = garbageReleaser()
  let total = 0
  return (bytes) => {
    total += bytes
    release(total)
  }
}

class Merge implements DirectMerge {
  readonly baseRevision: number
  readonly sink: DeltaSink
  readonly #reader: BboltReader
  readonly #writer: BboltWriter
  readonly #keys: TreeBuilder
  readonly #keyBucket: TopBucket
  readonly #top: readonly TopBucket[]
  readonly #path: string
  readonly #source: string
  readonly #signal: AbortSignal | undefined
  /** Last revision whose records were all written. */
  #revision: number

  readonly #release: (bytes: number) => void

  constructor(reader: BboltReader, writer: BboltWriter, keys: TreeBuilder, keyBucket: TopBucket, top: readonly TopBucket[], baseRevision: number, path: string, source: string, signal: AbortSignal | undefined, release: (bytes: number) => void) {
    this.#release = release
    this.#reader = reader
    this.#writer = writer
    this.#keys = keys
    this.#keyBucket = keyBucket
    this.#top = top
    this.baseRevision = baseRevision
    this.#revision = baseRevision
    this.#path = path
    this.#source = source
    this.#signal = signal
    this.sink = {
      revision: () => Promise.resolve(this.#revision),
      applyDelta: (events, delta, _jsonBytes, revision, limits) => this.#apply(events, delta.key, revision, limits),
      afterDelta: (delta, applied) => {
        if (!applied.stopped && applied.revision !== delta.lastRevision) {
          return Promise.reject(
            new StewardError('SNAPSHOT_CORRUPT', 'restore', `delta snapshot ${delta.key} ends at revision ${applied.revision}, not at the ${delta.lastRevision} its name says`, {
              details: { key: delta.key, expected: delta.lastRevision, actual: applied.revision },
            }),
          )
        }
        return Promise.resolve()
      },
    }
  }

  async #apply(events: AsyncIterable<DeltaEvent>, objectKey: string, from: number, limits: { toRevision: number | undefined; toTimeNanos: bigint | undefined }): Promise<SinkApplied> {
    if (from !== this.#revision) throw new Error(`direct apply asked to continue from ${from}, holds ${this.#revision}`)
    const progress: GroupProgress = { eventsSkipped: 0, stopped: false }
    let eventsApplied = 0
    let lastEventTime: string | undefined
    for await (const group of revisionGroups(events, { objectKey, currentRevision: from, ...limits }, progress)) {
      if (this.#signal?.aborted) throw new StewardError('ABORTED', 'restore', 'restore aborted')
      for (let sub = 0; sub < group.length; sub++) {
        const e = group[sub]!
        if (e.type === 'put') {
          await this.#keys.put(revisionKey(e.modRevision, sub, false), encodeKeyValue({ key: e.key, createRevision: e.createRevision, modRevision: e.modRevision, version: e.version, value: e.value }))
        } else {
          await this.#keys.put(revisionKey(e.modRevision, sub, true), encodeKeyValue({ key: e.key, createRevision: 0, modRevision: 0, version: 0, value: NO_VALUE }))
        }
      }
      this.#revision = group[0]!.modRevision
      eventsApplied += group.length
      // Events are parsed from JSON and base64: a few times their size in short-lived memory.
      this.#release(group.reduce((sum, e) => sum + 4 * (e.key.length + e.value.length) + 512, 0))
      lastEventTime = group.at(-1)!.time ?? lastEventTime
    }
    return { revision: this.#revision, eventsApplied, lastEventTime, stopped: progress.stopped }
  }

  async finish(): Promise<{ sizeBytes: number; revision: number }> {
    try {
      const buckets: FinishedBucket[] = [{ name: this.#keyBucket.name, rootPgid: await this.#keys.finish(), sequence: this.#keyBucket.value.readBigUInt64LE(8) }]
      for (const bucket of this.#top) {
        if (bucket === this.#keyBucket) continue
        if (bucket.value.readBigUInt64LE(0) === 0n && bucket.value.length > BUCKET_HEADER_BYTES) {
          buckets.push({ name: bucket.name, inlineValue: bucket.value })
          continue
        }
        const tree = this.#writer.tree()
        await copyBucket(this.#reader, bucket, tree, this.#source, this.#release)
        buckets.push({ name: bucket.name, rootPgid: await tree.finish(), sequence: bucket.value.readBigUInt64LE(8) })
      }
      const meta = this.#reader.meta
      const written = await this.#writer.finish(buckets, { txid: meta.txid + 1, rootSequence: meta.rootSequence, metaFlags: meta.flags })
      await this.#reader.close()
      await appendSha256Trailer(this.#path, this.#signal)
      return { sizeBytes: written.sizeBytes, revision: this.#revision }
    } catch (error) {
      await this.abandon()
      throw error
    }
  }

  async abandon(): Promise<void> {
    await this.#writer.abandon()
    await this.#reader.close().catch(() => undefined)
    await rm(this.#path, { force: true })
  }
}
