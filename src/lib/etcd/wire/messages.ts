/**
 * Protobuf bodies of the etcd calls `transport.ts` makes, encoded and decoded with
 * protobufjs's minimal reader/writer (no schema parsing at run time). Field numbers are those
 * of etcd 3.5's `api/etcdserverpb/rpc.proto` and `api/mvccpb/kv.proto`; decoders read only
 * the fields steward needs and skip the rest by wire type, as protobuf requires.
 */
import protobuf from 'protobufjs/minimal.js'

const { Reader, Writer } = protobuf

export const METHODS = {
  authenticate: '/etcdserverpb.Auth/Authenticate',
  range: '/etcdserverpb.KV/Range',
  txn: '/etcdserverpb.KV/Txn',
  compact: '/etcdserverpb.KV/Compact',
  snapshot: '/etcdserverpb.Maintenance/Snapshot',
  status: '/etcdserverpb.Maintenance/Status',
  defragment: '/etcdserverpb.Maintenance/Defragment',
  alarm: '/etcdserverpb.Maintenance/Alarm',
} as const

const LENGTH_DELIMITED = 2

function tag(field: number, wireType: number): number {
  return (field << 3) | wireType
}

/** Reads an int64/uint64 varint as a JS number (exact below 2^53: revisions, IDs' low bits are not needed). */
function readInt64(reader: protobuf.Reader): number {
  const value = reader.int64() as unknown as number | { toNumber(): number }
  return typeof value === 'number' ? value : value.toNumber()
}

/** Calls `onField(field, wireType)` for each field; it must consume the field or return false to skip it. */
function eachField(buffer: Uint8Array, onField: (reader: protobuf.Reader, field: number) => boolean): void {
  const reader = Reader.create(buffer)
  while (reader.pos < reader.len) {
    const key = reader.uint32()
    if (!onField(reader, key >>> 3)) reader.skipType(key & 7)
  }
}

/** `ResponseHeader.revision` (field 3) of a message whose field 1 is a `ResponseHeader`. */
export function decodeHeaderRevision(message: Uint8Array): number {
  let revision = 0
  eachField(message, (reader, field) => {
    if (field !== 1) return false
    eachField(reader.bytes(), (header, f) => {
      if (f !== 3) return false
      revision = readInt64(header)
      return true
    })
    return true
  })
  return revision
}

/** `SnapshotRequest` has no fields. */
export function encodeSnapshotRequest(): Uint8Array {
  return EMPTY_REQUEST
}

/** Field number of `SnapshotResponse.blob`, the database bytes (`transport.serverStreamField` streams it). */
export const SNAPSHOT_BLOB_FIELD = 3

/**
 * The `blob` (field 3) of one `SnapshotResponse` (fields: header 1, remaining_bytes 2, blob 3,
 * version 4), as a view of `message`; empty when absent.
 * @throws Error on a malformed message
 */
export function decodeSnapshotBlob(message: Buffer): Buffer {
  let blob: Buffer | undefined
  eachField(message, (reader, field) => {
    if (field !== 3) return false
    blob = reader.bytes() as Buffer
    return true
  })
  return blob ?? Buffer.alloc(0)
}

/** `RangeRequest{key 1, limit 3, keys_only 8}`: the cheapest read that returns a header. */
export function encodeRangeRequest(key: Uint8Array, limit: number, keysOnly: boolean): Uint8Array {
  const writer = Writer.create().uint32(tag(1, LENGTH_DELIMITED)).bytes(key)
  if (limit) writer.uint32(tag(3, 0)).int64(limit)
  if (keysOnly) writer.uint32(tag(8, 0)).bool(true)
  return writer.finish()
}

/** `AuthenticateRequest{name 1, password 2}`. */
export function encodeAuthenticateRequest(name: string, password: string): Uint8Array {
  return Writer.create().uint32(tag(1, LENGTH_DELIMITED)).string(name).uint32(tag(2, LENGTH_DELIMITED)).string(password).finish()
}

/** `AuthenticateResponse.token` (field 2). */
export function decodeAuthenticateToken(message: Uint8Array): string {
  let token = ''
  eachField(message, (reader, field) => {
    if (field !== 2) return false
    token = reader.string()
    return true
  })
  return token
}

/** One operation of a write-only transaction. */
export type WriteOp = { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly type: 'delete'; readonly key: Uint8Array }

/**
 * One compare of a guarded write transaction: `mod_revision(key) == modRevision` or
 * `version(key) == version` (a key that does not exist has both at 0).
 */
export type TxnGuard = { readonly key: Uint8Array; readonly modRevision: number } | { readonly key: Uint8Array; readonly version: number }

/**
 * `TxnRequest` with `ops` as its success branch, each a `RequestOp` holding a
 * `PutRequest{key 1, value 2}` (field 2) or a single-key `DeleteRangeRequest{key 1}` (field 3);
 * with `guard`, one `Compare` (field 1: `{result 1 = EQUAL, target 2, key 3, version 4 |
 * mod_revision 6}`) and an empty failure branch, so a failed compare changes nothing.
 */
