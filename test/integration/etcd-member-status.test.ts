/**
 * The etcd-member-status component over a scripted etcd (FakeEtcd), a hand-driven clock and the
 * Kubernetes API test server: no patch while etcd does not answer Status, the first update on
 * the heartbeat once it does, and role changes (leader lost, learner) recorded when a leadership
 * probe sees them — with no clock advance, i.e. not waiting for the next heartbeat.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startKubeApiServerIn, type KubeApiServerHandle } from '../harness/kube-apiserver.ts'
import { until } from '../harness/wait.ts'
import { flush } from '../lib/serve/fake-clock.ts'
import { routeRig, type RouteRig } from '../lib/serve/helpers.ts'

const test = suite('serve EtcdMember status (fake etcd and clock, Kubernetes API test server)')

let work: string
let server: KubeApiServerHandle
let rig: RouteRig

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'steward-em-status-'))
  const started = await startKubeApiServerIn(work, 't0ken')
  server = started.server
  const kubeconfig = started.kubeconfig
  server.etcdMembers.setCrdInstalled(true)
  server.etcdMembers.grant('etcdmembers/status:patch')
  server.etcdMembers.create('shoot', 'etcd-main-0', 'etcd-main')
  rig = await routeRig({ store: 'none', flags: { 'enable-etcd-member-status': true, 'k8s-heartbeat-duration': '10s', kubeconfig } })
  rig.runtime.ctx.scheduler.start()
})

test.after(async () => {
  await rig?.runtime.ctx.scheduler.stop()
  await rig?.close()
  await server?.close()
  if (work) await rm(work, { recursive: true, force: true })
})

test('no patch while etcd does not answer; then Leader on the heartbeat; a probe seeing Follower, then Learner, updates at once', async () => {
  const patches = () => server.requests().filter((r) => r.includes('/etcdmembers/')).length
  rig.etcd.fail()
  await rig.clock.advance(10_000)
  await until('the Status call', async () => rig.etcd.statusCalls > 0)
  await flush()
  assert.is(patches(), 0, 'no EtcdMember call while etcd does not answer Status')

  rig.etcd.down = null
  rig.etcd.memberId = '10501334649042878790'
  rig.etcd.leaderId = '10501334649042878790'
  await rig.clock.advance(10_000)
  const last = () => server.etcdMembers.get('shoot', 'etcd-main-0')?.status?.transitions?.at(-1)
  await until('the first update', async () => last())
  const status = server.etcdMembers.get('shoot', 'etcd-main-0')!.status!
  assert.equal({ id: status.id, clusterID: status.clusterID, peerTLSEnabled: status.peerTLSEnabled, dbSize: status.dbSize, dbSizeInUse: status.dbSizeInUse }, { id: '91bc3c398fb3c146', clusterID: '2a', peerTLSEnabled: true, dbSize: 1, dbSizeInUse: 1 })
  assert.equal(last(), { state: 'Started', subState: 'Leader', reason: 'MemberStatusObserved', transitionTime: '2026-01-01T00:00:20Z', message: 'member 91bc3c398fb3c146 leads cluster 2a' })

  // The leadership observer's probe (run by hand: no timer, no clock advance) sees the change.
  rig.etcd.leaderId = '7'
  await rig.runtime.ctx.leadership.check()
  await until('LostClusterLeadership', async () => last()?.reason === 'LostClusterLeadership')
  assert.equal([last()!.state, last()!.subState, last()!.transitionTime], ['Started', 'Follower', '2026-01-01T00:00:20Z'])
  rig.etcd.isLearner = true
  await rig.runtime.ctx.leadership.check()
  await until('JoinedAsLearner', async () => last()?.reason === 'JoinedAsLearner')
  assert.equal([last()!.state, last()!.subState], ['Starting', 'Learner'])
  // An unchanged role on the next probe adds nothing and patches nothing.
  const before = patches()
  await rig.runtime.ctx.leadership.check()
  await flush()
  assert.is(patches(), before)
  assert.is(server.etcdMembers.get('shoot', 'etcd-main-0')!.status!.transitions.length, 3)
})

test.run()
