/**
 * etcd 3.5's mvcc records in bbolt bucket `key` (docs/restore.md, "Applying deltas"):
 *
 *   key   = main revision (8 B big-endian) | `_` | sub revision (8 B big-endian) [| `t` for a tombstone]
 *   value = protobuf mvccpb.KeyValue: 1 key (bytes), 2 create_revision, 3 mod_revision,
 *           4 version (varints), 5 value (bytes), 6 lease (varint); proto3, so zero and empty
 *           fields are omitted, fields in number order (what etcd's gogoproto Marshal writes).
 *
 * The sub revision is the change's index within its revision's transaction (0, 1, 2…). A
 * tombstone's value holds only the key.
 */

/** Bytes of a revision key without the tombstone mark. */
export const REVISION_KEY_BYTES = 17
const TOMBSTONE = 0x74 // 't'
const SEPARATOR = 0x5f // '_'
const TWO_32 = 2 ** 32

function writeUint64BE(target: Buffer, value: number, at: number): void {
  target.writeUInt32BE(Math.floor(value / TWO_32), at)
  target.writeUInt32BE(value % TWO_32, at + 4)
}

/** The `key` bucket's key of revision (main, sub), with the tombstone mark for a delete. */
export function revisionKey(main: number, sub: number, tombstone: boolean): Buffer {
  const key = Buffer.allocUnsafe(REVISION_KEY_BYTES + (tombstone ? 1 : 0))
  writeUint64BE(key, main, 0)
  key[8] = SEPARATOR
  writeUint64BE(key, sub, 9)
  if (tombstone) key[REVISION_KEY_BYTES] = TOMBSTONE
  return key
}

/** The main revision of a `key` bucket key. */
export function mainRevisionOf(key: Buffer): number {
  return key.readUInt32BE(0) * TWO_32 + key.readUInt32BE(4)
}

/** A KeyValue to encode; numbers are non-negative safe integers. */
export interface MvccKeyValue {
  readonly key: Buffer
  readonly createRevision: number
  readonly modRevision: number
  readonly version: number
  readonly value: Buffer
  /** Lease ID; 0 (the default) = none. */
  readonly lease?: bigint
}

function varintBytes(value: number | bigint): number {
  let v = BigInt(value)
  let n = 1
  while (v >= 0x80n) {
    v >>= 7n
    n++
  }
  return n
}

function smallVarintBytes(value: number): number {
  let n = 1
  while (value >= 0x80) {
    value = Math.floor(value / 128)
    n++
  }
  return n
}

function writeVarint(target: Buffer, value: number, at: number): number {
  while (value >= 0x80) {
    target[at++] = (value % 128) | 0x80
    value = Math.floor(value / 128)
  }
  target[at++] = value
  return at
}

function writeBigVarint(target: Buffer, value: bigint, at: number): number {
  let v = BigInt.asUintN(64, value)
  while (v >= 0x80n) {
    target[at++] = Number(v & 0x7fn) | 0x80
    v >>= 7n
  }
  target[at++] = Number(v)
  return at
}

/** Protobuf encoding of mvccpb.KeyValue, byte for byte as etcd writes it. */
export function encodeKeyValue(kv: MvccKeyValue): Buffer {
  const lease = kv.lease ?? 0n
  let size = 0
  if (kv.key.length > 0) size += 1 + smallVarintBytes(kv.key.length) + kv.key.length
  if (kv.createRevision !== 0) size += 1 + smallVarintBytes(kv.createRevision)
  if (kv.modRevision !== 0) size += 1 + smallVarintBytes(kv.modRevision)
  if (kv.version !== 0) size += 1 + smallVarintBytes(kv.version)
  if (kv.value.length > 0) size += 1 + smallVarintBytes(kv.value.length) + kv.value.length
  if (lease !== 0n) size += 1 + varintBytes(BigInt.asUintN(64, lease))
  const out = Buffer.allocUnsafe(size)
  let at = 0
  if (kv.key.length > 0) {
    out[at++] = 0x0a
    at = writeVarint(out, kv.key.length, at)
    at += kv.key.copy(out, at)
  }
  if (kv.createRevision !== 0) {
    out[at++] = 0x10
    at = writeVarint(out, kv.createRevision, at)
  }
  if (kv.modRevision !== 0) {
    out[at++] = 0x18
    at = writeVarint(out, kv.modRevision, at)
  }
  if (kv.version !== 0) {
    out[at++] = 0x20
    at = writeVarint(out, kv.version, at)
  }
  if (kv.value.length > 0) {
    out[at++] = 0x2a
    at = writeVarint(out, kv.value.length, at)
    at += kv.value.copy(out, at)
  }
  if (lease !== 0n) {
    out[at++] = 0x30
    at = writeBigVarint(out, lease, at)
  }
  return out
}