export function encodeWriteTxn(ops: readonly WriteOp[], guard?: TxnGuard): Uint8Array {
  const writer = Writer.create()
  if (guard) {
    // EQUAL is enum value 0 (omitted, as proto3 does); the oneof target value is always written,
    // even when 0, so etcd sees which target_union is set.
    writer.uint32(tag(1, LENGTH_DELIMITED)).fork()
    if ('modRevision' in guard) writer.uint32(tag(2, 0)).int32(COMPARE_TARGET_MOD)
    writer.uint32(tag(3, LENGTH_DELIMITED)).bytes(guard.key)
    if ('modRevision' in guard) writer.uint32(tag(6, 0)).int64(guard.modRevision)
    else writer.uint32(tag(4, 0)).int64(guard.version)
    writer.ldelim()
  }
  for (const op of ops) {
    writer.uint32(tag(2, LENGTH_DELIMITED)).fork()
    writer.uint32(tag(op.type === 'put' ? 2 : 3, LENGTH_DELIMITED)).fork()
    writer.uint32(tag(1, LENGTH_DELIMITED)).bytes(op.key)
    if (op.type === 'put' && op.value.length > 0) writer.uint32(tag(2, LENGTH_DELIMITED)).bytes(op.value)
    writer.ldelim().ldelim()
  }
  return writer.finish()
}

/** `Compare.CompareTarget` MOD (VERSION is 0, the default). */
const COMPARE_TARGET_MOD = 2

/**
 * `TxnResponse{header 1, succeeded 2}`: the header's revision and whether the compares held
 * (always true for a transaction without compares).
 */
export function decodeTxnResult(message: Uint8Array): { revision: number; succeeded: boolean } {
  let revision = 0
  let succeeded = false
  eachField(message, (reader, field) => {
    if (field === 1) {
      eachField(reader.bytes(), (header, f) => {
        if (f !== 3) return false
        revision = readInt64(header)
        return true
      })
    } else if (field === 2) succeeded = reader.bool()
    else return false
    return true
  })
  return { revision, succeeded }
}

/** `CompactionRequest{revision 1, physical 2}`. */
export function encodeCompactionRequest(revision: number, physical: boolean): Uint8Array {
  const writer = Writer.create().uint32(tag(1, 0)).int64(revision)
  if (physical) writer.uint32(tag(2, 0)).bool(true)
  return writer.finish()
}

/** Requests without fields (`StatusRequest`, `DefragmentRequest`, `SnapshotRequest`). */
export const EMPTY_REQUEST = new Uint8Array(0)

/** The fields of a `StatusResponse` steward reads: `dbSize` (3) and `dbSizeInUse` (9), in bytes. */
export function decodeStatusSizes(message: Uint8Array): { dbSizeBytes: number; dbSizeInUseBytes: number } {
  let dbSizeBytes = 0
  let dbSizeInUseBytes = 0
  eachField(message, (reader, field) => {
    if (field === 3) dbSizeBytes = readInt64(reader)
    else if (field === 9) dbSizeInUseBytes = readInt64(reader)
    else return false
    return true
  })
  return { dbSizeBytes, dbSizeInUseBytes }
}

/** An alarm raised on a member: its ID (uint64, exact) and `AlarmType` (1 `NOSPACE`, 2 `CORRUPT`). */
export interface MemberAlarm {
  readonly memberId: bigint
  readonly alarm: number
}

/** `AlarmType` names of etcd 3.5 (`rpc.proto`). */
export const ALARM_NAMES: Readonly<Record<number, string>> = { 0: 'NONE', 1: 'NOSPACE', 2: 'CORRUPT' }

/**
 * `AlarmRequest{action 1, memberID 2, alarm 3}`: `GET` (0) lists every alarm; `DEACTIVATE` (2)
 * disarms `alarm` of member `memberId`.
 */
export function encodeAlarmRequest(action: 'get' | 'deactivate', target?: MemberAlarm): Uint8Array {
  const writer = Writer.create()
  if (action === 'deactivate') writer.uint32(tag(1, 0)).int32(2)
  if (target) {
    writer.uint32(tag(2, 0)).uint64({ low: Number(target.memberId & 0xffffffffn), high: Number(target.memberId >> 32n), unsigned: true })
    writer.uint32(tag(3, 0)).int32(target.alarm)
  }
  return writer.finish()
}

/** `AlarmResponse.alarms` (field 2, `AlarmMember{memberID 1, alarm 2}`), member IDs read exactly. */
export function decodeAlarms(message: Uint8Array): MemberAlarm[] {
  const alarms: MemberAlarm[] = []
  eachField(message, (reader, field) => {
    if (field !== 2) return false
    let memberId = 0n
    let alarm = 0
    eachField(reader.bytes(), (member, f) => {
      if (f === 1) memberId = readUint64(member)
      else if (f === 2) alarm = member.int32()
      else return false
      return true
    })
    alarms.push({ memberId, alarm })
    return true
  })
  return alarms
}

/** Reads a uint64 varint exactly, as a bigint. */
function readUint64(reader: protobuf.Reader): bigint {
  let value = 0n
  for (let shift = 0n; shift < 70n; shift += 7n) {
    const byte = reader.buf[reader.pos++]!
    value |= BigInt(byte & 0x7f) << shift
    if (byte < 0x80) return value
  }
  throw new Error('varint too long')
}
