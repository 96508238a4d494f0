import { Registry } from 'prom-client'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError } from '../../../src/lib/errors.ts'
import { Scheduler, nextCronRun, parseCron } from '../../../src/lib/serve/scheduler.ts'
import { FakeClock, flush } from './fake-clock.ts'

const test = suite('serve scheduler (croner, fake clock)')

test('cron: 5 fields only, with a clear error naming the flag', () => {
  for (const bad of ['* * * *', '0 0 * * * *', 'not a cron']) {
    try {
      parseCron(bad, '--schedule')
      assert.unreachable(bad)
    } catch (error) {
      assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
      assert.match((error as Error).message, '--schedule')
    }
  }
  assert.ok(parseCron('@hourly', '--schedule'))
})

test('cron: etcdbrctl default schedules fire where robfig/cron would', () => {
  const start = Date.UTC(2026, 0, 1, 10, 17, 30)
  const hourly = parseCron('0 */1 * * *', '--schedule')
  // croner computes in the process time zone; compare minutes and seconds, which no zone offset changes (whole-hour zones).
  const next = new Date(nextCronRun(hourly, start)!)
  assert.is(next.getTime() - start, (42 * 60 + 30) * 1000)
  const defrag = parseCron('0 0 */3 * *', '--defragmentation-schedule')
  const runs = [nextCronRun(defrag, start)!]
  runs.push(nextCronRun(defrag, runs[0]!)!)
  const days = runs.map((r) => new Date(r).getDate())
  assert.ok(days.every((d) => (d - 1) % 3 === 0), `days ${days}`)
})

test('interval job runs every period; an overlapping trigger is skipped and counted', async () => {
  const clock = new FakeClock()
  const registry = new Registry()
  const scheduler = new Scheduler({ clock, registry })
  let runs = 0
  let release: (() => void) | undefined
  scheduler.add({
    name: 'job',
    trigger: { everySeconds: 10 },
    run: () => {
      runs += 1
      return new Promise<void>((resolve) => (release = resolve))
    },
  })
  scheduler.start()
  assert.is(runs, 0)
  await clock.advance(10_000)
  assert.is(runs, 1)
  await clock.advance(10_000) // still running: skipped
  assert.is(runs, 1)
  release!()
  await flush()
  await clock.advance(10_000)
  assert.is(runs, 2)
  release!()
  await flush()
  const text = await registry.metrics()
  assert.match(text, 'steward_job_runs_total{schedule="job",outcome="succeeded"} 2')
  assert.match(text, 'steward_job_runs_total{schedule="job",outcome="skipped"} 1')
  await scheduler.stop()
})

test('cron job fires at its slot; a failing run is counted and the schedule continues', async () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 10, 59, 0))
  const registry = new Registry()
  const scheduler = new Scheduler({ clock, registry })
  let runs = 0
  scheduler.add({
    name: 'full-snapshot',
    trigger: { cron: '0 */1 * * *' },
    run: async () => {
      runs += 1
      throw new Error('store down')
    },
  })
  scheduler.start()
  const armed = scheduler.nextRunAt('full-snapshot')!
  assert.is(new Date(armed).getUTCMinutes(), 0)
  await clock.advance(armed - clock.now() - 1)
  assert.is(runs, 0)
  await clock.advance(1)
  assert.is(runs, 1)
  await clock.advance(3600_000)
  assert.is(runs, 2)
  assert.match(await registry.metrics(), 'steward_job_runs_total{schedule="full-snapshot",outcome="failed"} 2')
  await scheduler.stop()
})

test('stop disarms, aborts the signal of in-flight runs after the grace period, and waits for them', async () => {
  const clock = new FakeClock()
  const scheduler = new Scheduler({ clock })
  let aborted = false
  scheduler.add({
    name: 'slow',
    trigger: { everySeconds: 1 },
    run: (signal) =>
      new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          aborted = true
          resolve()
        })
      }),
  })
  scheduler.start()
  await clock.advance(1000)
  assert.ok(scheduler.isRunning('slow'))
  let stopped = false
  const stopping = scheduler.stop(5000).then(() => (stopped = true))
  await flush()
  assert.is(aborted, false, 'the grace period lets the run continue')
  assert.is(stopped, false)
  await clock.advance(5000)
  await stopping
  assert.ok(aborted)
  assert.is(clock.pending.length, 0, 'no timer left armed')
})

test('runNow runs out of schedule and does not overlap a running run', async () => {
  const clock = new FakeClock()
  const scheduler = new Scheduler({ clock })
  let release: (() => void) | undefined
  scheduler.add({ name: 'j', trigger: { everySeconds: 3600 }, run: () => new Promise<void>((r) => (release = r)) })
  const first = scheduler.runNow('j')
  assert.is(await scheduler.runNow('j'), 'skipped')
  release!()
  assert.is(await first, 'succeeded')
})

test.run()
