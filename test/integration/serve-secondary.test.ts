/**
 * The dual-site sync of `steward serve` as users run it (built CLI, real etcd): a Local primary
 * store and an S3 secondary (s3rver) given by `--secondary-*` flags and `SECONDARY_`
 * environment. The leader copies every backup to the secondary (dropping `.final`), the
 * secondary is collected with the same LimitBased policy as the primary, both converge on the
 * same snapshots, and the secondary restores to exactly the cluster's data.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resolveStore } from '../../src/lib/config/resolve.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { openSnapstore } from '../../src/lib/snapstore/registry.ts'
import { startSteward } from '../harness/cli.ts'
import { dumpEtcd, testClient } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { getFreePorts } from '../harness/ports.ts'
import { terminate } from '../harness/processes.ts'
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver, type S3rverHandle } from '../harness/s3rver.ts'
import { assertRestoresTo } from '../harness/restore-check.ts'
import { until } from '../harness/wait.ts'

const test = suite('steward serve: secondary store sync (built CLI, real etcd, Local → S3)')

let cluster: EtcdCluster
let s3: S3rverHandle
let work: string

test.before(async () => {
  cluster = await startEtcdCluster({ members: 1 })
  s3 = await startS3rver()
  work = await mkdtemp(join(tmpdir(), 'steward-serve-secondary-'))
})
test.after(async () => {
  await s3?.close()
  await cluster?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})


test('the leader syncs every backup to the secondary and collects it with the same policy; the secondary restores to the cluster', async () => {
  const root = join(work, 'primary')
  const conf = join(work, 'etcd.conf.yaml')
  await writeFile(conf, 'name: etcd-config\ninitial-cluster: default=http://127.0.0.1:2380\n')
  const credentials = join(work, 's3.json')
  await writeFile(credentials, JSON.stringify({ accessKeyID: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey, region: S3RVER_REGION }))
  const secondaryEnv = { SECONDARY_AWS_APPLICATION_CREDENTIALS_JSON: credentials, SECONDARY_STORAGE_CONTAINER: s3.bucket }
  const [port] = await getFreePorts(1)
  const primary = new BackupStore(localSnapstore({ root }), 'etcd-main')
  const secondaryConfig = { ...resolveStore({ 'storage-provider': 'S3', 'store-container': s3.bucket, 'store-prefix': 'etcd-main', 'store-endpoint-override': s3.endpoint }, {}, {}), envPrefix: 'SECONDARY_' }
  const secondary = new BackupStore(await openSnapstore(secondaryConfig, secondaryEnv), 'etcd-main')
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
      '--secondary-backup-sync-enabled=true',
      '--secondary-backup-sync-period=2s',
      '--secondary-storage-provider=S3',
      `--secondary-store-endpoint-override=${s3.endpoint}`,
      `--data-dir=${join(work, 'data')}`,
    ],
    { ETCD_CONF: conf, POD_NAME: 'default', STEWARD_SERVER_HOST: '127.0.0.1', STEWARD_LOG_LEVEL: 'info', ...secondaryEnv },
  )
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const client = testClient(cluster.endpoints[0]!)
  const api = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST' })
    assert.is(response.status, 200, path)
    return JSON.parse(await response.text()) as { snapName: string }
  }
  try {
    await client.put('/seed').value('0')
    await until('the startup full snapshot', async () => (await primary.list()).some((s) => s.kind === 'Full'))
    await until('the first sync (on becoming leader, then every 2s)', async () => (await secondary.list()).some((s) => s.kind === 'Full'))
    for (let i = 1; i <= 2; i++) {
      for (let k = 0; k < 5; k++) await client.put(`/b${i}/k${k}`).value(`${i}-${k}`)
      await api('/snapshot/delta')
      await api(i === 2 ? '/snapshot/full?final=true' : '/snapshot/full')
    }
    await client.put('/last').value('1')
    await client.delete().key('/b1/k0')
    const newestDelta = await api('/snapshot/delta')

    const names = (list: { name: string; isChunk: boolean }[]) => list.filter((s) => !s.isChunk).map((s) => s.name.replace(/\.final$/, ''))
    const converged = await until('primary and secondary to hold the same two backups', async () => {
      const [p, s] = [await primary.list(), await secondary.list()]
      const fulls = p.filter((o) => o.kind === 'Full').length
      return fulls === 2 && JSON.stringify(names(p)) === JSON.stringify(names(s)) && names(s).at(-1) === newestDelta.snapName ? s : undefined
    }).catch(async (error: unknown) => {
      throw new Error(`${String(error)}; primary: ${names(await primary.list()).join(', ')}; secondary: ${names(await secondary.list()).join(', ')}; log: ${log.slice(-3000)}`)
    })
    assert.ok(converged.every((s) => !s.isFinal), '.final is dropped in the secondary')
    assert.ok((await primary.list()).some((s) => s.isFinal), 'the primary keeps its final full snapshot')
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    assert.match(metrics, /steward_job_runs_total\{schedule="secondary-backup-sync",outcome="succeeded"\} [1-9]/)
    assert.match(metrics, /steward_job_runs_total\{schedule="secondary-garbage-collection",outcome="succeeded"\} [1-9]/)
    assert.not.match(metrics, /steward_component_failures_total\{component="secondary-sync"\} [1-9]/, log.split("\n").filter((l) => l.includes("secondary-sync")).join("\n").slice(-3000))
    assert.not.match(log, /secondary-[a-z-]+ is accepted/)

    child.kill('SIGTERM')
    assert.is(await exit, 0, log.slice(-2000))
    const expected = await dumpEtcd(cluster.endpoints[0]!)
    const restored = join(work, 'restored.etcd')
    await assertRestoresTo(secondary, restored, expected)
  } finally {
    client.close()
    await terminate(child, 'SIGKILL', 5000)
    await secondary.snapstore.dispose?.()
  }
})

test.run()
