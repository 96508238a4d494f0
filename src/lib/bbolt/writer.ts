/**
 * A streaming bulk writer of bbolt files (format: `format.ts`): trees are built bottom-up from
 * keys given in ascending order, leaves written as they fill, branch levels once a tree is
 * complete. Nothing is ever rewritten except pages 0–2 (metas and an empty freelist) at the end,
 * so the file is one sequential write through a 4 MiB buffer. Memory: one page of pending
 * elements, the buffer, and per tree the first key and page id of every leaf (for its branches).
 *
 * The result is what bbolt itself would accept: every page id matches its offset, every tree
 * is ordered, nothing is free, and the file length is the meta's pgid × pageSize. Used by the
 * direct delta apply (docs/restore.md, "Applying deltas").
 */
import { createHash } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { StewardError } from '../errors.ts'
import {
  BRANCH_PAGE,
  BUCKET_LEAF,
  ELEMENT_BYTES,
  FREELIST_PAGE,
  LEAF_PAGE,
  PAGE_HEADER_BYTES,
  encodeMeta,
  leafElement,
  pageCount,
  pageFlags,
} from './format.ts'

/** Bytes buffered before a write to the file. */
const WRITE_BUFFER_BYTES = 4 * 1024 * 1024
/** Page ids 0 and 1 are metas, 2 the freelist; data starts at 3. */
const FIRST_DATA_PGID = 3

/** What {@link BboltWriter.finish} wrote. */
export interface BboltFileInfo {
  /** Pages in the file (its length is pages × pageSize). */
  readonly pages: number
  readonly sizeBytes: number
  /** Page id of the root bucket's root. */
  readonly rootPgid: number
}

/** A top-level bucket for {@link BboltWriter.finish}: a tree built with {@link TreeBuilder}, or an inline bucket value copied verbatim. */
export type FinishedBucket =
  | { readonly name: Buffer; readonly rootPgid: number; readonly sequence: bigint }
  | { readonly name: Buffer; readonly inlineValue: Buffer }

/** Keys and page ids of one tree level, packed (keys back to back in one growing buffer). */
class LevelEntries {
  #keys = Buffer.allocUnsafe(64 * 1024)
  #used = 0
  readonly ends: number[] = []
  readonly pgids: number[] = []

  get length(): number {
    return this.pgids.length
  }

