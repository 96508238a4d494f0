/**
 * The retention planner over generated timelines. Every expected kept set below is worked out
 * by hand from the rules in docs/gc.md (etcd-backup-restore's), not from the code; the comments
 * show the arithmetic. Times are UTC.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { StoredSnapshot } from '../../../src/lib/snapshot/backup-store.ts'
import { LEFTOVER_GRACE_SECONDS, planGarbageCollection, type GcPlan, type GcPolicyOptions } from '../../../src/lib/gc/plan.ts'
import { compareSnapshots, formatSnapshotName, parseSnapshotKey } from '../../../src/lib/snapshot/name.ts'

const test = suite('gc planning (Exponential, LimitBased)')

const EXP: GcPolicyOptions = { policy: 'Exponential', maxBackups: 7, deltaRetentionSeconds: 0 }
const HOUR = 3_600_000

/** Builds a sorted listing: fulls at the given times, each optionally followed by `deltas` deltas spaced `deltaEveryMs`. */
function timeline(fullTimes: readonly string[], options: { deltas?: number; deltaEveryMs?: number } = {}): StoredSnapshot[] {
  const out: StoredSnapshot[] = []
  let revision = 1
  for (const time of [...fullTimes].sort()) {
    const at = new Date(time)
    out.push(candidate('Full', 0, (revision += 10), at))
    for (let i = 1; i <= (options.deltas ?? 0); i++) {
      const start = revision + 1
      out.push(candidate('Incr', start, (revision += 5), new Date(at.getTime() + i * (options.deltaEveryMs ?? 60_000))))
    }
  }
  return out.sort(compareSnapshots)
}

function candidate(kind: 'Full' | 'Incr', start: number, last: number, createdOn: Date, extra: { chunk?: number; sizeBytes?: number } = {}): StoredSnapshot {
  const name = formatSnapshotName({ kind, startRevision: start, lastRevision: last, createdOn, compressionSuffix: '.gz' })
  const key = `etcd/v2/${name}${extra.chunk ? `/${String(extra.chunk).padStart(10, '0')}` : ''}`
  const ref = parseSnapshotKey(key)!
  return { ...ref, sizeBytes: extra.sizeBytes ?? 1000 }
}

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z')
const keptFulls = (plan: GcPlan) => plan.decisions.filter((d) => d.action === 'keep' && d.object.kind === 'Full' && !d.object.isChunk).map((d) => iso(d.object.createdOn))
const kept = (plan: GcPlan) => plan.decisions.filter((d) => d.action === 'keep').map((d) => d.object.name)
const every = (fromIso: string, toIso: string, stepMs: number) => {
  const out: string[] = []
  for (let t = new Date(fromIso).getTime(); t <= new Date(toIso).getTime(); t += stepMs) out.push(new Date(t).toISOString())
  return out
}

test('Exponential, today every 30 min: the current hour whole, the newest full of every earlier hour', () => {
  // now 15:40; end of day (eod) 23:59:59. hh:00 and hh:30 are both (23-hh) whole hours back: same hour, the
  // older goes; hh:30 vs (hh+1):00 differ by one hour: kept. 15:00 is in the current hour (threshold 0): kept.
  const plan = planGarbageCollection(timeline(every('2026-03-10T00:00:00Z', '2026-03-10T15:30:00Z', HOUR / 2)), new Date('2026-03-10T15:40:00Z'), EXP)
  const expected = [...Array.from({ length: 15 }, (_, h) => `2026-03-10T${String(h).padStart(2, '0')}:30:00Z`), '2026-03-10T15:00:00Z', '2026-03-10T15:30:00Z']
  assert.equal(keptFulls(plan), expected)
  const at0000 = plan.decisions.find((d) => iso(d.object.createdOn) === '2026-03-10T00:00:00Z')!
  assert.is(at0000.rule, 'exponential-hourly')
  assert.is(at0000.action, 'delete')
  assert.is(plan.decisions.find((d) => iso(d.object.createdOn) === '2026-03-10T15:00:00Z')!.rule, 'exponential-current-hour')
})

