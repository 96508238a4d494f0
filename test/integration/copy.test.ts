/**
 * `steward copy-backups` through the built CLI between real storage servers: druid's copy-Job
 * argument list verbatim (Local → S3 on s3rver), then S3 → ABS (Azurite) → GCS (test server),
 * each copy restored on real etcd and compared with the state etcdbrctl's fixture must give;
 * wrong source credentials give one error naming the source store.
 */
import { cp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startAzurite, type AzuriteHandle } from '../harness/azurite.ts'
import { runSteward } from '../harness/cli.ts'
import { dumpEtcd, type EtcdDump } from '../harness/data.ts'
import { startEtcdCluster } from '../harness/etcd.ts'
import { startGcsServer, type GcsServerHandle } from '../harness/gcs-server.ts'
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver, type S3rverHandle } from '../harness/s3rver.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'etcdbr-v2')

interface Context {
  tmp: string
  s3: S3rverHandle
  abs: AzuriteHandle
  gcs: GcsServerHandle
  s3Credentials: string
  absCredentials: string
  expected: EtcdDump
}

const test = suite<Context>('steward copy-backups between stores (CLI, real servers, real etcd)', {} as Context)

test.before(async (ctx) => {
  ctx.tmp = await makeTempDir('steward-copy-it-')
  ;[ctx.s3, ctx.abs, ctx.gcs] = await Promise.all([startS3rver(), startAzurite(), startGcsServer()])
  await ctx.abs.createContainer('backups')
  ctx.gcs.createBucket('backups')
  ctx.s3Credentials = join(ctx.tmp, 's3.json')
  await writeFile(ctx.s3Credentials, JSON.stringify({ accessKeyID: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey, region: S3RVER_REGION }))
  ctx.absCredentials = join(ctx.tmp, 'abs.json')
  await writeFile(ctx.absCredentials, JSON.stringify({ storageAccount: ctx.abs.account, storageKey: ctx.abs.accountKey }))
  ctx.expected = JSON.parse(await readFile(join(FIXTURES, 'final', 'expected.json'), 'utf8')) as EtcdDump
})

test.after(async (ctx) => {
  await Promise.all([ctx.s3?.close(), ctx.abs?.close(), ctx.gcs?.close()])
  if (ctx.tmp) await removeDir(ctx.tmp)
})

/** Restores from a store (CLI) and reads the result through a real etcd. */
async function restoreAndDump(ctx: Context, storeFlags: string[], env: NodeJS.ProcessEnv): Promise<EtcdDump> {
  const dataDir = join(ctx.tmp, `restored-${Math.random().toString(36).slice(2, 8)}`)
  const result = await runSteward(['restore', ...storeFlags, '--data-dir', dataDir], { env })
  assert.is(result.code, 0, result.stderr)
  const cluster = await startEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default' })
  try {
    return await dumpEtcd(cluster.endpoints[0]!)
  } finally {
    await cluster.stop()
  }
}

test('druid\'s copy-Job arguments verbatim: Local → S3, then a restore from the copy gives the source\'s state', async (ctx) => {
  // Source: a Local store under $HOME/<container>, as the Job's hostPath volume; it holds a final snapshot.
  await cp(join(FIXTURES, 'final'), join(ctx.tmp, 'source-bkp'), { recursive: true })
  const env = { HOME: ctx.tmp, STORAGE_CONTAINER: ctx.s3.bucket, SOURCE_STORAGE_CONTAINER: 'source-bkp', AWS_APPLICATION_CREDENTIALS_JSON: ctx.s3Credentials }
  const args = [
    'copy',
    '--snapstore-temp-directory=/home/nonroot/data/tmp',
    '--storage-provider=S3',
    '--store-prefix=etcd-copy',
    `--store-container=${ctx.s3.bucket}`,
    `--store-endpoint-override=${ctx.s3.endpoint}`,
    '--source-storage-provider=Local',
    '--source-store-prefix=etcd-main',
    '--source-store-container=source-bkp',
    '--max-backup-age=3650',
    '--max-backups-to-copy=1',
    '--wait-for-final-snapshot=true',
    '--wait-for-final-snapshot-timeout=1m0s',
  ]
  const first = await runSteward([...args, '--json'], { env })
  assert.is(first.code, 0, first.stderr)
  const report = first.json as { backups: string[]; counts: { copied: number; skipped: number }; finalSnapshotFound: boolean }
  assert.equal(report.backups, ['Full-00000000-00000105-1795373660.gz.final']) // --max-backups-to-copy=1: the newest backup only
  assert.equal([report.counts.copied, report.finalSnapshotFound], [1, true])
  const s3Flags = ['--storage-provider', 'S3', '--store-container', ctx.s3.bucket, '--store-prefix', 'etcd-copy', '--store-endpoint-override', ctx.s3.endpoint]
  const listed = await runSteward(['snapshot', 'list', ...s3Flags, '--json'], { env })
  assert.equal((listed.json as { snapshots: { name: string }[] }).snapshots.map((s) => s.name), ['Full-00000000-00000105-1795373660.gz']) // .final dropped
  const restored = await restoreAndDump(ctx, s3Flags, env)
  assert.equal([restored.revision, restored.kvs], [ctx.expected.revision, ctx.expected.kvs])

  // All backups now: the one already there is skipped.
  const all = await runSteward(args.map((a) => a.replace('--max-backups-to-copy=1', '--max-backups-to-copy=-1')), { env })
  assert.is(all.code, 0, all.stderr)
  assert.match(all.stdout, /Copied 5 object\(s\) .* of 2 backup\(s\) .*; 1 already there/)
})

