/**
 * `steward serve`'s snapshotter and snapshot routes in process against a REAL etcd and a Local
 * store: the leader's startup full snapshot, /snapshot/delta (JSON or null), /snapshot/full and
 * ?final=true, the delta loop, graceful stop storing the pending delta, and a restore of the
 * store matching the cluster; `etcdbr_snapshot_required{kind="Incr"}` after a failed and a
 * stored delta.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { StewardError } from '../../src/lib/errors.ts'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { restoreFullSnapshot } from '../../src/lib/restore/restore.ts'
import { resolveServeOptions } from '../../src/lib/serve/resolve.ts'
import { Runtime } from '../../src/lib/serve/runtime.ts'
import type { Snapshotter } from '../../src/lib/serve/components/snapshotter/snapshotter.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { dumpEtcd, dumpHash, testClient } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { startEtcdCluster as startRestored } from '../harness/etcd.ts'
import { until } from '../harness/wait.ts'

const test = suite('steward serve snapshotter (in process, real etcd)')

let cluster: EtcdCluster
let work: string

test.before(async () => {
  cluster = await startEtcdCluster({ members: 1 })
  work = await mkdtemp(join(tmpdir(), 'steward-serve-snap-'))
})
test.after(async () => {
  await cluster?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

test('leader: startup full, /snapshot/delta JSON then null, /snapshot/full and final, stop stores pending events; the store restores to the cluster', async () => {
  const root = join(work, 'store')
  const conf = join(work, 'etcd.conf.yaml')
  await writeFile(conf, 'name: etcd-config\ninitial-cluster: default=http://127.0.0.1:2380\n')
  const options = resolveServeOptions(
    { endpoints: cluster.endpoints, 'storage-provider': 'Local', 'store-container': root, 'store-prefix': 'etcd-main', 'server-port': 0, 'delta-snapshot-period': '1h', 'data-dir': join(work, 'data') },
    {},
    { ETCD_CONF: conf, POD_NAME: 'default', STEWARD_SERVER_HOST: '127.0.0.1' },
  )
  const runtime = await Runtime.create(options, { logger: pino({ level: process.env['SERVE_TEST_LOG'] ?? 'silent' }) })
  const store = new BackupStore(localSnapstore({ root }), 'etcd-main')
  const controller = new AbortController()
  let port = 0
  const running = runtime.run(controller.signal, (p) => (port = p))
  const client = testClient(cluster.endpoints[0]!)
  try {
    await client.put('/a').value('1')
    const first = await until('the startup full snapshot', async () => (await store.list().catch(() => [])).find((s) => s.kind === 'Full'))
    const snapshotter = runtime.ctx.services.get<Snapshotter>('snapshotter')!
    assert.ok(snapshotter.active)
    const health = await fetch(`http://127.0.0.1:${port}/healthz`)
    assert.is(health.status, 200)
    assert.equal(await health.json(), { health: true })

    for (let i = 0; i < 5; i++) await client.put(`/k${i}`).value(String(i))
    const committed = (await dumpEtcd(cluster.endpoints[0]!)).revision
    const delta = await fetch(`http://127.0.0.1:${port}/snapshot/delta`, { method: 'POST' })
    assert.is(delta.status, 200)
    const d = JSON.parse(await delta.text()) as Record<string, unknown>
    assert.is(d['kind'], 'Incr')
    assert.is(d['startRevision'], first.lastRevision + 1)
    assert.is(d['lastRevision'], committed, 'the delta holds everything committed before the request')
    assert.is(d['immutabilityExpriyTime'], '0001-01-01T00:00:00Z')
    assert.is(d['prefix'], '')
    const empty = await fetch(`http://127.0.0.1:${port}/snapshot/delta`)
    assert.is(empty.status, 200)
    assert.is(await empty.text(), 'null')

    await client.put('/b').value('2')
    const full = await fetch(`http://127.0.0.1:${port}/snapshot/full`)
    assert.is(full.status, 200)
    const f = JSON.parse(await full.text()) as Record<string, unknown>
    assert.is(f['kind'], 'Full')
    assert.is(f['isFinal'], false)
    assert.ok((f['lastRevision'] as number) > (d['lastRevision'] as number))
    const final = await fetch(`http://127.0.0.1:${port}/snapshot/full?final=true`, { method: 'POST' })
    assert.is(final.status, 200)
    const fin = JSON.parse(await final.text()) as Record<string, unknown>
    assert.is(fin['isFinal'], true)
    assert.match(String(fin['snapName']), /\.gz\.final$/)

    const latest = JSON.parse(await (await fetch(`http://127.0.0.1:${port}/snapshot/latest`)).text()) as { fullSnapshot: Record<string, unknown>; deltaSnapshots: Record<string, unknown>[] | null }
    assert.is(latest.fullSnapshot['snapName'], fin['snapName'])
    assert.is(latest.fullSnapshot['prefix'], 'etcd-main/v2/')
    // Nothing newer than the final snapshot (a delta cut in the same second may sort after it, by etcd-backup-restore's order).
    for (const delta of latest.deltaSnapshots ?? []) assert.ok((delta['lastRevision'] as number) <= (fin['lastRevision'] as number))

    // Events after the final snapshot are pending when SIGTERM-like stop arrives: stored on stop.
    await client.put('/c').value('3')
    await client.delete().key('/k0')
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    assert.match(metrics, /etcdbr_snapshot_latest_revision\{kind="Full"\} [1-9]/)
    assert.match(metrics, /etcdbr_snapshot_duration_seconds_count\{kind="Full",succeeded="true"\} [1-9]/)
    controller.abort()
    await running
    const all = await store.list()
    const last = all.at(-1)!
    assert.is(last.kind, 'Incr', 'the pending delta was stored on stop')
    const expected = await dumpEtcd(cluster.endpoints[0]!)
    assert.is(last.lastRevision, expected.revision)

    const restored = join(work, 'restored.etcd')
    const result = await restoreFullSnapshot(store, { dataDir: restored, force: false, member: { name: 'default', initialCluster: 'default=http://127.0.0.1:2380', initialClusterToken: 'etcd-cluster', initialAdvertisePeerUrls: ['http://127.0.0.1:2380'] } })
    assert.is(result.revision, expected.revision)
    const copy = await startRestored({ members: 1, dataDirs: [restored] })
    try {
      assert.is(dumpHash(await dumpEtcd(copy.endpoints[0]!)), dumpHash(expected))
    } finally {
      await copy.stop()
    }
  } finally {
    controller.abort()
    await running.catch(() => undefined)
    client.close()
  }
})

test('etcdbr_snapshot_required{kind="Incr"}: 1 after a failed delta upload, back to 0 once the restarted loop stores the delta', async () => {
  const root = join(work, 'store-required')
  const conf = join(work, 'etcd.conf.yaml')
  await writeFile(conf, 'name: etcd-config\ninitial-cluster: default=http://127.0.0.1:2380\n')
  const options = resolveServeOptions(
    // A 1s delta period, and a 1s restart backoff after the failure.
    { endpoints: cluster.endpoints, 'storage-provider': 'Local', 'store-container': root, 'store-prefix': 'etcd-main', 'server-port': 0, 'delta-snapshot-period': '1s', 'backoff-multiplier': 1, 'backoff-threshold-time': '1s', 'data-dir': join(work, 'data-required') },
    {},
    { ETCD_CONF: conf, POD_NAME: 'default', STEWARD_SERVER_HOST: '127.0.0.1' },
  )
  const local = localSnapstore({ root })
  let failDeltas = false
  const failing: typeof local = {
    ...local,
    put: (key, body, o) => {
      if (!failDeltas || !key.includes('/Incr-')) return local.put(key, body, o)
      body.resume()
      return Promise.reject(new StewardError('STORE_FAILED', 'test', `injected upload failure of ${key}`))
    },
  }
  const store = new BackupStore(failing, 'etcd-main')
  const runtime = await Runtime.create(options, { store, logger: pino({ level: process.env['SERVE_TEST_LOG'] ?? 'silent' }) })
  const required = async () => /^etcdbr_snapshot_required\{kind="Incr"\} (\d+)$/m.exec(await runtime.ctx.metrics.registry.metrics())?.[1]
  const controller = new AbortController()
  const running = runtime.run(controller.signal, () => undefined)
  const client = testClient(cluster.endpoints[0]!)
  try {
    await until('the startup full snapshot', async () => (await store.list().catch(() => [])).find((s) => s.kind === 'Full'))
    assert.is(await required(), '0')
    failDeltas = true
    await client.put('/required/a').value('1')
    await until('etcdbr_snapshot_required{kind="Incr"} 1 after the failed delta', async () => (await required()) === '1')
    assert.not.ok((await store.list()).some((s) => s.kind === 'Incr'), 'the failed delta is not in the store')
    failDeltas = false
    const delta = await until('the restarted loop to store the delta', async () => (await store.list()).find((s) => s.kind === 'Incr'))
    assert.is(await required(), '0', `a stored delta (${delta.lastRevision}) clears it`)
  } finally {
    controller.abort()
    await running.catch(() => undefined)
    client.close()
  }
})

test.run()
