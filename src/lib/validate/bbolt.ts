/**
 * A minimal read-only bbolt reader: enough to check that a file is a bbolt database and to
 * read etcd's store revision from it without starting etcd or taking the file lock.
 *
 * bbolt layout used here (go.etcd.io/bbolt, little-endian):
 *   page header (16 B): id u64 | flags u16 (0x01 branch, 0x02 leaf, 0x04 meta) | count u16 | overflow u32
 *   meta (at page offset 16): magic u32 (0xED0CDAED) | version u32 | pageSize u32 | flags u32 |
 *     root bucket {root pgid u64, sequence u64} | freelist u64 | pgid u64 | txid u64 | checksum u64
 *     (checksum = FNV-1a 64 of the meta bytes before it); pages 0 and 1 are metas, the valid one
 *     with the higher txid wins.
 *   branch element (16 B): pos u32 | ksize u32 | pgid u64      (key at element offset + pos)
 *   leaf element (16 B):   flags u32 (0x01 = sub-bucket) | pos u32 | ksize u32 | vsize u32
 *   bucket value: root pgid u64 | sequence u64, then an inline page when root = 0.
 * etcd keeps revisions in bucket `key`, keyed by 8-byte big-endian main revision, `_`, 8-byte
 * sub revision (+ `t` for tombstones); the last key's main revision is the store revision.
 */
import { open, type FileHandle } from 'node:fs/promises'
import { StewardError, messageOf } from '../errors.ts'

const MAGIC = 0xed0cdaed
const PAGE_HEADER = 16
const BRANCH = 0x01
const LEAF = 0x02
const META = 0x04
const BUCKET_LEAF = 0x01
const FNV_OFFSET = 0xcbf29ce484222325n
const FNV_PRIME = 0x100000001b3n

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
  let file: FileHandle
  try {
    file = await open(path, 'r')
  } catch (error) {
    throw new StewardError('DATA_DIR_INVALID', 'bbolt', `cannot open ${path}: ${messageOf(error)}`, { cause: error, details: { path } })
  }
  try {
    const reader = new PageReader(file, path)
    const meta = await reader.meta()
    const root = await reader.page(meta.rootPgid)
    const buckets: string[] = []
    let keyBucket: Buffer | undefined
    for (const element of leafElements(root, path)) {
      if (!(element.flags & BUCKET_LEAF)) continue
      buckets.push(element.key.toString('latin1'))
      if (element.key.toString('latin1') === 'key') keyBucket = element.value
    }
    if (!keyBucket) {
      throw new StewardError('DATA_DIR_INVALID', 'bbolt', `${path} has no "key" bucket: not an etcd v3 database`, { details: { path, buckets } })
    }
    const lastKey = await reader.lastKeyOfBucket(keyBucket)
    const revision = lastKey && lastKey.length >= 8 ? Number(lastKey.readBigUInt64BE(0)) : 1
    return { pageSize: reader.pageSize, txid: meta.txid, revision, buckets }
  } finally {
    await file.close()
  }
}

interface Meta {
  readonly pageSize: number
  readonly rootPgid: number
  readonly txid: number
}

class PageReader {
  readonly #file: FileHandle
  readonly #path: string
  pageSize = 4096

  constructor(file: FileHandle, path: string) {
    this.#file = file
    this.#path = path
  }

