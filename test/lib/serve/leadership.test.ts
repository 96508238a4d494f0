import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { LeadershipObserver, type LeadershipEvent } from '../../../src/lib/serve/leadership.ts'
import { FakeClock, flush } from './fake-clock.ts'
import { FakeEtcd } from './fake-etcd.ts'

const test = suite('serve leadership observer (fake etcd seam)')

function observe(etcd: FakeEtcd, clock = new FakeClock()) {
  const observer = new LeadershipObserver(etcd, { periodSeconds: 5, timeoutSeconds: 5, clock })
  const events: LeadershipEvent['type'][] = []
  observer.on((e) => {
    if (e.type !== 'probe') events.push(e.type)
  })
  return { observer, events, clock }
}

test('leader iff member ID equals leader ID; transitions emit became-leader / lost-leader once', async () => {
  const etcd = new FakeEtcd()
  const { observer, events } = observe(etcd)
  assert.is(await observer.check(), 'Leader')
  assert.is(await observer.check(), 'Leader')
  assert.equal(events, ['became-leader'])
  etcd.leaderId = '2'
  assert.is(await observer.check(), 'Follower')
  assert.equal(events, ['became-leader', 'lost-leader'])
  etcd.leaderId = '1'
  await observer.check()
  etcd.fail()
  assert.is(await observer.check(), 'Unknown')
  assert.equal(events, ['became-leader', 'lost-leader', 'became-leader', 'lost-leader'])
})

test('leader ID 0 (no leader) is Unknown, not Leader', async () => {
  const etcd = new FakeEtcd()
  etcd.memberId = '0'
  etcd.leaderId = '0'
  const { observer, events } = observe(etcd)
  assert.is(await observer.check(), 'Unknown')
  assert.equal(events, [])
})

test('start probes at once and then every period; stop ends probing and a leader loses leadership', async () => {
  const etcd = new FakeEtcd()
  const { observer, events, clock } = observe(etcd)
  observer.start()
  await flush()
  assert.is(etcd.statusCalls, 1)
  await clock.advance(4999)
  assert.is(etcd.statusCalls, 1)
  await clock.advance(1)
  assert.is(etcd.statusCalls, 2)
  observer.stop()
  await clock.advance(60_000)
  assert.is(etcd.statusCalls, 2)
  assert.equal(events, ['became-leader', 'lost-leader'])
})

test.run()
