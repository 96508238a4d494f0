/**
 * `steward serve` (in process) with lease renewal against a REAL etcd, a Local store and the
 * Kubernetes API test server: the member lease at `<id hex>:<cluster hex>:Leader` renewed each
 * heartbeat with the tls-enabled annotation from the ConfigMap, the snapshot leases at the
 * store's newest revisions, and the delta lease still renewed on an idle cluster.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resolveServeOptions } from '../../src/lib/serve/resolve.ts'
import { Runtime } from '../../src/lib/serve/runtime.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { testClient } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { startKubeApiServerIn, type KubeApiServerHandle } from '../harness/kube-apiserver.ts'
import { until } from '../harness/wait.ts'

const test = suite('steward serve leases (in process, real etcd, Kubernetes API test server)')
const NS = 'shoot--serve'

let cluster: EtcdCluster
let work: string
let server: KubeApiServerHandle
let kubeconfig: string

test.before(async () => {
  cluster = await startEtcdCluster({ members: 1 })
  work = await mkdtemp(join(tmpdir(), 'steward-serve-leases-'))
  ;({ server, kubeconfig } = await startKubeApiServerIn(work, 'sa-token'))
  for (const name of ['etcd-main-0', 'etcd-main-full-snap', 'etcd-main-delta-snap']) server.createLease(NS, name)
})

test.after(async () => {
  await cluster?.stop()
  await server?.close()
  if (work) await rm(work, { recursive: true, force: true })
})

test('single member: member lease Leader each heartbeat, snapshot leases at the store\'s newest revisions, renewed while idle', async () => {
  const root = join(work, 'store')
  const conf = join(work, 'etcd.conf.yaml')
  await writeFile(conf, 'name: etcd-config\ninitial-cluster: etcd-main-0=http://127.0.0.1:2380\ninitial-advertise-peer-urls:\n  etcd-main-0:\n  - https://etcd-main-0.etcd-main-peer:2380\n')
  const options = resolveServeOptions(
    {
      endpoints: cluster.endpoints,
      'storage-provider': 'Local',
      'store-container': root,
      'store-prefix': 'etcd-main',
      'server-port': 0,
      'delta-snapshot-period': '1s',
      'data-dir': join(work, 'data'),
      'enable-snapshot-lease-renewal': true,
      'full-snapshot-lease-name': 'etcd-main-full-snap',
      'delta-snapshot-lease-name': 'etcd-main-delta-snap',
      'enable-member-lease-renewal': true,
      'k8s-heartbeat-duration': '1s',
      kubeconfig,
    },
    {},
    { ETCD_CONF: conf, POD_NAME: 'etcd-main-0', POD_NAMESPACE: NS, STEWARD_SERVER_HOST: '127.0.0.1' },
  )
  const runtime = await Runtime.create(options, { logger: pino({ level: process.env['SERVE_TEST_LOG'] ?? 'silent' }) })
  const store = new BackupStore(localSnapstore({ root }), 'etcd-main')
  const controller = new AbortController()
  const running = runtime.run(controller.signal, () => undefined)
  const client = testClient(cluster.endpoints[0]!)
  try {
    // The expected holder, computed from etcd's own Status answer (not steward's code).
    const status = await client.maintenance.status()
    const expectedHolder = `${BigInt(status.header.member_id).toString(16)}:${BigInt(status.header.cluster_id).toString(16)}:Leader`

    // Member lease: renewed once per heartbeat, each renewal with a later renewTime.
    const renewals = await until('three member lease renewals', () => {
      const writes = server.writes(NS, 'etcd-main-0')
      return writes.length >= 3 ? writes : undefined
    })
    for (const lease of renewals) {
      assert.is(lease.spec.holderIdentity, expectedHolder)
      assert.match(lease.spec.renewTime!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
      assert.is(lease.metadata.annotations?.['member.etcd.gardener.cloud/tls-enabled'], 'true', 'every peer URL of this member in the ConfigMap is https')
    }
    for (let i = 1; i < renewals.length; i++) assert.ok(renewals[i]!.spec.renewTime! > renewals[i - 1]!.spec.renewTime!, 'renewTime moves with each heartbeat')

    // Full lease: the startup full snapshot's revision and creation time.
    const full = await until('the startup full snapshot', async () => (await store.list().catch(() => [])).find((s) => s.kind === 'Full'))
    const fullLease = await until('the full-snapshot lease', () => (server.lease(NS, 'etcd-main-full-snap')!.spec.holderIdentity === String(full.lastRevision) ? server.lease(NS, 'etcd-main-full-snap') : undefined))
    assert.is(fullLease!.spec.renewTime, `${full.createdOn.toISOString().slice(0, 19)}.000000Z`)

    // Delta lease: follows the newest delta of the store.
    for (let i = 0; i < 5; i++) await client.put(`/k${i}`).value(String(i))
    const newestDelta = await until('a delta holding the writes', async () => {
      const set = await store.latestSet()
      const last = set.deltas.at(-1)
      return last && last.lastRevision >= Number((await client.get('/k4').exec()).header.revision) ? last : undefined
    })
    await until('the delta-snapshot lease at the newest delta', () => server.lease(NS, 'etcd-main-delta-snap')!.spec.holderIdentity === String(newestDelta.lastRevision))

    // Idle: no writes, yet the delta lease keeps being renewed at the same revision.
    const before = server.writes(NS, 'etcd-main-delta-snap').length
    const idle = await until('two more delta lease renewals with no events', () => {
      const writes = server.writes(NS, 'etcd-main-delta-snap')
      return writes.length >= before + 2 ? writes.slice(before) : undefined
    })
    const latest = await store.latestSet()
    assert.is(latest.deltas.at(-1)?.lastRevision, newestDelta.lastRevision, 'no new delta was stored while idle')
    for (const lease of idle) assert.is(lease.spec.holderIdentity, String(newestDelta.lastRevision))
    assert.ok(idle[1]!.spec.renewTime! > idle[0]!.spec.renewTime!)
    assert.is(server.lease(NS, 'etcd-main-full-snap')!.spec.holderIdentity, String(full.lastRevision), 'the full lease did not move')
    // Only get and patch were used (druid's Role has no create/delete); patches are merge patches.
    const writes = server.requests().filter((r) => !r.startsWith('GET '))
    assert.ok(writes.length > 0)
    for (const request of writes) assert.match(request, /^PATCH \S+ application\/merge-patch\+json$/)
  } finally {
    controller.abort()
    await running.catch(() => undefined)
    client.close()
  }
})

test.run()
