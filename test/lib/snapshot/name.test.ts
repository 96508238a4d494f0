import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readdirSync } from 'node:fs'
import { compareSnapshots, formatSnapshotName, latestSet, parseSnapshotKey, v2Key, type SnapshotRef } from '../../../src/lib/snapshot/name.ts'

const test = suite('snapshot names (etcd-backup-restore §2)')

test('formats names with 8-digit padding, unix seconds and suffix order', () => {
  const createdOn = new Date(1518427675_900)
  assert.is(formatSnapshotName({ kind: 'Full', startRevision: 5, lastRevision: 30009, createdOn, compressionSuffix: '.gz' }), 'Full-00000000-00030009-1518427675.gz')
  assert.is(formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision: 30009, createdOn, compressionSuffix: '.gz', isFinal: true }), 'Full-00000000-00030009-1518427675.gz.final')
  assert.is(formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision: 9002, createdOn, compressionSuffix: '', isFinal: true }), 'Full-00000000-00009002-1518427675.final')
  assert.is(formatSnapshotName({ kind: 'Incr', startRevision: 1189843863, lastRevision: 1189847828, createdOn, compressionSuffix: '.gz' }), 'Incr-1189843863-1189847828-1518427675.gz')
})

test('v2 keys join the prefix', () => {
  assert.is(v2Key('etcd-main', 'Full-00000000-00000001-1'), 'etcd-main/v2/Full-00000000-00000001-1')
  assert.is(v2Key('', 'Full-00000000-00000001-1'), 'v2/Full-00000000-00000001-1')
  assert.is(v2Key('/a/b/', 'x'), 'a/b/v2/x')
})

test('parses v2 keys with suffixes and final marker', () => {
  const ref = parseSnapshotKey('etcd-main/v2/Full-00000000-00030009-1518427675.gz.final')
  assert.ok(ref)
  assert.equal(
    { kind: ref.kind, start: ref.startRevision, last: ref.lastRevision, suffix: ref.compressionSuffix, final: ref.isFinal, chunk: ref.isChunk, layout: ref.layout, name: ref.name },
    { kind: 'Full', start: 0, last: 30009, suffix: '.gz', final: true, chunk: false, layout: 'v2', name: 'Full-00000000-00030009-1518427675.gz.final' },
  )
  assert.is(ref.createdOn.toISOString(), '2018-02-12T09:27:55.000Z')
  const plainFinal = parseSnapshotKey('v2/Full-00000000-00009002-1565021494.final')
  assert.is(plainFinal?.compressionSuffix, '')
  assert.is(plainFinal?.isFinal, true)
  assert.is(parseSnapshotKey('p/v2/Incr-00000005-00000009-100.Z')?.compressionSuffix, '.Z')
})

test('parses v1 keys and chunks', () => {
  const v1 = parseSnapshotKey('etcd-main/v1/Backup-1518427675/Incr-00030010-00030020-1518427700.gz')
  assert.is(v1?.layout, 'v1')
  assert.is(v1?.isChunk, false)
  assert.is(v1?.name, 'Incr-00030010-00030020-1518427700.gz')
  assert.is(parseSnapshotKey('etcd-main/v1/Backup-1/Full-00000000-00000010-1/0000000001')?.isChunk, true)
  const chunk = parseSnapshotKey('etcd-main/v2/Full-00000000-00040000-1518427800/0000000001')
  assert.is(chunk?.isChunk, true)
  assert.is(chunk?.createdOn.getTime(), 1518427800_000)
})

test('rejects keys that are not snapshots', () => {
  for (const key of [
    'etcd-main/other/Full-00000000-00000001-1',
    'etcd-main/v2/Snap-00000000-00000001-1',
    'etcd-main/v2/full-00000000-00000001-1',
    'etcd-main/v2/Full-00000000-00000001',
    'etcd-main/v2/Full-00000009-00000001-1',
    'etcd-main/v2/Full-0000000x-00000001-1',
    'etcd-main/v2/Full-00000000-00000001-abc.gz',
    'etcd-main/v2/.partial-abc-Full-00000000-00000001-1',
    'etcd-main/v2/a/b/Full-00000000-00000001-1',
  ]) {
    assert.is(parseSnapshotKey(key), null, key)
  }
})

const ref = (key: string): SnapshotRef => parseSnapshotKey(key)!

test('sorts by last revision, then non-chunk first, then creation time', () => {
  const keys = [
    'p/v2/Incr-00000011-00000020-300',
    'p/v2/Full-00000000-00000020-200/0000000001',
    'p/v2/Full-00000000-00000020-400',
    'p/v2/Full-00000000-00000010-500',
  ]
  const sorted = keys.map(ref).sort(compareSnapshots).map((r) => r.key)
  assert.equal(sorted, ['p/v2/Full-00000000-00000010-500', 'p/v2/Incr-00000011-00000020-300', 'p/v2/Full-00000000-00000020-400', 'p/v2/Full-00000000-00000020-200/0000000001'])
})

test('latest set is the last full plus later deltas; chunks ignored', () => {
  const list = ['p/v2/Full-00000000-00000010-1', 'p/v2/Incr-00000011-00000015-2', 'p/v2/Full-00000000-00000015-3', 'p/v2/Incr-00000016-00000020-4', 'p/v2/Incr-00000021-00000030-5', 'p/v2/Full-00000000-00000040-6/0000000001']
    .map(ref)
    .sort(compareSnapshots)
  const set = latestSet(list)
  assert.is(set.full?.key, 'p/v2/Full-00000000-00000015-3')
  assert.equal(set.deltas.map((d) => d.key), ['p/v2/Incr-00000016-00000020-4', 'p/v2/Incr-00000021-00000030-5'])
  assert.equal(latestSet([ref('p/v2/Incr-00000001-00000002-1')]), { full: null, deltas: [ref('p/v2/Incr-00000001-00000002-1')] })
})

test('fixture sets: the final set restores from the final full alone', () => {
  for (const set of ['gzip', 'zlib', 'lzw', 'none', 'final']) {
    const dir = new URL(`../../../fixtures/etcdbr-v2/${set}/etcd-main/v2/`, import.meta.url)
    const refs = readdirSync(dir).map((n) => ref(`etcd-main/v2/${n}`)).sort(compareSnapshots)
    const latest = latestSet(refs)
    if (set === 'final') {
      assert.ok(latest.full?.isFinal)
      assert.is(latest.full?.lastRevision, 105)
      assert.is(latest.deltas.length, 0)
    } else {
      assert.is(latest.full?.lastRevision, 22)
      assert.equal(latest.deltas.map((d) => [d.startRevision, d.lastRevision]), [[23, 32], [33, 37], [38, 42], [43, 105]])
    }
  }
})

test.run()
