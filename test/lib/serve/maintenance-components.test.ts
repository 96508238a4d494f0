/**
 * The defragmenter and alarms components of `steward serve` over the fake clock, the serve fake
 * etcd (leadership) and an in-memory maintenance seam: what runs at a slot, on which member, in
 * which order (lock, leader move, defragment), that runs never overlap, that failures are a log
 * line + metric and the schedule goes on, and what each alarm makes the alarms component do. The
 * real thing (three sidecars, one maintenance lock, etcd's own logs) is
 * test/integration/serve-maintenance.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { ActiveAlarm, HeldLock, MaintenanceEtcd, MaintenanceStatus } from '../../../src/lib/defrag/etcd.ts'
import { createAlarmsComponent } from '../../../src/lib/serve/components/alarms/index.ts'
import { createDefragmenterComponent, DEFRAG_JOB } from '../../../src/lib/serve/components/defragmenter/index.ts'
import { resolveServeOptions, type ServeFlags } from '../../../src/lib/serve/resolve.ts'
import { Runtime } from '../../../src/lib/serve/runtime.ts'
import { FakeClock, flush } from './fake-clock.ts'
import { FakeEtcd } from './fake-etcd.ts'

class FakeMaintenance implements MaintenanceEtcd {
  leader = '2'
  alarmList: ActiveAlarm[] = []
  calls: string[] = []
  failHealth = false
  /** When set, defragment() waits for it (a long defragmentation). */
  gate: Promise<void> | null = null
  readonly ids = new Map([['http://m1', '1'], ['http://m2', '2'], ['http://m3', '3']])

  memberList = async () => [...this.ids].map(([url, id]) => ({ id, name: `m${id}`, clientUrls: [url], isLearner: false }))
  async status(endpoint: string): Promise<MaintenanceStatus> {
    if (this.failHealth && endpoint === 'http://m3') throw new Error('connection refused')
    return { endpoint, memberId: this.ids.get(endpoint) ?? '0', leaderId: this.leader, dbSizeBytes: 100, dbSizeInUseBytes: 40, revision: 10, raftTerm: 2, raftIndex: 50, raftAppliedIndex: 50, isLearner: false }
  }
  async probe(endpoint: string) {
    if (this.failHealth && endpoint === 'http://m3') throw new Error('connection refused')
  }
  alarms = async () => this.alarmList
  async disarm(_endpoint: string, alarm: ActiveAlarm) {
    this.calls.push(`disarm ${alarm.alarm}`)
    this.alarmList = this.alarmList.filter((a) => a !== alarm)
  }
  async compact(endpoint: string) {
    this.calls.push(`compact ${endpoint}`)
  }
  async defragment(endpoint: string) {
    this.calls.push(`defrag ${endpoint} leader=${this.ids.get(endpoint) === this.leader}`)
    if (this.gate) await this.gate
  }
  async moveLeader(endpoint: string, target: string) {
    this.calls.push(`move ${endpoint} -> ${target}`)
    this.leader = target
  }
  async lock(): Promise<HeldLock> {
    this.calls.push('lock')
    return { leaseId: '7', lost: new AbortController().signal, release: async () => void this.calls.push('unlock') }
  }
  close() {}
}

interface Rig {
  runtime: Runtime
  clock: FakeClock
  maintenance: FakeMaintenance
  serveEtcd: FakeEtcd
  metric(name: string, labels?: Record<string, string>): Promise<number>
  /** Advances the clock and lets the runs it triggered finish. */
  advance(ms: number): Promise<void>
  close(): Promise<void>
}

