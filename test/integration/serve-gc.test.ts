/**
 * The garbage collector of `steward serve` as users run it (the built CLI, real etcd, a Local
 * store): with `--garbage-collection-policy=LimitBased --max-backups=2` and a 2 s period, the
 * leader's collector leaves exactly the newest two full snapshots and the deltas after the
 * newest one, counts every deletion in `etcdbr_snapshot_gc_total`, and the store still restores
 * to exactly the cluster's data.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { startSteward } from '../harness/cli.ts'
import { dumpEtcd, testClient } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { getFreePorts } from '../harness/ports.ts'
import { terminate } from '../harness/processes.ts'
import { assertRestoresTo } from '../harness/restore-check.ts'
import { until } from '../harness/wait.ts'

const test = suite('steward serve: garbage collector (built CLI, real etcd, Local store)')

let cluster: EtcdCluster
let work: string

test.before(async () => {
  cluster = await startEtcdCluster({ members: 1 })
  work = await mkdtemp(join(tmpdir(), 'steward-serve-gc-'))
})
test.after(async () => {
  await cluster?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})


test('LimitBased --max-backups=2 every 2s: the newest two backups survive, deletions are counted, the store restores to the cluster', async () => {
  const root = join(work, 'store')
  const conf = join(work, 'etcd.conf.yaml')
  await writeFile(conf, 'name: etcd-config\ninitial-cluster: default=http://127.0.0.1:2380\n')
  const [port] = await getFreePorts(1)
  const store = new BackupStore(localSnapstore({ root }), 'etcd-main')
  let log = ''
  const child: ChildProcess = startSteward(
    [
      'serve',
      `--endpoints=${cluster.endpoints[0]}`,
      '--storage-provider=Local',
      `--store-container=${root}`,
      '--store-prefix=etcd-main',
      `--server-port=${port}`,
      '--reelection-period=2s',
      '--etcd-connection-timeout-leader-election=2s',
      '--delta-snapshot-period=1h',
      '--garbage-collection-policy=LimitBased',
      '--max-backups=2',
      '--garbage-collection-period=2s',
      `--data-dir=${join(work, 'data')}`,
    ],
    { ETCD_CONF: conf, POD_NAME: 'default', STEWARD_SERVER_HOST: '127.0.0.1', STEWARD_LOG_LEVEL: 'info' },
  )
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const client = testClient(cluster.endpoints[0]!)
  const api = (path: string) => fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST' })
  try {
    await client.put('/seed').value('0')
    await until('the startup full snapshot', async () => (await store.list()).some((s) => s.kind === 'Full'))
    // Three more backups, each: events, a delta (of the previous backup), a full snapshot; then events and a delta after the newest.
    const fulls: string[] = []
    const deltas: string[] = []
    const take = async (path: string, into: string[]) => {
      const response = await api(path)
      assert.is(response.status, 200)
      into.push((JSON.parse(await response.text()) as { snapName: string }).snapName)
    }
    for (let i = 1; i <= 3; i++) {
      for (let k = 0; k < 5; k++) await client.put(`/b${i}/k${k}`).value(`${i}-${k}`)
      await take('/snapshot/delta', deltas)
      await take('/snapshot/full', fulls)
    }
    await client.put('/last').value('1')
    await client.delete().key('/b1/k0')
    await take('/snapshot/delta', deltas)

    // A delta cut in the same second as the next full snapshot, at the same revision, sorts after it
    // (etcd-backup-restore's order) and so belongs to the newer backup: which deltas survive depends
    // on the clock; what the policy keeps does not.
    const kept = await until('the collector to leave the newest two full snapshots and only the deltas after the newest', async () => {
      const listed = await store.list()
      const newest = listed.findLastIndex((s) => s.kind === 'Full')
      const ok = listed.filter((s) => s.kind === 'Full').length === 2 && listed.every((s, i) => s.kind === 'Full' || i > newest)
      return ok ? listed : undefined
    }).catch(async (error: unknown) => {
      throw new Error(`${String(error)}; listed: ${(await store.list()).map((s) => s.name).join(', ')}`)
    })
    assert.equal(kept.filter((s) => s.kind === 'Full').map((s) => s.name), fulls.slice(1), 'the newest two full snapshots are kept')
    assert.is(kept.at(-1)!.name, deltas.at(-1), 'the delta after the newest full snapshot is kept')
    const keptDeltas = kept.filter((s) => s.kind === 'Incr').length
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    // 4 full snapshots (startup + 3), 2 kept; every delta not kept was deleted by the collector.
    assert.match(metrics, /etcdbr_snapshot_gc_total\{kind="Full",succeeded="true"\} 2\n/)
    assert.match(metrics, new RegExp(`etcdbr_snapshot_gc_total\\{kind="Incr",succeeded="true"\\} ${deltas.length - keptDeltas}\n`))
    assert.match(metrics, /etcdbr_snapshot_gc_total\{kind="Full",succeeded="false"\} 0\n/)
    assert.match(metrics, /steward_job_runs_total\{schedule="garbage-collection",outcome="succeeded"\} [1-9]/)
    assert.not.match(log, /garbage-collection-(policy|period) is accepted/)

    child.kill('SIGTERM')
    assert.is(await exit, 0, log.slice(-2000))
    const expected = await dumpEtcd(cluster.endpoints[0]!)
    const restored = join(work, 'restored.etcd')
    await assertRestoresTo(store, restored, expected)
  } finally {
    client.close()
    await terminate(child, 'SIGKILL', 5000)
  }
})

test.run()
