/**
 * The ABS driver against Azurite (test/harness/azurite.ts), reached through the fault-injection
 * proxy (test/harness/fault-proxy.ts) so cases can inject 503 bursts and connection resets.
 * Never skipped: Azurite is a dev dependency and runs as a local child process.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { AnonymousCredential, ContainerClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError } from '../../../src/lib/errors.ts'
import type { StoreConfig } from '../../../src/lib/snapstore/config.ts'
import absSnapstore, { defaultAzureCredential, fromStoreConfig, type AbsSnapstoreOptions } from '../../../src/lib/snapstore/drivers/abs.ts'
import { openSnapstore } from '../../../src/lib/snapstore/registry.ts'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'
import { startAzurite, type AzuriteHandle } from '../../harness/azurite.ts'
import { startFaultProxy, type FaultProxy } from '../../harness/fault-proxy.ts'
import { keysOf, readAll, snapstoreContract } from './contract.ts'
import { listingFaultCases } from './listing-faults.ts'
import { transportFaultCases } from './transport-faults.ts'
import { bodyOf, expectError, FAST_RETRY, MiB, roundTrip, sha256Of } from './helpers.ts'


let azurite: AzuriteHandle | undefined
let proxy: FaultProxy | undefined
let containerCount = 0
const containerOf = new Map<Snapstore, string>()

function env(): { azurite: AzuriteHandle; proxy: FaultProxy } {
  if (startError) throw startError
  assert.ok(azurite && proxy, 'Azurite and the proxy must be running')
  return { azurite, proxy }
}

async function freshContainer(): Promise<string> {
  const container = `steward-${process.pid}-${++containerCount}`
  await env().azurite.createContainer(container)
  return container
}

function openStore(container: string, extra: Partial<AbsSnapstoreOptions> = {}): Snapstore {
  const { azurite, proxy } = env()
  const store = absSnapstore({
    container,
    accountName: azurite.account,
    accountKey: azurite.accountKey,
    endpoint: proxy.url,
    retry: FAST_RETRY,
    maxParallelUploads: 3,
    ...extra,
  })
  containerOf.set(store, container)
  return store
}

/** A client straight to Azurite (not through the proxy), to look at what the server holds. */
function admin(container: string): ContainerClient {
  const { azurite } = env()
  return new ContainerClient(`${azurite.endpoint}/${container}`, new StorageSharedKeyCredential(azurite.account, azurite.accountKey))
}

/** Committed and uncommitted blocks of a blob as the server reports them; `null` when the blob has neither. */
async function blocksOf(container: string, key: string): Promise<{ committed: number; uncommitted: number } | null> {
  try {
    const list = await admin(container).getBlockBlobClient(key).getBlockList('all')
    return { committed: list.committedBlocks?.length ?? 0, uncommitted: list.uncommittedBlocks?.length ?? 0 }
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return null
    throw error
  }
}

/**
 * Whether the server holds a blob under `key` that has staged blocks but was never committed
 * (List Blobs with include=uncommittedblobs; Azurite's Get Block List answers BlobNotFound for
 * those, so `blocksOf` cannot see them).
 */
async function uncommittedBlobExists(container: string, key: string): Promise<boolean> {
  for await (const item of admin(container).listBlobsFlat({ prefix: key, includeUncommitedBlobs: true })) if (item.name === key) return true
  return false
}

/** Resolves when the proxy passes back the next successful Put Block answer. */
function nextBlockStaged(): Promise<void> {
  return new Promise((resolve) => {
    const stop = env().proxy.onResponse((method, url, status) => {
      if (method === 'PUT' && /[?&]comp=block(&|$)/.test(url) && status === 201) {
        stop()
        resolve()
      }
    })
  })
}

/**
 * A body of one 5 MiB block and a bit, that waits until Azure confirmed a staged block, then
 * calls `fail` (which aborts the put or throws, failing the body) and never ends.
 */
function bodyUntilBlockStaged(fail: () => void): Readable {
  const staged = nextBlockStaged()
  const chunk = Buffer.alloc(MiB, 3)
  return Readable.from(
    (async function* () {
      for (let i = 0; i < 6; i++) yield chunk
      await staged
      fail()
      yield chunk
    })(),
  )
}

/** Whether the server has a committed (visible) blob under `key`. */
async function committedBlobExists(container: string, key: string): Promise<boolean> {
  return admin(container).getBlobClient(key).exists()
}

