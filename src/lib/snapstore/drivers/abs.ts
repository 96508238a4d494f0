/**
 * `ABS` driver: Azure Blob Storage block blobs, and Azure-compatible servers such as Azurite
 * (research notes §4.2).
 *
 * - `put` cuts the body into blocks of `blockSize` bytes, stages them (Put Block) with
 *   `maxParallelUploads` in flight, then commits the block list (Put Block List) in order. Only
 *   the commit makes the blob visible: when the body fails, the put is aborted or a block fails
 *   for good, nothing is committed, no blob appears, and the staged blocks are left for Azure to
 *   garbage-collect (uncommitted blocks are discarded after 7 days). A body smaller than one
 *   block goes up in a single Put Blob, which is atomic too. Block ids carry a random per-put
 *   tag, so two writers of the same key never mix their blocks; the last commit wins.
 * - Retries: the SDK's own retry policy is switched off (it retries only 500/503 and resets,
 *   without jitter); every request instead goes through `withRetry` from `../retry.ts`
 *   (throttling, 5xx, resets; exponential backoff with full jitter), each attempt bounded by
 *   `requestTimeoutMs`. A download whose body breaks or stalls is resumed from the byte reached
 *   with a ranged Get Blob pinned to the first response's ETag.
 * - `list` pages through List Blobs and throws rather than end early.
 * - Absence is `null` (get, head); deleting a missing blob is fine; a missing container is
 *   `STORE_NOT_FOUND`.
 *
 * The Azure SDK is loaded on first use only (`import type` at the top, `await import()` inside).
 */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import type { TokenCredential } from '@azure/core-auth'
import type * as AzureSdk from '@azure/storage-blob'
import { StewardError, isStewardError, messageOf } from '../../errors.ts'
import type { StoreConfig } from '../config.ts'
import { parseGoBool, readCredentialFields, type CredentialFields } from '../credentials.ts'
import { assertSafeKey } from '../keys.ts'
import { DEFAULT_RETRY_POLICY, isAbortError, resumableStream, withRetry, type RetryPolicy } from '../retry.ts'
import type { ObjectInfo, OperationOptions, PutOptions, Snapstore, SnapstoreFactory } from '../types.ts'

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
/** Azurite's default blob endpoint, used with `emulatorEnabled` when no endpoint override is given. */
const AZURITE_DEFAULT_HOST = 'http://127.0.0.1:10000'
const DEFAULTS = {
  blockSize: MIN_BLOCK_SIZE,
  maxParallelUploads: 5,
  listPageSize: 5000,
  requestTimeoutMs: 300_000,
  idleTimeoutMs: 60_000,
} as const

/** Azure RBAC data action each operation needs, for access-denied messages. */
const PERMISSIONS = {
  put: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write',
  get: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read',
  head: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read',
  list: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read',
  delete: 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete',
} as const
type Operation = keyof typeof PERMISSIONS
const REST_OPERATIONS: Record<Operation, string> = { put: 'Put Block/Put Block List', get: 'Get Blob', head: 'Get Blob Properties', list: 'List Blobs', delete: 'Delete Blob' }

