/** etcd-backup-restore's compaction points during a delta restore (`LeanSchedule`, docs/restore.md "Compacted history"). */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { LeanSchedule } from '../../../src/lib/restore/deltas.ts'

/** Feeds deltas ending at 100, 200, … and collects the points returned. */
function points(schedule: LeanSchedule, deltas: number, stoppedAt?: number): number[] {
  const out: number[] = []
  for (let i = 1; i <= deltas; i++) {
    const point = schedule.afterDelta({ revision: i * 100, stopped: i === stoppedAt })
    if (point !== undefined) out.push(point)
  }
  return out
}

test('every 10th applied delta, at its last revision; lastPoint is the last of them', () => {
  const schedule = new LeanSchedule()
  assert.equal(points(schedule, 29), [1000, 2000])
  assert.is(schedule.lastPoint, 2000)
  const few = new LeanSchedule()
  assert.equal(points(few, 9), [])
  assert.is(few.lastPoint, undefined)
})

test('not after a delta that stopped at a point in time or reached toRevision', () => {
  assert.equal(points(new LeanSchedule(10), 10, 10), [])
  assert.equal(points(new LeanSchedule(10, 1000), 10), [])
  assert.equal(points(new LeanSchedule(10, 1001), 10), [1000])
})

test('restart() starts the count again (a compaction made for room)', () => {
  const schedule = new LeanSchedule(3)
  schedule.afterDelta({ revision: 1, stopped: false })
  schedule.afterDelta({ revision: 2, stopped: false })
  schedule.restart()
  assert.is(schedule.afterDelta({ revision: 3, stopped: false }), undefined)
  schedule.afterDelta({ revision: 4, stopped: false })
  assert.is(schedule.afterDelta({ revision: 5, stopped: false }), 5)
})

test.run()