test('S3 → ABS → GCS with SOURCE_ credentials; the GCS copy restores to the source\'s state', async (ctx) => {
  await cp(join(FIXTURES, 'final'), join(ctx.tmp, 'seed'), { recursive: true })
  const seedEnv = { AWS_APPLICATION_CREDENTIALS_JSON: ctx.s3Credentials }
  const s3Source = ['--source-storage-provider', 'S3', '--source-store-container', ctx.s3.bucket, '--source-store-prefix', 'etcd-main', '--source-store-endpoint-override', ctx.s3.endpoint]
  const seed = await runSteward(['copy', '--source-store', `file://${join(ctx.tmp, 'seed')}`, '--source-store-prefix', 'etcd-main', '--storage-provider', 'S3', '--store-container', ctx.s3.bucket, '--store-prefix', 'etcd-main', '--store-endpoint-override', ctx.s3.endpoint], { env: seedEnv })
  assert.is(seed.code, 0, seed.stderr)

  const toAbs = await runSteward(['copy-backups', ...s3Source, '--store', 'azblob://backups/etcd-main', '--store-endpoint-override', ctx.abs.endpoint, '--max-parallel-copy-operations', '3'], {
    env: { SOURCE_AWS_APPLICATION_CREDENTIALS_JSON: ctx.s3Credentials, AZURE_APPLICATION_CREDENTIALS_JSON: ctx.absCredentials },
  })
  assert.is(toAbs.code, 0, toAbs.stderr)
  assert.match(toAbs.stdout, /Copied 6 object/)

  const toGcs = await runSteward(['copy', '--source-store', 'azblob://backups/etcd-main', '--source-store-endpoint-override', ctx.abs.endpoint, '--store', 'gs://backups/etcd-main', '--store-endpoint-override', ctx.gcs.endpoint], {
    env: { SOURCE_AZURE_APPLICATION_CREDENTIALS_JSON: ctx.absCredentials },
  })
  assert.is(toGcs.code, 0, toGcs.stderr)
  assert.equal(ctx.gcs.objectNames('backups').length, 6)
  const restored = await restoreAndDump(ctx, ['--store', 'gs://backups/etcd-main', '--store-endpoint-override', ctx.gcs.endpoint], {})
  assert.equal([restored.revision, restored.kvs], [ctx.expected.revision, ctx.expected.kvs])
})

test('wrong source credentials: one clear error naming the source store', async (ctx) => {
  const wrong = join(ctx.tmp, 'wrong.json')
  await writeFile(wrong, JSON.stringify({ accessKeyID: 'NOT-A-KEY', secretAccessKey: 'nope', region: S3RVER_REGION }))
  const result = await runSteward(
    ['copy', '--source-storage-provider', 'S3', '--source-store-container', ctx.s3.bucket, '--source-store-prefix', 'etcd-main', '--source-store-endpoint-override', ctx.s3.endpoint, '--store', `file://${join(ctx.tmp, 'never')}`],
    { env: { SOURCE_AWS_APPLICATION_CREDENTIALS_JSON: wrong } },
  )
  assert.ok(result.code === 20 || result.code === 21 || result.code === 2, `exit ${result.code}: ${result.stderr}`)
  const lines = result.stderr.trim().split('\n').filter((l) => l.startsWith('Error:'))
  assert.is(lines.length, 1, result.stderr)
  assert.match(lines[0]!, new RegExp(`^Error: source store s3://${ctx.s3.bucket}.*credentials were rejected`))
  assert.match(result.stderr, /hint: .*SOURCE_AWS_APPLICATION_CREDENTIALS/)
})

test.run()