const contract = snapstoreContract('ABS (Azurite)', {
  async open() {
    return openStore(await freshContainer())
  },
  async pendingUploads(store, key) {
    return (await uncommittedBlobExists(containerOf.get(store)!, key)) && !(await committedBlobExists(containerOf.get(store)!, key)) ? 1 : 0
  },
  extra(test) {
    test('ABS: a 503 burst during a single-block put is retried', async ({ store }) => {
      const { proxy } = env()
      const before = proxy.requests()
      proxy.failNext(3, 503)
      await store.put('r/v2/Full-00000000-00000001-1700000000', Readable.from([Buffer.from('survives')]))
      assert.is(proxy.requests() - before, 4, 'three failed attempts and one that succeeded')
      assert.is((await readAll(store, 'r/v2/Full-00000000-00000001-1700000000')).toString(), 'survives')
    })

    test('ABS: a 503 burst during a staged-block put is retried', async ({ store }) => {
      const { proxy } = env()
      const { body, sha256 } = bodyOf(11 * MiB)
      proxy.failNext(3, 503)
      const info = await store.put('r/v2/Full-00000000-00000002-1700000000', body)
      assert.is(info.sizeBytes, 11 * MiB)
      assert.is(await sha256Of(store, 'r/v2/Full-00000000-00000002-1700000000'), sha256)
      assert.equal(await blocksOf(containerOf.get(store)!, 'r/v2/Full-00000000-00000002-1700000000'), { committed: 3, uncommitted: 0 })
    })

    transportFaultCases(test, {
      driver: 'ABS',
      proxy: () => env().proxy,
      openTimed: (s, timeoutMs, maxAttempts) => openStore(containerOf.get(s)!, { requestTimeoutMs: timeoutMs, idleTimeoutMs: timeoutMs, retry: { ...FAST_RETRY, maxAttempts } }),
      smallPutRequests: 1,
    })

    listingFaultCases(test, {
      driver: 'ABS',
      proxy: () => env().proxy,
      openPaged: (s, options) => openStore(containerOf.get(s)!, options),
      location: (s) => new RegExp(`container ${containerOf.get(s)!}`),
      burstObjects: 7,
      burstFailures: 3,
      failingPageAttempts: 3,
    })

    test('ABS: a first listing page that keeps failing throws STORE_FAILED too', async ({ store }) => {
      const { proxy } = env()
      const container = containerOf.get(store)!
      const quick = openStore(container, { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 } })
      proxy.failNext(1000, 503)
      try {
        const error = await expectError(keysOf(quick, ''), 'STORE_FAILED')
        assert.match(error.message, /ABS List Blobs/)
      } finally {
        proxy.failNext(0)
      }
    })

    test('ABS: a connection reset mid-upload is retried and the blob is whole', async ({ store }) => {
      const { proxy } = env()
      const { body, sha256 } = bodyOf(12 * MiB + 123)
      proxy.resetNextRequestAfter(MiB)
      const before = proxy.requests()
      const info = await store.put('x/v2/Full-00000000-00000003-1700000000', body)
      assert.is(info.sizeBytes, 12 * MiB + 123)
      // 3 Put Block, the reset one retried, 1 Put Block List; under heavy load the SDK may retry
      // a slow block once more, so only the lower bound is fixed (seen: 6 once).
      const requests = proxy.requests() - before
      assert.ok(requests >= 5 && requests <= 7, `${requests} requests: 3 Put Block, at least one retried, 1 Put Block List`)
      assert.is(await sha256Of(store, 'x/v2/Full-00000000-00000003-1700000000'), sha256)
    })

    test('ABS: a reset with retries disabled fails cleanly: no object, no committed blob', async ({ store }) => {
      const { proxy } = env()
      const container = containerOf.get(store)!
      const noRetry = openStore(container, { retry: { maxAttempts: 1 } })
      const { body } = bodyOf(12 * MiB)
      proxy.resetNextRequestAfter(2 * MiB)
      await expectError(noRetry.put('x/v2/Full-00000000-00000004-1700000000', body), 'STORE_FAILED')
      assert.is(await store.head('x/v2/Full-00000000-00000004-1700000000'), null)
      assert.equal(await keysOf(store, 'x/'), [])
      assert.not.ok(await committedBlobExists(container, 'x/v2/Full-00000000-00000004-1700000000'))
      assert.is(await blocksOf(container, 'x/v2/Full-00000000-00000004-1700000000'), null, 'no committed block')
      assert.not.ok(await uncommittedBlobExists(container, 'x/v2/Full-00000000-00000004-1700000000'), 'no staged block is left')
      await noRetry.dispose?.()
    })

    test('ABS: aborting a put after a block was staged leaves no object and discards the block', async ({ store }) => {
      const container = containerOf.get(store)!
      const key = 'ab/v2/Full-00000000-00000005-1700000000'
      const controller = new AbortController()
      await expectError(store.put(key, bodyUntilBlockStaged(() => controller.abort()), { signal: controller.signal }), 'ABORTED')
      assert.is(await store.head(key), null)
      assert.equal(await keysOf(store, 'ab/'), [])
      assert.not.ok(await committedBlobExists(container, key))
      assert.not.ok(await uncommittedBlobExists(container, key), 'the staged block was discarded')
    })

    test('ABS: a body that fails after a block was staged leaves no object and discards the block', async ({ store }) => {
      const container = containerOf.get(store)!
      const key = 'bf/v2/Full-00000000-00000009-1700000000'
      await expectError(store.put(key, bodyUntilBlockStaged(() => { throw new Error('source broke') })), 'STORE_FAILED')
      assert.equal(await keysOf(store, 'bf/'), [])
      assert.not.ok(await uncommittedBlobExists(container, key), 'the staged block was discarded')
    })

    test('ABS: a failed overwrite leaves the existing blob as it was', async ({ store }) => {
      const container = containerOf.get(store)!
      const key = 'ow/v2/Full-00000000-00000007-1700000000'
      await store.put(key, Readable.from([Buffer.from('the original')]))
      await expectError(store.put(key, bodyUntilBlockStaged(() => { throw new Error('source broke') })), 'STORE_FAILED')
      assert.is((await readAll(store, key)).toString(), 'the original')
      assert.equal(await blocksOf(container, key), { committed: 0, uncommitted: 1 }, 'staged blocks of an existing blob are left for Azure to expire')
    })

    test('ABS: a failed writer does not discard the blocks a concurrent writer of the same key staged', async ({ store }) => {
      const key = 'cc/v2/Full-00000000-00000008-1700000000'
      const { body: source, sha256 } = bodyOf(11 * MiB)
      let release!: () => void
      const released = new Promise<void>((resolve) => (release = resolve))
      const slowStaged = nextBlockStaged()
      // The slow writer stages its first block, then waits until the other writer has failed.
      const slow = Readable.from(
        (async function* () {
          let sent = 0
          for await (const chunk of source) {
            yield chunk as Buffer
            sent += (chunk as Buffer).length
            if (sent === 6 * MiB) await released
          }
        })(),
      )
      const slowPut = store.put(key, slow)
      await slowStaged
      await expectError(store.put(key, bodyUntilBlockStaged(() => { throw new Error('source broke') })), 'STORE_FAILED')
      release()
      await slowPut
      assert.is(await sha256Of(store, key), sha256)
    })

    test('ABS: a 12.5 MiB object with 5 MiB blocks goes up as 3 staged blocks and one commit', async ({ store }) => {
      const { proxy } = env()
      const { body, sha256 } = bodyOf(12 * MiB + MiB / 2)
      const before = proxy.requests()
      const info = await store.put('big/v2/Full-00000000-00000006-1700000000', body)
      assert.is(proxy.requests() - before, 4, '3 × Put Block, 1 × Put Block List')
      assert.is(info.sizeBytes, 12 * MiB + MiB / 2)
      assert.is((await store.head('big/v2/Full-00000000-00000006-1700000000'))?.sizeBytes, 12 * MiB + MiB / 2)
      assert.equal(await blocksOf(containerOf.get(store)!, 'big/v2/Full-00000000-00000006-1700000000'), { committed: 3, uncommitted: 0 })
      assert.is(await sha256Of(store, 'big/v2/Full-00000000-00000006-1700000000'), sha256)
    })

    test('ABS: a body of exactly one block goes up in one Put Blob', async ({ store }) => {
      const { proxy } = env()
      const { body, sha256 } = bodyOf(5 * MiB)
      const before = proxy.requests()
      await store.put('one/v2/Full-00000000-00000007-1700000000', body)
      assert.is(proxy.requests() - before, 1)
      assert.is(await sha256Of(store, 'one/v2/Full-00000000-00000007-1700000000'), sha256)
    })

    test('ABS: a missing container is STORE_NOT_FOUND naming the container', async () => {
      const missing = openStore(`steward-missing-${process.pid}`)
      const listError = await expectError(keysOf(missing, ''), 'STORE_NOT_FOUND')
      assert.match(listError.message, /container steward-missing-\d+ does not exist/)
      await expectError(missing.put('m/v2/x', Readable.from([Buffer.from('x')])), 'STORE_NOT_FOUND')
      await expectError(missing.head('m/v2/x'), 'STORE_NOT_FOUND')
      await expectError(missing.get('m/v2/x'), 'STORE_NOT_FOUND')
      await expectError(missing.delete('m/v2/x'), 'STORE_NOT_FOUND')
      await missing.dispose?.()
    })

    test('ABS: a wrong account key gives one CONFIG_INVALID naming provider, container and operation', async ({ store }) => {
      const container = containerOf.get(store)!
      const wrong = openStore(container, { accountKey: Buffer.from('not the key').toString('base64') })
      const error = await expectError(keysOf(wrong, ''), 'CONFIG_INVALID')
      assert.match(error.message, /ABS List Blobs/)
      assert.match(error.message, new RegExp(`container ${container}`))
      assert.match(error.message, /credentials were rejected/)
      await wrong.dispose?.()
    })

    test('ABS: a missing permission is one STORE_FAILED naming provider, container, operation and data action', async ({ store }) => {
      const { azurite, proxy } = env()
      const container = containerOf.get(store)!
      await store.put('perm/v2/Full-00000000-00000001-1700000000', Readable.from([Buffer.from('readable')]))
      // A container SAS that may read and list but not write or delete: Azurite enforces SAS permissions.
      const sas = generateBlobSASQueryParameters(
        { containerName: container, permissions: ContainerSASPermissions.parse('rl'), expiresOn: new Date(Date.now() + 3_600_000) },
        new StorageSharedKeyCredential(azurite.account, azurite.accountKey),
      ).toString()
      const readOnly = absSnapstore({ container, client: new ContainerClient(`${proxy.url}/${container}?${sas}`, new AnonymousCredential(), { retryOptions: { maxTries: 1 } }), retry: FAST_RETRY })
      try {
        assert.equal(await keysOf(readOnly, 'perm/'), ['perm/v2/Full-00000000-00000001-1700000000'], 'reading is allowed')
        const before = proxy.requests()
        const put = await expectError(readOnly.put('perm/v2/Full-00000000-00000002-1700000000', Readable.from([Buffer.from('x')])), 'STORE_FAILED')
        assert.is(proxy.requests() - before, 1, 'a denied request is not retried')
        assert.match(put.message, /ABS Put Block\/Put Block List of perm\/v2\/Full-00000000-00000002-1700000000 in container/)
        assert.match(put.message, new RegExp(`container ${container}`))
        assert.match(put.message, /Microsoft\.Storage\/storageAccounts\/blobServices\/containers\/blobs\/write/)
        const del = await expectError(readOnly.delete('perm/v2/Full-00000000-00000001-1700000000'), 'STORE_FAILED')
        assert.match(del.message, /blobs\/delete/)
      } finally {
        await readOnly.dispose?.()
      }
    })

    test('ABS: a repeated continuation token is refused instead of looping', async () => {
      const page = { segment: { blobItems: [] }, continuationToken: 'same' }
      const fake = { listBlobsFlat: () => ({ byPage: () => ({ next: async () => ({ done: false, value: page }) }) }) } as unknown as ContainerClient
      const store = absSnapstore({ container: 'fake', client: fake })
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
    azurite = await startAzurite()
    proxy = await startFaultProxy(azurite.endpoint)
  } catch (error) {
    startError = error
  }
})
contract.after(async () => {
  await proxy?.close()
  await azurite?.close()
})
contract.run()

// --- options and credentials (fromStoreConfig) ---

const creds = suite<{ dir: string }>('ABS driver: options and etcd-backup-restore credentials', { dir: '' })
let credAzurite: AzuriteHandle | undefined
const CRED_CONTAINER = 'steward-creds'

creds.before(async () => {
  credAzurite = await startAzurite()
  await credAzurite.createContainer(CRED_CONTAINER)
})
creds.after(async () => {
  await credAzurite?.close()
})
creds.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'steward-abs-creds-'))
})
creds.after.each(async (ctx) => {
  await rm(ctx.dir, { recursive: true, force: true })
})

