/**
 * The bbolt bulk writer (src/lib/bbolt/writer.ts) read back through our reader
 * (src/lib/bbolt/reader.ts) and, where it matters, through etcd's own bbolt (etcdutl, which
 * opens the file, checks its SHA-256 trailer and walks every bucket): round trips, several
 * branch levels, values larger than a page, inline and empty buckets, the direct merge of a
 * snapshot file with appended records.
 */
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BboltReader } from '../../../src/lib/bbolt/reader.ts'
import { BboltWriter, type FinishedBucket } from '../../../src/lib/bbolt/writer.ts'
import { BUCKET_LEAF, ELEMENT_BYTES, LEAF_PAGE, PAGE_HEADER_BYTES, branchElement, pageCount, pageFlags } from '../../../src/lib/bbolt/format.ts'
import { encodeKeyValue, revisionKey, mainRevisionOf } from '../../../src/lib/bbolt/mvcc.ts'
import { readBboltRevision } from '../../../src/lib/validate/bbolt.ts'
import { openDirectMerge } from '../../../src/lib/restore/direct-apply.ts'
import { runEtcdTool } from '../../../src/lib/etcd/binaries.ts'
import type { DeltaEvent } from '../../../src/lib/delta/decode.ts'
import type { StoredSnapshot } from '../../../src/lib/snapshot/backup-store.ts'
import { makeTempDir, removeDir } from '../../harness/tmp.ts'

const test = suite('bbolt writer: round trips through our reader and etcd\'s bbolt')
let tmp = ''
let seq = 0
const file = (name: string) => join(tmp, `${++seq}-${name}`)

test.before(async () => {
  tmp = await makeTempDir('steward-bbolt-')
})
test.after(async () => {
  await removeDir(tmp)
})

/** Every key/value of a bucket, in order, through the reader. */
async function entries(reader: BboltReader, bucketValue: Buffer): Promise<[string, string, number][]> {
  const out: [string, string, number][] = []
  for await (const leaf of reader.leafPages(bucketValue)) {
    for (const e of reader.elements(leaf)) out.push([e.key.toString('hex'), e.value.toString('hex'), e.flags])
  }
  return out
}

/** Depth of a bucket's tree (1 = a single leaf). */
async function depth(reader: BboltReader, bucketValue: Buffer): Promise<number> {
  let page = await reader.page(Number(bucketValue.readBigUInt64LE(0)))
  let levels = 1
  while (!(pageFlags(page) & LEAF_PAGE)) {
    page = await reader.page(branchElement(page, 0).pgid)
    levels++
  }
  return levels
}

/** An inline bucket value (root 0 + a leaf page without padding) holding `records`. */
function inlineBucket(records: [Buffer, Buffer][], sequence = 0n): Buffer {
  const data = records.reduce((sum, [k, v]) => sum + k.length + v.length, 0)
  const page = Buffer.alloc(PAGE_HEADER_BYTES + records.length * ELEMENT_BYTES + data)
  page.writeUInt16LE(LEAF_PAGE, 8)
  page.writeUInt16LE(records.length, 10)
  let at = PAGE_HEADER_BYTES + records.length * ELEMENT_BYTES
  records.forEach(([k, v], i) => {
    const el = PAGE_HEADER_BYTES + i * ELEMENT_BYTES
    page.writeUInt32LE(at - el, el + 4)
    page.writeUInt32LE(k.length, el + 8)
    page.writeUInt32LE(v.length, el + 12)
    k.copy(page, at)
    v.copy(page, at + k.length)
    at += k.length + v.length
  })
  const header = Buffer.alloc(16)
  header.writeBigUInt64LE(sequence, 8)
  return Buffer.concat([header, page])
}

