/**
 * Golden-format tests of the delta writer: events re-encoded from real etcdbrctl deltas
 * (fixtures/etcdbr-v2/none) must give the fixture's JSON text byte for byte.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { DeltaWriter, MemorySink, encodeEvent, formatRfc3339Nano, fromEtcd3Event, type WatchEvent } from '../../../src/lib/delta/encode.ts'

const FIXTURE_DIR = fileURLToPath(new URL('../../../fixtures/etcdbr-v2/none/etcd-main/v2/', import.meta.url))

/** A reader written independently of the code under test: trailer check + lossless JSON. */
interface LiteralEvent {
  etcdEvent: { type?: string; kv: Record<string, string> }
  time: string
}
function readDeltaLiterally(body: Buffer): { json: string; events: LiteralEvent[] } {
  assert.ok(body.length > 32, 'delta is longer than its trailer')
  const json = body.subarray(0, body.length - 32)
  const trailer = body.subarray(body.length - 32)
  assert.equal(createHash('sha256').update(json).digest('hex'), trailer.toString('hex'), 'SHA-256 trailer matches')
  // Keep every number as its source digits (lease IDs exceed 2^53).
  const parsed = JSON.parse(json.toString('utf8'), (_key, value, context?: { source?: string }) =>
    typeof value === 'number' ? (context?.source ?? String(value)) : value,
  ) as LiteralEvent[]
  return { json: json.toString('utf8'), events: parsed }
}

function toWatchEvent(literal: LiteralEvent): WatchEvent {
  const kv = literal.etcdEvent.kv
  return {
    type: literal.etcdEvent.type === '1' ? 'delete' : 'put',
    key: Buffer.from(kv.key ?? '', 'base64'),
    value: Buffer.from(kv.value ?? '', 'base64'),
    createRevision: kv.create_revision ?? '0',
    modRevision: kv.mod_revision ?? '0',
    version: kv.version ?? '0',
    lease: kv.lease ?? '0',
  }
}

function parseRfc3339ToNs(text: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(text)
  assert.ok(m, `UTC RFC 3339 time: ${text}`)
  const seconds = BigInt(Date.parse(`${m[1]}Z`) / 1000)
  return seconds * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))
}

async function encodeAll(events: readonly { event: WatchEvent; time: string | bigint }[]): Promise<Buffer> {
  const sink = new MemorySink()
  const writer = new DeltaWriter(sink)
  for (const { event, time } of events) await writer.add([event], time)
  await writer.finish()
  return Buffer.concat(sink.chunks)
}

const test = suite('delta encoder (Go-compatible JSON)')

const fixtures = readdirSync(FIXTURE_DIR).filter((name) => name.startsWith('Incr-')).sort()

test('the fixtures are there', () => {
  assert.equal(fixtures.length, 4)
  assert.ok(fixtures[0]!.startsWith('Incr-00000023-00000032-'))
})

for (const name of fixtures) {
  test(`re-encoding ${name} gives the fixture byte for byte (JSON and trailer)`, async () => {
    const body = readFileSync(`${FIXTURE_DIR}${name}`)
    const { events } = readDeltaLiterally(body)
    const encoded = await encodeAll(events.map((literal) => ({ event: toWatchEvent(literal), time: literal.time })))
    assert.is(encoded.length, body.length)
    assert.ok(encoded.equals(body), 'identical bytes')
  })

  test(`${name}: times formatted from nanoseconds match Go's RFC3339Nano text`, async () => {
    const { events } = readDeltaLiterally(readFileSync(`${FIXTURE_DIR}${name}`))
    for (const literal of events) assert.is(formatRfc3339Nano(parseRfc3339ToNs(literal.time)), literal.time)
  })
}

test('Incr-00000023-00000032: writer tracks revisions, count and bytes', async () => {
  const body = readFileSync(`${FIXTURE_DIR}${fixtures[0]!}`)
  const { events, json } = readDeltaLiterally(body)
  const sink = new MemorySink()
  const writer = new DeltaWriter(sink)
  // Feed in two batches, as two watch responses.
  await writer.add(events.slice(0, 4).map(toWatchEvent), events[0]!.time)
  await writer.add(events.slice(4).map(toWatchEvent), events[4]!.time)
  assert.is(writer.firstRevision, 23)
  assert.is(writer.lastRevision, 32)
  assert.is(writer.eventCount, 10)
  const summary = await writer.finish()
  const written = Buffer.concat(sink.chunks)
  assert.is(summary.jsonBytes, written.length - 32)
  assert.is(written.subarray(0, summary.jsonBytes).toString('utf8').length > 0, true)
  assert.is(readDeltaLiterally(written).events.length, 10)
  assert.ok(json.length > 0)
  assert.is(sink.bytes, summary.jsonBytes + 32)
  assert.is(summary.eventCount, 10)
})