const absSnapstore: SnapstoreFactory<AbsSnapstoreOptions> = (input) => {
  const options = Object.freeze({
    ...input,
    blockSize: input.blockSize ?? DEFAULTS.blockSize,
    maxParallelUploads: input.maxParallelUploads ?? DEFAULTS.maxParallelUploads,
    listPageSize: input.listPageSize ?? DEFAULTS.listPageSize,
    retry: Object.freeze({ ...DEFAULT_RETRY_POLICY, ...definedOnly(input.retry ?? {}) }),
    requestTimeoutMs: input.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    idleTimeoutMs: input.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
  })
  validateOptions(options)
  const container = options.container
  const containerUrl = options.client ? undefined : containerUrlOf(options)

  let sdk: Promise<typeof AzureSdk> | undefined
  let client: Promise<ContainerClient> | undefined
  const loadSdk = (): Promise<typeof AzureSdk> => (sdk ??= loadModule('@azure/storage-blob', () => import('@azure/storage-blob')))
  const getClient = (): Promise<ContainerClient> => {
    client ??= createClient(options, containerUrl, loadSdk).catch((error: unknown) => {
      client = undefined // let the next call try again
      throw error
    })
    return client
  }
  const fail = (error: unknown, op: Operation, target: string): StewardError => toStewardError(error, { container, account: options.accountName, op, target })
  /** One request with retries; each attempt gets its own timeout and the caller's signal. */
  const call = <T>(signal: AbortSignal | undefined, run: (attemptSignal: AbortSignal) => Promise<T>): Promise<T> =>
    withRetry(() => timed(signal, options.requestTimeoutMs, run), { ...options.retry, ...(signal ? { signal } : {}) })

  const store: Snapstore = {
    driver: DRIVER,
    location: `azblob://${container}${options.endpoint ? ` (endpoint ${options.endpoint})` : ''}`,
    capabilities: { streamingUpload: true, localFiles: false },

    async put(key: string, body: Readable, op: PutOptions = {}): Promise<ObjectInfo> {
      assertSafeKey(DRIVER, key)
      const signal = op.signal
      if (signal?.aborted) {
        body.destroy()
        throw aborted(`upload of ${key}`)
      }
      // One controller for the whole put: the caller's abort or a failed block stops the
      // other in-flight requests; destroying the body stops the reader.
      const stop = new AbortController()
      const onAbort = (): void => {
        stop.abort()
        body.destroy(Object.assign(new Error('upload aborted'), { name: 'AbortError', code: 'ABORT_ERR' }))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        const blob = (await getClient()).getBlockBlobClient(key)
        const blockSize = blockSizeFor(options.blockSize, op.sizeBytes)
        const attempt: Attempt = (run) => call(stop.signal, run)
        const sizeBytes = await uploadBlocks(blob, body, blockSize, options.maxParallelUploads, attempt, () => stop.abort())
        if (signal?.aborted) throw aborted(`upload of ${key}`)
        return { key, sizeBytes, lastModified: new Date() }
      } catch (error) {
        if (!body.destroyed) body.destroy()
        if (signal?.aborted) throw aborted(`upload of ${key}`, error)
        throw fail(error, 'put', key)
      } finally {
        signal?.removeEventListener('abort', onAbort)
      }
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
      const tokens = new Set<string>()
      let token: string | undefined
      let page = 0
      do {
        page += 1
        let out: AzureSdk.ContainerListBlobFlatSegmentResponse
        try {
          out = await call(op.signal, async (s) => {
            const pages = containerClient.listBlobsFlat({ abortSignal: s, ...(prefix ? { prefix } : {}) }).byPage({ maxPageSize: options.listPageSize, ...(token ? { continuationToken: token } : {}) })
            const next = await pages.next()
            if (next.done) throw new Error('List Blobs returned no page')
            return next.value
          })
        } catch (error) {
          const wrapped = fail(error, 'list', target)
          if (page > 1 && wrapped.code === 'STORE_FAILED') {
            throw new StewardError('STORE_FAILED', COMPONENT, `listing ${target} of container ${container} failed at page ${page}; refusing to return a partial listing: ${wrapped.reason}`, {
              cause: error,
              hints: wrapped.hints,
              details: { ...wrapped.context, page },
            })
          }
          throw wrapped
        }
        for (const item of out.segment.blobItems) {
          yield { key: item.name, sizeBytes: item.properties.contentLength ?? 0, lastModified: item.properties.lastModified }
        }
        const next = out.continuationToken || undefined
        if (next !== undefined && tokens.has(next)) {
          throw new StewardError('STORE_FAILED', COMPONENT, `listing ${target} of container ${container}: page ${page} repeats an earlier continuation token; refusing to return a partial listing`, {
            details: { container, prefix, page },
            hints: ['the server does not paginate List Blobs correctly'],
          })
        }
        if (next !== undefined) tokens.add(next)
        token = next
      } while (token !== undefined)
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
      client = undefined
    },
  }
  return store
}

export default absSnapstore

// --- uploads ---

type Attempt = <T>(run: (signal: AbortSignal) => Promise<T>) => Promise<T>

/**
 * Uploads `body` as one Put Blob (shorter than a block) or as staged blocks plus a commit.
 * Returns the byte count. Nothing is committed unless every block was staged; the first failed
 * block calls `stopOthers` so the blocks still in flight are cancelled.
 */
