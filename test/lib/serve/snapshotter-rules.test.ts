import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { goTime, snapshotJson } from '../../../src/lib/serve/components/snapshotter/snapshot-json.ts'
import { fullSnapshotRequired, scheduleWindowHours } from '../../../src/lib/serve/components/snapshotter/startup.ts'
import { parseGoBool } from '../../../src/lib/serve/components/snapshotter/index.ts'
import { parseCron } from '../../../src/lib/serve/scheduler.ts'
import { parseSnapshotKey } from '../../../src/lib/snapshot/name.ts'

const test = suite('serve snapshotter rules (startup decision, Snapshot JSON)')
const HOUR = 3600_000

test('schedule window: 24h default, 168h with a day-of-week, N for */N hours', () => {
  assert.is(scheduleWindowHours('0 */1 * * *'), 1)
  assert.is(scheduleWindowHours('0 */24 * * *'), 24)
  assert.is(scheduleWindowHours('0 0 * * *'), 24)
  assert.is(scheduleWindowHours('0 0 * * 1'), 168)
  assert.is(scheduleWindowHours('0 */6 1 * *'), 24)
})

test('startup: full required without a full snapshot, after a final one, when too old, after a failed attempt, or a missed slot', () => {
  const schedule = '0 */1 * * *'
  const cron = parseCron(schedule, '--schedule')
  const now = Date.UTC(2026, 0, 1, 10, 30, 0)
  assert.match(fullSnapshotRequired(null, schedule, cron, now) ?? '', 'no full snapshot')
  assert.match(fullSnapshotRequired({ createdOn: new Date(now - 60_000), isFinal: true }, schedule, cron, now) ?? '', 'final')
  assert.match(fullSnapshotRequired({ createdOn: new Date(now - 2 * HOUR), isFinal: false }, schedule, cron, now) ?? '', 'older')
  assert.match(fullSnapshotRequired({ createdOn: new Date(now - 60_000), isFinal: false }, schedule, cron, now, true) ?? '', 'failed')
  // Taken at the 10:00 slot: next slot 11:00 minus the 1h window — not missed.
  const slot = new Date(nextHour(now) - HOUR)
  assert.is(fullSnapshotRequired({ createdOn: slot, isFinal: false }, schedule, cron, now), null)
  // Taken at 09:40 (out of schedule): 30 min to the next slot + 50 min age > 1h → required.
  assert.match(fullSnapshotRequired({ createdOn: new Date(now - 50 * 60_000), isFinal: false }, schedule, cron, now) ?? '', 'missed')
  // Taken at 10:20: 30 min + 10 min < 1h → a delta continues the chain.
  assert.is(fullSnapshotRequired({ createdOn: new Date(now - 10 * 60_000), isFinal: false }, schedule, cron, now), null)
})

function nextHour(ms: number): number {
  return Math.ceil((ms + 1) / HOUR) * HOUR
}

test('Go time format: fraction only when non-zero, trailing zeros trimmed', () => {
  assert.is(goTime(new Date('2026-01-02T03:04:05.000Z')), '2026-01-02T03:04:05Z')
  assert.is(goTime(new Date('2026-01-02T03:04:05.120Z')), '2026-01-02T03:04:05.12Z')
  assert.is(goTime(new Date('2026-01-02T03:04:05.123Z')), '2026-01-02T03:04:05.123Z')
})

test('Snapshot JSON: field order, misspelled immutabilityExpriyTime, prefix for listed vs new, v1 snapDir, final', () => {
  const full = parseSnapshotKey('etcd-main/v2/Full-00000000-00000105-1795373660.gz.final')!
  assert.is(
    JSON.stringify(snapshotJson(full, true)),
    '{"createdOn":"2026-11-22T18:54:20Z","immutabilityExpriyTime":"0001-01-01T00:00:00Z","versionID":null,"kind":"Full","snapDir":"","snapName":"Full-00000000-00000105-1795373660.gz.final","prefix":"etcd-main/v2/","compressionSuffix":".gz","startRevision":0,"lastRevision":105,"isChunk":false,"isFinal":true}',
  )
  assert.is(snapshotJson(full, false).prefix, '')
  const v1 = parseSnapshotKey('etcd-main/v1/Backup-1600000000/Incr-00000023-00000032-1600000100')!
  const json = snapshotJson(v1, true)
  assert.is(json.snapDir, 'Backup-1600000000')
  assert.is(json.prefix, 'etcd-main/v1/')
  assert.is(json.snapName, 'Incr-00000023-00000032-1600000100')
})

test('final= takes Go booleans only', () => {
  for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.is(parseGoBool(t), true)
  for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.is(parseGoBool(f), false)
  for (const bad of ['maybe', 'yes', 'tRuE', '']) assert.is(parseGoBool(bad), undefined)
})

test.run()
