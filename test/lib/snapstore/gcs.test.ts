/**
 * The GCS driver against the in-process GCS JSON-API server (test/harness/gcs-server.ts),
 * reached through the fault-injection proxy (test/harness/fault-proxy.ts) so cases can inject
 * 503 bursts and connection resets. Never skipped: the server runs in this process.
 *
 * The SDK's own retries wait at least 1 s (its backoff starts there), so cases that exercise
 * them take a few seconds; cases that exercise the driver's retries (simple upload) are fast.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { Storage } from '@google-cloud/storage'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError } from '../../../src/lib/errors.ts'
import type { StoreConfig } from '../../../src/lib/snapstore/config.ts'
import gcsSnapstore, { fromStoreConfig, type GcsSnapstoreOptions } from '../../../src/lib/snapstore/drivers/gcs.ts'
import { openSnapstore } from '../../../src/lib/snapstore/registry.ts'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'
import { startFaultProxy, type FaultProxy } from '../../harness/fault-proxy.ts'
import { startGcsServer, type GcsServerHandle } from '../../harness/gcs-server.ts'
import { keysOf, readAll, snapstoreContract } from './contract.ts'
import { listingFaultCases } from './listing-faults.ts'
import { transportFaultCases } from './transport-faults.ts'
import { bodyOf, expectError, MiB, roundTrip, sha256Of } from './helpers.ts'

/** Short delays for the driver's own retries; the SDK's are at least 1 s whatever is set. */
const FAST_RETRY = { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 50 }

let server: GcsServerHandle | undefined
let proxy: FaultProxy | undefined
let bucketCount = 0
const bucketOf = new Map<Snapstore, string>()

function env(): { server: GcsServerHandle; proxy: FaultProxy } {
  if (startError) throw startError
  assert.ok(server && proxy, 'the GCS server and the proxy must be running')
  return { server, proxy }
}

function freshBucket(): string {
  const bucket = `steward-${process.pid}-${++bucketCount}`
  env().server.createBucket(bucket)
  return bucket
}

function openStore(bucket: string, extra: Partial<GcsSnapstoreOptions> = {}): Snapstore {
  const store = gcsSnapstore({ bucket, endpoint: env().proxy.url, retry: FAST_RETRY, ...extra })
  bucketOf.set(store, bucket)
  return store
}

/** Requests the server received since `from` (an index into its log) that match `pattern`. */
function requestsSince(from: number, pattern: RegExp): string[] {
  return env().server.requests().slice(from).filter((line) => pattern.test(line))
}

/** Keys of resumable sessions in `bucket` that were started but not finished. */
function openUploadsIn(bucket: string): string[] {
  return env()
    .server.openUploads()
    .filter((upload) => upload.bucket === bucket)
    .map((upload) => upload.name)
}

