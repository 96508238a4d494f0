/**
 * The S3 driver against s3rver (test/harness/s3rver.ts), reached through the fault-injection
 * proxy (test/harness/fault-proxy.ts) so cases can inject 503 bursts and connection resets.
 * Never skipped: s3rver runs in-process.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3'
import { suite, type Test } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError } from '../../../src/lib/errors.ts'
import type { StoreConfig } from '../../../src/lib/snapstore/config.ts'
import s3Snapstore, { fromStoreConfig, type S3SnapstoreOptions } from '../../../src/lib/snapstore/drivers/s3.ts'
import { openSnapstore } from '../../../src/lib/snapstore/registry.ts'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'
import { startFaultProxy, type FaultProxy } from '../../harness/fault-proxy.ts'
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver, type S3rverHandle } from '../../harness/s3rver.ts'
import { keysOf, readAll, snapstoreContract } from './contract.ts'
import { listingFaultCases } from './listing-faults.ts'
import { transportFaultCases } from './transport-faults.ts'
import { bodyOf, expectError, FAST_RETRY, MiB, roundTrip, sha256Of } from './helpers.ts'


let server: S3rverHandle | undefined
let proxy: FaultProxy | undefined
let admin: S3Client | undefined
let bucketCount = 0
const bucketOf = new Map<Snapstore, string>()

function env(): { server: S3rverHandle; proxy: FaultProxy; admin: S3Client } {
  if (startError) throw startError
  assert.ok(server && proxy && admin, 's3rver and the proxy must be running')
  return { server, proxy, admin }
}

async function freshBucket(): Promise<string> {
  const bucket = `steward-${process.pid}-${++bucketCount}`
  await env().server.createBucket(bucket)
  return bucket
}

function openStore(bucket: string, extra: Partial<S3SnapstoreOptions> = {}): Snapstore {
  const store = s3Snapstore({
    bucket,
    endpoint: env().proxy.url,
    region: S3RVER_REGION,
    credentials: S3RVER_CREDENTIALS,
    retry: FAST_RETRY,
    queueSize: 3,
    ...extra,
  })
  bucketOf.set(store, bucket)
  return store
}

/** In-progress multipart uploads, asked of the server directly (not through the proxy). */
async function uploadsInProgress(bucket: string): Promise<string[]> {
  const out = await env().admin.send(new ListMultipartUploadsCommand({ Bucket: bucket }))
  return (out.Uploads ?? []).map((u) => `${u.Key}#${u.UploadId}`)
}

