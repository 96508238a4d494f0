/**
 * The hand-picked protobuf fields of `wire/messages.ts`, checked against an independent codec:
 * protobufjs compiling etcd's own `rpc.proto` (as shipped with the etcd3 package).
 */
import { createRequire } from 'node:module'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import protobuf from 'protobufjs'
import {
  decodeAlarms,
  decodeAuthenticateToken,
  decodeHeaderRevision,
  decodeSnapshotBlob,
  decodeStatusSizes,
  decodeTxnResult,
  encodeAlarmRequest,
  encodeAuthenticateRequest,
  encodeCompactionRequest,
  encodeRangeRequest,
  encodeWriteTxn,
} from '../../../../src/lib/etcd/wire/messages.ts'

const protoPath = createRequire(import.meta.url).resolve('etcd3/proto/rpc.proto')
const root = await protobuf.load(protoPath)
const type = (name: string) => root.lookupType(`etcdserverpb.${name}`)
const plain = (name: string, bytes: Uint8Array) => type(name).toObject(type(name).decode(bytes), { longs: Number, bytes: Buffer, defaults: false })

test('RangeRequest encodes key, limit and keys_only', () => {
  const decoded = plain('RangeRequest', encodeRangeRequest(Buffer.from([0]), 1, true))
  assert.equal(decoded, { key: Buffer.from([0]), limit: 1, keysOnly: true })
})

test('AuthenticateRequest and the token of AuthenticateResponse', () => {
  assert.equal(plain('AuthenticateRequest', encodeAuthenticateRequest('root', 'pä$s')), { name: 'root', password: 'pä$s' })
  const response = type('AuthenticateResponse').encode({ header: { revision: 7, memberId: 12345 }, token: 'abc.42' }).finish()
  assert.is(decodeAuthenticateToken(Buffer.from(response)), 'abc.42')
})

test('header revision of a RangeResponse, large values and unknown fields included', () => {
  const response = type('RangeResponse').encode({ header: { clusterId: 2 ** 60, memberId: 99, revision: 2 ** 40 + 3, raftTerm: 5 }, kvs: [{ key: Buffer.from('a'), value: Buffer.from('b'), modRevision: 4 }], count: 1, more: true }).finish()
  assert.is(decodeHeaderRevision(Buffer.from(response)), 2 ** 40 + 3)
  assert.is(decodeHeaderRevision(new Uint8Array(0)), 0)
})

test('snapshot blob is a view of the message, other fields skipped', () => {
  const blob = Buffer.from('bbolt bytes…')
  const message = Buffer.from(type('SnapshotResponse').encode({ header: { revision: 9 }, remainingBytes: 123456789, blob }).finish())
  const decoded = decodeSnapshotBlob(message)
  assert.equal(decoded, blob)
  assert.is(decoded.buffer, message.buffer, 'no copy')
  assert.is(decodeSnapshotBlob(Buffer.from(type('SnapshotResponse').encode({ remainingBytes: 0 }).finish())).length, 0)
  assert.throws(() => decodeSnapshotBlob(message.subarray(0, message.length - 3)))
})

test('write txn: puts and single-key deletes in order, no compares, empty values omitted', () => {
  const ops = [
    { type: 'put', key: Buffer.from('/k1'), value: Buffer.from('v1') },
    { type: 'delete', key: Buffer.from('/k2') },
    { type: 'put', key: Buffer.from('/k3'), value: Buffer.alloc(0) },
    { type: 'put', key: Buffer.from('/big'), value: Buffer.alloc(70_000, 7) },
  ] as const
  const decoded = plain('TxnRequest', encodeWriteTxn(ops))
  assert.equal(decoded, {
    success: [
      { requestPut: { key: Buffer.from('/k1'), value: Buffer.from('v1') } },
      { requestDeleteRange: { key: Buffer.from('/k2') } },
      { requestPut: { key: Buffer.from('/k3') } },
      { requestPut: { key: Buffer.from('/big'), value: Buffer.alloc(70_000, 7) } },
    ],
  })
})