function storeConfig(overrides: Partial<StoreConfig> = {}): StoreConfig {
  assert.ok(credAzurite, 'Azurite must be running')
  return {
    provider: 'ABS',
    container: CRED_CONTAINER,
    prefix: 'etcd-main',
    endpointOverride: credAzurite.endpoint,
    minChunkSize: 5 * MiB,
    maxParallelChunkUploads: 2,
    tempDir: tmpdir(),
    envPrefix: '',
    ...overrides,
  }
}

function accountFields(): Record<string, string> {
  assert.ok(credAzurite)
  return { storageAccount: credAzurite.account, storageKey: credAzurite.accountKey }
}

creds('a JSON file (AZURE_APPLICATION_CREDENTIALS_JSON) works', async ({ dir }) => {
  const file = join(dir, 'credentials.json')
  await writeFile(file, JSON.stringify(accountFields()))
  const store = await fromStoreConfig(storeConfig(), { AZURE_APPLICATION_CREDENTIALS_JSON: file })
  assert.is(store.driver, 'ABS')
  assert.is(store.capabilities.streamingUpload, true)
  assert.is(store.capabilities.localFiles, false)
  await roundTrip(store, 'json/v2/a')
})

creds('a directory with one file per field (AZURE_APPLICATION_CREDENTIALS) works', async ({ dir }) => {
  for (const [name, value] of Object.entries(accountFields())) await writeFile(join(dir, name), value)
  await roundTrip(await fromStoreConfig(storeConfig(), { AZURE_APPLICATION_CREDENTIALS: dir }), 'dir/v2/a')
})

