/**
 * The member-lease component over a scripted etcd (FakeEtcd), a hand-driven clock and the
 * Kubernetes API test server: the first renewal one heartbeat after start, `<id hex>:<cluster
 * hex>:Leader|Member`, the tls-enabled annotation from the ConfigMap, and no renewal while etcd
 * does not answer Status (resuming when it does).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startKubeApiServerIn, type KubeApiServerHandle } from '../harness/kube-apiserver.ts'
import { until as waitUntil } from '../harness/wait.ts'
import { flush } from '../lib/serve/fake-clock.ts'
import { routeRig, type RouteRig } from '../lib/serve/helpers.ts'

const test = suite('serve member lease (fake etcd and clock, Kubernetes API test server)')

/** Fakes answer at once: poll every 20 ms. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000) => waitUntil(what, fn, timeoutMs, 20)

let work: string
let server: KubeApiServerHandle
let rig: RouteRig

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'steward-member-lease-'))
  const started = await startKubeApiServerIn(work, 't0ken')
  server = started.server
  const kubeconfig = started.kubeconfig
  server.createLease('shoot', 'etcd-main-0')
  rig = await routeRig({ store: 'none', flags: { 'enable-member-lease-renewal': true, 'k8s-heartbeat-duration': '10s', kubeconfig } })
  rig.runtime.ctx.scheduler.start()
})

test.after(async () => {
  await rig?.runtime.ctx.scheduler.stop()
  await rig?.close()
  await server?.close()
  if (work) await rm(work, { recursive: true, force: true })
})

test('renewals: one heartbeat after start, Leader then Member, none while etcd does not answer Status', async () => {
  await rig.clock.advance(9_999)
  await flush()
  assert.is(rig.etcd.statusCalls, 0, 'no renewal before the first heartbeat')
  rig.etcd.memberId = '10501334649042878790'
  rig.etcd.leaderId = '10501334649042878790'
  await rig.clock.advance(1)
  const first = await until('the first renewal', () => server.writes('shoot', 'etcd-main-0')[0])
  assert.is(first.spec.holderIdentity, '91bc3c398fb3c146:2a:Leader') // cluster ID 42 (FakeEtcd) = 0x2a
  assert.is(first.spec.renewTime, '2026-01-01T00:00:10.000000Z')
  assert.is(first.metadata.annotations?.['member.etcd.gardener.cloud/tls-enabled'], 'true', 'the ConfigMap\'s peer URLs are https')
  // The server records the write before its answer reaches the component: let the run finish,
  // else the next tick finds it still running and the scheduler skips it (no overlap).
  const memberLease = rig.runtime.components.find((c) => c.name === 'member-lease')
  await until('the first renewal run to finish', () => memberLease?.health?.()?.ok === true)
  await flush()

  rig.etcd.fail()
  const calls = rig.etcd.statusCalls
  await rig.clock.advance(10_000)
  await until('the Status probe', () => rig.etcd.statusCalls > calls)
  await flush()
  assert.is(server.writes('shoot', 'etcd-main-0').length, 1, 'no renewal while etcd is down')

  rig.etcd.down = null
  rig.etcd.leaderId = '7'
  await rig.clock.advance(10_000)
  const second = await until('the renewal after etcd answers again', () => server.writes('shoot', 'etcd-main-0')[1])
  assert.is(second.spec.holderIdentity, '91bc3c398fb3c146:2a:Member')
  assert.is(second.spec.renewTime, '2026-01-01T00:00:30.000000Z')
  assert.equal(rig.runtime.components.find((c) => c.name === 'member-lease')?.health?.(), { ok: true, detail: 'renewed as 91bc3c398fb3c146:2a:Member' })
})

test.run()