test('guarded write txn: one EQUAL compare on mod_revision or version (0 written), empty failure branch', () => {
  const ops = [{ type: 'put', key: Buffer.from('/k'), value: Buffer.from('v') }] as const
  const byMod = type('TxnRequest').decode(encodeWriteTxn(ops, { key: Buffer.from('/prev'), modRevision: 2 ** 40 + 7 }))
  assert.equal(type('TxnRequest').toObject(byMod, { longs: Number, bytes: Buffer, defaults: false, oneofs: true }), {
    compare: [{ target: 2, key: Buffer.from('/prev'), modRevision: 2 ** 40 + 7, targetUnion: 'modRevision' }],
    success: [{ requestPut: { key: Buffer.from('/k'), value: Buffer.from('v') }, request: 'requestPut' }],
  })
  const byVersion = type('TxnRequest').decode(encodeWriteTxn(ops, { key: Buffer.from('/gone'), version: 0 }))
  const compare = type('TxnRequest').toObject(byVersion, { longs: Number, bytes: Buffer, defaults: true, oneofs: true })['compare'] as Record<string, unknown>[]
  assert.is(compare.length, 1)
  assert.is(compare[0]!['result'], 0, 'EQUAL')
  assert.is(compare[0]!['target'], 0, 'VERSION')
  assert.equal(compare[0]!['key'], Buffer.from('/gone'))
  assert.is(compare[0]!['targetUnion'], 'version', 'the oneof is set even for version 0')
  assert.is(compare[0]!['version'], 0)
})

test('TxnResponse: header revision and succeeded', () => {
  const ok = type('TxnResponse').encode({ header: { clusterId: 3, revision: 2 ** 33 + 5 }, succeeded: true, responses: [{ responsePut: { header: { revision: 1 } } }] }).finish()
  assert.equal(decodeTxnResult(Buffer.from(ok)), { revision: 2 ** 33 + 5, succeeded: true })
  const failed = type('TxnResponse').encode({ header: { revision: 41 }, succeeded: false }).finish()
  assert.equal(decodeTxnResult(Buffer.from(failed)), { revision: 41, succeeded: false })
})

test('CompactionRequest and the sizes of a StatusResponse', () => {
  assert.equal(plain('CompactionRequest', encodeCompactionRequest(2 ** 35 + 1, true)), { revision: 2 ** 35 + 1, physical: true })
  assert.equal(plain('CompactionRequest', encodeCompactionRequest(12, false)), { revision: 12 })
  const status = type('StatusResponse').encode({ header: { revision: 5 }, version: '3.5.16', dbSize: 336_228_352, leader: 7, raftIndex: 9, errors: ['NOSPACE'], dbSizeInUse: 300_000_000, isLearner: false }).finish()
  assert.equal(decodeStatusSizes(Buffer.from(status)), { dbSizeBytes: 336_228_352, dbSizeInUseBytes: 300_000_000 })
})

test('AlarmRequest / AlarmResponse: member IDs above 2^53 exact both ways', () => {
  const id = 0xfedcba9876543210n
  assert.equal(type('AlarmRequest').toObject(type('AlarmRequest').decode(encodeAlarmRequest('get')), { longs: String, defaults: true }), { action: 0, memberID: '0', alarm: 0 })
  assert.equal(type('AlarmRequest').toObject(type('AlarmRequest').decode(encodeAlarmRequest('deactivate', { memberId: id, alarm: 1 })), { longs: String, defaults: true }), { action: 2, memberID: id.toString(), alarm: 1 })
  const response = type('AlarmResponse').encode({ header: { revision: 9 }, alarms: [{ memberID: id.toString(), alarm: 1 }, { memberID: 7, alarm: 2 }] }).finish()
  assert.equal(decodeAlarms(Buffer.from(response)), [{ memberId: id, alarm: 1 }, { memberId: 7n, alarm: 2 }])
  assert.equal(decodeAlarms(Buffer.from(type('AlarmResponse').encode({ header: { revision: 9 } }).finish())), [])
})

test.run()