creds('a directory holding a *.json file is read as JSON (legacy mode)', async ({ dir }) => {
  await writeFile(join(dir, 'storageAccount'), 'ignored')
  await writeFile(join(dir, 'abs.json'), JSON.stringify(accountFields()))
  await roundTrip(await fromStoreConfig(storeConfig(), { AZURE_APPLICATION_CREDENTIALS: dir }), 'legacy/v2/a')
})

creds('the env prefix selects the SOURCE_ variables', async ({ dir }) => {
  const file = join(dir, 'source.json')
  await writeFile(file, JSON.stringify(accountFields()))
  const store = await fromStoreConfig(storeConfig({ envPrefix: 'SOURCE_' }), { SOURCE_AZURE_APPLICATION_CREDENTIALS_JSON: file, AZURE_APPLICATION_CREDENTIALS_JSON: join(dir, 'absent.json') })
  await roundTrip(store, 'source/v2/a')
})

creds('a missing storageKey is CONFIG_INVALID naming the field and the variable', async ({ dir }) => {
  await writeFile(join(dir, 'storageAccount'), 'devstoreaccount1')
  const fromDir = await expectError(fromStoreConfig(storeConfig(), { AZURE_APPLICATION_CREDENTIALS: dir }), 'CONFIG_INVALID')
  assert.match(fromDir.message, /"storageKey" is required/)
  assert.match(fromDir.message, /AZURE_APPLICATION_CREDENTIALS=/)
  const file = join(dir, 'c.json')
  await writeFile(file, JSON.stringify({ storageKey: 'a2V5' }))
  const fromJson = await expectError(fromStoreConfig(storeConfig(), { AZURE_APPLICATION_CREDENTIALS_JSON: file }), 'CONFIG_INVALID')
  assert.match(fromJson.message, /"storageAccount" is required/)
  assert.match(fromJson.message, /AZURE_APPLICATION_CREDENTIALS_JSON=/)
})