/** Writes a file with the given buckets (records put one by one, or an inline value). */
async function writeFile_(path: string, pageSize: number, buckets: { name: string; records?: [Buffer, Buffer][]; inline?: [Buffer, Buffer][]; sequence?: bigint }[]): Promise<void> {
  const writer = await BboltWriter.create(path, pageSize)
  const finished: FinishedBucket[] = []
  for (const b of buckets) {
    if (b.inline) {
      finished.push({ name: Buffer.from(b.name), inlineValue: inlineBucket(b.inline, b.sequence) })
      continue
    }
    const tree = writer.tree()
    for (const [k, v] of b.records ?? []) await tree.put(k, v)
    finished.push({ name: Buffer.from(b.name), rootPgid: await tree.finish(), sequence: b.sequence ?? 0n })
  }
  await writer.finish(finished, { txid: 7, rootSequence: 3n })
}

async function rejects(run: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await run()
  } catch (error) {
    assert.match(String(error), pattern)
    return
  }
  assert.unreachable('expected a rejection')
}

const kv = (i: number, valueBytes = 20): [Buffer, Buffer] => [Buffer.from(`key-${String(i).padStart(8, '0')}`), Buffer.alloc(valueBytes, i % 251)]

test('round trip: buckets, records, sequences, metas and file length', async () => {
  const path = file('round.db')
  const records = Array.from({ length: 500 }, (_, i) => kv(i, i % 90))
  await writeFile_(path, 4096, [{ name: 'zeta', records, sequence: 42n }, { name: 'alpha', records: records.slice(0, 3) }])
  const reader = await BboltReader.open(path)
  try {
    assert.is(reader.pageSize, 4096)
    assert.is(reader.meta.txid, 8, 'meta 1 (txid + 1) is the current one')
    assert.is(reader.meta.rootSequence, 3n)
    assert.is((await stat(path)).size, reader.meta.pgid * 4096)
    const top = await reader.topBuckets()
    assert.equal(top.map((b) => b.name.toString()), ['alpha', 'zeta'], 'root bucket in key order')
    assert.is(top[1]!.value.readBigUInt64LE(8), 42n)
    assert.equal(await entries(reader, top[1]!.value), records.map(([k, v]) => [k.toString('hex'), v.toString('hex'), 0]))
    assert.equal((await entries(reader, top[0]!.value)).length, 3)
    assert.is((await reader.lastKeyOfBucket(top[1]!.value))!.toString(), 'key-00000499')
  } finally {
    await reader.close()
  }
})

test('many records at the smallest page size: several branch levels, all in order', async () => {
  const path = file('deep.db')
  const records = Array.from({ length: 20000 }, (_, i) => kv(i, 8))
  await writeFile_(path, 512, [{ name: 'key', records }])
  const reader = await BboltReader.open(path)
  try {
    const [bucket] = await reader.topBuckets()
    assert.ok((await depth(reader, bucket!.value)) >= 4, 'expected at least three branch levels')
    const got = await entries(reader, bucket!.value)
    assert.is(got.length, records.length)
    assert.equal(got[0]![0], records[0]![0].toString('hex'))
    assert.equal(got.at(-1)![0], records.at(-1)![0].toString('hex'))
    for (let i = 1; i < got.length; i++) assert.ok(got[i - 1]![0] < got[i]![0])
    // Reading leaves into one reused buffer (as the direct merge does) sees the same records.
    const reused: string[] = []
    for await (const leaf of reader.leafPages(bucket!.value, true)) for (const e of reader.elements(leaf)) reused.push(e.key.toString('hex'))
    assert.equal(reused, got.map(([k]) => k))
  } finally {
    await reader.close()
  }
})

test('values larger than a page become overflow pages; keys larger than half a page still branch', async () => {
  const path = file('overflow.db')
  const records: [Buffer, Buffer][] = [kv(1, 10), kv(2, 70_000), kv(3, 5000), kv(4, 10)]
  const bigKeys: [Buffer, Buffer][] = Array.from({ length: 40 }, (_, i) => [Buffer.concat([Buffer.from(String(i).padStart(3, '0')), Buffer.alloc(3000, 1)]), Buffer.from('v')])
  await writeFile_(path, 4096, [{ name: 'a', records }, { name: 'b', records: bigKeys }])
  const reader = await BboltReader.open(path)
  try {
    const [a, b] = await reader.topBuckets()
    let overflowSeen = false
    for await (const leaf of reader.leafPages(a!.value)) overflowSeen ||= leaf.readUInt32LE(12) > 0
    assert.ok(overflowSeen, 'a leaf with overflow pages')
    assert.equal(await entries(reader, a!.value), records.map(([k, v]) => [k.toString('hex'), v.toString('hex'), 0]))
    assert.equal((await entries(reader, b!.value)).map(([k]) => k), bigKeys.map(([k]) => k.toString('hex')))
  } finally {
    await reader.close()
  }
})