test('formatRfc3339Nano trims trailing zeros and drops an all-zero fraction', () => {
  assert.is(formatRfc3339Nano(1_767_323_045_500_000_000n), '2026-01-02T03:04:05.5Z')
  assert.is(formatRfc3339Nano(1_767_323_045_000_000_000n), '2026-01-02T03:04:05Z')
  assert.is(formatRfc3339Nano(1_767_323_045_123_456_789n), '2026-01-02T03:04:05.123456789Z')
  assert.is(formatRfc3339Nano(1_767_323_045_000_000_010n), '2026-01-02T03:04:05.00000001Z')
})

test('the examples of the research notes §3.2', () => {
  const put: WatchEvent = { type: 'put', key: Buffer.from('/registry/foo'), value: Buffer.from('bar'), createRevision: '5', modRevision: '7', version: '2', lease: '0' }
  assert.is(
    encodeEvent(put, '2026-01-02T03:04:05.123456789Z'),
    '{"etcdEvent":{"kv":{"key":"L3JlZ2lzdHJ5L2Zvbw==","create_revision":5,"mod_revision":7,"version":2,"value":"YmFy"}},"time":"2026-01-02T03:04:05.123456789Z"}',
  )
  const del: WatchEvent = { type: 'delete', key: Buffer.from('/registry/foo'), value: Buffer.alloc(0), createRevision: '0', modRevision: '8', version: '0', lease: '0' }
  assert.is(encodeEvent(del, 1_767_323_166_500_000_000n), '{"etcdEvent":{"type":1,"kv":{"key":"L3JlZ2lzdHJ5L2Zvbw==","mod_revision":8}},"time":"2026-01-02T03:06:06.5Z"}')
})

test('DELETE, empty value, binary key and a lease above 2^53 round-trip through the literal reader', async () => {
  const events: WatchEvent[] = [
    { type: 'delete', key: Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x6b]), value: Buffer.alloc(0), createRevision: '0', modRevision: '10', version: '0', lease: '0' },
    { type: 'put', key: Buffer.from('empty'), value: Buffer.alloc(0), createRevision: '11', modRevision: '11', version: '1', lease: '0' },
    { type: 'put', key: Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0x01]), value: Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80, 0x00]), createRevision: '12', modRevision: '12', version: '1', lease: '0' },
    { type: 'put', key: Buffer.from('leased'), value: Buffer.from('v'), createRevision: '13', modRevision: '13', version: '1', lease: '9223372036854775807' },
    { type: 'put', key: Buffer.from('unicode/ключ/鍵'), value: Buffer.from('x'), createRevision: '9', modRevision: '14', version: '3', lease: '5986869420333703743' },
  ]
  const body = await encodeAll(events.map((event, i) => ({ event, time: 1_795_373_645_000_000_000n + BigInt(i) })))
  const { events: back, json } = readDeltaLiterally(body)
  assert.equal(back.map(toWatchEvent).map(normalise), events.map(normalise))
  assert.ok(json.includes('"lease":9223372036854775807'), 'lease digits verbatim')
  assert.not.ok(json.includes('"value":""'), 'empty value omitted')
  assert.ok(json.startsWith('[{"etcdEvent":{"type":1,"kv":{"key":"AP/+gGs=","mod_revision":10}},"time":"2026-11-22T18:54:05Z"}'))
  assert.ok(json.includes('"time":"2026-11-22T18:54:05.000000001Z"'))
})

test('an empty delta is "[]" plus the digest of "[]"', async () => {
  const sink = new MemorySink()
  const summary = await new DeltaWriter(sink).finish()
  const body = Buffer.concat(sink.chunks)
  assert.is(body.subarray(0, 2).toString(), '[]')
  assert.is(summary.eventCount, 0)
  assert.is(summary.lastRevision, undefined)
  assert.is(body.subarray(2).toString('hex'), createHash('sha256').update('[]').digest('hex'))
})

test('fromEtcd3Event maps the etcd3 client shapes', () => {
  const event = fromEtcd3Event({ type: 'Delete', kv: { key: Buffer.from('k'), value: Buffer.alloc(0), create_revision: '0', mod_revision: '42', version: '0', lease: '0' } })
  assert.is(event.type, 'delete')
  assert.is(event.modRevision, '42')
  assert.is(fromEtcd3Event({ type: 'Put', kv: { key: Buffer.from('k'), lease: '7587883210000000001' } }).lease, '7587883210000000001')
})

test('malformed int64 fields are rejected', () => {
  const bad: WatchEvent = { type: 'put', key: Buffer.from('k'), value: Buffer.alloc(0), createRevision: '1e3', modRevision: '1', version: '1', lease: '0' }
  assert.throws(() => encodeEvent(bad, 0n), /not a decimal int64/)
})

function normalise(event: WatchEvent): unknown {
  return { ...event, key: Buffer.from(event.key).toString('hex'), value: Buffer.from(event.value).toString('hex') }
}

test.run()