test('Exponential, UTC hour edge: hh:59:59 and (hh+1):00:00 are different hours; hh:00:00 and hh:59:59 the same', () => {
  // eod - 14:59:59 = 9h exactly → 9; eod - 15:00:00 = 8h59m59s → 8: different hours, both kept.
  // eod - 14:00:00 = 9h59m59s → 9: same hour as 14:59:59, deleted.
  const plan = planGarbageCollection(timeline(['2026-03-10T14:00:00Z', '2026-03-10T14:59:59Z', '2026-03-10T15:00:00Z', '2026-03-10T18:00:00Z']), new Date('2026-03-10T18:10:00Z'), EXP)
  assert.equal(keptFulls(plan), ['2026-03-10T14:59:59Z', '2026-03-10T15:00:00Z', '2026-03-10T18:00:00Z'])
})

test('Exponential, UTC day edge: right after midnight yesterday\'s hourly fulls collapse to its newest', () => {
  // now 00:30. "Age < 24h" means created after yesterday 23:59:59, so only today's fulls are in the hourly band.
  // 03-10 00:00: current hour (0 == 0) → kept. 03-09 23:00: 24h back → day 1, newer (00:00) 23h → day 0 → kept.
  // 03-09 00:00..22:00: day 1 like the newer full, fewer than 24 hours apart → deleted.
  const times = [...every('2026-03-09T00:00:00Z', '2026-03-10T00:00:00Z', HOUR), '2026-03-10T00:30:00Z']
  const plan = planGarbageCollection(timeline(times), new Date('2026-03-10T00:30:00Z'), EXP)
  assert.equal(keptFulls(plan), ['2026-03-09T23:00:00Z', '2026-03-10T00:00:00Z', '2026-03-10T00:30:00Z'])
  // One hour earlier (23:30 on 03-09), the same day's fulls are all hourly: every one is kept.
  const before = planGarbageCollection(timeline(times.filter((t) => t < '2026-03-09T23:30:00Z').concat('2026-03-09T23:30:00Z')), new Date('2026-03-09T23:30:00Z'), EXP)
  assert.is(keptFulls(before).length, 25)
})

test('Exponential, days of fulls every 6 h: newest per hour today, per day for a week, then per (shifted) week', () => {
  // now 03-10 12:00, eod 03-10 23:59:59. Today: 00:00, 06:00 kept hourly (different hours), 12:00 newest.
  // 03-03 .. 03-09: age < 8 days → kept only the 18:00 of each day (h/24 differs from the newer full).
  // 03-02 18:00: age 8d5h59m59s → weekly band; eod shifts back 24h to 03-09 23:59:59; h = 173 → week 1 vs
  // 03-03 00:00 h = 167 → week 0: kept. Every older full (h 179..239) is in week 1 like its newer: deleted.
  const plan = planGarbageCollection(timeline(every('2026-02-28T00:00:00Z', '2026-03-10T12:00:00Z', 6 * HOUR)), new Date('2026-03-10T12:00:00Z'), EXP)
  assert.equal(keptFulls(plan), [
    '2026-03-02T18:00:00Z', '2026-03-03T18:00:00Z', '2026-03-04T18:00:00Z', '2026-03-05T18:00:00Z', '2026-03-06T18:00:00Z',
    '2026-03-07T18:00:00Z', '2026-03-08T18:00:00Z', '2026-03-09T18:00:00Z', '2026-03-10T00:00:00Z', '2026-03-10T06:00:00Z', '2026-03-10T12:00:00Z',
  ])
  assert.is(plan.decisions.find((d) => iso(d.object.createdOn) === '2026-03-02T18:00:00Z')!.rule, 'exponential-weekly')
})

test('Exponential, 50 daily fulls: 7 daily, 4 weekly (weeks end yesterday 23:59:59), nothing older than 5 weeks', () => {
  // Daily at 12:00 from 01-20 to 03-10, now 03-10 12:00. 03-03..03-09 kept (age < 8 days, each its own day).
  // Weekly band after the shift: h = 24n + 11 for n days before 03-09; week = h / 168 → n 7..13 week 1,
  // 14..20 week 2, 21..27 week 3, 28..34 week 4; the newest of each (n = 7, 14, 21, 28) is kept.
  // n >= 35 (age >= 35 days from the shifted eod) → expired.
  const plan = planGarbageCollection(timeline(every('2026-01-20T12:00:00Z', '2026-03-10T12:00:00Z', 24 * HOUR)), new Date('2026-03-10T12:00:00Z'), EXP)
  assert.equal(keptFulls(plan), [
    '2026-02-09T12:00:00Z', '2026-02-16T12:00:00Z', '2026-02-23T12:00:00Z', '2026-03-02T12:00:00Z',
    '2026-03-03T12:00:00Z', '2026-03-04T12:00:00Z', '2026-03-05T12:00:00Z', '2026-03-06T12:00:00Z', '2026-03-07T12:00:00Z', '2026-03-08T12:00:00Z', '2026-03-09T12:00:00Z',
    '2026-03-10T12:00:00Z',
  ])
  const expired = plan.decisions.filter((d) => d.rule === 'exponential-expired')
  assert.ok(expired.every((d) => d.action === 'delete'))
  assert.is(iso(expired.at(-1)!.object.createdOn), '2026-02-02T12:00:00Z') // n = 35
  assert.is(iso(plan.decisions.filter((d) => d.rule === 'exponential-weekly')[0]!.object.createdOn), '2026-02-03T12:00:00Z') // n = 34
})