test('empty buckets are an empty leaf; inline buckets are kept verbatim', async () => {
  const path = file('inline.db')
  const inline: [Buffer, Buffer][] = [[Buffer.from('x'), Buffer.from('1')], [Buffer.from('y'), Buffer.from('22')]]
  await writeFile_(path, 4096, [{ name: 'empty' }, { name: 'small', inline, sequence: 9n }])
  const reader = await BboltReader.open(path)
  try {
    const [empty, small] = await reader.topBuckets()
    assert.is(pageCount(await reader.page(Number(empty!.value.readBigUInt64LE(0)))), 0)
    assert.equal(await entries(reader, empty!.value), [])
    assert.is(await reader.lastKeyOfBucket(empty!.value), null)
    assert.is(small!.value.readBigUInt64LE(0), 0n, 'still inline')
    assert.is(small!.value.readBigUInt64LE(8), 9n)
    assert.equal(await entries(reader, small!.value), inline.map(([k, v]) => [k.toString('hex'), v.toString('hex'), 0]))
  } finally {
    await reader.close()
  }
})

test('keys out of order and sub-buckets in copied leaves are refused', async () => {
  const writer = await BboltWriter.create(file('order.db'), 4096)
  const tree = writer.tree()
  await tree.put(Buffer.from('b'), Buffer.from('1'))
  await rejects(() => tree.put(Buffer.from('a'), Buffer.from('2')), /ascending/)
  await rejects(() => tree.put(Buffer.from('b'), Buffer.from('2')), /ascending/)
  const leaf = Buffer.alloc(4096)
  leaf.writeUInt16LE(LEAF_PAGE, 8)
  leaf.writeUInt16LE(1, 10)
  leaf.writeUInt32LE(BUCKET_LEAF, 16)
  leaf.writeUInt32LE(16, 20)
  leaf.writeUInt32LE(1, 24)
  leaf.write('c', 32)
  await rejects(() => tree.copyLeaf(leaf), /nested buckets/)
  await writer.abandon()
})

test('mvcc records: revision keys and KeyValue bytes as etcd writes them', () => {
  assert.is(revisionKey(0x0102030405, 3, false).toString('hex'), '0000000102030405' + '5f' + '0000000000000003')
  assert.is(revisionKey(7, 0, true).toString('hex'), '0000000000000007' + '5f' + '0000000000000000' + '74')
  assert.is(mainRevisionOf(revisionKey(2 ** 40 + 5, 1, true)), 2 ** 40 + 5)
  // key "a", create 2, mod 300, version 1, value "xy", lease 0 (omitted)
  assert.is(encodeKeyValue({ key: Buffer.from('a'), createRevision: 2, modRevision: 300, version: 1, value: Buffer.from('xy') }).toString('hex'), '0a0161' + '1002' + '18ac02' + '2001' + '2a027879')
  assert.is(encodeKeyValue({ key: Buffer.from('a'), createRevision: 0, modRevision: 0, version: 0, value: Buffer.alloc(0) }).toString('hex'), '0a0161')
  assert.is(encodeKeyValue({ key: Buffer.from('a'), createRevision: 1, modRevision: 1, version: 1, value: Buffer.alloc(0), lease: 300n }).toString('hex'), '0a0161' + '1001' + '1801' + '2001' + '30ac02')
})