creds('a non-boolean emulatorEnabled is CONFIG_INVALID naming the field', async ({ dir }) => {
  const file = join(dir, 'c.json')
  await writeFile(file, JSON.stringify({ ...accountFields(), emulatorEnabled: 'yes' }))
  const error = await expectError(fromStoreConfig(storeConfig(), { AZURE_APPLICATION_CREDENTIALS_JSON: file }), 'CONFIG_INVALID')
  assert.match(error.message, /emulatorEnabled/)
})

creds('emulatorEnabled without an endpoint override targets Azurite\'s default address; domain changes the host', async ({ dir }) => {
  const file = join(dir, 'c.json')
  await writeFile(file, JSON.stringify({ ...accountFields(), emulatorEnabled: true }))
  const emulated = await fromStoreConfig(storeConfig({ endpointOverride: undefined }), { AZURE_APPLICATION_CREDENTIALS_JSON: file })
  assert.match(emulated.location, /endpoint http:\/\/127\.0\.0\.1:10000\/devstoreaccount1\)/)
  await writeFile(file, JSON.stringify({ ...accountFields(), domain: 'blob.core.chinacloudapi.cn' }))
  const sovereign = await fromStoreConfig(storeConfig({ endpointOverride: undefined }), { AZURE_APPLICATION_CREDENTIALS_JSON: file })
  assert.is(sovereign.location, `azblob://${CRED_CONTAINER}`)
})

