/**
 * The peer-urls component over the fake etcd seam (probes driven by hand through the
 * leadership observer): one MemberUpdate when the member's peer URLs differ from the ConfigMap,
 * none when they match, a failed update retried on the next probe; the wrapper's stop URL.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { wrapperStopUrl } from '../../../src/lib/serve/components/peer-urls/wrapper.ts'
import { StewardError } from '../../../src/lib/errors.ts'
import { until } from '../../harness/wait.ts'
import { routeRig } from './helpers.ts'

const test = suite('serve peer-URL updates (fake etcd)')

const CONFIGURED = 'https://etcd-main-0.etcd-main-peer.shoot.svc:2380'

test('stop URL: host of the first endpoint, https iff the sidecar serves TLS', () => {
  assert.is(wrapperStopUrl('http://10.0.0.7:2379', 9095, false), 'http://10.0.0.7:9095/stop')
  assert.is(wrapperStopUrl('https://etcd-main-local:2379', 9095, true), 'https://etcd-main-local:9095/stop')
  assert.is(wrapperStopUrl('http://[::1]:2379', 9095, false), 'http://[::1]:9095/stop')
})

test('differing peer URLs: one MemberUpdate with the configured ones, then nothing more (without --use-etcd-wrapper no /stop)', async () => {
  const rig = await routeRig({ store: 'none' })
  try {
    const metrics = () => rig.runtime.ctx.metrics.registry.metrics()
    await rig.runtime.ctx.leadership.check()
    await until('the update', async () => (await metrics()).includes('steward_peer_url_updates_total{succeeded="true"} 1'), 10_000)
    assert.equal(rig.etcd.peerUrlUpdates, [`1 ${CONFIGURED}`])
    assert.equal(rig.etcd.members_[0]!.peerUrls, [CONFIGURED])
    rig.etcd.members_ = [{ ...rig.etcd.members_[0]!, peerUrls: ['http://a:2380'] }]
    const listed = rig.etcd.members.bind(rig.etcd)
    let lists = 0
    rig.etcd.members = async () => {
      lists += 1
      return listed()
    }
    await rig.runtime.ctx.leadership.check()
    await rig.runtime.ctx.leadership.check()
    for (const c of rig.runtime.components) if (c.name === 'peer-urls') await c.stop()
    assert.is(lists, 0, 'once per start: no further member list')
    assert.is(rig.etcd.peerUrlUpdates.length, 1, 'once per start')
    const text = await metrics()
    assert.not.match(text, 'steward_etcd_wrapper_stops_total{')
  } finally {
    await rig.close()
  }
})

test('matching peer URLs: no update; a failed member list is retried on the next probe', async () => {
  const rig = await routeRig({ store: 'none' })
  try {
    rig.etcd.members_ = [{ ...rig.etcd.members_[0]!, peerUrls: [CONFIGURED] }]
    const members = rig.etcd.members.bind(rig.etcd)
    let failures = 1
    rig.etcd.members = async () => {
      if (failures-- > 0) throw new StewardError('ETCD_UNREACHABLE', 'etcd', 'connection refused')
      return members()
    }
    const metrics = () => rig.runtime.ctx.metrics.registry.metrics()
    await rig.runtime.ctx.leadership.check()
    await until('the failed try', async () => (await metrics()).includes('steward_peer_url_updates_total{succeeded="false"} 1'), 10_000)
    assert.match(await metrics(), 'steward_component_failures_total{component="peer-urls"} 1')
    let lists = 0
    rig.etcd.members = async () => {
      lists += 1
      return members()
    }
    await rig.runtime.ctx.leadership.check()
    await until('the retry', async () => lists === 1 || undefined, 10_000)
    for (const c of rig.runtime.components) if (c.name === 'peer-urls') await c.stop()
    assert.equal(rig.etcd.peerUrlUpdates, [], 'the URLs match: no update')
    assert.not.match(await metrics(), 'steward_peer_url_updates_total{succeeded="true"}')
  } finally {
    await rig.close()
  }
})

test.run()