const contract = snapstoreContract('GCS (test server)', {
  async open() {
    return openStore(freshBucket())
  },
  async pendingUploads(store, key) {
    return openUploadsIn(bucketOf.get(store)!).filter((name) => name === key).length
  },
  extra(test) {
    test('GCS: a 503 burst during a simple upload is retried', async ({ store }) => {
      const { proxy } = env()
      const before = proxy.requests()
      proxy.failNext(3, 503)
      await store.put('r/v2/Full-00000000-00000001-1700000000', Readable.from([Buffer.from('survives')]))
      assert.is(proxy.requests() - before, 4, 'three failed attempts and one that succeeded')
      assert.is((await readAll(store, 'r/v2/Full-00000000-00000001-1700000000')).toString(), 'survives')
    })

    test('GCS: a 503 burst during a resumable upload is retried', async ({ store }) => {
      const { proxy, server } = env()
      const { body, sha256 } = bodyOf(11 * MiB)
      const from = server.requests().length
      proxy.failNext(2, 503) // the session creation fails twice
      const info = await store.put('r/v2/Full-00000000-00000002-1700000000', body)
      assert.is(info.sizeBytes, 11 * MiB)
      assert.is(requestsSince(from, /^POST \/upload\/.*uploadType=resumable/).length, 1, 'one session reached the server')
      assert.is(await sha256Of(store, 'r/v2/Full-00000000-00000002-1700000000'), sha256)
      assert.equal(openUploadsIn(bucketOf.get(store)!), [])
    })

    transportFaultCases(test, {
      driver: 'GCS',
      proxy: () => env().proxy,
      openTimed: (s, timeoutMs, maxAttempts) => openStore(bucketOf.get(s)!, { requestTimeoutMs: timeoutMs, idleTimeoutMs: timeoutMs, retry: { ...FAST_RETRY, maxAttempts } }),
      smallPutRequests: 1,
    })

    listingFaultCases(test, {
      driver: 'GCS',
      proxy: () => env().proxy,
      openPaged: (s, options) => openStore(bucketOf.get(s)!, options),
      location: (s) => new RegExp(`bucket ${bucketOf.get(s)!}`),
      burstObjects: 5,
      burstFailures: 2,
      failingPageAttempts: 2,
    })

    test('GCS: a connection reset in the middle of a chunk is retried from the confirmed offset', async ({ store }) => {
      const { proxy, server } = env()
      const { body, sha256 } = bodyOf(12 * MiB + 123)
      // Arm the reset once the session exists, so it hits the first chunk's PUT.
      const stop = server.onRequest((line) => {
        if (/^POST \/upload\/.*uploadType=resumable/.test(line)) proxy.resetNextRequestAfter(MiB)
      })
      const from = server.requests().length
      try {
        const info = await store.put('x/v2/Full-00000000-00000003-1700000000', body)
        assert.is(info.sizeBytes, 12 * MiB + 123)
      } finally {
        stop()
      }
      assert.ok(requestsSince(from, /^PUT .*upload_id=/).length >= 5, 'three chunks, one of them re-sent after a status query')
      assert.is(await sha256Of(store, 'x/v2/Full-00000000-00000003-1700000000'), sha256)
      assert.equal(openUploadsIn(bucketOf.get(store)!), [])
    })

    test('GCS: a reset with retries disabled fails cleanly: no object, the session is cancelled', async ({ store }) => {
      const { proxy, server } = env()
      const bucket = bucketOf.get(store)!
      const noRetry = openStore(bucket, { retry: { maxAttempts: 1 } })
      const { body } = bodyOf(12 * MiB)
      const stop = server.onRequest((line) => {
        if (/^POST \/upload\/.*uploadType=resumable/.test(line)) proxy.resetNextRequestAfter(2 * MiB)
      })
      try {
        await expectError(noRetry.put('x/v2/Full-00000000-00000004-1700000000', body), 'STORE_FAILED')
      } finally {
        stop()
      }
      assert.is(await store.head('x/v2/Full-00000000-00000004-1700000000'), null)
      assert.equal(await keysOf(store, 'x/'), [])
      assert.equal(server.objectNames(bucket), [])
      assert.equal(openUploadsIn(bucket), [], 'the session was cancelled, not left open')
      assert.ok(server.requests().some((line) => /^DELETE .*upload_id=/.test(line)), 'a DELETE on the session URI was sent')
      await noRetry.dispose?.()
    })

    test('GCS: aborting a resumable put leaves no object', async ({ store }) => {
      const { server } = env()
      const controller = new AbortController()
      const chunk = Buffer.alloc(MiB, 7)
      const body = Readable.from(
        (async function* () {
          for (let i = 0; i < 11; i++) yield chunk // more than a chunk: a resumable session is open
          controller.abort()
          yield chunk
        })(),
      )
      await expectError(store.put('ab/v2/Full-00000000-00000005-1700000000', body, { signal: controller.signal }), 'ABORTED')
      assert.is(await store.head('ab/v2/Full-00000000-00000005-1700000000'), null)
      assert.equal(server.objectNames(bucketOf.get(store)!), [])
      assert.equal(openUploadsIn(bucketOf.get(store)!), [], 'the session was cancelled')
    })

    test('GCS: a 12.5 MiB object with 5 MiB chunks goes up as one session and 3 chunks', async ({ store }) => {
      const { server } = env()
      const { body, sha256 } = bodyOf(12 * MiB + MiB / 2)
      const from = server.requests().length
      const info = await store.put('big/v2/Full-00000000-00000006-1700000000', body)
      assert.is(info.sizeBytes, 12 * MiB + MiB / 2)
      assert.is(requestsSince(from, /^POST \/upload\/.*uploadType=resumable/).length, 1)
      assert.is(requestsSince(from, /^PUT .*upload_id=/).length, 3)
      assert.is((await store.head('big/v2/Full-00000000-00000006-1700000000'))?.sizeBytes, 12 * MiB + MiB / 2)
      assert.is(await sha256Of(store, 'big/v2/Full-00000000-00000006-1700000000'), sha256)
    })

    test('GCS: a body smaller than a chunk is one multipart upload', async ({ store }) => {
      const { server } = env()
      const from = server.requests().length
      await store.put('small/v2/x', Readable.from([Buffer.from('tiny')]))
      assert.equal(requestsSince(from, /^POST \/upload\//).map((line) => /uploadType=(\w+)/.exec(line)?.[1]), ['multipart'])
    })

    test('GCS: a read pinned to the generation seen fails rather than mix an overwritten object', async ({ store }) => {
      await store.put('o/v2/x', Readable.from([Buffer.from('first version')]))
      const stream = await store.get('o/v2/x')
      assert.ok(stream)
      await store.put('o/v2/x', Readable.from([Buffer.from('second version')]))
      const error = await expectError(
        (async () => {
          for await (const part of stream) void part
        })(),
        'STORE_FAILED',
      )
      assert.match(error.message, /GCS objects\.get \(media\) of o\/v2\/x/)
      assert.is((await readAll(store, 'o/v2/x')).toString(), 'second version')
    })

    test('GCS: a missing bucket is STORE_NOT_FOUND naming the bucket', async () => {
      const missing = openStore(`steward-missing-${process.pid}`)
      const listError = await expectError(keysOf(missing, ''), 'STORE_NOT_FOUND')
      assert.match(listError.message, /GCS bucket steward-missing-\d+ does not exist/)
      await expectError(missing.put('m/v2/x', Readable.from([Buffer.from('x')])), 'STORE_NOT_FOUND')
      await expectError(missing.put('m/v2/y', bodyOf(6 * MiB).body), 'STORE_NOT_FOUND')
      await expectError(missing.head('m/v2/x'), 'STORE_NOT_FOUND')
      await expectError(missing.get('m/v2/x'), 'STORE_NOT_FOUND')
      await expectError(missing.delete('m/v2/x'), 'STORE_NOT_FOUND')
      await missing.dispose?.()
    })

    test('GCS: a missing permission is one STORE_FAILED naming provider, bucket, operation and permission', async ({ store }) => {
      const { server } = env()
      const bucket = bucketOf.get(store)!
      server.denyAccess(bucket, 403)
      const error = await expectError(keysOf(store, ''), 'STORE_FAILED')
      assert.match(error.message, new RegExp(`GCS objects\\.list of the whole bucket in bucket ${bucket} was denied`))
      assert.match(error.message, /storage\.objects\.list/)
      const put = await expectError(store.put('d/v2/x', Readable.from([Buffer.from('x')])), 'STORE_FAILED')
      assert.match(put.message, /storage\.objects\.create/)
    })

    test('GCS: rejected credentials are one CONFIG_INVALID naming provider, bucket and operation', async ({ store }) => {
      const { server } = env()
      const bucket = bucketOf.get(store)!
      server.denyAccess(bucket, 401)
      const error = await expectError(store.head('a/v2/x'), 'CONFIG_INVALID')
      assert.match(error.message, new RegExp(`GCS objects\\.get of a/v2/x in bucket ${bucket}`))
      assert.match(error.message, /credentials were rejected/)
    })

    test('GCS: a repeated page token is refused instead of looping', async () => {
      const fake = { bucket: () => ({ getFiles: async () => [[], { pageToken: 'same' }, {}] }) } as unknown as Storage
      const store = gcsSnapstore({ bucket: 'fake', client: fake })
      const error = await expectError(keysOf(store, ''), 'STORE_FAILED')
      assert.match(error.message, /repeats an earlier page token/)
    })
  },
})

// uvu drops an error thrown by a `before` hook silently (its runner returns from `finally`), so
// a failed start is kept and rethrown by every test instead: the suite fails loudly, never skips.
let startError: unknown
contract.before(async () => {
  try {
    server = await startGcsServer()
    proxy = await startFaultProxy(server.endpoint)
  } catch (error) {
    startError = error
  }
})
contract.after(async () => {
  await proxy?.close()
  await server?.close()
})
contract.run()

// --- options and credentials (fromStoreConfig) ---

const creds = suite<{ dir: string }>('GCS driver: options and etcd-backup-restore credentials', { dir: '' })
let credServer: GcsServerHandle | undefined
const CRED_BUCKET = 'steward-creds'

creds.before(async () => {
  credServer = await startGcsServer()
  credServer.createBucket(CRED_BUCKET)
})
creds.after(async () => {
  await credServer?.close()
})
creds.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'steward-gcs-creds-'))
})
creds.after.each(async (ctx) => {
  await rm(ctx.dir, { recursive: true, force: true })
})