async function uploadBlocks(
  blob: AzureSdk.BlockBlobClient,
  body: Readable,
  blockSize: number,
  parallel: number,
  attempt: Attempt,
  stopOthers: () => void,
): Promise<number> {
  const tag = randomBytes(6).toString('hex')
  const blockIds: string[] = []
  const inFlight = new Set<Promise<void>>()
  let failure: { error: unknown } | undefined
  let sizeBytes = 0
  const blocks = blocksOf(body, blockSize)
  try {
    let current = await blocks.next()
    if (current.done || current.value.last) {
      const data = current.done ? Buffer.alloc(0) : current.value.data
      await attempt((signal) => blob.upload(data, data.length, { abortSignal: signal }))
      return data.length
    }
    for (; !current.done && !failure; current = await blocks.next()) {
      const data = current.value.data
      if (blockIds.length >= MAX_BLOCKS) {
        throw new StewardError('STORE_FAILED', COMPONENT, `the body needs more than ${MAX_BLOCKS} blocks of ${blockSize} bytes`, {
          hints: ['raise --min-chunk-size, or pass the size in advance so the block size can grow'],
        })
      }
      // Equal-length ids: Azure requires every block id of a blob to have the same length.
      const id = Buffer.from(`${tag}-${String(blockIds.length).padStart(6, '0')}`).toString('base64')
      blockIds.push(id)
      sizeBytes += data.length
      const staged: Promise<void> = attempt((signal) => blob.stageBlock(id, data, data.length, { abortSignal: signal })).then(
        () => {
          inFlight.delete(staged)
        },
        (error: unknown) => {
          inFlight.delete(staged)
          if (!failure) {
            failure = { error }
            stopOthers()
          }
        },
      )
      inFlight.add(staged)
      while (inFlight.size >= parallel && !failure) await Promise.race(inFlight)
      if (failure) break // stop reading the body at once
    }
    await Promise.all(inFlight)
    if (failure) throw failure.error
    await attempt((signal) => blob.commitBlockList(blockIds, { abortSignal: signal }))
    return sizeBytes
  } finally {
    await Promise.all(inFlight)
    await blocks.return(undefined)
  }
}

/** Cuts a byte stream into pieces of exactly `size` bytes (the last may be shorter); `last` marks the final piece. */
async function* blocksOf(body: Readable, size: number): AsyncGenerator<{ data: Buffer; last: boolean }> {
  let parts: Buffer[] = []
  let buffered = 0
  let pending: Buffer | undefined
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    let buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    while (buffered + buffer.length >= size) {
      const take = size - buffered
      parts.push(buffer.subarray(0, take))
      buffer = buffer.subarray(take)
      if (pending) yield { data: pending, last: false }
      pending = Buffer.concat(parts)
      parts = []
      buffered = 0
    }
    if (buffer.length > 0) {
      parts.push(buffer)
      buffered += buffer.length
    }
  }
  // One block is held back until the next exists or the body ends, so the last one is known.
  if (buffered > 0) {
    if (pending) yield { data: pending, last: false }
    yield { data: Buffer.concat(parts), last: true }
  } else if (pending) {
    yield { data: pending, last: true }
  }
}

