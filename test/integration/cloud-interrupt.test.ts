/**
 * An upload to a cloud store that is interrupted through the CLI never shows up as a snapshot.
 * SIGTERM in the middle of an S3 multipart upload aborts it: the command exits ABORTED and the
 * server holds no multipart upload. SIGKILL cannot abort anything: the multipart upload stays
 * open on the server (what a bucket's AbortIncompleteMultipartUpload lifecycle rule is for,
 * docs/storage-s3.md), and still no snapshot is listed.
 *
 * The fault proxy in front of s3rver holds part 2 unanswered once part 1 was accepted (one part
 * in flight at a time), so the signal always lands mid-upload, with no timing guesses.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ERROR_CODES } from '../../src/lib/errors.ts'
import { runSteward, startSteward } from '../harness/cli.ts'
import { writeSampleData } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { startFaultProxy, type FaultProxy } from '../harness/fault-proxy.ts'
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver, type S3rverHandle } from '../harness/s3rver.ts'

interface Context {
  cluster: EtcdCluster
  server: S3rverHandle
  proxy: FaultProxy
  work: string
  flags: string[]
  env: NodeJS.ProcessEnv
}

const test = suite<Context>('an interrupted upload to S3 (CLI, real etcd, s3rver)', {} as Context)

test.before(async (ctx) => {
  ctx.work = await mkdtemp(join(tmpdir(), 'steward-interrupt-'))
  ctx.cluster = await startEtcdCluster({ members: 1 })
  ctx.server = await startS3rver()
  ctx.proxy = await startFaultProxy(ctx.server.endpoint)
  // About 10 MiB of incompressible-enough data: an uncompressed snapshot of three 5 MiB parts.
  await writeSampleData(ctx.cluster.endpoints[0]!, { keys: 300, valueBytes: 32 * 1024 })
  const credentials = join(ctx.work, 's3.json')
  await writeFile(credentials, JSON.stringify({ accessKeyID: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey, region: S3RVER_REGION }))
  ctx.env = { AWS_APPLICATION_CREDENTIALS_JSON: credentials }
  ctx.flags = ['--storage-provider', 'S3', '--store-container', ctx.server.bucket, '--store-prefix', 'etcd-main', '--store-endpoint-override', ctx.proxy.url]
})

test.after(async (ctx) => {
  await ctx.proxy?.close()
  await ctx.server?.close()
  await ctx.cluster?.stop()
  if (ctx.work) await rm(ctx.work, { recursive: true, force: true })
})

/** Starts a full snapshot, waits until part 2 is held at the proxy, sends `signal`; returns the exit code. */
async function interruptedSnapshot(ctx: Context, signal: NodeJS.Signals): Promise<number> {
  const { proxy } = ctx
  const partTwoHeld = new Promise<void>((resolve) => {
    const stopWatchingAnswers = proxy.onResponse((method, url, status) => {
      if (method === 'PUT' && /[?&]partNumber=1(&|$)/.test(url) && status === 200) {
        stopWatchingAnswers()
        proxy.hangNext(1)
      }
    })
    const stopWatchingRequests = proxy.onRequest((method, url) => {
      if (method === 'PUT' && /[?&]partNumber=2(&|$)/.test(url)) {
        stopWatchingRequests()
        resolve()
      }
    })
  })
  const child = startSteward(['snapshot', '-e', ctx.cluster.endpoints[0]!, '--compression', 'none', '--max-parallel-chunk-uploads', '1', ...ctx.flags], ctx.env)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number>((resolve) => child.on('close', (code, killedBy) => resolve(code ?? (killedBy === 'SIGKILL' ? 137 : 1))))
  const early = exited.then((code) => {
    throw new Error(`steward exited (${code}) before part 2 was sent: ${stderr}`)
  })
  await Promise.race([partTwoHeld, early])
  early.catch(() => undefined)
  child.kill(signal)
  return exited
}

/** Multipart uploads s3rver still holds (its on-disk upload directories). */
async function openUploads(ctx: Context): Promise<string[]> {
  return readdir(join(ctx.server.directory, ctx.server.bucket, '._S3rver_uploads')).catch(() => [])
}

async function listedSnapshots(ctx: Context): Promise<unknown[]> {
  const listing = await runSteward(['snapshot', 'list', ...ctx.flags, '--json'], { env: ctx.env })
  assert.is(listing.code, 0, listing.stderr)
  return (listing.json as { snapshots: unknown[] }).snapshots
}

test('SIGTERM mid-upload: exit ABORTED, no snapshot listed, no multipart upload left on the server', async (ctx) => {
  const code = await interruptedSnapshot(ctx, 'SIGTERM')
  assert.is(code, ERROR_CODES.ABORTED.exit)
  assert.equal(await listedSnapshots(ctx), [])
  assert.equal(await openUploads(ctx), [], 'the multipart upload was aborted')
})

test('SIGKILL mid-upload: no snapshot listed; the multipart upload stays open for the lifecycle rule', async (ctx) => {
  const before = await openUploads(ctx)
  await interruptedSnapshot(ctx, 'SIGKILL')
  assert.equal(await listedSnapshots(ctx), [])
  assert.is((await openUploads(ctx)).length, before.length + 1, 'a killed process cannot abort its upload')
})

test('after both, a snapshot through the same store completes and is listed', async (ctx) => {
  const done = await runSteward(['snapshot', '-e', ctx.cluster.endpoints[0]!, '--compression', 'none', ...ctx.flags, '--json'], { env: ctx.env })
  assert.is(done.code, 0, done.stderr)
  assert.is((await listedSnapshots(ctx)).length, 1)
})

test.run()