function storeConfig(overrides: Partial<StoreConfig> = {}): StoreConfig {
  assert.ok(credServer, 'the GCS server must be running')
  return {
    provider: 'GCS',
    container: CRED_BUCKET,
    prefix: 'etcd-main',
    endpointOverride: credServer.endpoint,
    minChunkSize: 5 * MiB,
    maxParallelChunkUploads: 2,
    tempDir: tmpdir(),
    envPrefix: '',
    ...overrides,
  }
}

/** A syntactically complete service account key (never used to sign: the emulator needs no auth). */
function serviceAccount(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'service_account',
    project_id: 'steward-test-project',
    client_email: 'backup@steward-test-project.iam.gserviceaccount.com',
    private_key: '-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n',
    ...extra,
  })
}

creds('a service account file (GOOGLE_APPLICATION_CREDENTIALS) with an emulator endpoint works', async ({ dir }) => {
  const file = join(dir, 'serviceaccount.json')
  await writeFile(file, serviceAccount())
  const store = await fromStoreConfig(storeConfig(), { GOOGLE_APPLICATION_CREDENTIALS: file })
  assert.is(store.driver, 'GCS')
  assert.is(store.capabilities.streamingUpload, true)
  assert.is(store.capabilities.localFiles, false)
  await roundTrip(store, 'sa/v2/a')
})

