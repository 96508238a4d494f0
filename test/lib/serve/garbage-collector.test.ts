/**
 * The garbage-collector component of `steward serve` on a fake clock and a fake etcd seam, over
 * a real Local store in a temp dir: armed every --garbage-collection-period, leader only, the
 * policy's deletions and `etcdbr_snapshot_gc_total`, no overlapping runs, leadership loss aborts
 * a run, a failed listing is a logged and counted failure that deletes nothing and keeps the
 * schedule, and the flags that enable and check it.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { StewardError, isStewardError } from '../../../src/lib/errors.ts'
import { GC_JOB, garbageCollectorComponent } from '../../../src/lib/serve/components/garbage-collector/index.ts'
import { COMPONENTS } from '../../../src/lib/serve/components/index.ts'
import { resolveServeOptions, type ServeFlags } from '../../../src/lib/serve/resolve.ts'
import { Runtime } from '../../../src/lib/serve/runtime.ts'
import { BackupStore } from '../../../src/lib/snapshot/backup-store.ts'
import { formatSnapshotName } from '../../../src/lib/snapshot/name.ts'
import localSnapstore from '../../../src/lib/snapstore/drivers/local.ts'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'
import { FakeClock } from './fake-clock.ts'
import { FakeEtcd } from './fake-etcd.ts'
import { until as waitUntil } from '../../harness/wait.ts'

const test = suite('serve garbage-collector component')

const HOUR = 3_600_000

interface Rig {
  runtime: Runtime
  etcd: FakeEtcd
  clock: FakeClock
  root: string
  names(): Promise<string[]>
  metric(name: string, labels: string): Promise<number>
  close(): Promise<void>
}

/** Five backups, one an hour before the clock's start, each a full snapshot and two deltas. */
async function seed(root: string, clock: FakeClock): Promise<string[]> {
  const dir = join(root, 'etcd-main', 'v2')
  await mkdir(dir, { recursive: true })
  const names: string[] = []
  for (let b = 0; b < 5; b++) {
    const at = clock.now() - (5 - b) * HOUR
    const base = b * 100 + 10
    names.push(formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision: base, createdOn: new Date(at), compressionSuffix: '.gz' }))
    names.push(formatSnapshotName({ kind: 'Incr', startRevision: base + 1, lastRevision: base + 20, createdOn: new Date(at + 60_000), compressionSuffix: '.gz' }))
    names.push(formatSnapshotName({ kind: 'Incr', startRevision: base + 21, lastRevision: base + 40, createdOn: new Date(at + 120_000), compressionSuffix: '.gz' }))
  }
  for (const name of names) await writeFile(join(dir, name), 'snapshot bytes')
  return names
}

async function rig(flags: ServeFlags, wrap: (s: Snapstore) => Snapstore = (s) => s): Promise<Rig> {
  const work = await mkdtemp(join(tmpdir(), 'steward-serve-gc-'))
  const root = join(work, 'store')
  const clock = new FakeClock(Date.UTC(2026, 5, 10, 12, 30, 0))
  await seed(root, clock)
  const options = resolveServeOptions({ 'storage-provider': 'Local', 'store-container': root, 'store-prefix': 'etcd-main', 'server-port': 0, 'data-dir': join(work, 'data'), ...flags }, {}, { STEWARD_SERVER_HOST: '127.0.0.1' })
  const etcd = new FakeEtcd()
  const store = new BackupStore(wrap(localSnapstore({ root })), 'etcd-main')
  const runtime = await Runtime.create(options, { etcd, etcdClient: null, store, clock, logger: pino({ level: 'silent' }), components: [garbageCollectorComponent] })
  for (const c of runtime.components) await c.start(new AbortController().signal)
  return {
    runtime,
    etcd,
    clock,
    root,
    names: async () => (await readdir(join(root, 'etcd-main', 'v2'))).sort(),
    metric: async (name, labels) => {
      const text = await runtime.ctx.metrics.registry.metrics()
      const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
      return line ? Number(line.split(' ').at(-1)) : Number.NaN
    },
    close: async () => {
      await runtime.ctx.scheduler.stop()
      for (const c of runtime.components) await c.stop()
      await rm(work, { recursive: true, force: true })
    },
  }
}