test('Exponential: deltas survive only after the newest full (retention 0), or inside the retention period', () => {
  const list = timeline(every('2026-03-10T08:00:00Z', '2026-03-10T11:00:00Z', HOUR), { deltas: 3, deltaEveryMs: 15 * 60_000 })
  const now = new Date('2026-03-10T11:50:00Z')
  const plan = planGarbageCollection(list, now, EXP)
  const deltas = plan.decisions.filter((d) => d.object.kind === 'Incr')
  assert.equal(deltas.filter((d) => d.action === 'keep').map((d) => d.rule), ['latest-set', 'latest-set', 'latest-set'])
  assert.ok(deltas.filter((d) => d.action === 'delete').every((d) => d.rule === 'delta-retention'))
  // 2h retention: deltas created after 09:50 are kept (10:15, 10:30, 10:45 and the newest stream's; 09:15..09:45 go).
  const withRetention = planGarbageCollection(list, now, { ...EXP, deltaRetentionSeconds: 7200 })
  assert.equal(
    withRetention.decisions.filter((d) => d.object.kind === 'Incr' && d.action === 'keep').map((d) => iso(d.object.createdOn)),
    ['2026-03-10T10:15:00Z', '2026-03-10T10:30:00Z', '2026-03-10T10:45:00Z', '2026-03-10T11:15:00Z', '2026-03-10T11:30:00Z', '2026-03-10T11:45:00Z'],
  )
})

test('LimitBased: the newest --max-backups fulls, deltas only after the newest full', () => {
  const list = timeline(every('2026-03-01T00:00:00Z', '2026-03-10T00:00:00Z', 24 * HOUR), { deltas: 2 })
  const plan = planGarbageCollection(list, new Date('2026-03-10T06:00:00Z'), { policy: 'LimitBased', maxBackups: 3, deltaRetentionSeconds: 0 })
  assert.equal(keptFulls(plan), ['2026-03-08T00:00:00Z', '2026-03-09T00:00:00Z', '2026-03-10T00:00:00Z'])
  assert.is(plan.decisions.filter((d) => d.object.kind === 'Incr' && d.action === 'keep').length, 2)
  assert.ok(plan.decisions.filter((d) => d.object.kind === 'Full' && d.action === 'delete').every((d) => d.rule === 'max-backups'))
  // --max-backups 1 keeps the newest full only; a large value keeps every full.
  assert.equal(keptFulls(planGarbageCollection(list, new Date('2026-03-10T06:00:00Z'), { policy: 'LimitBased', maxBackups: 1, deltaRetentionSeconds: 0 })), ['2026-03-10T00:00:00Z'])
  assert.is(keptFulls(planGarbageCollection(list, new Date('2026-03-10T06:00:00Z'), { policy: 'LimitBased', maxBackups: 50, deltaRetentionSeconds: 0 })).length, 10)
})

test('LimitBased: deltas before the first full count as a backup (index 0 opens a stream), as etcd-backup-restore', () => {
  // [Incr, Incr, Full1, Full2, Full3]: stream starts 0, 2, 3, 4. With --max-backups 3, stream 0 is beyond the
  // limit (0 < 4 - 3): its deltas go; Full1..Full3 are the newest three "backups" and stay.
  const t = (h: number) => new Date(Date.UTC(2026, 2, 10, h))
  const list = [candidate('Incr', 1, 5, t(0)), candidate('Incr', 6, 9, t(1)), candidate('Full', 0, 20, t(2)), candidate('Full', 0, 30, t(3)), candidate('Full', 0, 40, t(4))]
  const plan = planGarbageCollection(list, t(5), { policy: 'LimitBased', maxBackups: 3, deltaRetentionSeconds: 0 })
  assert.equal(kept(plan), [list[2]!.name, list[3]!.name, list[4]!.name])
  // With --max-backups 2, Full1 goes as well.
  assert.equal(kept(planGarbageCollection(list, t(5), { policy: 'LimitBased', maxBackups: 2, deltaRetentionSeconds: 0 })), [list[3]!.name, list[4]!.name])
})