creds('the env prefix selects SOURCE_GOOGLE_APPLICATION_CREDENTIALS', async ({ dir }) => {
  const file = join(dir, 'source.json')
  await writeFile(file, serviceAccount())
  const bad = join(dir, 'bad.json')
  await writeFile(bad, '{"type":"authorized_user"}')
  await roundTrip(await fromStoreConfig(storeConfig({ envPrefix: 'SOURCE_' }), { SOURCE_GOOGLE_APPLICATION_CREDENTIALS: file, GOOGLE_APPLICATION_CREDENTIALS: bad }), 'source/v2/a')
  const error = await expectError(fromStoreConfig(storeConfig({ envPrefix: 'SECONDARY_' }), { SECONDARY_GOOGLE_APPLICATION_CREDENTIALS: bad }), 'CONFIG_INVALID')
  assert.match(error.message, /SECONDARY_GOOGLE_APPLICATION_CREDENTIALS=/)
})

creds('an unsupported type or a missing field is CONFIG_INVALID naming the field and the variable', async ({ dir }) => {
  const file = join(dir, 'c.json')
  await writeFile(file, '{"type":"authorized_user","client_id":"x"}')
  const type = await expectError(fromStoreConfig(storeConfig(), { GOOGLE_APPLICATION_CREDENTIALS: file }), 'CONFIG_INVALID')
  assert.match(type.message, /field "type" must be "service_account" or "external_account"/)
  assert.match(type.message, /GOOGLE_APPLICATION_CREDENTIALS=/)
  await writeFile(file, serviceAccount({ client_email: '' }))
  const field = await expectError(fromStoreConfig(storeConfig(), { GOOGLE_APPLICATION_CREDENTIALS: file }), 'CONFIG_INVALID')
  assert.match(field.message, /field "client_email" is required/)
  const missing = await expectError(fromStoreConfig(storeConfig(), { GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'absent.json') }), 'CONFIG_INVALID')
  assert.match(missing.message, /cannot read the credentials file/)
  await writeFile(file, 'not json')
  await expectError(fromStoreConfig(storeConfig(), { GOOGLE_APPLICATION_CREDENTIALS: file }), 'CONFIG_INVALID')
})

