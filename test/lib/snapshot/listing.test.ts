/** `snapshot list` predicts what a restore would really do (issue 8, item 5). */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { StoredSnapshot } from '../../../src/lib/snapshot/backup-store.ts'
import { listingOf, renderListing } from '../../../src/lib/snapshot/listing.ts'
import { compareSnapshots, parseSnapshotKey } from '../../../src/lib/snapshot/name.ts'

const test = suite('snapshot listing')

function store(objects: Record<string, number>): StoredSnapshot[] {
  return Object.entries(objects)
    .map(([name, sizeBytes]) => ({ ...parseSnapshotKey(`etcd-main/v2/${name}`)!, sizeBytes }))
    .sort(compareSnapshots)
}

const healthy = {
  'Full-00000000-00000022-1795373610.gz': 1223,
  'Incr-00000023-00000032-1795373611.gz': 776,
  'Incr-00000033-00000037-1795373611.gz': 337,
  'Incr-00000038-00000042-1795373612.gz': 498,
  'Incr-00000043-00000105-1795373612.gz': 1822,
}

test('a healthy chain: the restore set and revision, no problems; text sizes in KiB, not raw bytes', () => {
  const listing = listingOf('file:///b', store(healthy))
  assert.is(listing.restoreSet.reachesRevision, 105)
  assert.is(listing.restoreSet.deltas.length, 4)
  assert.is(listing.restoreSet.failure, null)
  assert.equal(listing.problems, [])
  assert.is(listing.snapshots[0]!.sizeBytes, 1223)
  const text = renderListing(listing)
  assert.match(text, /1\.19 KiB/)
  assert.not.match(text, / 1223 /)
  assert.match(text, /Restore would use Full-00000000-00000022-1795373610\.gz \+ 4 deltas, reaching revision 105/)
})

test('a gap in the delta chain: list says the restore fails at the object after the gap, and where --allow-partial stops', () => {
  const { 'Incr-00000033-00000037-1795373611.gz': _, ...gapped } = healthy
  const listing = listingOf('file:///b', store(gapped))
  assert.is(listing.restoreSet.reachesRevision, null)
  assert.equal(listing.restoreSet.deltas, ['Incr-00000023-00000032-1795373611.gz'])
  assert.is(listing.restoreSet.failure?.object, 'etcd-main/v2/Incr-00000038-00000042-1795373612.gz')
  assert.is(listing.restoreSet.failure?.code, 'SNAPSHOT_NOT_FOUND')
  assert.is(listing.restoreSet.failure?.allowPartialRevision, 32)
  assert.equal(listing.problems.map((p) => p.object), ['etcd-main/v2/Incr-00000038-00000042-1795373612.gz'])
  assert.match(listing.problems[0]!.problem, /gap: revisions 33\.\.37/)
  const text = renderListing(listing)
  assert.match(text, /Restore would FAIL at Incr-00000038-00000042-1795373612\.gz: delta chain has a gap/)
  assert.match(text, /With --allow-partial it would use Full-00000000-00000022-1795373610\.gz \+ 1 delta and stop at revision 32/)
})

test('a zero-byte delta: named as a problem; the restore fails there, --allow-partial stops before it', () => {
  const listing = listingOf('file:///b', store({ ...healthy, 'Incr-00000038-00000042-1795373612.gz': 0 }))
  assert.equal(listing.problems, [{ object: 'etcd-main/v2/Incr-00000038-00000042-1795373612.gz', code: 'SNAPSHOT_CORRUPT', problem: 'zero-byte object' }])
  assert.is(listing.restoreSet.failure?.allowPartialRevision, 37)
  assert.is(listing.snapshots.find((s) => s.name.startsWith('Incr-00000038'))?.problem, 'zero-byte object')
})

test('an unreadable suffix on the newest full snapshot: the restore fails; --fallback-to-older-full would use the older full', () => {
  const listing = listingOf('file:///b', store({ ...healthy, 'Full-00000000-00000105-1795373700.bz2': 900 }))
  const failure = listing.restoreSet.failure!
  assert.is(failure.code, 'COMPRESSION_UNSUPPORTED')
  assert.match(failure.problem, /unreadable compression suffix '\.bz2'/)
  assert.is(failure.allowPartialRevision, null)
  assert.is(failure.fallbackFull, 'Full-00000000-00000022-1795373610.gz')
  assert.match(renderListing(listing), /With --fallback-to-older-full it would start from Full-00000000-00000022-1795373610\.gz/)
})

test('an older full snapshot whose deltas were garbage-collected is no problem: a newer full covers those revisions', () => {
  const listing = listingOf('file:///b', store({
    'Full-00000000-00000022-1795373610.gz': 1223,
    'Full-00000000-00000105-1795373700.gz': 2000,
    'Incr-00000106-00000110-1795373720.gz': 300,
  }))
  assert.equal(listing.problems, [])
  assert.is(listing.restoreSet.reachesRevision, 110)
  assert.is(listing.restoreSet.full, 'Full-00000000-00000105-1795373700.gz')
})

test('a truncated uncompressed full snapshot is a problem by its size', () => {
  const listing = listingOf('file:///b', store({ 'Full-00000000-00000022-1795373610': 4096 }))
  assert.is(listing.problems[0]?.code, 'SNAPSHOT_CORRUPT')
  assert.match(listing.problems[0]!.problem, /truncated: 4096 bytes/)
  assert.is(listingOf('file:///b', store({ 'Full-00000000-00000022-1795373610': 4096 + 32 })).problems.length, 0)
})

test.run()