const contract = snapstoreContract('S3 (s3rver)', {
  async open() {
    return openStore(await freshBucket())
  },
  async pendingUploads(store, key) {
    return (await uploadsInProgress(bucketOf.get(store)!)).filter((upload) => upload.startsWith(`${key}#`)).length
  },
  extra(uvuTest) {
    const test = visible(uvuTest)
    test('S3: a 503 burst during a single-part put is retried', async ({ store }) => {
      const { proxy } = env()
      const before = proxy.requests()
      proxy.failNext(3, 503)
      await store.put('r/v2/Full-00000000-00000001-1700000000', Readable.from([Buffer.from('survives')]))
      assert.ok(proxy.requests() - before >= 4, 'three failed attempts and one that succeeded')
      assert.is((await readAll(store, 'r/v2/Full-00000000-00000001-1700000000')).toString(), 'survives')
    })

    test('S3: a 503 burst during a multipart put is retried', async ({ store }) => {
      const { proxy } = env()
      const { body, sha256 } = bodyOf(6 * MiB)
      proxy.failNext(3, 503)
      const info = await store.put('r/v2/Full-00000000-00000002-1700000000', body)
      assert.is(info.sizeBytes, 6 * MiB)
      assert.is(await sha256Of(store, 'r/v2/Full-00000000-00000002-1700000000'), sha256)
      assert.equal(await uploadsInProgress(bucketOf.get(store)!), [])
    })

    transportFaultCases(test, {
      driver: 'S3',
      proxy: () => env().proxy,
      openTimed: (s, timeoutMs, maxAttempts) => openStore(bucketOf.get(s)!, { requestTimeoutMs: timeoutMs, socketTimeoutMs: timeoutMs, retry: { ...FAST_RETRY, maxAttempts } }),
      smallPutRequests: 1,
    })

    listingFaultCases(test, {
      driver: 'S3',
      proxy: () => env().proxy,
      openPaged: (s, options) => openStore(bucketOf.get(s)!, options),
      location: (s) => new RegExp(bucketOf.get(s)!),
      burstObjects: 7,
      burstFailures: 3,
      failingPageAttempts: 3,
    })

    test('S3: a connection reset mid-upload is retried and leaves no multipart upload behind', async ({ store }) => {
      const { proxy } = env()
      const { body, sha256 } = bodyOf(12 * MiB + 123)
      proxy.resetNextRequestAfter(MiB)
      const before = proxy.requests()
      const info = await store.put('x/v2/Full-00000000-00000003-1700000000', body)
      assert.is(info.sizeBytes, 12 * MiB + 123)
      assert.ok(proxy.requests() - before >= 6, 'create, 3 parts, one retried part, complete')
      assert.is(await sha256Of(store, 'x/v2/Full-00000000-00000003-1700000000'), sha256)
      assert.equal(await uploadsInProgress(bucketOf.get(store)!), [])
    })

    test('S3: a reset with retries disabled fails cleanly: no object, no multipart upload in progress', async ({ store }) => {
      const { proxy } = env()
      const bucket = bucketOf.get(store)!
      const noRetry = openStore(bucket, { retry: { maxAttempts: 1 } })
      const { body } = bodyOf(12 * MiB)
      proxy.resetNextRequestAfter(2 * MiB)
      await expectError(noRetry.put('x/v2/Full-00000000-00000004-1700000000', body), 'STORE_FAILED')
      assert.is(await store.head('x/v2/Full-00000000-00000004-1700000000'), null)
      assert.equal(await keysOf(store, 'x/'), [])
      assert.equal(await uploadsInProgress(bucket), [])
      await noRetry.dispose?.()
    })

    test('S3: aborting a put after its first part leaves no object and no multipart upload', async ({ store }) => {
      const controller = new AbortController()
      const chunk = Buffer.alloc(MiB, 7)
      const body = Readable.from(
        (async function* () {
          for (let i = 0; i < 11; i++) yield chunk // two parts' worth: part 1 goes out
          controller.abort() // asked for more: abort while the multipart upload is open
          yield chunk
        })(),
      )
      await expectError(store.put('ab/v2/Full-00000000-00000005-1700000000', body, { signal: controller.signal }), 'ABORTED')
      assert.is(await store.head('ab/v2/Full-00000000-00000005-1700000000'), null)
      assert.equal(await uploadsInProgress(bucketOf.get(store)!), [])
    })

    test('S3: a 12.5 MiB object with 5 MiB parts goes up as a multipart upload', async ({ store }) => {
      const { proxy } = env()
      const { body, sha256 } = bodyOf(12 * MiB + MiB / 2)
      const before = proxy.requests()
      const info = await store.put('big/v2/Full-00000000-00000006-1700000000', body)
      assert.is(proxy.requests() - before, 5, 'CreateMultipartUpload, 3 × UploadPart, CompleteMultipartUpload')
      assert.is(info.sizeBytes, 12 * MiB + MiB / 2)
      const head = await store.head('big/v2/Full-00000000-00000006-1700000000')
      assert.is(head?.sizeBytes, 12 * MiB + MiB / 2)
      assert.is(await sha256Of(store, 'big/v2/Full-00000000-00000006-1700000000'), sha256)
    })

    test('S3: a download whose connection breaks mid-body resumes with a ranged GET', async ({ store }) => {
      const { proxy } = env()
      const key = 'dl/v2/Full-00000000-00000007-1700000000'
      const { body, sha256 } = bodyOf(3 * MiB + 17)
      await store.put(key, body)
      const before = proxy.requests()
      proxy.resetNextResponseAfter(MiB + 5)
      assert.is(await sha256Of(store, key), sha256)
      assert.is(proxy.requests() - before, 2, 'the first GET and one ranged GET from the offset reached')
    })

    test('S3: a broken download with retries disabled fails with STORE_FAILED, not a short read', async ({ store }) => {
      const { proxy } = env()
      const key = 'dl/v2/Full-00000000-00000008-1700000000'
      await store.put(key, bodyOf(2 * MiB).body)
      const noRetry = openStore(bucketOf.get(store)!, { retry: { maxAttempts: 1 } })
      proxy.resetNextResponseAfter(MiB)
      await expectError(readAll(noRetry, key), 'STORE_FAILED')
      await noRetry.dispose?.()
    })

    test('S3: a missing bucket is STORE_NOT_FOUND naming the bucket', async () => {
      const missing = openStore(`steward-missing-${process.pid}`)
      const listError = await expectError(keysOf(missing, ''), 'STORE_NOT_FOUND')
      assert.match(listError.message, /steward-missing-/)
      await expectError(missing.put('m/v2/x', Readable.from([Buffer.from('x')])), 'STORE_NOT_FOUND')
      await missing.dispose?.()
    })

    test('S3: rejected credentials give one CONFIG_INVALID naming provider, bucket and operation', async ({ store }) => {
      const bucket = bucketOf.get(store)!
      const wrong = openStore(bucket, { credentials: { accessKeyId: 'NOT-S3RVER', secretAccessKey: 'x' } })
      const error = await expectError(keysOf(wrong, ''), 'CONFIG_INVALID')
      assert.match(error.message, /S3 ListObjectsV2/)
      assert.match(error.message, new RegExp(`bucket ${bucket}`))
      assert.match(error.message, /InvalidAccessKeyId/)
      await wrong.dispose?.()
    })

    test('S3: access denied is one STORE_FAILED naming operation, bucket and IAM permission', async () => {
      // s3rver has no IAM; a client stand-in answers as S3 does for a missing permission.
      let calls = 0
      const denied = () => Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } })
      const fake = { config: {}, send: async () => { calls++; throw denied() }, destroy() {} } as unknown as S3Client
      const store = s3Snapstore({ bucket: 'locked', client: fake })
      const listError = await expectError(keysOf(store, 'p/'), 'STORE_FAILED')
      assert.match(listError.message, /S3 ListObjectsV2 of prefix "p\/" in bucket locked was denied/)
      assert.match(listError.message, /s3:ListBucket/)
      const putError = await expectError(store.put('p/v2/x', Readable.from([Buffer.from('x')])), 'STORE_FAILED')
      assert.match(putError.message, /s3:PutObject/)
      const getError = await expectError(store.get('p/v2/x'), 'STORE_FAILED')
      assert.match(getError.message, /s3:GetObject/)
      assert.is(calls, 3, 'one request per operation, no retries')
    })

    test('S3: a truncated page without a continuation token is refused', async () => {
      const fake = { send: async () => ({ Contents: [{ Key: 'a/v2/x', Size: 1 }], IsTruncated: true }), destroy() {} } as unknown as S3Client
      const store = s3Snapstore({ bucket: 'fake', client: fake })
      const seen: string[] = []
      const error = await expectError(
        (async () => {
          for await (const info of store.list('a/')) seen.push(info.key)
        })(),
        'STORE_FAILED',
      )
      assert.match(error.message, /no continuation token/)
    })

    test('S3: a repeated continuation token is refused instead of looping', async () => {
      const fake = { send: async () => ({ Contents: [], IsTruncated: true, NextContinuationToken: 'same' }), destroy() {} } as unknown as S3Client
      const store = s3Snapstore({ bucket: 'fake', client: fake })
      const error = await expectError(keysOf(store, ''), 'STORE_FAILED')
      assert.match(error.message, /repeats an earlier continuation token/)
    })
  },
})