/** Block size for a put: the configured size, raised so that a known size fits in 50 000 blocks. */
function blockSizeFor(blockSize: number, sizeBytes: number | undefined): number {
  return sizeBytes === undefined ? blockSize : Math.max(blockSize, Math.ceil(sizeBytes / MAX_BLOCKS))
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

// --- fromStoreConfig: etcd-backup-restore's credential rules ---

/** Fields of `AZURE_APPLICATION_CREDENTIALS` (a directory has one file per field). */
const ABS_FIELDS = ['storageAccount', 'storageKey', 'domain', 'emulatorEnabled'] as const
/** The optional package that provides Azure's default credential chain. */
const IDENTITY_PACKAGE = '@azure/identity'

/**
 * Opens the ABS store for a {@link StoreConfig}, finding credentials as etcd-backup-restore
 * does (research notes §4.2): `<P>AZURE_APPLICATION_CREDENTIALS_JSON` (a JSON file) or
 * `<P>AZURE_APPLICATION_CREDENTIALS` (a directory, one file per field, or a `*.json` file in
 * it), with `<P>` the store's env prefix. Fields: `storageAccount` and `storageKey` (required;
 * Shared Key auth), `domain` (instead of `blob.core.windows.net`), `emulatorEnabled` (true:
 * an Azurite account URL, `http://127.0.0.1:10000/<storageAccount>` unless an endpoint override
 * is given).
 *
 * Without those variables, Microsoft Entra ID auth through `@azure/identity`'s
 * `DefaultAzureCredential` (environment, workload identity, managed identity, Azure CLI) is used
 * when that package is installed, for the account named by `<P>AZURE_STORAGE_ACCOUNT`.
 * `config.endpointOverride` (`--store-endpoint-override`) is the account URL; the container URL
 * is `<override>/<container>`.
 * @throws StewardError `CONFIG_INVALID` naming the variable and field at fault
 */
export async function fromStoreConfig(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Snapstore> {
  const base = { container: config.container, blockSize: config.minChunkSize, maxParallelUploads: config.maxParallelChunkUploads }
  const source = await readCredentialFields(config.envPrefix, 'AZURE_APPLICATION_CREDENTIALS', ABS_FIELDS, env)
  if (source.fields) {
    const f = fieldReader(source.fields, source.origin ?? 'AZURE_APPLICATION_CREDENTIALS')
    const accountName = f.required('storageAccount')
    const accountKey = f.required('storageKey')
    const domain = f.text('domain')
    const emulator = f.bool('emulatorEnabled') ?? false
    const endpoint = config.endpointOverride ?? (emulator ? `${AZURITE_DEFAULT_HOST}/${accountName}` : undefined)
    return absSnapstore({ ...base, accountName, accountKey, ...(domain ? { domain } : {}), ...(endpoint ? { endpoint } : {}) })
  }
  const accountVar = `${config.envPrefix}AZURE_STORAGE_ACCOUNT`
  const accountName = env[accountVar]
  const variables = `${config.envPrefix}AZURE_APPLICATION_CREDENTIALS_JSON or ${config.envPrefix}AZURE_APPLICATION_CREDENTIALS`
  if (!accountName) {
    throw new StewardError('CONFIG_INVALID', COMPONENT, `no Azure credentials: set ${variables} (fields storageAccount, storageKey), or ${accountVar} for Microsoft Entra ID auth`, {
      hints: ['a JSON file {"storageAccount": "...", "storageKey": "..."}, or a directory with files storageAccount and storageKey (no trailing newline)'],
    })
  }
  const tokenCredential = await defaultAzureCredential(variables)
  return absSnapstore({ ...base, accountName, tokenCredential, ...(config.endpointOverride ? { endpoint: config.endpointOverride } : {}) })
}

/**
 * `@azure/identity`'s `DefaultAzureCredential`, when that optional package is installed.
 * @param variables the credential-file variables to name when it is not
 * @param load imports the package (replaceable in tests)
 * @throws StewardError `CONFIG_INVALID` when the package is missing, telling which variables to set
 */
export async function defaultAzureCredential(variables: string, load: () => Promise<unknown> = () => import(IDENTITY_PACKAGE)): Promise<TokenCredential> {
  let identity: { DefaultAzureCredential?: new () => TokenCredential }
  try {
    identity = (await load()) as typeof identity
  } catch (error) {
    throw new StewardError('CONFIG_INVALID', COMPONENT, `no Azure credential files are configured and ${IDENTITY_PACKAGE} is not installed, so Microsoft Entra ID auth is unavailable`, {
      cause: error,
      hints: [`set ${variables} (fields storageAccount, storageKey)`, `or install ${IDENTITY_PACKAGE} next to steward to use DefaultAzureCredential`],
    })
  }
  if (typeof identity.DefaultAzureCredential !== 'function') {
    throw new StewardError('CONFIG_INVALID', COMPONENT, `${IDENTITY_PACKAGE} has no DefaultAzureCredential export`, { hints: [`set ${variables} instead`] })
  }
  return new identity.DefaultAzureCredential()
}

/** Typed access to credential fields with errors naming the origin and the field. */
function fieldReader(fields: CredentialFields, origin: string) {
  const invalid = (message: string): StewardError =>
    new StewardError('CONFIG_INVALID', COMPONENT, `${origin}: ${message}`, {
      hints: ['credential files are read verbatim: no trailing newline, booleans as true/false'],
      details: { origin },
    })
  const text = (name: string): string | undefined => {
    const value = fields[name]
    if (value === undefined || value === null || value === '') return undefined
    if (typeof value !== 'string') throw invalid(`field "${name}" must be a string`)
    return value
  }
  return {
    text,
    required(name: string): string {
      const value = text(name)
      if (value === undefined) throw invalid(`field "${name}" is required`)
      return value
    },
    bool(name: string): boolean | undefined {
      try {
        return parseGoBool(fields[name], name)
      } catch (error) {
        throw invalid(isStewardError(error) ? error.reason : messageOf(error))
      }
    },
  }
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

/**
 * Runs one attempt of a request with its own timeout, linked to the caller's signal. A timeout
 * becomes a retryable `ETIMEDOUT` error; the caller's abort stays an abort.
 */
async function timed<T>(signal: AbortSignal | undefined, timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const timeout = new AbortController()
  const timer = setTimeout(() => timeout.abort(), timeoutMs)
  try {
    return await run(signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal)
  } catch (error) {
    if (timeout.signal.aborted && !signal?.aborted) {
      throw Object.assign(new Error(`no response within ${timeoutMs} ms`, { cause: error }), { name: 'TimeoutError', code: 'ETIMEDOUT' })
    }
    throw error
  } finally {
    clearTimeout(timer)
  }
}

/** Fails a body that delivers no byte for `idleMs` with a retryable `ETIMEDOUT`, destroying it. */
async function* withIdleTimeout(body: Readable, idleMs: number): AsyncGenerator<Buffer> {
  let timer: NodeJS.Timeout | undefined
  const arm = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => body.destroy(Object.assign(new Error(`download stalled: no data for ${idleMs} ms`), { code: 'ETIMEDOUT' })), idleMs)
  }
  try {
    arm()
    for await (const chunk of body as AsyncIterable<Buffer>) {
      arm()
      yield chunk
    }
  } finally {
    clearTimeout(timer)
    if (!body.destroyed) body.destroy()
  }
}

function bodyOf(out: AzureSdk.BlobDownloadResponseParsed): Readable {
  const body = out.readableStreamBody
  if (!body) throw new Error('Get Blob returned no body')
  return body as Readable
}

async function loadModule<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (error) {
    throw new StewardError('STORE_FAILED', COMPONENT, `could not load ${name}: ${messageOf(error)}`, {
      cause: error,
      hints: ['reinstall steward (npm ci) so its SDK dependencies are present'],
    })
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

function aborted(what: string, cause?: unknown): StewardError {
  return new StewardError('ABORTED', COMPONENT, `${what} aborted`, cause === undefined ? {} : { cause })
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
  if (isStewardError(error)) return error
  const { container, account, op, target } = ctx
  const code = errorCode(error)
  const status = httpStatus(error)
  const name = (error as { name?: unknown } | null)?.name
  const details = { provider: DRIVER, container, ...(account ? { account } : {}), operation: REST_OPERATIONS[op], target, ...(status !== undefined ? { status } : {}), ...(code ? { error: code } : {}) }
  const where = `ABS ${REST_OPERATIONS[op]} of ${target} in container ${container}${account ? ` (account ${account})` : ''}`
  if (isAbortError(error)) return new StewardError('ABORTED', COMPONENT, `${where} aborted`, { cause: error, details })
  if (code === 'ContainerNotFound') {
    return new StewardError('STORE_NOT_FOUND', COMPONENT, `ABS container ${container} does not exist${account ? ` in account ${account}` : ''} (${REST_OPERATIONS[op]} of ${target})`, {
      cause: error,
      details,
      hints: ['create the container, or check --store / --store-container and the storage account'],
    })
  }
  const message = messageOf(error)
  if (
    code === 'AuthenticationFailed' ||
    code === 'InvalidAuthenticationInfo' ||
    (typeof name === 'string' && TOKEN_FAILURES.has(name)) ||
    (status === 403 && /failed to authenticate/i.test(message))
  ) {
    return new StewardError('CONFIG_INVALID', COMPONENT, `${where} failed: the credentials were rejected (${code ?? name ?? 'HTTP 403'}: ${firstLine(message)})`, {
      cause: error,
      details,
      hints: ['check storageAccount and storageKey in AZURE_APPLICATION_CREDENTIALS(_JSON) (used verbatim), or the Entra ID identity'],
    })
  }
  if (status === 403 || code === 'AuthorizationPermissionMismatch' || code === 'AuthorizationFailure') {
    return new StewardError('STORE_FAILED', COMPONENT, `${where} was denied (${code ?? 'Forbidden'}, HTTP ${status ?? 403}): the identity lacks ${PERMISSIONS[op]} on container ${container}`, {
      cause: error,
      details: { ...details, permission: PERMISSIONS[op] },
      hints: ['grant a role with the data actions listed in docs/storage-abs.md (e.g. Storage Blob Data Contributor) on the container'],
    })
  }
  const errno = (error as { code?: unknown } | null)?.code
  if (errno === 'ENOTFOUND') {
    return new StewardError('STORE_FAILED', COMPONENT, `${where} failed: the host was not found (${firstLine(message)})`, {
      cause: error,
      details,
      hints: ['check storageAccount, domain and --store-endpoint-override'],
    })
  }
  return new StewardError('STORE_FAILED', COMPONENT, `${where} failed: ${code ?? name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${firstLine(message)}`, { cause: error, details })
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text
}
