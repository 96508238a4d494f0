/**
 * SIGTERM to `steward serve` (real process, real etcd): during a full snapshot (its upload held
 * at a fault proxy in front of s3rver) the snapshot is aborted cleanly — nothing listed, no
 * multipart upload left — and the process exits 0; with delta events pending they are stored
 * before exit 0. In both cases the next start continues the chain (restore = cluster).
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { restoreFullSnapshot } from '../../src/lib/restore/restore.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { runSteward, startSteward } from '../harness/cli.ts'
import { dumpEtcd, dumpHash, testClient, writeSampleData } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.ts'
import { terminate } from '../harness/processes.ts'
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver, type S3rverHandle } from '../harness/s3rver.ts'
import { until } from '../harness/wait.ts'

interface Context {
  cluster: EtcdCluster
  server: S3rverHandle
  proxy: FaultProxy
  work: string
  env: NodeJS.ProcessEnv
}

const test = suite<Context>('steward serve: SIGTERM during a full snapshot and with a pending delta', {} as Context)

test.before(async (ctx) => {
  ctx.work = await mkdtemp(join(tmpdir(), 'steward-serve-int-'))
  ctx.cluster = await startEtcdCluster({ members: 1 })
  ctx.server = await startS3rver()
  ctx.proxy = await startFaultProxy(ctx.server.endpoint)
  await writeSampleData(ctx.cluster.endpoints[0]!, { keys: 300, valueBytes: 32 * 1024 })
  const credentials = join(ctx.work, 's3.json')
  await writeFile(credentials, JSON.stringify({ accessKeyID: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey, region: S3RVER_REGION }))
  ctx.env = { AWS_APPLICATION_CREDENTIALS_JSON: credentials, STEWARD_LOG_LEVEL: 'info' }
})

test.after(async (ctx) => {
  await ctx.proxy?.close()
  await ctx.server?.close()
  await ctx.cluster?.stop()
  if (ctx.work) await rm(ctx.work, { recursive: true, force: true })
})


function serve(ctx: Context, storeFlags: string[], extra: string[] = []): { child: ChildProcess; log: () => string; exit: Promise<number | null> } {
  let log = ''
  const child = startSteward(['serve', `--endpoints=${ctx.cluster.endpoints[0]}`, ...storeFlags, '--server-port=0', '--reelection-period=2s', '--etcd-connection-timeout-leader-election=2s', ...extra], { ...ctx.env, STEWARD_SERVER_HOST: '127.0.0.1' })
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, log: () => log, exit }
}

async function s3Listing(ctx: Context, flags: string[]): Promise<{ name: string }[]> {
  const listing = await runSteward(['snapshot', 'list', ...flags, '--json'], { env: ctx.env })
  assert.is(listing.code, 0, listing.stderr)
  return (listing.json as { snapshots: { name: string }[] }).snapshots
}

test('SIGTERM during a full snapshot: aborted after the grace period, nothing listed, exit 0; the next start stores it', async (ctx) => {
  const { proxy } = ctx
  const flags = ['--storage-provider=S3', `--store-container=${ctx.server.bucket}`, '--store-prefix=etcd-full', `--store-endpoint-override=${proxy.url}`]
  const partTwoHeld = new Promise<void>((resolve) => {
    const stopAnswers = proxy.onResponse((method, url, status) => {
      if (method === 'PUT' && /[?&]partNumber=1(&|$)/.test(url) && status === 200) {
        stopAnswers()
        proxy.hangNext(1)
      }
    })
    const stopRequests = proxy.onRequest((method, url) => {
      if (method === 'PUT' && /[?&]partNumber=2(&|$)/.test(url)) {
        stopRequests()
        resolve()
      }
    })
  })
  const first = serve(ctx, flags, ['--compress-snapshots=false', '--max-parallel-chunk-uploads=1', '--shutdown-grace-period=1s', '--delta-snapshot-period=1h'])
  try {
    await Promise.race([partTwoHeld, first.exit.then((code) => Promise.reject(new Error(`steward exited (${code}) early: ${first.log()}`)))])
    first.child.kill('SIGTERM')
    assert.is(await first.exit, 0, first.log().slice(-2000))
  } finally {
    await terminate(first.child, 'SIGKILL', 5000)
  }
  assert.equal(await s3Listing(ctx, flags), [], 'the aborted full snapshot is not listed')
  const uploads = await readdir(join(ctx.server.directory, ctx.server.bucket, '._S3rver_uploads')).catch(() => [])
  assert.equal(uploads, [], 'the multipart upload was aborted')

  const second = serve(ctx, flags, ['--compress-snapshots=false', '--delta-snapshot-period=1h'])
  try {
    const listed = await until('the full snapshot of the next start', async () => {
      const snapshots = await s3Listing(ctx, flags)
      return snapshots.length > 0 ? snapshots : undefined
    })
    assert.match(listed[0]!.name, /^Full-/)
    second.child.kill('SIGTERM')
    assert.is(await second.exit, 0, second.log().slice(-2000))
  } finally {
    await terminate(second.child, 'SIGKILL', 5000)
  }
})

test('SIGTERM with delta events pending: they are stored before exit 0; the next start continues the chain with no gap', async (ctx) => {
  const root = join(ctx.work, 'bucket')
  const flags = ['--storage-provider=Local', `--store-container=${root}`, '--store-prefix=etcd-delta']
  const store = new BackupStore(localSnapstore({ root }), 'etcd-delta')
  const endpoint = ctx.cluster.endpoints[0]!
  const client = testClient(endpoint)
  try {
    for (const round of [1, 2]) {
      const run = serve(ctx, flags, ['--delta-snapshot-period=1h', '--shutdown-grace-period=10s'])
      try {
        // Round 1 starts with a full snapshot (empty store), round 2 with an initial delta (the chain continues).
        await until('the startup decision to be carried out', async () => (round === 1 ? /stored full snapshot/ : /startup: initial delta/).test(run.log()))
        for (let i = 0; i < 25; i++) await client.put(`/round${round}/${i}`).value(String(i))
        await client.delete().key(`/round${round}/0`)
        // A 1h period: nothing cuts these events but the shutdown.
        run.child.kill('SIGTERM')
        assert.is(await run.exit, 0, run.log().slice(-2000))
      } finally {
        await terminate(run.child, 'SIGKILL', 5000)
      }
      const expected = await dumpEtcd(endpoint)
      const all = await store.list()
      assert.is(all.at(-1)!.kind, 'Incr', `round ${round}: the pending events were stored as a delta`)
      assert.is(all.at(-1)!.lastRevision, expected.revision)
      const restored = join(ctx.work, `restored-${round}.etcd`)
      const result = await restoreFullSnapshot(store, { dataDir: restored, force: false, member: { name: 'default', initialCluster: 'default=http://127.0.0.1:2380', initialClusterToken: 'etcd-cluster', initialAdvertisePeerUrls: ['http://127.0.0.1:2380'] } })
      assert.is(result.revision, expected.revision, `round ${round}: no gap in the chain`)
      const copy = await startEtcdCluster({ members: 1, dataDirs: [restored] })
      try {
        assert.is(dumpHash(await dumpEtcd(copy.endpoints[0]!)), dumpHash(expected))
      } finally {
        await copy.stop()
      }
    }
    assert.is((await store.list()).filter((s) => s.kind === 'Full').length, 1, 'round 2 continued the chain with deltas, no new full snapshot')
  } finally {
    client.close()
  }
})

test.run()