test('leftovers: chunks of complete snapshots and zero-byte objects go after an hour; young ones stay', () => {
  const t = (h: number, m = 0) => new Date(Date.UTC(2026, 2, 10, h, m))
  const now = t(12)
  const list = [
    candidate('Full', 0, 10, t(9)),
    candidate('Full', 0, 10, t(9), { chunk: 1 }),
    candidate('Full', 0, 20, t(10)),
    candidate('Incr', 21, 25, t(10, 30), { sizeBytes: 0 }),
    candidate('Full', 0, 30, t(11, 45), { sizeBytes: 0 }), // zero-byte, 15 min old: maybe still uploading
    candidate('Full', 0, 40, t(11, 50), { chunk: 2 }), // in-flight part of a chunked upload
  ].sort(compareSnapshots)
  const plan = planGarbageCollection(list, now, { policy: 'LimitBased', maxBackups: 5, deltaRetentionSeconds: 0 })
  const by = (name: string, chunk = false) => plan.decisions.find((d) => d.object.name.startsWith(name) && d.object.isChunk === chunk)!
  assert.equal([by('Full-00000000-00000010', true).action, by('Full-00000000-00000010', true).rule], ['delete', 'chunk-leftover'])
  assert.equal([by('Incr-00000021').action, by('Incr-00000021').rule], ['delete', 'zero-byte'])
  assert.equal([by('Full-00000000-00000030').action, by('Full-00000000-00000030').rule], ['keep', 'leftover-grace'])
  assert.equal([by('Full-00000000-00000040', true).action, by('Full-00000000-00000040', true).rule], ['keep', 'leftover-grace'])
  // The zero-byte full is not the newest full: the newest full with content (revision 20) is.
  assert.is(plan.newestFull, list.find((o) => o.lastRevision === 20)!.name)
  assert.is(LEFTOVER_GRACE_SECONDS, 3600)
})

test('never deletes the newest full snapshot or a delta after it (random timelines, both policies)', () => {
  let seed = 42
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  for (let round = 0; round < 300; round++) {
    const now = new Date(Date.UTC(2026, 2, 10) + Math.floor(random() * 48 * HOUR))
    const list: StoredSnapshot[] = []
    let revision = 1
    let at = now.getTime() - Math.floor(random() * 60 * 24 * HOUR)
    const count = 1 + Math.floor(random() * 60)
    for (let i = 0; i < count && at <= now.getTime(); i++) {
      const kind = random() < 0.4 ? 'Full' : 'Incr'
      const start = kind === 'Full' ? 0 : revision + 1
      list.push(candidate(kind, start, (revision += 1 + Math.floor(random() * 10)), new Date(Math.floor(at / 1000) * 1000)))
      at += Math.floor(random() * 30 * HOUR)
    }
    list.sort(compareSnapshots)
    const newestFullIndex = list.findLastIndex((o) => o.kind === 'Full')
    const protectedNames = new Set(list.slice(Math.max(newestFullIndex, 0)).map((o) => o.name))
    for (const options of [EXP, { policy: 'LimitBased' as const, maxBackups: 1 + Math.floor(random() * 5), deltaRetentionSeconds: Math.floor(random() * 3) * 3600 }]) {
      const plan = planGarbageCollection(list, now, options)
      assert.is(plan.decisions.length, list.length)
      for (const d of plan.decisions) if (protectedNames.has(d.object.name)) assert.is(d.action, 'keep', `round ${round}: ${d.object.name} (${d.rule})`)
    }
  }
})

test('LimitBased needs --max-backups of at least 1', () => {
  assert.throws(() => planGarbageCollection([], new Date(), { policy: 'LimitBased', maxBackups: 0, deltaRetentionSeconds: 0 }), /max-backups/)
})

test.run()