// uvu drops an error thrown by a `before` hook silently (its runner returns from `finally`), so
// a failed start is kept and rethrown by every test instead: the suite fails loudly, never skips.
let startError: unknown
contract.before(async () => {
  try {
    server = await startS3rver()
    proxy = await startFaultProxy(server.endpoint)
    admin = new S3Client({ endpoint: server.endpoint, region: S3RVER_REGION, credentials: { ...S3RVER_CREDENTIALS }, forcePathStyle: true })
  } catch (error) {
    startError = error
  }
})
contract.after(async () => {
  admin?.destroy()
  await proxy?.close()
  await server?.close()
})
contract.run()

// --- options and credentials (fromStoreConfig) ---

const credsSuite = suite<{ dir: string }>('S3 driver: options and etcd-backup-restore credentials', { dir: '' })
const creds = Object.assign(visible(credsSuite), { before: credsSuite.before, after: credsSuite.after, run: credsSuite.run })
let credServer: S3rverHandle | undefined

creds.before(async () => {
  credServer = await startS3rver()
})
creds.after(async () => {
  await credServer?.close()
})
creds.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'steward-s3-creds-'))
})
creds.after.each(async (ctx) => {
  await rm(ctx.dir, { recursive: true, force: true })
})

function storeConfig(overrides: Partial<StoreConfig> = {}): StoreConfig {
  assert.ok(credServer)
  return {
    provider: 'S3',
    container: credServer.bucket,
    prefix: 'etcd-main',
    endpointOverride: credServer.endpoint,
    minChunkSize: 5 * MiB,
    maxParallelChunkUploads: 2,
    tempDir: tmpdir(),
    envPrefix: '',
    ...overrides,
  }
}