/** Fakes answer at once: poll every 20 ms. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000) => waitUntil(what, fn, timeoutMs, 20)

test('the job is armed every --garbage-collection-period; on the leader a trigger applies LimitBased and counts etcdbr_snapshot_gc_total', async () => {
  const r = await rig({ 'garbage-collection-policy': 'LimitBased', 'max-backups': 2, 'garbage-collection-period': '30s' })
  try {
    assert.is(await r.runtime.ctx.leadership.check(), 'Leader')
    r.runtime.ctx.scheduler.start()
    assert.is(r.runtime.ctx.scheduler.nextRunAt(GC_JOB), r.clock.now() + 30_000)
    const before = await r.names()
    assert.is(before.length, 15)
    await r.clock.advance(30_000)
    await until('the triggered run to finish', async () => (await r.metric('steward_job_runs_total', `{schedule="${GC_JOB}",outcome="succeeded"}`)) === 1)
    const after = await r.names()
    // The newest two backups stay whole (the newest is the latest set); older fulls and all older deltas go.
    assert.equal(after, before.filter((n) => /^(Full-00000000-00000310|Full-00000000-00000410|Incr-00000411|Incr-00000431)-/.test(n)))
    assert.is(after.filter((n) => n.startsWith('Full')).length, 2)
    assert.is(after.filter((n) => n.startsWith('Incr')).length, 2)
    assert.is(await r.metric('etcdbr_snapshot_gc_total', '{kind="Full",succeeded="true"}'), 3)
    assert.is(await r.metric('etcdbr_snapshot_gc_total', '{kind="Incr",succeeded="true"}'), 8)
    assert.is(r.runtime.ctx.scheduler.nextRunAt(GC_JOB), r.clock.now() + 30_000, 'armed again for the next period')
    assert.is(r.runtime.components[0]!.health?.().ok, true)
  } finally {
    await r.close()
  }
})

test('a follower collects nothing', async () => {
  const r = await rig({ 'garbage-collection-policy': 'LimitBased', 'max-backups': 1 })
  try {
    r.etcd.leaderId = '2'
    assert.is(await r.runtime.ctx.leadership.check(), 'Follower')
    assert.is(await r.runtime.ctx.scheduler.runNow(GC_JOB), 'succeeded')
    assert.is((await r.names()).length, 15)
    assert.is(await r.metric('etcdbr_snapshot_gc_total', '{kind="Full",succeeded="true"}'), 0)
  } finally {
    await r.close()
  }
})

test('runs never overlap, and losing leadership aborts a run between deletions (no failure counted)', async () => {
  let deletes = 0
  let release: (() => void) | null = null
  const r = await rig({ 'garbage-collection-policy': 'LimitBased', 'max-backups': 1 }, (s) => ({
    ...s,
    list: (p, o) => s.list(p, o),
    delete: (key, o) =>
      new Promise<void>((resolve, reject) => {
        deletes++
        if (deletes > 1) return void s.delete(key, o).then(resolve, reject)
        // The first deletion hangs until released or aborted.
        release = () => void s.delete(key, o).then(resolve, reject)
        o?.signal?.addEventListener('abort', () => reject(new StewardError('ABORTED', 'test', 'aborted')), { once: true })
      }),
  }))
  try {
    assert.is(await r.runtime.ctx.leadership.check(), 'Leader')
    const first = r.runtime.ctx.scheduler.runNow(GC_JOB)
    await until('the first deletion to start', () => deletes === 1)
    assert.is(await r.runtime.ctx.scheduler.runNow(GC_JOB), 'skipped', 'a trigger during a run is skipped')
    r.etcd.leaderId = '2'
    assert.is(await r.runtime.ctx.leadership.check(), 'Follower')
    assert.is(await first, 'succeeded', 'an aborted run is not a failure')
    assert.is(deletes, 1, 'nothing deleted after the abort')
    assert.is((await r.names()).length, 15)
    assert.ok(Number.isNaN(await r.metric('steward_component_failures_total', '{component="garbage-collector"}')), 'no failure counted')
    assert.ok(release, 'the hung deletion was reached')
  } finally {
    await r.close()
  }
})

test('a failed listing deletes nothing, is logged and counted, and the schedule continues', async () => {
  const r = await rig({ 'garbage-collection-policy': 'LimitBased', 'max-backups': 1, 'garbage-collection-period': '1m' }, (s) => ({
    ...s,
    list: async function* (p, o) {
      let n = 0
      for await (const info of s.list(p, o)) {
        if (++n > 3) throw new StewardError('STORE_FAILED', 'test', 'listing broke after 3 objects')
        yield info
      }
    },
  }))
  try {
    assert.is(await r.runtime.ctx.leadership.check(), 'Leader')
    r.runtime.ctx.scheduler.start()
    assert.is(await r.runtime.ctx.scheduler.runNow(GC_JOB), 'failed')
    assert.is((await r.names()).length, 15)
    assert.is(await r.metric('steward_component_failures_total', '{component="garbage-collector"}'), 1)
    assert.is(await r.metric('etcdbr_snapshotter_failure', '{error="[steward] [test] listing broke after 3 objects"}'), 1)
    const health = r.runtime.components[0]!.health?.()
    assert.is(health?.ok, false)
    assert.match(health!.detail, 'listing broke')
    assert.is(r.runtime.ctx.scheduler.nextRunAt(GC_JOB), r.clock.now() + 60_000)
  } finally {
    await r.close()
  }
})

test('enabled with a store and a period over 1s; flags are checked as etcdbrctl checks them', () => {
  const base = { 'server-port': 0 } as ServeFlags
  const on = resolveServeOptions({ ...base, 'storage-provider': 'Local', 'store-container': '/tmp/x' }, {}, {})
  assert.ok(garbageCollectorComponent.enabled(on))
  assert.equal(on.garbageCollection, { policy: 'Exponential', periodSeconds: 60, maxBackups: 7, deltaRetentionSeconds: 0 })
  assert.not.ok(garbageCollectorComponent.enabled(resolveServeOptions({ ...base, 'storage-provider': 'Local', 'store-container': '/tmp/x', 'garbage-collection-period': '1s' }, {}, {})))
  assert.not.ok(garbageCollectorComponent.enabled(resolveServeOptions(base, {}, {})), 'no store, no GC')
  assert.ok(COMPONENTS.includes(garbageCollectorComponent), 'registered')
  const bad = (flags: ServeFlags, text: string) => {
    try {
      resolveServeOptions({ ...base, ...flags }, {}, {})
      assert.unreachable('accepted')
    } catch (error) {
      assert.ok(isStewardError(error, 'CONFIG_INVALID'))
      assert.match((error as StewardError).reason, text)
    }
  }
  bad({ 'garbage-collection-policy': 'limitbased' }, '--garbage-collection-policy')
  bad({ 'garbage-collection-policy': 'LimitBased', 'max-backups': 0 }, '--max-backups')
  bad({ 'garbage-collection-period': 'soon' }, '--garbage-collection-period')
})

test.run()