  push(key: Buffer, pgid: number): void {
    if (this.#used + key.length > this.#keys.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#keys.length * 2, this.#used + key.length))
      this.#keys.copy(grown, 0, 0, this.#used)
      this.#keys = grown
    }
    key.copy(this.#keys, this.#used)
    this.#used += key.length
    this.ends.push(this.#used)
    this.pgids.push(pgid)
  }

  key(index: number): Buffer {
    return this.#keys.subarray(index === 0 ? 0 : this.ends[index - 1]!, this.ends[index]!)
  }
}

/**
 * Builds one bucket's tree (or the root bucket's) from elements in ascending key order: either
 * one by one ({@link put}) or as whole leaf pages of another file with the same page size
 * ({@link copyLeaf}, written as they are with only their id changed).
 */
export class TreeBuilder {
  readonly #writer: BboltWriter
  readonly #leaves = new LevelEntries()
  #keys: Buffer[] = []
  #values: Buffer[] = []
  #flags: number[] = []
  #pendingBytes = PAGE_HEADER_BYTES
  #lastKey: Buffer | undefined
  #finished = false
  /** Elements written so far. */
  entries = 0

  constructor(writer: BboltWriter) {
    this.#writer = writer
  }

  /**
   * Appends one element; keys must ascend strictly across {@link put} and {@link copyLeaf}.
   * @param flags 0, or `BUCKET_LEAF` when `value` is a bucket value
   * @throws Error when `key` is empty or not above the previous key
   */
  async put(key: Buffer, value: Buffer, flags = 0): Promise<void> {
    if (key.length === 0) throw new Error('bbolt keys cannot be empty')
    this.#checkOrder(key)
    const size = ELEMENT_BYTES + key.length + value.length
    if (this.#keys.length > 0 && this.#pendingBytes + size > this.#writer.pageSize) await this.#flushLeaf()
    this.#keys.push(key)
    this.#values.push(value)
    this.#flags.push(flags)
    this.#pendingBytes += size
    this.#lastKey = key
    this.entries++
  }

  /**
   * Appends a whole leaf page (header included, `pageSize` × (overflow + 1) bytes) of a file with
   * the same page size; its keys must all be above the previous key. An empty page is skipped.
   * @throws Error when the page holds a sub-bucket (its pages would not come along), is out of
   *   order, or has the wrong length
   */
  async copyLeaf(page: Buffer): Promise<void> {
    const count = pageCount(page)
    if (count === 0) return
    if (!(pageFlags(page) & LEAF_PAGE) || page.length !== (page.readUInt32LE(12) + 1) * this.#writer.pageSize) throw new Error('not a whole leaf page of this page size')
    const first = leafElement(page, 0)
    const last = count === 1 ? first : leafElement(page, count - 1)
    for (let i = 0; i < count; i++) {
      if (page.readUInt32LE(PAGE_HEADER_BYTES + i * ELEMENT_BYTES) & BUCKET_LEAF) throw new Error('nested buckets are not supported (etcd never writes them)')
    }
    this.#checkOrder(first.key)
    if (this.#keys.length > 0) await this.#flushLeaf()
    const pgid = await this.#writer.emit(page)
    this.#leaves.push(first.key, pgid)
    this.#lastKey = Buffer.from(last.key)
    this.entries += count
  }

  /**
   * Writes what is pending and the branch levels above the leaves.
   * @returns the tree's root page id (an empty leaf page for an empty tree)
   */
  async finish(): Promise<number> {
    if (this.#finished) throw new Error('tree already finished')
    this.#finished = true
    if (this.#keys.length > 0) await this.#flushLeaf()
    if (this.#leaves.length === 0) return this.#writer.emit(this.#writer.node(LEAF_PAGE, 0, PAGE_HEADER_BYTES))
    let level = this.#leaves
    while (level.length > 1) level = await this.#branchLevel(level)
    return level.pgids[0]!
  }

  #checkOrder(key: Buffer): void {
    if (this.#finished) throw new Error('tree already finished')
    if (this.#lastKey && Buffer.compare(key, this.#lastKey) <= 0) throw new Error('bbolt keys must be added in ascending order')
  }

  async #flushLeaf(): Promise<void> {
    const count = this.#keys.length
    const node = this.#writer.node(LEAF_PAGE, count, this.#pendingBytes)
    let data = PAGE_HEADER_BYTES + count * ELEMENT_BYTES
    for (let i = 0; i < count; i++) {
      const at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES
      const key = this.#keys[i]!
      const value = this.#values[i]!
      node.writeUInt32LE(this.#flags[i]!, at)
      node.writeUInt32LE(data - at, at + 4)
      node.writeUInt32LE(key.length, at + 8)
      node.writeUInt32LE(value.length, at + 12)
      key.copy(node, data)
      data += key.length
      value.copy(node, data)
      data += value.length
    }
    const firstKey = this.#keys[0]!
    const pgid = await this.#writer.emit(node)
    this.#leaves.push(firstKey, pgid)
    this.#keys = []
    this.#values = []
    this.#flags = []
    this.#pendingBytes = PAGE_HEADER_BYTES
  }

  /** One branch level over `children`: nodes of at least two children, as full as a page allows. */
  async #branchLevel(children: LevelEntries): Promise<LevelEntries> {
    const parents = new LevelEntries()
    const pageSize = this.#writer.pageSize
    let start = 0
    while (start < children.length) {
      let end = start
      let bytes = PAGE_HEADER_BYTES
      while (end < children.length) {
        const size = ELEMENT_BYTES + children.key(end).length
        if (end - start >= 2 && bytes + size > pageSize) break
        bytes += size
        end++
      }
      // Never leave a single child for the last node: take one from this one instead.
      if (children.length - end === 1 && end - start > 2) {
        end--
        bytes -= ELEMENT_BYTES + children.key(end).length
      }
      const count = end - start
      const node = this.#writer.node(BRANCH_PAGE, count, bytes)
      let data = PAGE_HEADER_BYTES + count * ELEMENT_BYTES
      for (let i = 0; i < count; i++) {
        const at = PAGE_HEADER_BYTES + i * ELEMENT_BYTES
        const key = children.key(start + i)
        node.writeUInt32LE(data - at, at)
        node.writeUInt32LE(key.length, at + 4)
        node.writeBigUInt64LE(BigInt(children.pgids[start + i]!), at + 8)
        key.copy(node, data)
        data += key.length
      }
      parents.push(children.key(start), await this.#writer.emit(node))
      start = end
    }
    return parents
  }
}

/**
 * Writes a new bbolt file at `path` (created, mode 0600; must not exist). Build each bucket with
 * {@link tree}, then {@link finish} with the top-level buckets.
 */
export class BboltWriter {
  readonly pageSize: number
  readonly path: string
  readonly #file: FileHandle
  readonly #signal: AbortSignal | undefined
  #buffer: Buffer
  readonly #scratch: Buffer
  #buffered = 0
  /** Page id of the first buffered byte. */
  #bufferPgid = FIRST_DATA_PGID
  #nextPgid = FIRST_DATA_PGID

  private constructor(file: FileHandle, path: string, pageSize: number, signal: AbortSignal | undefined) {
    this.#file = file
    this.path = path
    this.pageSize = pageSize
    this.#signal = signal
    this.#buffer = Buffer.allocUnsafe(Math.max(WRITE_BUFFER_BYTES - (WRITE_BUFFER_BYTES % pageSize), pageSize))
    this.#scratch = Buffer.alloc(pageSize)
  }

  /**
   * Creates the file.
   * @param pageSize bytes per page (a power of two ≥ 512; a copied leaf must come from a file of this page size)
   * @throws Error for a bad page size; OS errors of `open` (EEXIST…) pass through
   */
  static async create(path: string, pageSize: number, signal?: AbortSignal): Promise<BboltWriter> {
    if (!Number.isInteger(pageSize) || pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) throw new Error(`bad bbolt page size ${pageSize}`)
    const file = await open(path, 'wx', 0o600)
    return new BboltWriter(file, path, pageSize, signal)
  }

  /** A new tree of this file. */
  tree(): TreeBuilder {
    return new TreeBuilder(this)
  }

  /**
   * A zeroed node of `bytes` rounded up to whole pages, header filled in (id is set by
   * {@link emit}). A one-page node is a scratch buffer reused by the next call: emit it first.
   */
  node(flags: number, count: number, bytes: number): Buffer {
    const pages = Math.max(1, Math.ceil(bytes / this.pageSize))
    const node = pages === 1 ? this.#scratch.fill(0) : Buffer.alloc(pages * this.pageSize)
    node.writeUInt16LE(flags, 8)
    node.writeUInt16LE(count, 10)
    node.writeUInt32LE(pages - 1, 12)
    return node
  }

  /**
   * Appends a node (whole pages, header filled in) at the next page id, which it is given.
   * `node` itself is not modified. @returns its page id
   */
  async emit(node: Buffer): Promise<number> {
    const pgid = this.#nextPgid
    const pages = node.length / this.pageSize
    this.#nextPgid += pages
    if (this.#buffered + node.length > this.#buffer.length) await this.#flush()
    if (node.length > this.#buffer.length) {
      const copy = Buffer.from(node)
      copy.writeBigUInt64LE(BigInt(pgid), 0)
      await this.#write(copy, this.#bufferPgid)
      this.#bufferPgid = this.#nextPgid
      return pgid
    }
    node.copy(this.#buffer, this.#buffered)
    this.#buffer.writeBigUInt64LE(BigInt(pgid), this.#buffered)
    this.#buffered += node.length
    return pgid
  }

  /**
   * Writes the root bucket (one element per top-level bucket, given in any order), an empty
   * freelist and both meta pages, and closes the file.
   * @param txid transaction id of the metas (meta 1 gets txid + 1)
   * @param rootSequence the root bucket's sequence (the source's, when copying)
   * @param metaFlags the meta's flags field (the source's, when copying)
   */
  async finish(buckets: readonly FinishedBucket[], options: { txid: number; rootSequence?: bigint; metaFlags?: number }): Promise<BboltFileInfo> {
    const root = this.tree()
    for (const bucket of [...buckets].sort((a, b) => Buffer.compare(a.name, b.name))) {
      let value: Buffer
      if ('inlineValue' in bucket) value = bucket.inlineValue
      else {
        value = Buffer.alloc(16)
        value.writeBigUInt64LE(BigInt(bucket.rootPgid), 0)
        value.writeBigUInt64LE(bucket.sequence, 8)
      }
      await root.put(bucket.name, value, BUCKET_LEAF)
    }
    const rootPgid = await root.finish()
    await this.#flush()
    const pages = this.#nextPgid
    const head = Buffer.alloc(3 * this.pageSize)
    for (const id of [0, 1]) {
      encodeMeta(head.subarray(id * this.pageSize, (id + 1) * this.pageSize), id, {
        pageSize: this.pageSize,
        flags: options.metaFlags ?? 0,
        rootPgid,
        rootSequence: options.rootSequence ?? 0n,
        freelistPgid: 2,
        pgid: pages,
        txid: options.txid + id,
      })
    }
    const freelist = head.subarray(2 * this.pageSize)
    freelist.writeBigUInt64LE(2n, 0)
    freelist.writeUInt16LE(FREELIST_PAGE, 8)
    await this.#write(head, 0)
    await this.#file.truncate(pages * this.pageSize)
    await this.#file.close()
    return { pages, sizeBytes: pages * this.pageSize, rootPgid }
  }

  /** Closes the file without finishing it (after a failure); the caller removes it. */
  async abandon(): Promise<void> {
    await this.#file.close().catch(() => undefined)
  }

  async #flush(): Promise<void> {
    if (this.#buffered === 0) return
    await this.#write(this.#buffer.subarray(0, this.#buffered), this.#bufferPgid)
    this.#bufferPgid += this.#buffered / this.pageSize
    this.#buffered = 0
  }

  async #write(bytes: Buffer, pgid: number): Promise<void> {
    if (this.#signal?.aborted) throw new StewardError('ABORTED', 'bbolt', `writing ${this.path} aborted`)
    let done = 0
    while (done < bytes.length) {
      const { bytesWritten } = await this.#file.write(bytes, done, bytes.length - done, pgid * this.pageSize + done)
      done += bytesWritten
    }
  }
}

/**
 * Appends the SHA-256 of the file's content as a 32-byte trailer, as etcd's snapshot files carry
 * (so `etcdutl snapshot restore` checks the file it is given).
 * @returns the digest
 */
export async function appendSha256Trailer(path: string, signal?: AbortSignal): Promise<Buffer> {
  const hash = createHash('sha256')
  const file = await open(path, 'r+')
  try {
    // One reused buffer: a read stream's fresh chunk per read would leave the whole file's
    // size in garbage outside V8's heap.
    const chunk = Buffer.allocUnsafe(4 * 1024 * 1024)
    let position = 0
    for (;;) {
      if (signal?.aborted) throw new StewardError('ABORTED', 'bbolt', `hashing ${path} aborted`)
      const { bytesRead } = await file.read(chunk, 0, chunk.length, position)
      if (bytesRead === 0) break
      hash.update(chunk.subarray(0, bytesRead))
      position += bytesRead
    }
    const digest = hash.digest()
    await file.write(digest, 0, digest.length, position)
    return digest
  } finally {
    await file.close()
  }
}
