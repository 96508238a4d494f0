/**
 * src/lib/k8s through @kubernetes/client-node against the Kubernetes API test server: merge
 * patches with the right media type, MicroTime accepted by the strict parser, the full lease
 * never moved backwards and retried on a real 409, the delta lease's "0", and 403/404 as
 * StewardErrors naming verb and resource.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { StewardError } from '../../src/lib/errors.ts'
import { connectLeaseApi, type LeaseApi } from '../../src/lib/k8s/leases.ts'
import { memberHolderIdentity, peerTlsEnabled, renewMemberLease } from '../../src/lib/k8s/member-lease.ts'
import { formatMicroTime } from '../../src/lib/k8s/micro-time.ts'
import { renewDeltaSnapshotLease, updateFullSnapshotLease } from '../../src/lib/k8s/snapshot-leases.ts'
import { startKubeApiServerIn, type KubeApiServerHandle } from '../harness/kube-apiserver.ts'

const test = suite('Kubernetes leases (client-node against the test server)')
const NS = 'shoot--leases'

let work: string
let server: KubeApiServerHandle
let kubeconfig: string
let api: LeaseApi

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'steward-k8s-leases-'))
  ;({ server, kubeconfig } = await startKubeApiServerIn(work, 'secret-token', { namespace: NS }))
  api = await connectLeaseApi({ kubeconfig, env: {} })
  for (const name of ['etcd-main-0', 'etcd-main-full-snap', 'etcd-main-delta-snap']) server.createLease(NS, name)
})

test.after(async () => {
  await server?.close()
  if (work) await rm(work, { recursive: true, force: true })
})

test('MicroTime has exactly 6 fractional digits', () => {
  assert.is(formatMicroTime(new Date('2026-12-01T17:21:45.123Z')), '2026-12-01T17:21:45.123000Z')
})

test('member lease: holder <id hex>:<cluster hex>:Leader, renewTime, tls-enabled annotation, sent as a merge patch', async () => {
  assert.is(memberHolderIdentity('10501334649042878790', '18011104697467366872', true), '91bc3c398fb3c146:f9f44c4ba0e96dd8:Leader')
  assert.ok(peerTlsEnabled(['https://a:2380', 'https://b:2380']))
  assert.not.ok(peerTlsEnabled(['https://a:2380', 'http://b:2380']))
  assert.not.ok(peerTlsEnabled([]))
  const now = new Date('2026-12-01T17:00:00.500Z')
  await renewMemberLease(api, 'etcd-main-0', { holderIdentity: '1a:2b:Leader', tlsEnabled: true, now }, 5000)
  const lease = server.lease(NS, 'etcd-main-0')!
  assert.is(lease.spec.holderIdentity, '1a:2b:Leader')
  assert.is(lease.spec.renewTime, '2026-12-01T17:00:00.500000Z')
  assert.is(lease.metadata.annotations?.['member.etcd.gardener.cloud/tls-enabled'], 'true')
  assert.ok(server.requests().includes(`PATCH /apis/coordination.k8s.io/v1/namespaces/${NS}/leases/etcd-main-0 application/merge-patch+json`))
})

test('full lease: set to the snapshot revision and creation time, never moved backwards', async () => {
  const createdOn = new Date('2026-12-01T16:00:00.000Z')
  assert.equal(await updateFullSnapshotLease(api, 'etcd-main-full-snap', { revision: 120, createdOn }), { outcome: 'updated', holderIdentity: '120' })
  assert.is(server.lease(NS, 'etcd-main-full-snap')!.spec.renewTime, '2026-12-01T16:00:00.000000Z')
  assert.equal(await updateFullSnapshotLease(api, 'etcd-main-full-snap', { revision: 100, createdOn: new Date() }), { outcome: 'kept', holderIdentity: '120' })
  assert.is(server.lease(NS, 'etcd-main-full-snap')!.spec.holderIdentity, '120')
  // Every full-lease patch carried the resourceVersion it read (optimistic lock).
  assert.is(server.writes(NS, 'etcd-main-full-snap').length, 1)
})

test('full lease: a concurrent writer causes a real 409; the update is retried and lands', async () => {
  let interfered = false
  const racing: LeaseApi = {
    namespace: api.namespace,
    async get(name, timeoutMs) {
      const lease = await api.get(name, timeoutMs)
      if (!interfered) {
        interfered = true
        await api.mergePatch(name, { metadata: { annotations: { other: 'writer' } } }, timeoutMs)
      }
      return lease
    },
    mergePatch: (name, patch, timeoutMs) => api.mergePatch(name, patch, timeoutMs),
  }
  const result = await updateFullSnapshotLease(racing, 'etcd-main-full-snap', { revision: 130, createdOn: new Date('2026-12-01T17:00:00Z') })
  assert.equal(result, { outcome: 'updated', holderIdentity: '130' })
  assert.is(server.lease(NS, 'etcd-main-full-snap')!.spec.holderIdentity, '130')
  assert.is(server.lease(NS, 'etcd-main-full-snap')!.metadata.annotations?.['other'], 'writer')
})

test('delta lease: "0" without deltas, raised to the newest delta, never lowered, renewTime moves each renewal', async () => {
  await renewDeltaSnapshotLease(api, 'etcd-main-delta-snap', undefined, new Date('2026-12-01T17:00:01Z'))
  assert.is(server.lease(NS, 'etcd-main-delta-snap')!.spec.holderIdentity, '0')
  await renewDeltaSnapshotLease(api, 'etcd-main-delta-snap', 150, new Date('2026-12-01T17:00:02Z'))
  assert.is(server.lease(NS, 'etcd-main-delta-snap')!.spec.holderIdentity, '150')
  await renewDeltaSnapshotLease(api, 'etcd-main-delta-snap', 140, new Date('2026-12-01T17:00:03Z'))
  const lease = server.lease(NS, 'etcd-main-delta-snap')!
  assert.is(lease.spec.holderIdentity, '150')
  assert.is(lease.spec.renewTime, '2026-12-01T17:00:03.000000Z')
})

test('404 and 403 are StewardErrors naming verb and lease', async () => {
  const missing = await api.get('nope', 5000).then(() => undefined, (error: unknown) => error)
  assert.instance(missing, StewardError)
  assert.is((missing as StewardError).code, 'K8S_NOT_FOUND')
  assert.match((missing as StewardError).message, new RegExp(`cannot get lease ${NS}/nope .*not found`))
  server.revokeVerb('patch')
  const denied = await renewMemberLease(api, 'etcd-main-0', { holderIdentity: 'a:b:Member', tlsEnabled: false, now: new Date() }, 5000).then(() => undefined, (error: unknown) => error)
  assert.is((denied as StewardError).code, 'K8S_FORBIDDEN')
  assert.match((denied as StewardError).message, new RegExp(`cannot patch lease ${NS}/etcd-main-0 .*forbidden.*cannot patch resource "leases"`))
})

test('no configuration at all is K8S_CONFIG_INVALID', async () => {
  const error = await connectLeaseApi({ kubeconfig: join(work, 'missing'), env: {} }).then(() => undefined, (e: unknown) => e)
  assert.is((error as StewardError).code, 'K8S_CONFIG_INVALID')
})

test.run()
