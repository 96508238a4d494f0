/**
 * bbolt's on-disk format (go.etcd.io/bbolt, the database etcd 3.5 keeps in `member/snap/db`),
 * shared by the reader (`reader.ts`) and the bulk writer (`writer.ts`). All integers are
 * little-endian; a file is a sequence of pages of `pageSize` bytes, page n at offset n × pageSize.
 *
 *   page header (16 B): id u64 | flags u16 | count u16 | overflow u32
 *     flags: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist. A node larger than one page
 *     occupies `overflow` more contiguous pages after its first.
 *   meta (pages 0 and 1, at offset 16): magic u32 (0xED0CDAED) | version u32 (2) | pageSize u32 |
 *     flags u32 | root bucket {root pgid u64, sequence u64} | freelist pgid u64 | pgid u64 (pages
 *     in use: the file's high-water mark) | txid u64 | checksum u64 (FNV-1a 64 of the 56 bytes
 *     before it). The valid meta with the higher txid is the current one.
 *   freelist page: `count` free page ids (u64) after the header; 0 = nothing free.
 *   branch element (16 B): pos u32 | ksize u32 | pgid u64 — key at element offset + pos; each
 *     child's key is the first key below it.
 *   leaf element (16 B): flags u32 (0x01 = the value is a sub-bucket) | pos u32 | ksize u32 |
 *     vsize u32 — key then value at element offset + pos.
 *   bucket value (16 B): root pgid u64 | sequence u64; root = 0 means an inline bucket, whose
 *     single leaf page (header + elements, no padding) follows in the value itself.
 * The root bucket (meta's root) is a tree whose leaf elements (flag 0x01) name the top-level buckets.
 */

export const MAGIC = 0xed0cdaed
export const VERSION = 2
export const PAGE_HEADER_BYTES = 16
export const ELEMENT_BYTES = 16
export const META_BYTES = 64
export const BUCKET_HEADER_BYTES = 16

export const BRANCH_PAGE = 0x01
export const LEAF_PAGE = 0x02
export const META_PAGE = 0x04
export const FREELIST_PAGE = 0x10
/** Leaf element flag: the value is a bucket. */
export const BUCKET_LEAF = 0x01

const FNV_OFFSET = 0xcbf29ce484222325n
const FNV_PRIME = 0x100000001b3n
const U64 = 0xffffffffffffffffn

/** FNV-1a 64 of `bytes` (bbolt's meta checksum). */
export function fnv1a64(bytes: Uint8Array): bigint {
  let hash = FNV_OFFSET
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * FNV_PRIME) & U64
  return hash
}

/** The fields of a meta page. */
export interface Meta {
  readonly pageSize: number
  readonly flags: number
  readonly rootPgid: number
  /** The root bucket's sequence. */
  readonly rootSequence: bigint
  readonly freelistPgid: number
  /** Pages in use (file length = pgid × pageSize). */
  readonly pgid: number
  readonly txid: number
}

/** Parses the meta page at `page` (header included); `null` when it is not a valid meta. */
export function parseMeta(page: Buffer): Meta | null {
  const m = PAGE_HEADER_BYTES
  if (page.length < m + META_BYTES) return null
  if (!(page.readUInt16LE(8) & META_PAGE)) return null
  if (page.readUInt32LE(m) !== MAGIC) return null
  if (fnv1a64(page.subarray(m, m + 56)) !== page.readBigUInt64LE(m + 56)) return null
  return {
    pageSize: page.readUInt32LE(m + 8),
    flags: page.readUInt32LE(m + 12),
    rootPgid: Number(page.readBigUInt64LE(m + 16)),
    rootSequence: page.readBigUInt64LE(m + 24),
    freelistPgid: Number(page.readBigUInt64LE(m + 32)),
    pgid: Number(page.readBigUInt64LE(m + 40)),
    txid: Number(page.readBigUInt64LE(m + 48)),
  }
}

/** Writes meta page `id` (0 or 1) into `page` (one zeroed page), checksum included. */
export function encodeMeta(page: Buffer, id: number, meta: Meta): void {
  page.writeBigUInt64LE(BigInt(id), 0)
  page.writeUInt16LE(META_PAGE, 8)
  const m = PAGE_HEADER_BYTES
  page.writeUInt32LE(MAGIC, m)
  page.writeUInt32LE(VERSION, m + 4)
  page.writeUInt32LE(meta.pageSize, m + 8)
  page.writeUInt32LE(meta.flags, m + 12)
  page.writeBigUInt64LE(BigInt(meta.rootPgid), m + 16)
  page.writeBigUInt64LE(meta.rootSequence, m + 24)
  page.writeBigUInt64LE(BigInt(meta.freelistPgid), m + 32)
  page.writeBigUInt64LE(BigInt(meta.pgid), m + 40)
  page.writeBigUInt64LE(BigInt(meta.txid), m + 48)
  page.writeBigUInt64LE(fnv1a64(page.subarray(m, m + 56)), m + 56)
}

/** One element of a leaf page. */
export interface LeafElement {
  readonly flags: number
  readonly key: Buffer
  readonly value: Buffer
}

/**
 * Element `index` of the leaf `page` (views into `page`).
 * @throws Error when it runs past the page
 */
export function leafElement(page: Buffer, index: number): LeafElement {
  const at = PAGE_HEADER_BYTES + index * ELEMENT_BYTES
  const pos = page.readUInt32LE(at + 4)
  const ksize = page.readUInt32LE(at + 8)
  const vsize = page.readUInt32LE(at + 12)
  const start = at + pos
  if (start + ksize + vsize > page.length) throw new Error(`leaf element ${index} runs past its page`)
  return { flags: page.readUInt32LE(at), key: page.subarray(start, start + ksize), value: page.subarray(start + ksize, start + ksize + vsize) }
}

/** One element of a branch page. */
export interface BranchElement {
  readonly key: Buffer
  readonly pgid: number
}

/**
 * Element `index` of the branch `page`.
 * @throws Error when it runs past the page
 */
export function branchElement(page: Buffer, index: number): BranchElement {
  const at = PAGE_HEADER_BYTES + index * ELEMENT_BYTES
  const pos = page.readUInt32LE(at)
  const ksize = page.readUInt32LE(at + 4)
  if (at + pos + ksize > page.length) throw new Error(`branch element ${index} runs past its page`)
  return { key: page.subarray(at + pos, at + pos + ksize), pgid: Number(page.readBigUInt64LE(at + 8)) }
}

export function pageFlags(page: Buffer): number {
  return page.readUInt16LE(8)
}

export function pageCount(page: Buffer): number {
  return page.readUInt16LE(10)
}