creds('a JSON file (AWS_APPLICATION_CREDENTIALS_JSON) with static keys works', async ({ dir }) => {
  const file = join(dir, 'credentials.json')
  await writeFile(file, JSON.stringify({ accessKeyID: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' }))
  const store = await fromStoreConfig(storeConfig(), { AWS_APPLICATION_CREDENTIALS_JSON: file })
  assert.is(store.driver, 'S3')
  await roundTrip(store, 'json/v2/a')
})

creds('rotated credential files take effect without re-opening the store (research notes §4.9)', async ({ dir }) => {
  const file = join(dir, 'rotating.json')
  const write = (accessKeyID: string) => writeFile(file, JSON.stringify({ accessKeyID, secretAccessKey: 'S3RVER', region: 'us-east-1' }))
  await write('AKIA-REVOKED-KEY')
  const store = await openSnapstore(storeConfig(), { AWS_APPLICATION_CREDENTIALS_JSON: file })
  try {
    await expectError(keysOf(store, ''), 'CONFIG_INVALID')
    await write('S3RVER') // the Secret was updated in place
    assert.ok(Array.isArray(await keysOf(store, '')), 'the same store now lists with the new key')
    await store.put('rotated/v2/a', Readable.from([Buffer.from('x')]))
    assert.equal(await keysOf(store, 'rotated/'), ['rotated/v2/a'])
  } finally {
    await store.dispose?.()
  }
})

creds('a directory with one file per field (AWS_APPLICATION_CREDENTIALS) works', async ({ dir }) => {
  await writeFile(join(dir, 'accessKeyID'), 'S3RVER')
  await writeFile(join(dir, 'secretAccessKey'), 'S3RVER')
  await writeFile(join(dir, 'region'), 'us-east-1')
  await writeFile(join(dir, 's3ForcePathStyle'), 'true')
  await roundTrip(await fromStoreConfig(storeConfig(), { AWS_APPLICATION_CREDENTIALS: dir }), 'dir/v2/a')
})

creds('a directory holding a *.json file is read as JSON (legacy mode), per-field files ignored', async ({ dir }) => {
  await writeFile(join(dir, 'accessKeyID'), 'IGNORED')
  await writeFile(join(dir, 'aws.json'), JSON.stringify({ accessKeyID: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' }))
  await roundTrip(await fromStoreConfig(storeConfig(), { AWS_APPLICATION_CREDENTIALS: dir }), 'legacy/v2/a')
})

creds('the env prefix selects the SOURCE_ variables', async ({ dir }) => {
  const file = join(dir, 'source.json')
  await writeFile(file, JSON.stringify({ accessKeyID: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' }))
  const store = await fromStoreConfig(storeConfig({ envPrefix: 'SOURCE_' }), { SOURCE_AWS_APPLICATION_CREDENTIALS_JSON: file, AWS_APPLICATION_CREDENTIALS_JSON: join(dir, 'absent.json') })
  await roundTrip(store, 'source/v2/a')
})

creds('a missing region is CONFIG_INVALID naming the field and the variable', async ({ dir }) => {
  await writeFile(join(dir, 'accessKeyID'), 'S3RVER')
  await writeFile(join(dir, 'secretAccessKey'), 'S3RVER')
  const error = await expectError(fromStoreConfig(storeConfig(), { AWS_APPLICATION_CREDENTIALS: dir }), 'CONFIG_INVALID')
  assert.match(error.message, /"region" is required/)
  assert.match(error.message, /AWS_APPLICATION_CREDENTIALS=/)
})

creds('neither keys nor role is CONFIG_INVALID; roleARN without a token too', async ({ dir }) => {
  const file = join(dir, 'c.json')
  await writeFile(file, JSON.stringify({ region: 'us-east-1' }))
  await expectError(fromStoreConfig(storeConfig(), { AWS_APPLICATION_CREDENTIALS_JSON: file }), 'CONFIG_INVALID')
  await writeFile(file, JSON.stringify({ region: 'us-east-1', roleARN: 'arn:aws:iam::123456789012:role/x' }))
  const error = await expectError(fromStoreConfig(storeConfig(), { AWS_APPLICATION_CREDENTIALS_JSON: file }), 'CONFIG_INVALID')
  assert.match(error.message, /tokenPath/)
})

creds('roleARN with a token file in the directory is accepted (web identity; no STS call until first use)', async ({ dir }) => {
  await writeFile(join(dir, 'region'), 'us-east-1')
  await writeFile(join(dir, 'roleARN'), 'arn:aws:iam::123456789012:role/backup')
  await writeFile(join(dir, 'token'), 'eyJhbGciOi.fake.jwt')
  const store = await fromStoreConfig(storeConfig({ endpointOverride: undefined }), { AWS_APPLICATION_CREDENTIALS: dir })
  assert.is(store.driver, 'S3')
  await store.dispose?.()
})

creds('SSE-C key without algorithm, and a non-boolean flag, are CONFIG_INVALID', async ({ dir }) => {
  const file = join(dir, 'c.json')
  await writeFile(file, JSON.stringify({ accessKeyID: 'a', secretAccessKey: 'b', region: 'us-east-1', sseCustomerKey: 'k'.repeat(32) }))
  const sse = await expectError(fromStoreConfig(storeConfig(), { AWS_APPLICATION_CREDENTIALS_JSON: file }), 'CONFIG_INVALID')
  assert.match(sse.message, /sseCustomerAlgorithm/)
  await mkdir(join(dir, 'd'))
  for (const [name, value] of [['accessKeyID', 'a'], ['secretAccessKey', 'b'], ['region', 'r'], ['insecureSkipVerify', 'yes']]) await writeFile(join(dir, 'd', name!), value!)
  const bool = await expectError(fromStoreConfig(storeConfig(), { AWS_APPLICATION_CREDENTIALS: join(dir, 'd') }), 'CONFIG_INVALID')
  assert.match(bool.message, /insecureSkipVerify/)
})

creds('without credential variables the AWS default chain is used (process environment)', async () => {
  const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] }
  process.env['AWS_ACCESS_KEY_ID'] = 'S3RVER'
  process.env['AWS_SECRET_ACCESS_KEY'] = 'S3RVER'
  try {
    await roundTrip(await fromStoreConfig(storeConfig(), {}), 'chain/v2/a')
  } finally {
    restoreEnv('AWS_ACCESS_KEY_ID', saved.id)
    restoreEnv('AWS_SECRET_ACCESS_KEY', saved.secret)
  }
})

creds('ECS reads its unprefixed ECS_* variables', async () => {
  assert.ok(credServer)
  const store = await fromStoreConfig(storeConfig({ provider: 'ECS', endpointOverride: undefined, envPrefix: 'SOURCE_' }), {
    ECS_ENDPOINT: credServer.endpoint,
    ECS_ACCESS_KEY_ID: 'S3RVER',
    ECS_SECRET_ACCESS_KEY: 'S3RVER',
    ECS_DISABLE_SSL: 'true',
  })
  assert.is(store.driver, 'ECS')
  await roundTrip(store, 'ecs/v2/a')
  const error = await expectError(fromStoreConfig(storeConfig({ provider: 'ECS' }), {}), 'CONFIG_INVALID')
  assert.match(error.message, /ECS_ENDPOINT|ECS_ACCESS_KEY_ID/)
})

creds('OCS reads OPENSHIFT_APPLICATION_CREDENTIALS (scheme from disableSSL)', async ({ dir }) => {
  assert.ok(credServer)
  const host = new URL(credServer.endpoint).host
  for (const [name, value] of [['endpoint', host], ['region', 'us-east-1'], ['accessKeyID', 'S3RVER'], ['secretAccessKey', 'S3RVER'], ['disableSSL', 'true']]) {
    await writeFile(join(dir, name!), value!)
  }
  const store = await fromStoreConfig(storeConfig({ provider: 'OCS', endpointOverride: undefined }), { OPENSHIFT_APPLICATION_CREDENTIALS: dir })
  assert.is(store.driver, 'OCS')
  await roundTrip(store, 'ocs/v2/a')
  await rm(join(dir, 'region'))
  const error = await expectError(fromStoreConfig(storeConfig({ provider: 'OCS' }), { OPENSHIFT_APPLICATION_CREDENTIALS: dir }), 'CONFIG_INVALID')
  assert.match(error.message, /"region" is required/)
})

creds('openSnapstore loads the S3 driver through the registry', async ({ dir }) => {
  const file = join(dir, 'c.json')
  await writeFile(file, JSON.stringify({ accessKeyID: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' }))
  await roundTrip(await openSnapstore(storeConfig(), { AWS_APPLICATION_CREDENTIALS_JSON: file }), 'registry/v2/a')
})

creds('factory options are validated eagerly', () => {
  for (const bad of [{ bucket: '' }, { bucket: 'b', partSize: MiB }, { bucket: 'b', queueSize: 0 }, { bucket: 'b', listPageSize: 5000 }, { bucket: 'b', sseCustomerKey: 'k' }, { bucket: 'b', endpoint: 'not a url' }]) {
    try {
      s3Snapstore(bad)
      assert.unreachable(`options ${JSON.stringify(bad)} must be refused`)
    } catch (error) {
      assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
    }
  }
})

creds.run()

/**
 * Registers tests whose failures uvu can print: uvu's reporter reads `error.details` as a string
 * and crashes on StewardError's `details` object, which silently ends the suite; a failing
 * StewardError is rethrown as a plain Error carrying its code and message.
 */
function visible<T>(test: Test<T>): (name: string, handler: (context: T) => unknown) => void {
  return (name, handler) =>
    test(name, async (context) => {
      try {
        await handler(context)
      } catch (error) {
        if (isStewardError(error)) throw new Error(`${error.code}: ${error.message}`, { cause: error })
        throw error
      }
    })
}

function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name]
  else process.env[name] = value
}