creds('an external_account config takes its project from the projectID file beside it', async ({ dir }) => {
  const file = join(dir, 'credentialsConfig')
  await writeFile(
    file,
    JSON.stringify({
      type: 'external_account',
      audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      token_url: 'https://sts.googleapis.com/v1/token',
      credential_source: { file: join(dir, 'token'), format: { type: 'text' } },
      universe_domain: 'googleapis.com',
    }),
  )
  await writeFile(join(dir, 'projectID'), 'steward-test-project')
  await roundTrip(await fromStoreConfig(storeConfig(), { GOOGLE_APPLICATION_CREDENTIALS: file }), 'external/v2/a')
})

creds('the deprecated storageAPIEndpoint file beside the credentials is the endpoint; /storage/v1/ is accepted', async ({ dir }) => {
  assert.ok(credServer)
  const file = join(dir, 'serviceaccount.json')
  await writeFile(file, serviceAccount())
  await writeFile(join(dir, 'storageAPIEndpoint'), `${credServer.endpoint}/storage/v1/`)
  const store = await fromStoreConfig(storeConfig({ endpointOverride: undefined }), { GOOGLE_APPLICATION_CREDENTIALS: file })
  assert.is(store.location, `gs://${CRED_BUCKET} (endpoint ${credServer.endpoint})`)
  await roundTrip(store, 'endpointfile/v2/a')
})

creds('without a credentials variable the SDK default chain is used (an emulator needs none)', async () => {
  await roundTrip(await fromStoreConfig(storeConfig(), {}), 'chain/v2/a')
})

creds('openSnapstore loads the GCS driver through the registry', async () => {
  await roundTrip(await openSnapstore(storeConfig(), {}), 'registry/v2/a')
})

creds('a bad endpoint override is CONFIG_INVALID', async () => {
  await expectError(fromStoreConfig(storeConfig({ endpointOverride: 'not a url' }), {}), 'CONFIG_INVALID')
})

creds('factory options are validated eagerly and never mutated', () => {
  const good: GcsSnapstoreOptions = Object.freeze({ bucket: 'b', chunkSize: 5 * MiB + 1 })
  gcsSnapstore(good)
  for (const bad of [{ bucket: '' }, { bucket: 'b', chunkSize: MiB }, { bucket: 'b', listPageSize: 5000 }, { bucket: 'b', endpoint: 'not a url' }, { bucket: 'b', requestTimeoutMs: 0 }]) {
    try {
      gcsSnapstore(bad)
      assert.unreachable(`options ${JSON.stringify(bad)} must be refused`)
    } catch (error) {
      assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
    }
  }
})

creds.run()
