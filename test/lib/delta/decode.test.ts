import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { DeltaArraySplitter, decodeDeltaEvents, readDeltaEvents, spoolDelta, type DeltaEvent } from '../../../src/lib/delta/decode.ts'
import { isStewardError } from '../../../src/lib/errors.ts'
import localSnapstore from '../../../src/lib/snapstore/drivers/local.ts'
import { BackupStore } from '../../../src/lib/snapshot/backup-store.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'etcdbr-v2')
const test = suite('delta decoder (streaming, hash first)')
let work = ''

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'steward-decode-'))
})
test.after(async () => {
  await rm(work, { recursive: true, force: true })
})

async function collect(events: AsyncIterable<DeltaEvent>): Promise<DeltaEvent[]> {
  const out: DeltaEvent[] = []
  for await (const e of events) out.push(e)
  return out
}

async function* bytewise(buffer: Buffer, size = 1): AsyncGenerator<Buffer> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size)
}

async function expectCorrupt(promise: Promise<unknown>, key: string, pattern: RegExp): Promise<void> {
  try {
    await promise
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.ok(isStewardError(error, 'SNAPSHOT_CORRUPT'), String(error))
    assert.ok((error as Error).message.includes(key), (error as Error).message)
    assert.match((error as Error).message, pattern)
  }
}

for (const set of ['gzip', 'zlib', 'lzw', 'none', 'final']) {
  test(`${set}: every delta verifies and decodes to the README's event counts`, async () => {
    const store = new BackupStore(localSnapstore({ root: join(FIXTURES, set) }), 'etcd-main')
    const deltas = (await store.list()).filter((s) => s.kind === 'Incr')
    const counts: number[] = []
    for (const delta of deltas) {
      const file = join(work, `${set}-${delta.name}`)
      const jsonBytes = await spoolDelta(await store.open(delta), file, delta.key)
      const events = await collect(readDeltaEvents(file, jsonBytes, delta.key))
      counts.push(events.length)
      for (const e of events) assert.ok(e.modRevision >= delta.startRevision && e.modRevision <= delta.lastRevision)
    }
    assert.equal(counts, [10, 7, 8, 63])
  })
}

test('fields: empty value without "value", deletes, prefix delete at one revision, txn, int64 lease', async () => {
  const dir = join(FIXTURES, 'none', 'etcd-main', 'v2')
  const read = async (name: string) => {
    const raw = await readFile(join(dir, name))
    return collect(decodeDeltaEvents(bytewise(raw.subarray(0, raw.length - 32)), name))
  }
  const d1 = await read('Incr-00000023-00000032-1795373645')
  const empty = d1.find((e) => e.key.toString() === 'empty/in-delta')!
  assert.equal([empty.type, empty.value.length], ['put', 0])
  assert.ok(d1.some((e) => e.key.equals(Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0x01])) && e.value.length === 64))
  assert.ok(d1.some((e) => e.key.toString('utf8') === 'unicode/ключ/鍵'))
  const d2 = await read('Incr-00000033-00000037-1795373646')
  assert.ok(d2.every((e) => e.type === 'delete' && e.value.length === 0 && e.createRevision === 0))
  assert.equal(d2.filter((e) => e.modRevision === 36).map((e) => e.key.toString()).sort(), ['tmp/x1', 'tmp/x2', 'tmp/x3'])
  const d3 = await read('Incr-00000038-00000042-1795373646')
  assert.equal(d3.filter((e) => e.modRevision === 38).map((e) => e.type), ['put', 'put', 'delete', 'put'])
  const leased = d3.find((e) => e.key.toString() === 'lease/key')!
  assert.is(leased.lease, '5986869420333703743')
  assert.is(d3[0]!.time, '2026-11-22T18:54:06.383919531Z')
})

