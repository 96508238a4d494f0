/**
 * `ABS` driver: Azure Blob Storage block blobs, and Azure-compatible servers such as Azurite
 * (research notes §4.2).
 *
 * - `put` reads the body into `maxParallelUploads + 1` reusable buffers of `blockSize` bytes
 *   (`./_shared/upload.ts`), stages them (Put Block) with `maxParallelUploads` in flight, then
 *   commits the block list (Put Block List) in order. Only the commit makes the blob visible:
 *   when the body fails, the put is aborted or a block fails for good, nothing is committed and
 *   no blob appears. The staged blocks are then discarded (Azure has no call that drops
 *   uncommitted blocks on their own; committing an empty block list does): when no blob exists
 *   under the key and no other writer is staging blocks for it, an empty block list is committed
 *   on condition that no blob exists (If-None-Match: *) and that empty blob is deleted on
 *   condition of its ETag. Otherwise (overwriting an existing blob, a concurrent writer) the
 *   blocks are left for Azure, which discards uncommitted blocks after 7 days. A body smaller
 *   than one block goes up in a single Put Blob, which is atomic too. Block ids carry a random
 *   per-put tag, so two writers of the same key never mix their blocks. Azure drops every
 *   uncommitted block of a blob when any block list for it is committed, so of two concurrent
 *   writers of one key the later one may fail (InvalidBlockList); snapshot names are unique.
 * - Retries: the SDK's own retry policy is switched off (it retries only 500/503 and resets,
 *   without jitter); every request instead goes through `timedWithRetry`
 *   (`./_shared/timeouts.ts` over `../retry.ts`: throttling, 5xx, resets; exponential backoff
 *   with full jitter), each attempt bounded by
 *   `requestTimeoutMs`. A download whose body breaks or stalls is resumed from the byte reached
 *   with a ranged Get Blob pinned to the first response's ETag.
 * - `list` pages through List Blobs and throws rather than end early.
 * - Absence is `null` (get, head); deleting a missing blob is fine; a missing container is
 *   `STORE_NOT_FOUND`.
 *
 * The Azure SDK is loaded on first use only (`import type` at the top, `await import()` inside).
 */
import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { TokenCredential } from '@azure/core-auth'
import type * as AzureSdk from '@azure/storage-blob'
import { StewardError, messageOf } from '../../errors.ts'
import type { StoreConfig } from '../config.ts'
import { assertSafeKey } from '../keys.ts'
import { resumableStream, type RetryPolicy } from '../retry.ts'
import type { ObjectInfo, OperationOptions, PutOptions, Snapstore, SnapstoreFactory } from '../types.ts'
import { aborted as abortedIn, firstLine, mapStoreError, type Operation, type OperationTable } from './_shared/errors.ts'
import { guardedPut, lazy, loadModule, retryPolicyOf } from './_shared/lifecycle.ts'
import { listPages } from './_shared/listing.ts'
import { timedWithRetry, withIdleTimeout } from './_shared/timeouts.ts'
import { partSizeFor, uploadParts, type PartSink } from './_shared/upload.ts'
import { absOptionsFor } from './abs-credentials.ts'

export { defaultAzureCredential } from './abs-credentials.ts'

const DRIVER = 'ABS'
const COMPONENT = 'snapstore:ABS'

type ContainerClient = AzureSdk.ContainerClient

export interface AbsSnapstoreOptions {
  /** Container that holds the blobs. Required. */
  readonly container: string
  /** Storage account name; required unless `client` is given. */
  readonly accountName?: string
  /** Shared Key (the account key, base64). Give this or `tokenCredential`. @default none */
  readonly accountKey?: string
  /** A Microsoft Entra ID credential (e.g. `@azure/identity`'s `DefaultAzureCredential`), used when `accountKey` is not set. @default none */
  readonly tokenCredential?: TokenCredential
  /** Blob service domain: the container URL is `https://<accountName>.<domain>/<container>`. @default 'blob.core.windows.net' */
  readonly domain?: string
  /** Account URL of an Azure-compatible server; the container URL is then `<endpoint>/<container>` (Azurite: `http://127.0.0.1:10000/devstoreaccount1`). @default derived from `accountName` and `domain` */
  readonly endpoint?: string
  /** Block size in bytes (≥ 5 MiB); raised to `ceil(size / 50000)` when a put's size is known and larger. @default 5242880 */
  readonly blockSize?: number
  /** Blocks staged in parallel per put. @default 5 */
  readonly maxParallelUploads?: number
  /** Blobs requested per List Blobs page (1–5000). @default 5000 */
  readonly listPageSize?: number
  /** Retry policy for every request and for resuming broken downloads. @default { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 20000 } */
  readonly retry?: Partial<RetryPolicy>
  /** Time one attempt of a request may take until its response headers (a staged block's upload included), in milliseconds; etcd-backup-restore allows 5 minutes per try. @default 300000 */
  readonly requestTimeoutMs?: number
  /** A download that delivers no byte for this long is broken off and resumed, in milliseconds. @default 60000 */
  readonly idleTimeoutMs?: number
  /** A ready container client (or a function making one) instead of building one from these options. @default none */
  readonly client?: ContainerClient | (() => Promise<ContainerClient>)
}