  async meta(): Promise<Meta> {
    const first = await this.#read(0, 4096)
    const candidates: Meta[] = []
    const m0 = parseMeta(first, 0)
    if (m0) candidates.push(m0)
    const pageSize = m0?.pageSize ?? (first.length >= PAGE_HEADER + 12 ? first.readUInt32LE(PAGE_HEADER + 8) : 0)
    if (pageSize >= 512 && pageSize <= 65536) {
      const second = await this.#read(pageSize, pageSize)
      const m1 = parseMeta(second, 0)
      if (m1) candidates.push(m1)
    }
    const best = candidates.sort((a, b) => b.txid - a.txid)[0]
    if (!best) {
      throw new StewardError('SNAPSHOT_NOT_BBOLT', 'bbolt', `${this.#path} is not a bbolt database (no valid meta page)`, { details: { path: this.#path } })
    }
    this.pageSize = best.pageSize
    return best
  }

  async page(pgid: number): Promise<Buffer> {
    const header = await this.#read(pgid * this.pageSize, PAGE_HEADER)
    if (header.length < PAGE_HEADER) throw this.#broken(`page ${pgid} lies beyond the end of the file`)
    const overflow = header.readUInt32LE(12)
    const page = await this.#read(pgid * this.pageSize, (overflow + 1) * this.pageSize)
    if (Number(page.readBigUInt64LE(0)) !== pgid) throw this.#broken(`page ${pgid} carries id ${page.readBigUInt64LE(0)}`)
    return page
  }

  /** Last key of a bucket, given its bucket value (header + optional inline page). */
  async lastKeyOfBucket(bucketValue: Buffer): Promise<Buffer | null> {
    const rootPgid = Number(bucketValue.readBigUInt64LE(0))
    let page = rootPgid === 0 ? bucketValue.subarray(16) : await this.page(rootPgid)
    for (let depth = 0; depth < 64; depth++) {
      const flags = page.readUInt16LE(8)
      const count = page.readUInt16LE(10)
      if (count === 0) return null
      if (flags & LEAF) {
        const last = leafElement(page, count - 1, this.#path)
        return last.key
      }
      if (!(flags & BRANCH)) throw this.#broken(`page of flags 0x${flags.toString(16)} inside a bucket`)
      const at = PAGE_HEADER + (count - 1) * 16
      page = await this.page(Number(page.readBigUInt64LE(at + 8)))
    }
    throw this.#broken('bucket tree deeper than 64 levels')
  }

  async #read(offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length)
    const { bytesRead } = await this.#file.read(buffer, 0, length, offset)
    return buffer.subarray(0, bytesRead)
  }

  #broken(what: string): StewardError {
    return new StewardError('DATA_DIR_INVALID', 'bbolt', `${this.#path} is corrupt: ${what}`, { details: { path: this.#path } })
  }
}

function parseMeta(page: Buffer, offset: number): Meta | null {
  const m = offset + PAGE_HEADER
  if (page.length < m + 64) return null
  if (!(page.readUInt16LE(offset + 8) & META)) return null
  if (page.readUInt32LE(m) !== MAGIC) return null
  let hash = FNV_OFFSET
  for (let i = m; i < m + 56; i++) {
    hash ^= BigInt(page[i]!)
    hash = (hash * FNV_PRIME) & 0xffffffffffffffffn
  }
  if (hash !== page.readBigUInt64LE(m + 56)) return null
  return { pageSize: page.readUInt32LE(m + 8), rootPgid: Number(page.readBigUInt64LE(m + 16)), txid: Number(page.readBigUInt64LE(m + 48)) }
}

interface LeafElement {
  readonly flags: number
  readonly key: Buffer
  readonly value: Buffer
}

function leafElement(page: Buffer, index: number, path: string): LeafElement {
  const at = PAGE_HEADER + index * 16
  const pos = page.readUInt32LE(at + 4)
  const ksize = page.readUInt32LE(at + 8)
  const vsize = page.readUInt32LE(at + 12)
  const start = at + pos
  if (start + ksize + vsize > page.length) {
    throw new StewardError('DATA_DIR_INVALID', 'bbolt', `${path} is corrupt: leaf element ${index} runs past its page`, { details: { path } })
  }
  return { flags: page.readUInt32LE(at), key: page.subarray(start, start + ksize), value: page.subarray(start + ksize, start + ksize + vsize) }
}

function* leafElements(page: Buffer, path: string): Iterable<LeafElement> {
  const flags = page.readUInt16LE(8)
  if (!(flags & LEAF)) {
    throw new StewardError('DATA_DIR_INVALID', 'bbolt', `${path}: the root bucket page is not a leaf (flags 0x${flags.toString(16)})`, { details: { path } })
  }
  const count = page.readUInt16LE(10)
  for (let i = 0; i < count; i++) yield leafElement(page, i, path)
}