test('1-byte and odd chunk boundaries give the same events as one chunk', async () => {
  const raw = await readFile(join(FIXTURES, 'none', 'etcd-main', 'v2', 'Incr-00000043-00000105-1795373647'))
  const json = raw.subarray(0, raw.length - 32)
  const whole = await collect(decodeDeltaEvents(bytewise(json, json.length), 'x'))
  for (const size of [1, 7, 4093]) assert.equal(await collect(decodeDeltaEvents(bytewise(json, size), 'x')), whole)
  assert.is(whole.length, 63)
})

test('strings with escaped quotes and brackets do not confuse the splitter', () => {
  const splitter = new DeltaArraySplitter()
  const text = '[ {"a":"x\\"]}[,\\\\"} , {"b":[1,{"c":"}"}]} ]'
  const out = [...text].flatMap((ch) => splitter.push(Buffer.from(ch)))
  splitter.end()
  assert.equal(out.map((s) => JSON.parse(s)), [{ a: 'x"]}[,\\' }, { b: [1, { c: '}' }] }])
  // Whole text and every two-piece split: several escapes and quotes within one chunk.
  const many = '[{"k":"\\\\\\"\\\\","v":"a\\"b\\\\c"},{"w":"\\\\"}]'
  const expected = JSON.parse(many) as unknown[]
  for (let cut = 0; cut <= many.length; cut++) {
    const split = new DeltaArraySplitter()
    const parts = [...split.push(Buffer.from(many.slice(0, cut))), ...split.push(Buffer.from(many.slice(cut)))]
    split.end()
    assert.equal(parts.map((s) => JSON.parse(s)), expected, `cut at ${cut}`)
  }
  const empty = new DeltaArraySplitter()
  assert.equal(empty.push(Buffer.from('[]')), [])
  empty.end()
})

test('hash mismatch, missing hash, truncated and bad JSON are SNAPSHOT_CORRUPT naming the object', async () => {
  const json = Buffer.from('[{"etcdEvent":{"kv":{"key":"YQ==","mod_revision":5,"create_revision":5,"version":1,"value":"Yg=="}},"time":"2026-01-01T00:00:00Z"}]')
  const digest = createHash('sha256').update(json).digest()
  const good = join(work, 'good')
  const n = await spoolDelta(Readable.from([Buffer.concat([json, digest])]), good, 'p/v2/Incr-good')
  assert.is(n, json.length)
  assert.is((await collect(readDeltaEvents(good, n, 'p/v2/Incr-good')))[0]!.key.toString(), 'a')
  const flipped = Buffer.concat([json, digest])
  flipped[10] = flipped[10]! ^ 1
  await expectCorrupt(spoolDelta(Readable.from([flipped]), join(work, 'bad'), 'p/v2/Incr-flip'), 'p/v2/Incr-flip', /SHA-256 mismatch/)
  await expectCorrupt(spoolDelta(Readable.from([json]), join(work, 'nohash'), 'p/v2/Incr-nohash'), 'p/v2/Incr-nohash', /SHA-256 mismatch/)
  await expectCorrupt(spoolDelta(Readable.from([Buffer.alloc(20)]), join(work, 'short'), 'p/v2/Incr-short'), 'p/v2/Incr-short', /missing/)
  await expectCorrupt(collect(decodeDeltaEvents(bytewise(json.subarray(0, 50)), 'p/v2/Incr-trunc')), 'p/v2/Incr-trunc', /truncated/)
  await expectCorrupt(collect(decodeDeltaEvents(bytewise(Buffer.from('[{"etcdEvent":{"kv":{"key":"YQ=="}}}]')), 'k1')), 'k1', /mod_revision/)
  await expectCorrupt(collect(decodeDeltaEvents(bytewise(Buffer.concat([json.subarray(0, -1), Buffer.from(',]')])), 'k2')), 'k2', /expected an event object/)
  await expectCorrupt(collect(decodeDeltaEvents(bytewise(Buffer.concat([json, Buffer.from(' x')])), 'k3')), 'k3', /after the closing/)
})

test.run()