async function rig(flags: ServeFlags = {}, memberId = '1'): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'steward-maint-'))
  const conf = join(dir, 'etcd.conf.yaml')
  await writeFile(conf, 'name: etcd-config\nquota-backend-bytes: 1000\n')
  const options = resolveServeOptions({ endpoints: [`http://m${memberId}`], 'server-port': 0, 'defragmentation-schedule': '*/10 * * * *', 'alarm-check-period': '1m', ...flags }, {}, { ETCD_CONF: conf, POD_NAME: `m${memberId}` })
  const maintenance = new FakeMaintenance()
  const serveEtcd = new FakeEtcd()
  serveEtcd.memberId = memberId
  serveEtcd.leaderId = maintenance.leader
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 1, 0))
  const open = async () => maintenance
  const runtime = await Runtime.create(options, { etcd: serveEtcd, etcdClient: null, store: null, clock, logger: pino({ level: 'silent' }), components: [createDefragmenterComponent(open), createAlarmsComponent(open)] })
  const { ctx } = runtime
  for (const c of runtime.components) await c.start(new AbortController().signal)
  ctx.leadership.start()
  ctx.scheduler.start()
  await flush()
  // Runs read the ConfigMap (real file I/O): wait for them to end, with a deadline, however loaded the machine is.
  const settle = async () => {
    const deadline = Date.now() + 30_000
    while (ctx.scheduler.isRunning(DEFRAG_JOB) || ctx.scheduler.isRunning('alarm-check')) {
      if (Date.now() > deadline) throw new Error('a maintenance run did not end within 30 s')
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  return {
    runtime,
    clock,
    maintenance,
    serveEtcd,
    async metric(name, labels = {}) {
      const metric = (await ctx.metrics.registry.getMetricsAsJSON()).find((m) => m.name === name)
      const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number>; metricName?: string }[]
      return values.filter((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l) && (!v.metricName || v.metricName === name || v.metricName === `${name}_count`)).reduce((sum, v) => sum + v.value, 0)
    },
    async advance(ms) {
      await clock.advance(ms)
      await settle()
    },
    async close() {
      ctx.leadership.stop()
      await ctx.scheduler.stop()
      for (const c of [...runtime.components].reverse()) await c.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

const MIN = 60_000
const test = suite('serve defragmenter and alarms components (fake clock, fake maintenance seam)')

test('a slot defragments this steward\'s own member only, under the lock, and records the duration metric', async () => {
  const r = await rig({ 'alarm-check-period': '0s' })
  try {
    assert.equal(r.maintenance.calls, [], 'nothing before the slot')
    await r.advance(9 * MIN)
    assert.equal(r.maintenance.calls, ['lock', 'defrag http://m1 leader=false', 'unlock'])
    assert.is(await r.metric('etcdbr_defragmentation_duration_seconds', { succeeded: 'true', endpoint: 'http://m1' }), 1)
    await r.advance(10 * MIN)
    assert.is(r.maintenance.calls.filter((c) => c.startsWith('defrag')).length, 2, 'once per slot')
  } finally {
    await r.close()
  }
})

test('--move-leader (default on): a leading member hands leadership to an up-to-date member first', async () => {
  const r = await rig({ 'alarm-check-period': '0s' }, '2')
  try {
    await r.advance(9 * MIN)
    assert.equal(r.maintenance.calls, ['lock', 'move http://m2 -> 1', 'defrag http://m2 leader=false', 'unlock'])
  } finally {
    await r.close()
  }
  const off = await rig({ 'alarm-check-period': '0s', 'move-leader': false }, '2')
  try {
    await off.advance(9 * MIN)
    assert.equal(off.maintenance.calls, ['lock', 'defrag http://m2 leader=true', 'unlock'], '--move-leader=false defragments the leader in place')
  } finally {
    await off.close()
  }
})

test('runs never overlap: a slot while the previous defragmentation still runs is skipped', async () => {
  const r = await rig({ 'alarm-check-period': '0s' })
  let release!: () => void
  r.maintenance.gate = new Promise((resolve) => (release = resolve))
  try {
    await r.clock.advance(9 * MIN)
    await r.clock.advance(10 * MIN)
    assert.is(await r.metric('steward_job_runs_total', { schedule: DEFRAG_JOB, outcome: 'skipped' }), 1)
    release()
    await r.advance(0)
    assert.is(r.maintenance.calls.filter((c) => c.startsWith('defrag')).length, 1)
  } finally {
    release()
    await r.close()
  }
})

test('a failure (unhealthy member) is a metric and no change; the next slot tries again', async () => {
  const r = await rig({ 'alarm-check-period': '0s' })
  r.maintenance.failHealth = true
  try {
    await r.advance(9 * MIN)
    assert.equal(r.maintenance.calls, [], 'no lock, no defragmentation')
    assert.is(await r.metric('steward_component_failures_total', { component: 'defragmenter' }), 1)
    assert.is(await r.metric('steward_job_runs_total', { schedule: DEFRAG_JOB, outcome: 'failed' }), 1)
    r.maintenance.failHealth = false
    await r.advance(10 * MIN)
    assert.equal(r.maintenance.calls, ['lock', 'defrag http://m1 leader=false', 'unlock'])
  } finally {
    await r.close()
  }
})

test('alarms: CORRUPT is reported (gauge, health detail) and nothing is touched', async () => {
  const r = await rig({ 'defragmentation-schedule': '0 0 1 1 *' }, '2')
  r.maintenance.alarmList = [{ memberId: '3', alarm: 'CORRUPT' }, { memberId: '3', alarm: 'NOSPACE' }]
  try {
    await r.advance(MIN)
    assert.is(await r.metric('steward_etcd_alarms', { alarm: 'CORRUPT' }), 1)
    assert.is(await r.metric('steward_etcd_alarms', { alarm: 'NOSPACE' }), 1)
    const health = r.runtime.components.find((c) => c.name === 'alarms')!.health!()
    assert.is(health.ok, false)
    assert.match(health.detail, /CORRUPT/)
    assert.equal(r.maintenance.calls, [], 'no compaction, defragmentation or disarm under CORRUPT')
  } finally {
    await r.close()
  }
})

test('alarms: NOSPACE is recovered by the leader\'s steward only (compact, every member, leader last, disarm)', async () => {
  const follower = await rig({ 'defragmentation-schedule': '0 0 1 1 *' }, '1')
  follower.maintenance.alarmList = [{ memberId: '2', alarm: 'NOSPACE' }]
  try {
    await follower.advance(MIN)
    assert.is(await follower.metric('steward_etcd_alarms', { alarm: 'NOSPACE' }), 1)
    assert.equal(follower.maintenance.calls, [], 'a follower\'s steward leaves it to the leader\'s')
  } finally {
    await follower.close()
  }
  const leader = await rig({ 'defragmentation-schedule': '0 0 1 1 *' }, '2')
  leader.maintenance.alarmList = [{ memberId: '2', alarm: 'NOSPACE' }]
  try {
    await leader.advance(MIN)
    assert.equal(leader.maintenance.calls, ['lock', 'compact http://m1', 'defrag http://m1 leader=false', 'defrag http://m3 leader=false', 'defrag http://m2 leader=true', 'disarm NOSPACE', 'unlock'])
    assert.is(await leader.metric('etcdbr_defragmentation_duration_seconds', { succeeded: 'true' }), 3)
    await leader.advance(MIN)
    assert.is(await leader.metric('steward_etcd_alarms', { alarm: 'NOSPACE' }), 0, 'the next check sees it gone')
  } finally {
    await leader.close()
  }
})

test.run()