/** A tiny etcd-shaped snapshot: bucket `key` with revisions 1..n, `meta` inline, `lease` empty. */
async function etcdLikeSnapshot(path: string, revisions: number, keyInline: boolean): Promise<void> {
  const records: [Buffer, Buffer][] = []
  for (let rev = 2; rev <= revisions; rev++) {
    records.push([revisionKey(rev, 0, false), encodeKeyValue({ key: Buffer.from(`k${rev % 5}`), createRevision: rev, modRevision: rev, version: 1, value: Buffer.alloc(rev % 3 === 0 ? 6000 : 30, rev) })])
  }
  const meta: [Buffer, Buffer][] = [[Buffer.from('consistent_index'), Buffer.alloc(8)]]
  await writeFile_(path, 4096, [keyInline ? { name: 'key', inline: records } : { name: 'key', records }, { name: 'lease' }, { name: 'meta', inline: meta }])
}

function event(type: 'put' | 'delete', key: string, modRevision: number, value = 'v'): DeltaEvent {
  return { type, key: Buffer.from(key), value: type === 'put' ? Buffer.from(value) : Buffer.alloc(0), modRevision, createRevision: type === 'put' ? modRevision : 0, version: type === 'put' ? 1 : 0, lease: '0', time: undefined }
}

async function* iterate(events: DeltaEvent[]): AsyncGenerator<DeltaEvent> {
  yield* events
}

for (const keyInline of [false, true]) {
  test(`direct merge of a snapshot (bucket key ${keyInline ? 'inline' : 'a tree'}): buckets copied, records appended, etcd's bbolt reads it`, async () => {
    const source = file('source.db')
    const merged = file('merged.db')
    await etcdLikeSnapshot(source, keyInline ? 3 : 400, keyInline)
    const base = (await readBboltRevision(source)).revision
    const merge = await openDirectMerge(source, merged, 'test-snapshot')
    assert.is(merge.baseRevision, base)
    const delta = { key: 'Incr-test', lastRevision: base + 3 } as StoredSnapshot
    const applied = await merge.sink.applyDelta(iterate([event('put', 'k1', base - 1), event('put', 'new', base + 1), event('put', 'a', base + 2), event('delete', 'k1', base + 2), event('put', 'big', base + 3, 'z'.repeat(9000))]), delta, 0, base, { toRevision: undefined, toTimeNanos: undefined })
    assert.equal([applied.revision, applied.eventsApplied, applied.stopped], [base + 3, 4, false])
    await merge.sink.afterDelta(delta, applied)
    await merge.finish()
    // The trailer is the SHA-256 of the rest.
    const bytes = await readFile(merged)
    assert.is(createHash('sha256').update(bytes.subarray(0, -32)).digest('hex'), bytes.subarray(-32).toString('hex'))
    await writeFile(`${merged}.plain`, bytes.subarray(0, -32))
    const reader = await BboltReader.open(`${merged}.plain`)
    try {
      const top = await reader.topBuckets()
      assert.equal(top.map((b) => b.name.toString()), ['key', 'lease', 'meta'])
      const keys = (await entries(reader, top[0]!.value)).map(([k]) => k)
      assert.equal(keys.slice(-4), [revisionKey(base + 1, 0, false), revisionKey(base + 2, 0, false), revisionKey(base + 2, 1, true), revisionKey(base + 3, 0, false)].map((k) => k.toString('hex')))
      assert.is(top[2]!.value.readBigUInt64LE(0), 0n, 'meta stays inline')
    } finally {
      await reader.close()
    }
    assert.is((await readBboltRevision(`${merged}.plain`)).revision, base + 3)
    // etcd's own bbolt opens the file, checks the trailer and walks every bucket.
    const { stdout } = await runEtcdTool('etcdutl', ['snapshot', 'status', merged, '--write-out', 'json'])
    const status = JSON.parse(stdout) as { revision: number; totalKey: number }
    assert.is(status.revision, base + 3)
    assert.is(status.totalKey, (keyInline ? 2 : 399) + 4 + 1, "bucket key (snapshot + 4 new records) and meta")
  })
}

test.run()