/** Azure's limit on blocks per blob. */
const MAX_BLOCKS = 50_000
const MIN_BLOCK_SIZE = 5 * 1024 * 1024
const DEFAULT_DOMAIN = 'blob.core.windows.net'
const DEFAULTS = {
  blockSize: MIN_BLOCK_SIZE,
  maxParallelUploads: 5,
  listPageSize: 5000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 60_000,
} as const

/** REST operation and Azure RBAC data action of each operation, for messages. */
const OPERATIONS: OperationTable = {
  put: { api: 'Put Block/Put Block List', permission: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write' },
  get: { api: 'Get Blob', permission: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read' },
  head: { api: 'Get Blob Properties', permission: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read' },
  list: { api: 'List Blobs', permission: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read' },
  delete: { api: 'Delete Blob', permission: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete' },
}
const aborted = (what: string, cause?: unknown): StewardError => abortedIn(COMPONENT, what, cause)

const absSnapstore: SnapstoreFactory<AbsSnapstoreOptions> = (input) => {
  const options = Object.freeze({
    ...input,
    blockSize: input.blockSize ?? DEFAULTS.blockSize,
    maxParallelUploads: input.maxParallelUploads ?? DEFAULTS.maxParallelUploads,
    listPageSize: input.listPageSize ?? DEFAULTS.listPageSize,
    retry: retryPolicyOf(input.retry),
    requestTimeoutMs: input.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    idleTimeoutMs: input.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
  })
  validateOptions(options)
  const container = options.container
  const containerUrl = options.client ? undefined : containerUrlOf(options)

  const sdk = lazy(() => loadModule('@azure/storage-blob', () => import('@azure/storage-blob'), COMPONENT))
  const client = lazy(() => createClient(options, containerUrl, sdk.get))
  const getClient = client.get
  const fail = (error: unknown, op: Operation, target: string): StewardError => toStewardError(error, { container, account: options.accountName, op, target })
  /** One request with retries; each attempt gets its own timeout and the caller's signal. */
  const call = <T>(signal: AbortSignal | undefined, run: (attemptSignal: AbortSignal) => Promise<T>): Promise<T> =>
    timedWithRetry(signal, options.requestTimeoutMs, options.retry, run)

  const store: Snapstore = {
    driver: DRIVER,
    location: `azblob://${container}${options.endpoint ? ` (endpoint ${options.endpoint})` : ''}`,
    capabilities: { streamingUpload: true, localFiles: false },

    async put(key: string, body: Readable, op: PutOptions = {}): Promise<ObjectInfo> {
      assertSafeKey(DRIVER, key)
      const signal = op.signal
      const errors = { aborted: (cause?: unknown) => aborted(`upload of ${key}`, cause), fail: (error: unknown) => fail(error, 'put', key) }
      // One controller for the whole put: the caller's abort or a failed block stops the
      // other in-flight requests; destroying the body stops the reader.
      const sizeBytes = await guardedPut(body, signal, errors, async (stop) => {
        const blob = (await getClient()).getBlockBlobClient(key)
        const attempt: Attempt = (run) => call(stop.signal, run)
        // Cleanup runs after `stop` fired, so it gets no caller signal, only its own timeouts.
        const cleanup: Attempt = (run) => call(undefined, run)
        const blockSize = partSizeFor(options.blockSize, op.sizeBytes, MAX_BLOCKS)
        const parallel = options.maxParallelUploads
        // A failed block lets the blocks in flight finish rather than cutting them off: a cut
        // request may still be stored by the server after the cleanup ran, leaving a staged
        // block behind. The caller's abort still cuts them (guardedPut aborts `stop`).
        const size = await uploadParts(body, { partSize: blockSize, parallel, heldElsewhereBytes: op.heldElsewhereBytes, maxParts: MAX_BLOCKS, component: COMPONENT, partName: 'blocks', stopOthers: () => undefined }, blockSink(blob, attempt, cleanup))
        if (signal?.aborted) throw aborted(`upload of ${key}`)
        return size
      })
      return { key, sizeBytes, lastModified: new Date() }
    },

    async get(key: string, op: OperationOptions = {}): Promise<Readable | null> {
      assertSafeKey(DRIVER, key)
      const blob = (await getClient()).getBlobClient(key)
      const signal = op.signal
      let first: AzureSdk.BlobDownloadResponseParsed
      try {
        first = await call(signal, (s) => blob.download(0, undefined, { abortSignal: s, maxRetryRequests: 0 }))
      } catch (error) {
        if (errorCode(error) === 'BlobNotFound') return null
        throw fail(error, 'get', key)
      }
      const etag = first.etag
      return resumableStream(
        async (offset) => {
          const next = await call(signal, (s) => blob.download(offset, undefined, { abortSignal: s, maxRetryRequests: 0, ...(etag ? { conditions: { ifMatch: etag } } : {}) }))
          return withIdleTimeout(bodyOf(next), options.idleTimeoutMs)
        },
        {
          first: withIdleTimeout(bodyOf(first), options.idleTimeoutMs),
          ...(first.contentLength !== undefined ? { expectedBytes: first.contentLength } : {}),
          ...options.retry,
          ...(signal ? { signal } : {}),
          mapError: (error) => (signal?.aborted ? aborted(`download of ${key}`, error) : fail(error, 'get', key)),
        },
      )
    },

    async head(key: string, op: OperationOptions = {}): Promise<ObjectInfo | null> {
      assertSafeKey(DRIVER, key)
      const blob = (await getClient()).getBlobClient(key)
      try {
        const out = await call(op.signal, (s) => blob.getProperties({ abortSignal: s }))
        return { key, sizeBytes: out.contentLength ?? 0, lastModified: out.lastModified ?? new Date(0) }
      } catch (error) {
        if (errorCode(error) === 'BlobNotFound') return null
        throw fail(error, 'head', key)
      }
    },

    async *list(prefix: string, op: OperationOptions = {}): AsyncIterable<ObjectInfo> {
      const containerClient = await getClient()
      const target = prefix ? `prefix ${JSON.stringify(prefix)}` : 'the whole container'
      yield* listPages({
        component: COMPONENT,
        scope: `container ${container}`,
        target,
        tokenName: 'continuation token',
        paginationHint: 'the server does not paginate List Blobs correctly',
        details: { container, prefix },
        fail: (error) => fail(error, 'list', target),
        fetch: (token) =>
          call(op.signal, async (s) => {
            const pages = containerClient.listBlobsFlat({ abortSignal: s, ...(prefix ? { prefix } : {}) }).byPage({ maxPageSize: options.listPageSize, ...(token ? { continuationToken: token } : {}) })
            const next = await pages.next()
            if (next.done) throw new Error('List Blobs returned no page')
            const out = next.value
            const items = out.segment.blobItems.map((item) => ({ key: item.name, sizeBytes: item.properties.contentLength ?? 0, lastModified: item.properties.lastModified }))
            return { items, next: out.continuationToken || undefined }
          }),
      })
    },

    async delete(key: string, op: OperationOptions = {}): Promise<void> {
      assertSafeKey(DRIVER, key)
      const blob = (await getClient()).getBlobClient(key)
      try {
        await call(op.signal, (s) => blob.deleteIfExists({ abortSignal: s, deleteSnapshots: 'include' }))
      } catch (error) {
        throw fail(error, 'delete', key)
      }
    },

    async dispose(): Promise<void> {
      // The SDK keeps no per-client sockets to close (its HTTP agent is shared and unref'd);
      // dropping the client lets it be collected.
      client.take()
    },
  }
  return store
}

export default absSnapstore

// --- uploads ---

type Attempt = <T>(run: (signal: AbortSignal) => Promise<T>) => Promise<T>

/**
 * Put Blob for a body of one block, else Put Block per block and Put Block List to commit.
 * Block ids carry a random per-put tag and have equal lengths, as Azure requires of every block
 * id of a blob. On failure, `abort` discards the staged blocks when that is safe (module comment).
 */
function blockSink(blob: AzureSdk.BlockBlobClient, attempt: Attempt, cleanup: Attempt): PartSink {
  const tag = randomBytes(6).toString('hex')
  const idOf = (number: number): string => Buffer.from(`${tag}-${String(number - 1).padStart(6, '0')}`).toString('base64')
  let staged = false
  return {
    async single(data) {
      await attempt((signal) => blob.upload(data, data.length, { abortSignal: signal }))
    },
    async begin() {},
    async part(number, data) {
      staged = true // from the first attempt on: a broken request may still have stored its block
      await attempt((signal) => blob.stageBlock(idOf(number), data, data.length, { abortSignal: signal }))
    },
    async complete(count) {
      const ids = Array.from({ length: count }, (_, i) => idOf(i + 1))
      await attempt((signal) => blob.commitBlockList(ids, { abortSignal: signal }))
    },
    async abort() {
      if (staged) await discardStagedBlocks(blob, tag, cleanup)
    },
  }
}

/**
 * Drops the uncommitted blocks a failed put staged under `tag`, when that cannot touch anybody
 * else's data: the blob must not exist (If-None-Match: * on the empty commit) and every staged
 * block Get Block List reports must be ours. Azurite answers Get Block List of a never-committed
 * blob with BlobNotFound (Azure lists its uncommitted blocks); then the blocks cannot be told
 * apart and the empty commit goes ahead on its condition alone. Best effort: any other failure
 * leaves the blocks for Azure's 7-day expiry.
 */
async function discardStagedBlocks(blob: AzureSdk.BlockBlobClient, tag: string, cleanup: Attempt): Promise<void> {
  try {
    const staged = await cleanup((signal) => blob.getBlockList('all', { abortSignal: signal }))
    if ((staged.committedBlocks ?? []).length > 0) return // an existing blob: never replace it
    const ours = `${tag}-`
    if (!(staged.uncommittedBlocks ?? []).every((block) => Buffer.from(block.name, 'base64').toString().startsWith(ours))) return
  } catch (error) {
    if (errorCode(error) !== 'BlobNotFound') return
  }
  try {
    const empty = await cleanup((signal) => blob.commitBlockList([], { abortSignal: signal, conditions: { ifNoneMatch: '*' } }))
    await cleanup((signal) => blob.delete({ abortSignal: signal, ...(empty.etag ? { conditions: { ifMatch: empty.etag } } : {}) }))
  } catch {
    // A blob exists (condition failed) or the store is unreachable: leave the blocks to expire.
  }
}

// --- client construction ---

type ResolvedOptions = AbsSnapstoreOptions & {
  readonly blockSize: number
  readonly maxParallelUploads: number
  readonly listPageSize: number
  readonly retry: RetryPolicy
  readonly requestTimeoutMs: number
  readonly idleTimeoutMs: number
}

function containerUrlOf(options: AbsSnapstoreOptions): string {
  const base = options.endpoint ? options.endpoint.replace(/\/+$/, '') : `https://${options.accountName}.${options.domain ?? DEFAULT_DOMAIN}`
  return `${base}/${encodeURIComponent(options.container)}`
}

async function createClient(options: ResolvedOptions, containerUrl: string | undefined, loadSdk: () => Promise<typeof AzureSdk>): Promise<ContainerClient> {
  if (options.client) return typeof options.client === 'function' ? options.client() : options.client
  const { ContainerClient, StorageSharedKeyCredential } = await loadSdk()
  const credential = options.accountKey ? new StorageSharedKeyCredential(options.accountName!, options.accountKey) : options.tokenCredential!
  // maxTries 1: retries are ours (withRetry), with jitter and for every transient class.
  return new ContainerClient(containerUrl!, credential, { retryOptions: { maxTries: 1 }, keepAliveOptions: { enable: true } })
}

/** The variables naming the credential file or directory, watched for rotation (research notes §4.9). */
export function credentialVariables(config: StoreConfig): readonly string[] {
  return [`${config.envPrefix}AZURE_APPLICATION_CREDENTIALS_JSON`, `${config.envPrefix}AZURE_APPLICATION_CREDENTIALS`]
}

/**
 * Opens the ABS store for a {@link StoreConfig}, finding credentials as etcd-backup-restore
 * does (`./abs-credentials.ts`, research notes §4.2).
 * @throws StewardError `CONFIG_INVALID` naming the variable and field at fault
 */
export async function fromStoreConfig(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Snapstore> {
  return absSnapstore(await absOptionsFor(config, env))
}

// --- helpers ---

function validateOptions(options: ResolvedOptions): void {
  const invalid = (message: string, hints: string[] = []): StewardError => new StewardError('CONFIG_INVALID', COMPONENT, message, { hints })
  if (!options.container) throw invalid('the container name is missing', ['pass --store azblob://container/prefix or --store-container <container>'])
  if (!options.client) {
    if (!options.accountName) throw invalid('the storage account name is missing', ['set storageAccount in AZURE_APPLICATION_CREDENTIALS(_JSON)'])
    if (!options.accountKey && !options.tokenCredential) throw invalid(`no credential for storage account ${options.accountName}: give an account key or a token credential`)
    if (options.endpoint !== undefined && !URL.canParse(options.endpoint)) throw invalid(`endpoint ${JSON.stringify(options.endpoint)} is not a URL`)
  }
  if (!Number.isInteger(options.blockSize) || options.blockSize < MIN_BLOCK_SIZE) throw invalid(`block size ${options.blockSize} is below the minimum of ${MIN_BLOCK_SIZE} bytes (5 MiB)`)
  if (!Number.isInteger(options.maxParallelUploads) || options.maxParallelUploads < 1) throw invalid(`parallel block uploads must be at least 1, got ${options.maxParallelUploads}`)
  if (!Number.isInteger(options.listPageSize) || options.listPageSize < 1 || options.listPageSize > 5000) throw invalid(`list page size must be 1–5000, got ${options.listPageSize}`)
  if (!(options.requestTimeoutMs > 0) || !(options.idleTimeoutMs > 0)) throw invalid('timeouts must be positive')
}

function bodyOf(out: AzureSdk.BlobDownloadResponseParsed): Readable {
  const body = out.readableStreamBody
  if (!body) throw new Error('Get Blob returned no body')
  return body as Readable
}

/** The storage error code (`BlobNotFound`, `ContainerNotFound`, …); HEAD responses carry it only in `details`. */
function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; details?: { errorCode?: unknown } } | null | undefined
  if (typeof e?.details?.errorCode === 'string') return e.details.errorCode
  return typeof e?.code === 'string' ? e.code : undefined
}

function httpStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null | undefined)?.statusCode
  return typeof status === 'number' ? status : undefined
}

/** Error names `@azure/identity` uses when no credential of its chain works. */
const TOKEN_FAILURES = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError'])

interface FailureContext {
  readonly container: string
  readonly account: string | undefined
  readonly op: Operation
  readonly target: string
}

/** Turns an SDK error into one StewardError that names provider, container, operation and (for access errors) the permission. */
function toStewardError(error: unknown, ctx: FailureContext): StewardError {
  const { container, account, op, target } = ctx
  const { api, permission } = OPERATIONS[op]
  const code = errorCode(error)
  const status = httpStatus(error)
  const name = (error as { name?: unknown } | null)?.name
  const details = { provider: DRIVER, container, ...(account ? { account } : {}), operation: api, target, ...(status !== undefined ? { status } : {}), ...(code ? { error: code } : {}) }
  const where = `ABS ${api} of ${target} in container ${container}${account ? ` (account ${account})` : ''}`
  return mapStoreError(error, { component: COMPONENT, where, details }, (kit) => {
    if (code === 'ContainerNotFound') {
      return kit.notFound(`ABS container ${container} does not exist${account ? ` in account ${account}` : ''} (${api} of ${target})`, 'create the container, or check --store / --store-container and the storage account')
    }
    const message = messageOf(error)
    if (code === 'AuthenticationFailed' || code === 'InvalidAuthenticationInfo' || (typeof name === 'string' && TOKEN_FAILURES.has(name)) || (status === 403 && /failed to authenticate/i.test(message))) {
      return kit.config(
        `the credentials were rejected (${code ?? name ?? 'HTTP 403'}: ${firstLine(message)})`,
        'check storageAccount and storageKey in AZURE_APPLICATION_CREDENTIALS(_JSON) (used verbatim), or the Entra ID identity',
      )
    }
    if (status === 403 || code === 'AuthorizationPermissionMismatch' || code === 'AuthorizationFailure') {
      return kit.denied(
        `${code ?? 'Forbidden'}, HTTP ${status ?? 403}`,
        `the identity lacks ${permission} on container ${container}`,
        permission,
        'grant a role with the data actions listed in docs/storage-abs.md (e.g. Storage Blob Data Contributor) on the container',
      )
    }
    if ((error as { code?: unknown } | null)?.code === 'ENOTFOUND') {
      return kit.failed(`failed: the host was not found (${firstLine(message)})`, {}, ['check storageAccount, domain and --store-endpoint-override'])
    }
    return kit.failed(`failed: ${code ?? name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${firstLine(message)}`)
  })
}
