/**
 * A read-only bbolt page reader (format: `format.ts`): opens a file without taking bbolt's lock,
 * finds the current meta page, and walks bucket trees page by page with positional reads, so
 * memory stays at one page per tree level whatever the file's size.
 */
import { readSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { StewardError, messageOf } from '../errors.ts'
import {
  BRANCH_PAGE,
  BUCKET_HEADER_BYTES,
  BUCKET_LEAF,
  LEAF_PAGE,
  PAGE_HEADER_BYTES,
  branchElement,
  leafElement,
  pageCount,
  pageFlags,
  parseMeta,
  type LeafElement,
  type Meta,
} from './format.ts'

/** Deepest bucket tree accepted (bbolt's trees are a handful of levels deep). */
const MAX_DEPTH = 64

/** A top-level bucket: its name and its bucket value (header, plus the inline page when root = 0). */
export interface TopBucket {
  readonly name: Buffer
  readonly value: Buffer
}

export class BboltReader {
  readonly path: string
  readonly #file: FileHandle
  #meta: Meta | undefined

  private constructor(file: FileHandle, path: string) {
    this.#file = file
    this.path = path
  }

  /**
   * Opens `path` and reads its current meta page.
   * @throws StewardError `DATA_DIR_INVALID` (cannot open), `SNAPSHOT_NOT_BBOLT` (no valid meta page)
   */
  static async open(path: string): Promise<BboltReader> {
    let file: FileHandle
    try {
      file = await open(path, 'r')
    } catch (error) {
      throw new StewardError('DATA_DIR_INVALID', 'bbolt', `cannot open ${path}: ${messageOf(error)}`, { cause: error, details: { path } })
    }
    const reader = new BboltReader(file, path)
    try {
      await reader.#readMeta()
    } catch (error) {
      await file.close()
      throw error
    }
    return reader
  }

  /** The current meta page (the valid one with the higher txid). */
  get meta(): Meta {
    return this.#meta!
  }

  get pageSize(): number {
    return this.#meta!.pageSize
  }

  async close(): Promise<void> {
    await this.#file.close()
  }

  async #readMeta(): Promise<void> {
    const first = await this.#read(0, 4096)
    const candidates: Meta[] = []
    const m0 = parseMeta(first)
    if (m0) candidates.push(m0)
    const pageSize = m0?.pageSize ?? (first.length >= PAGE_HEADER_BYTES + 12 ? first.readUInt32LE(PAGE_HEADER_BYTES + 8) : 0)
    if (pageSize >= 512 && pageSize <= 65536) {
      const m1 = parseMeta(await this.#read(pageSize, pageSize))
      if (m1) candidates.push(m1)
    }
    const best = candidates.sort((a, b) => b.txid - a.txid)[0]
    if (!best) throw new StewardError('SNAPSHOT_NOT_BBOLT', 'bbolt', `${this.path} is not a bbolt database (no valid meta page)`, { details: { path: this.path } })
    this.#meta = best
  }

  /**
   * Page `pgid` with its overflow pages; a one-page page is read into `into` when given.
   * @throws StewardError `DATA_DIR_INVALID` when it lies beyond the file or carries another id
   */
  async page(pgid: number, into?: Buffer): Promise<Buffer> {
    const size = this.pageSize
    const first = await this.#read(pgid * size, size, into)
    if (first.length < PAGE_HEADER_BYTES) throw this.broken(`page ${pgid} lies beyond the end of the file`)
    if (Number(first.readBigUInt64LE(0)) !== pgid) throw this.broken(`page ${pgid} carries id ${first.readBigUInt64LE(0)}`)
    const overflow = first.readUInt32LE(12)
    if (overflow === 0) return first
    const page = await this.#read(pgid * size, (overflow + 1) * size)
    if (page.length < (overflow + 1) * size) throw this.broken(`page ${pgid} (+${overflow} overflow) runs past the end of the file`)
    return page
  }

  /** The top-level buckets, in key order. @throws StewardError `DATA_DIR_INVALID` */
  async topBuckets(): Promise<TopBucket[]> {
    const buckets: TopBucket[] = []
    for await (const leaf of this.#leavesFrom(await this.page(this.meta.rootPgid), 0)) {
      for (const element of this.elements(leaf)) {
        if (element.flags & BUCKET_LEAF) buckets.push({ name: Buffer.from(element.key), value: Buffer.from(element.value) })
      }
    }
    return buckets
  }

  /**
   * The leaf pages of a bucket in key order (an inline bucket's single page is a view into
   * `bucketValue`; others include their overflow pages). With `reuse`, a one-page leaf is read
   * into one buffer shared by all of them, valid only until the next iteration: a caller that
   * copies each page at once then leaves no garbage behind per page.
   * @throws StewardError `DATA_DIR_INVALID`
   */
  async *leafPages(bucketValue: Buffer, reuse = false): AsyncGenerator<Buffer> {
    if (bucketValue.length < BUCKET_HEADER_BYTES) throw this.broken(`bucket value of ${bucketValue.length} bytes`)
    const rootPgid = Number(bucketValue.readBigUInt64LE(0))
    if (rootPgid === 0) {
      const inline = bucketValue.subarray(BUCKET_HEADER_BYTES)
      if (inline.length < PAGE_HEADER_BYTES || !(pageFlags(inline) & LEAF_PAGE)) throw this.broken('inline bucket is not a leaf page')
      yield inline
      return
    }
    yield* this.#leavesFrom(await this.page(rootPgid), 0, reuse ? Buffer.allocUnsafe(this.pageSize) : undefined)
  }

  async *#leavesFrom(page: Buffer, depth: number, scratch?: Buffer): AsyncGenerator<Buffer> {
    if (depth > MAX_DEPTH) throw this.broken(`bucket tree deeper than ${MAX_DEPTH} levels`)
    const flags = pageFlags(page)
    if (flags & LEAF_PAGE) {
      yield page
      return
    }
    if (!(flags & BRANCH_PAGE)) throw this.broken(`page ${page.readBigUInt64LE(0)} of flags 0x${flags.toString(16)} inside a bucket`)
    const count = pageCount(page)
    for (let i = 0; i < count; i++) {
      const child = await this.page(this.#branch(page, i).pgid, scratch)
      // A branch child is iterated while its own children are read: it cannot stay in the scratch buffer.
      yield* this.#leavesFrom(child === scratch && !(pageFlags(child) & LEAF_PAGE) ? Buffer.from(child) : child, depth + 1, scratch)
    }
  }

  /** Last key of a bucket, given its bucket value; `null` when it is empty. @throws StewardError `DATA_DIR_INVALID` */
  async lastKeyOfBucket(bucketValue: Buffer): Promise<Buffer | null> {
    const rootPgid = Number(bucketValue.readBigUInt64LE(0))
    let page = rootPgid === 0 ? bucketValue.subarray(BUCKET_HEADER_BYTES) : await this.page(rootPgid)
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      const flags = pageFlags(page)
      const count = pageCount(page)
      if (count === 0) return null
      if (flags & LEAF_PAGE) return this.#leaf(page, count - 1).key
      if (!(flags & BRANCH_PAGE)) throw this.broken(`page of flags 0x${flags.toString(16)} inside a bucket`)
      page = await this.page(this.#branch(page, count - 1).pgid)
    }
    throw this.broken(`bucket tree deeper than ${MAX_DEPTH} levels`)
  }

  /** The elements of a leaf page. @throws StewardError `DATA_DIR_INVALID` */
  *elements(leaf: Buffer): Iterable<LeafElement> {
    const count = pageCount(leaf)
    for (let i = 0; i < count; i++) yield this.#leaf(leaf, i)
  }

  #leaf(page: Buffer, index: number): LeafElement {
    try {
      return leafElement(page, index)
    } catch (error) {
      throw this.broken(messageOf(error))
    }
  }

  #branch(page: Buffer, index: number): ReturnType<typeof branchElement> {
    try {
      return branchElement(page, index)
    } catch (error) {
      throw this.broken(messageOf(error))
    }
  }

  /**
   * Reads with a plain pread on the file's descriptor: pages are small and nearly always in the
   * page cache, where a synchronous read takes microseconds and a thread-pool round trip per
   * page took 9 s for the 67,000 leaves of a 263 MiB snapshot (docs/restore.md).
   */
  async #read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const buffer = into && into.length === length ? into : Buffer.allocUnsafe(length)
    let done = 0
    while (done < length) {
      const n = readSync(this.#file.fd, buffer, done, length - done, offset + done)
      if (n === 0) break
      done += n
    }
    return done === length ? buffer : buffer.subarray(0, done)
  }

  /** A `DATA_DIR_INVALID` error naming the file and what is broken. */
  broken(what: string): StewardError {
    return new StewardError('DATA_DIR_INVALID', 'bbolt', `${this.path} is corrupt: ${what}`, { details: { path: this.path } })
  }
}