creds('without credential files or AZURE_STORAGE_ACCOUNT: CONFIG_INVALID naming the variables', async () => {
  const error = await expectError(fromStoreConfig(storeConfig({ envPrefix: 'SECONDARY_' }), {}), 'CONFIG_INVALID')
  assert.match(error.message, /SECONDARY_AZURE_APPLICATION_CREDENTIALS_JSON or SECONDARY_AZURE_APPLICATION_CREDENTIALS/)
  assert.match(error.message, /SECONDARY_AZURE_STORAGE_ACCOUNT/)
})

creds('without @azure/identity installed, the default chain is refused with the variables to set', async () => {
  const missing = async (): Promise<never> => {
    throw Object.assign(new Error("Cannot find package '@azure/identity'"), { code: 'ERR_MODULE_NOT_FOUND' })
  }
  const error = await expectError(defaultAzureCredential('AZURE_APPLICATION_CREDENTIALS_JSON or AZURE_APPLICATION_CREDENTIALS', missing), 'CONFIG_INVALID')
  assert.match(error.message, /@azure\/identity is not installed/)
  assert.ok(error.hints.some((hint) => hint.includes('AZURE_APPLICATION_CREDENTIALS_JSON')))
})

creds('a loaded @azure/identity yields its DefaultAzureCredential', async () => {
  class FakeDefaultAzureCredential {
    async getToken(): Promise<{ token: string; expiresOnTimestamp: number }> {
      return { token: 't', expiresOnTimestamp: Date.now() + 60_000 }
    }
  }
  const loaded = await defaultAzureCredential('x', async () => ({ DefaultAzureCredential: FakeDefaultAzureCredential }))
  assert.instance(loaded, FakeDefaultAzureCredential)
  const store = absSnapstore({ container: 'c-entra', accountName: 'someaccount', tokenCredential: loaded })
  assert.is(store.location, 'azblob://c-entra')
})

creds('no credential files but AZURE_STORAGE_ACCOUNT: the Azure SDK default chain (@azure/identity, a dependency)', async () => {
  const store = await fromStoreConfig(storeConfig({ endpointOverride: undefined }), { AZURE_STORAGE_ACCOUNT: 'someaccount' })
  assert.is(store.location, `azblob://${CRED_CONTAINER}`)
  await store.dispose?.()
})

creds('openSnapstore loads the ABS driver through the registry', async ({ dir }) => {
  const file = join(dir, 'c.json')
  await writeFile(file, JSON.stringify(accountFields()))
  await roundTrip(await openSnapstore(storeConfig(), { AZURE_APPLICATION_CREDENTIALS_JSON: file }), 'registry/v2/a')
})

creds('factory options are validated eagerly and never mutated', () => {
  const good: AbsSnapstoreOptions = Object.freeze({ container: 'c', accountName: 'a', accountKey: 'a2V5' })
  absSnapstore(good)
  const bad: AbsSnapstoreOptions[] = [
    { container: '', accountName: 'a', accountKey: 'k' },
    { container: 'c', accountKey: 'k' },
    { container: 'c', accountName: 'a' },
    { container: 'c', accountName: 'a', accountKey: 'k', blockSize: MiB },
    { container: 'c', accountName: 'a', accountKey: 'k', maxParallelUploads: 0 },
    { container: 'c', accountName: 'a', accountKey: 'k', listPageSize: 6000 },
    { container: 'c', accountName: 'a', accountKey: 'k', endpoint: 'not a url' },
  ]
  for (const options of bad) {
    try {
      absSnapstore(options)
      assert.unreachable(`options ${JSON.stringify(options)} must be refused`)
    } catch (error) {
      assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
    }
  }
})

creds.run()
