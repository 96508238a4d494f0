/**
 * defragment() and recoverNospace() against an in-memory MaintenanceEtcd, for the cases a real
 * etcd cannot be made to show on demand: a CORRUPT alarm, a leader that moves by itself in the
 * middle of a run, a failed leader transfer, a member whose defragmentation fails. The real
 * behaviour (order, leadership, lock, NOSPACE) is tested in test/integration/defrag.test.ts.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { recoverNospace } from '../../../src/lib/defrag/alarms.ts'
import { defragment, type DefragOptions } from '../../../src/lib/defrag/defrag.ts'
import type { ActiveAlarm, HeldLock, MaintenanceEtcd, MaintenanceStatus } from '../../../src/lib/defrag/etcd.ts'
import { isStewardError } from '../../../src/lib/errors.ts'

class FakeEtcd implements MaintenanceEtcd {
  leader = '3'
  alarmList: ActiveAlarm[] = []
  calls: string[] = []
  failDefrag = new Set<string>()
  failMove = false
  /** Runs after each defragmentation (to move the leader "by itself"). */
  afterDefrag?: (endpoint: string) => void
  readonly ids = new Map([['http://m1', '1'], ['http://m2', '2'], ['http://m3', '3']])

  memberList = async () => [...this.ids].map(([url, id]) => ({ id, name: `m${id}`, clientUrls: [url], isLearner: false }))
  async status(endpoint: string): Promise<MaintenanceStatus> {
    const id = this.ids.get(endpoint) ?? '0'
    return { endpoint, memberId: id, leaderId: this.leader, dbSizeBytes: 100, dbSizeInUseBytes: 40, revision: 10, raftTerm: 2, raftIndex: 50, raftAppliedIndex: 50, isLearner: false }
  }
  probe = async () => undefined
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
    if (this.failDefrag.has(endpoint)) throw new Error('deadline exceeded')
    this.afterDefrag?.(endpoint)
  }
  async moveLeader(endpoint: string, target: string) {
    this.calls.push(`move ${endpoint} -> ${target}`)
    if (this.failMove) throw new Error('bad leader transferee')
    this.leader = target
  }
  async lock(): Promise<HeldLock> {
    this.calls.push('lock')
    return { leaseId: '7', lost: new AbortController().signal, release: async () => void this.calls.push('unlock') }
  }
  close() {}
}

const deps = (etcd: FakeEtcd) => ({ etcd, now: Date.now, sleep: async () => undefined })
const options = (over: Partial<DefragOptions> = {}): DefragOptions => ({
  endpoints: ['http://m1'], cluster: true, excludeLocalhost: false, skipHealthcheckClusterEndpoints: false, compaction: true, continueOnError: true,
  quotaBytes: 1000, dryRun: false, moveLeader: false, waitBetweenDefragsMs: 0, autoDisalarm: false, disalarmThreshold: 0.9,
  lock: { name: 'l', ttlSeconds: 10, holder: 'test' }, ...over,
})

const test = suite('defragment() over a fake etcd seam')

test('CORRUPT next to NOSPACE fails the health check before any change (judged as a set)', async () => {
  const etcd = new FakeEtcd()
  etcd.alarmList = [{ memberId: '2', alarm: 'NOSPACE' }, { memberId: '1', alarm: 'CORRUPT' }]
  try {
    await defragment(deps(etcd), options())
    assert.unreachable('ran')
  } catch (error) {
    assert.ok(isStewardError(error, 'CLUSTER_UNHEALTHY'), String(error))
    assert.match((error as Error).message, /CORRUPT on member 1/)
  }
  assert.equal(etcd.calls, [], 'no lock, compaction or defragmentation')
})

test('a leader that moves by itself to a member still to do: that member goes last', async () => {
  const etcd = new FakeEtcd()
  // After the first follower, leadership moves from m3 to m2 (still to do).
  etcd.afterDefrag = (endpoint) => {
    if (endpoint === 'http://m1') etcd.leader = '2'
  }
  const result = await defragment(deps(etcd), options())
  assert.equal(result.members.map((m) => m.endpoint), ['http://m1', 'http://m3', 'http://m2'])
  assert.equal(etcd.calls.filter((c) => c.startsWith('defrag')), ['defrag http://m1 leader=false', 'defrag http://m3 leader=false', 'defrag http://m2 leader=true'])
  assert.equal(etcd.calls.at(-1), 'unlock')
})

test('--move-leader: the leader hands over to a defragmented member first; a failed transfer is a failure, never a leader defragmentation', async () => {
  const etcd = new FakeEtcd()
  const result = await defragment(deps(etcd), options({ moveLeader: true }))
  assert.equal(etcd.calls.filter((c) => c.startsWith('defrag') || c.startsWith('move')), ['defrag http://m1 leader=false', 'defrag http://m2 leader=false', 'move http://m3 -> 1', 'defrag http://m3 leader=false'])
  assert.is(result.members[2]?.leaderMovedTo, '1')

  const failing = new FakeEtcd()
  failing.failMove = true
  const failed = await defragment(deps(failing), options({ moveLeader: true }))
  assert.is(failed.failures, 1)
  assert.is(failed.members[2]?.action, 'failed')
  assert.not.ok(failing.calls.includes('defrag http://m3 leader=true'))
})

test('a failing member: counted; --continue-on-error=false stops the loop', async () => {
  const etcd = new FakeEtcd()
  etcd.failDefrag.add('http://m1')
  const goOn = await defragment(deps(etcd), options())
  assert.equal(goOn.members.map((m) => m.action), ['failed', 'defragmented', 'defragmented'])
  const stop = new FakeEtcd()
  stop.failDefrag.add('http://m1')
  const stopped = await defragment(deps(stop), options({ continueOnError: false }))
  assert.equal(stopped.members.map((m) => m.action), ['failed'])
  assert.equal(stop.calls.at(-1), 'unlock', 'the lock is released')
})

test('recoverNospace: nothing without NOSPACE; CORRUPT is never acted on; NOSPACE below the threshold is disarmed', async () => {
  const none = new FakeEtcd()
  assert.is((await recoverNospace(deps(none), { ...options(), threshold: 0.8 })).outcome, 'none')
  assert.equal(none.calls, [])

  const corrupt = new FakeEtcd()
  corrupt.alarmList = [{ memberId: '1', alarm: 'NOSPACE' }, { memberId: '2', alarm: 'CORRUPT' }]
  try {
    await recoverNospace(deps(corrupt), { ...options(), threshold: 0.8 })
    assert.unreachable('acted on CORRUPT')
  } catch (error) {
    assert.ok(isStewardError(error, 'ALARM_ACTIVE'), String(error))
  }
  assert.equal(corrupt.calls, [])

  const full = new FakeEtcd()
  full.alarmList = [{ memberId: '1', alarm: 'NOSPACE' }]
  const result = await recoverNospace(deps(full), { ...options(), threshold: 0.8 })
  assert.is(result.outcome, 'recovered')
  assert.ok(full.calls.includes('disarm NOSPACE'))
  assert.is(full.calls.filter((c) => c.startsWith('defrag')).length, 3)
})

test.run()
