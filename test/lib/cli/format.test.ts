/** Human units and plurals in text output (issue 8: raw byte counts, "1 events"). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { formatBytes, plural } from '../../../src/lib/format.ts'
import { describeSnapshotEvent, describeSnapshotResult, type SnapshotResult } from '../../../src/lib/snapshot/take.ts'

test('formatBytes: binary units, bytes below 1 KiB', () => {
  assert.is(formatBytes(0), '0 B')
  assert.is(formatBytes(1023), '1023 B')
  assert.is(formatBytes(1536), '1.50 KiB')
  assert.is(formatBytes(20 * 1048576), '20.0 MiB')
  assert.is(formatBytes(471 * 1048576), '471 MiB')
  assert.is(formatBytes(1.5 * 1024 ** 3), '1.50 GiB')
})

test('plural: "1 event", "2 events", "0 events"', () => {
  assert.is(plural(1, 'event'), '1 event')
  assert.is(plural(2, 'event'), '2 events')
  assert.is(plural(0, 'delta'), '0 deltas')
})

test('snapshot summaries: "1 event" (not "1 events") and sizes in MiB, not raw byte counts', () => {
  const full = describeSnapshotResult({ key: 'p/v2/Full-00000000-00000010-1.gz', name: 'Full-00000000-00000010-1.gz', revision: 10, dbSizeBytes: 25 * 1048576, storedSizeBytes: 3 * 1048576, durationSeconds: 1.5, reusedExisting: false } as unknown as SnapshotResult)
  assert.equal(full, ['Stored p/v2/Full-00000000-00000010-1.gz (revision 10, 25.0 MiB database, 3.00 MiB stored, 1.50s)'])
  const delta = describeSnapshotEvent({ type: 'delta', trigger: 'period', snapshot: { key: 'p/v2/Incr-00000011-00000011-2.gz', startRevision: 11, lastRevision: 11, eventCount: 1 } } as never)
  assert.is(delta, 'Stored p/v2/Incr-00000011-00000011-2.gz (revisions 11..11, 1 event, trigger period)')
})

test.run()
