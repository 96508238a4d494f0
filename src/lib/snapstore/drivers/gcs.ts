/**
 * `GCS` driver: Google Cloud Storage through its JSON API, and GCS emulators reached over plain
 * `http` (research notes §4.3).
 *
 * - `put` reads up to one chunk of the body. A body that ends within it goes up in one simple
 *   (multipart) upload, retried as a whole. A longer body is streamed through a resumable
 *   upload session in chunks of `chunkSize` bytes (one chunk in memory at a time); the SDK
 *   re-sends a failed chunk from the offset the server confirms. The object appears only when
 *   the last chunk is accepted: when the body fails, the put is aborted or a chunk fails for
 *   good, the session is never finalized, no object appears, and GCS discards the session
 *   after a week.
 * - Retries: the SDK's retry options are set from {@link GcsSnapstoreOptions.retry} (throttling,
 *   5xx, resets; exponential backoff from 1 s with up to 1 s of jitter, every operation treated
 *   as idempotent since a put rewrites the same bytes). What the SDK does not retry is covered
 *   with `../retry.ts`: the simple upload (the SDK never replays a request body) and a download
 *   whose body breaks or stalls, which is resumed with a ranged read of the same generation.
 * - `list` pages through objects.list and throws rather than end early.
 * - Absence is `null` (get, head); deleting a missing object is fine; a missing bucket is
 *   `STORE_NOT_FOUND`.
 *
 * The GCS SDK is loaded on first use only (`import type` at the top, `await import()` inside).
 * It takes no AbortSignal: an abort stops waiting at once, destroys upload and download
 * streams, and leaves a metadata request to finish in the background. As with any store, an
 * abort that arrives after an upload's final request was sent cannot recall it.
 */
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type * as GcsSdk from '@google-cloud/storage'
import { StewardError, isStewardError, messageOf } from '../../errors.ts'
import type { StoreConfig } from '../config.ts'
import { assertSafeKey } from '../keys.ts'
import { DEFAULT_RETRY_POLICY, isAbortError, isRetryableError, resumableStream, withRetry, type RetryPolicy } from '../retry.ts'
import type { ObjectInfo, OperationOptions, PutOptions, Snapstore, SnapstoreFactory } from '../types.ts'

const DRIVER = 'GCS'
const COMPONENT = 'snapstore:GCS'

type Storage = GcsSdk.Storage

export interface GcsSnapstoreOptions {
  /** Bucket that holds the objects. Required. */
  readonly bucket: string
  /** Path of a JSON credentials file (service account key, or workload identity federation config). @default the SDK's default chain (process `GOOGLE_APPLICATION_CREDENTIALS`, gcloud application-default credentials, the metadata server) */
  readonly keyFilename?: string
  /** Parsed credentials (a service account key's `client_email` and `private_key`), instead of `keyFilename`. @default none */
  readonly credentials?: { readonly client_email?: string; readonly private_key?: string }
  /** Project id sent with requests that need one. @default the credentials' project */
  readonly projectId?: string
  /**
   * API endpoint instead of `https://storage.googleapis.com`. An `http:` URL is an emulator:
   * requests are sent without authentication. A trailing `/storage/v1` is ignored.
   * @default Google's endpoint
   */
  readonly endpoint?: string
  /** Resumable upload chunk size in bytes (≥ 5 MiB, rounded up to a multiple of 256 KiB as GCS requires); smaller bodies use one simple upload. @default 5242880 */
  readonly chunkSize?: number
  /** Objects requested per objects.list page (1–1000). @default 1000 */
  readonly listPageSize?: number
  /** Retry policy. `maxAttempts` bounds every request; the SDK's delays start at 1 s (`baseDelayMs` applies to the simple upload and resumed downloads only) and are capped at `maxDelayMs` (at least 1 s). @default { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 20000 } */
  readonly retry?: Partial<RetryPolicy>
  /** Time one request may take, in milliseconds (a resumable chunk's upload included); etcd-backup-restore allows a chunk 180 s. @default 180000 */
  readonly requestTimeoutMs?: number
  /** A download that delivers no byte for this long is broken off and resumed, in milliseconds. @default 60000 */
  readonly idleTimeoutMs?: number
  /** A ready `Storage` client (or a function making one) instead of building one from these options. @default none */
  readonly client?: Storage | (() => Promise<Storage>)
}

const MIN_CHUNK_SIZE = 5 * 1024 * 1024
/** GCS requires resumable chunks (all but the last) to be multiples of 256 KiB. */
const CHUNK_GRANULE = 256 * 1024
const CONTENT_TYPE = 'application/octet-stream'
const DEFAULTS = {
  chunkSize: MIN_CHUNK_SIZE,
  listPageSize: 1000,
  requestTimeoutMs: 180_000,
  idleTimeoutMs: 60_000,
} as const

/** IAM permission each operation needs, for access-denied messages. */
const PERMISSIONS = {
  put: 'storage.objects.create (and storage.objects.delete to replace an object)',
  get: 'storage.objects.get',
  head: 'storage.objects.get',
  list: 'storage.objects.list',
  delete: 'storage.objects.delete',
} as const
type Operation = keyof typeof PERMISSIONS
const API_OPERATIONS: Record<Operation, string> = { put: 'objects.insert', get: 'objects.get (media)', head: 'objects.get', list: 'objects.list', delete: 'objects.delete' }

const gcsSnapstore: SnapstoreFactory<GcsSnapstoreOptions> = (input) => {
  const options = Object.freeze({
    ...input,
    endpoint: input.endpoint === undefined ? undefined : apiEndpointOf(input.endpoint),
    chunkSize: input.chunkSize === undefined ? DEFAULTS.chunkSize : Math.ceil(input.chunkSize / CHUNK_GRANULE) * CHUNK_GRANULE,
    listPageSize: input.listPageSize ?? DEFAULTS.listPageSize,
    retry: Object.freeze({ ...DEFAULT_RETRY_POLICY, ...definedOnly(input.retry ?? {}) }),
    requestTimeoutMs: input.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    idleTimeoutMs: input.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
  })
  validateOptions(options, input.chunkSize)
  const bucketName = options.bucket

  let sdk: Promise<typeof GcsSdk> | undefined
  let client: Promise<Storage> | undefined
  const loadSdk = (): Promise<typeof GcsSdk> => (sdk ??= loadModule('@google-cloud/storage', () => import('@google-cloud/storage')))
  const getClient = (): Promise<Storage> => {
    client ??= createClient(options, loadSdk).catch((error: unknown) => {
      client = undefined // let the next call try again
      throw error
    })
    return client
  }
  const bucketOf = async (): Promise<GcsSdk.Bucket> => (await getClient()).bucket(bucketName)
  const fail = (error: unknown, op: Operation, target: string): StewardError => toStewardError(error, { bucket: bucketName, op, target })

  const store: Snapstore = {
    driver: DRIVER,
    location: `gs://${bucketName}${options.endpoint ? ` (endpoint ${options.endpoint})` : ''}`,
    capabilities: { streamingUpload: true, localFiles: false },

    async put(key: string, body: Readable, op: PutOptions = {}): Promise<ObjectInfo> {
      assertSafeKey(DRIVER, key)
      const signal = op.signal
      if (signal?.aborted) {
        body.destroy()
        throw aborted(`upload of ${key}`)
      }
      // Destroying the body fails the pipeline into the upload stream, which then never
      // finalizes its session.
      const onAbort = (): void => {
        body.destroy(Object.assign(new Error('upload aborted'), { name: 'AbortError', code: 'ABORT_ERR' }))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        const file = (await bucketOf()).file(key)
        const source = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>
        const head = await readUpTo(source, options.chunkSize)
        let sizeBytes = head.data.length
        if (head.ended) {
          await withRetry(() => writeOnce(file.createWriteStream(writeOptions(options, false)), head.data, signal), { ...options.retry, ...(signal ? { signal } : {}) })
        } else {
          const rest = (async function* () {
            yield head.data
            for (let next = await source.next(); !next.done; next = await source.next()) {
              const buffer = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
              sizeBytes += buffer.length
              yield buffer
            }
          })()
          await pipeline(Readable.from(rest, { objectMode: false }), file.createWriteStream({ ...writeOptions(options, true), chunkSize: options.chunkSize }))
        }
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
      const signal = op.signal
      const bucket = await bucketOf()
      let metadata: GcsSdk.FileMetadata
      try {
        ;[metadata] = await untilAborted(bucket.file(key).getMetadata(), signal)
      } catch (error) {
        if (isObjectMissing(error)) return null
        throw signal?.aborted ? aborted(`download of ${key}`, error) : fail(error, 'get', key)
      }
      // Every read names the generation just seen: an object replaced meanwhile fails the
      // read instead of mixing two versions' bytes.
      const generation = metadata.generation === undefined ? undefined : Number(metadata.generation)
      const pinned = bucket.file(key, generation === undefined ? {} : { generation })
      const expectedBytes = Number(metadata.size ?? Number.NaN)
      const open = async (offset: number): Promise<AsyncIterable<Uint8Array>> => {
        const stream = pinned.createReadStream(offset === 0 ? { validation: 'crc32c', decompress: false } : { start: offset, validation: false, decompress: false })
        return withIdleTimeout(stream, options.idleTimeoutMs)
      }
      const result = resumableStream(open, {
        ...(Number.isFinite(expectedBytes) ? { expectedBytes } : {}),
        ...options.retry,
        ...(signal ? { signal } : {}),
        mapError: (error) => (signal?.aborted ? aborted(`download of ${key}`, error) : fail(error, 'get', key)),
      })
      if (signal) {
        const onAbort = (): void => {
          result.destroy(aborted(`download of ${key}`))
        }
        signal.addEventListener('abort', onAbort, { once: true })
        result.once('close', () => signal.removeEventListener('abort', onAbort))
      }
      return result
    },

    async head(key: string, op: OperationOptions = {}): Promise<ObjectInfo | null> {
      assertSafeKey(DRIVER, key)
      const bucket = await bucketOf()
      try {
        const [metadata] = await untilAborted(bucket.file(key).getMetadata(), op.signal)
        return infoOf(key, metadata)
      } catch (error) {
        if (isObjectMissing(error)) return null
        throw op.signal?.aborted ? aborted(`head of ${key}`, error) : fail(error, 'head', key)
      }
    },

    async *list(prefix: string, op: OperationOptions = {}): AsyncIterable<ObjectInfo> {
      const bucket = await bucketOf()
      const target = prefix ? `prefix ${JSON.stringify(prefix)}` : 'the whole bucket'
      const tokens = new Set<string>()
      let token: string | undefined
      let page = 0
      do {
        page += 1
        if (op.signal?.aborted) throw aborted(`listing ${target}`)
        let files: GcsSdk.File[]
        let next: string | undefined
        try {
          const query: GcsSdk.GetFilesOptions = { autoPaginate: false, maxResults: options.listPageSize, ...(prefix ? { prefix } : {}), ...(token ? { pageToken: token } : {}) }
          const [found, nextQuery] = await untilAborted(bucket.getFiles(query), op.signal)
          files = found
          next = (nextQuery as { pageToken?: string } | null)?.pageToken || undefined
        } catch (error) {
          if (op.signal?.aborted) throw aborted(`listing ${target}`, error)
          const wrapped = fail(error, 'list', target)
          if (page > 1 && wrapped.code === 'STORE_FAILED') {
            throw new StewardError('STORE_FAILED', COMPONENT, `listing ${target} of bucket ${bucketName} failed at page ${page}; refusing to return a partial listing: ${wrapped.reason}`, {
              cause: error,
              hints: wrapped.hints,
              details: { ...wrapped.context, page },
            })
          }
          throw wrapped
        }
        for (const file of files) yield infoOf(file.name, file.metadata)
        if (next !== undefined && tokens.has(next)) {
          throw new StewardError('STORE_FAILED', COMPONENT, `listing ${target} of bucket ${bucketName}: page ${page} repeats an earlier page token; refusing to return a partial listing`, {
            details: { bucket: bucketName, prefix, page },
            hints: ['the server does not paginate objects.list correctly'],
          })
        }
        if (next !== undefined) tokens.add(next)
        token = next
      } while (token !== undefined)
    },

    async delete(key: string, op: OperationOptions = {}): Promise<void> {
      assertSafeKey(DRIVER, key)
      const bucket = await bucketOf()
      try {
        await untilAborted(bucket.file(key).delete(), op.signal)
      } catch (error) {
        if (isObjectMissing(error)) return
        throw op.signal?.aborted ? aborted(`delete of ${key}`, error) : fail(error, 'delete', key)
      }
    },

    async dispose(): Promise<void> {
      // The SDK holds no sockets of its own (its HTTP agents are shared and unref'd when idle);
      // dropping the client lets it be collected.
      client = undefined
    },
  }
  return store
}

export default gcsSnapstore

// --- uploads ---

/** Upload options common to both paths: fixed content type (no MIME sniffing), CRC32C check of what the server stored. */
function writeOptions(options: ResolvedOptions, resumable: boolean): GcsSdk.CreateWriteStreamOptions {
  return { resumable, validation: 'crc32c', contentType: CONTENT_TYPE, metadata: { contentType: CONTENT_TYPE }, timeout: options.requestTimeoutMs }
}

/** One simple upload of `data` into a fresh write stream; an abort destroys the stream. */
async function writeOnce(stream: Writable, data: Buffer, signal: AbortSignal | undefined): Promise<void> {
  await pipeline(Readable.from([data]), stream, signal ? { signal } : {})
}

/** Reads from `source` until `limit` bytes are buffered or it ends. */
async function readUpTo(source: AsyncIterator<Buffer | string>, limit: number): Promise<{ data: Buffer; ended: boolean }> {
  const parts: Buffer[] = []
  let size = 0
  while (size < limit) {
    const next = await source.next()
    if (next.done) return { data: Buffer.concat(parts), ended: true }
    const buffer = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
    parts.push(buffer)
    size += buffer.length
  }
  return { data: Buffer.concat(parts), ended: false }
}

// --- client construction ---

type ResolvedOptions = GcsSnapstoreOptions & {
  readonly chunkSize: number
  readonly listPageSize: number
  readonly retry: RetryPolicy
  readonly requestTimeoutMs: number
  readonly idleTimeoutMs: number
}

async function createClient(options: ResolvedOptions, loadSdk: () => Promise<typeof GcsSdk>): Promise<Storage> {
  if (options.client) return typeof options.client === 'function' ? options.client() : options.client
  const { Storage, IdempotencyStrategy, RETRYABLE_ERR_FN_DEFAULT } = await loadSdk()
  const emulator = options.endpoint?.startsWith('http:') ?? false
  const storage = new Storage({
    ...(options.endpoint ? { apiEndpoint: options.endpoint, useAuthWithCustomEndpoint: !emulator } : {}),
    ...(options.keyFilename && !emulator ? { keyFilename: options.keyFilename } : {}),
    ...(options.credentials && !emulator ? { credentials: { ...options.credentials } } : {}),
    ...(options.projectId ? { projectId: options.projectId } : {}),
    timeout: options.requestTimeoutMs,
    retryOptions: {
      autoRetry: options.retry.maxAttempts > 1,
      maxRetries: Math.max(1, options.retry.maxAttempts - 1),
      retryDelayMultiplier: 2,
      // Seconds; the SDK's backoff starts at 1 s and its session-creation retry rejects a cap below that.
      maxRetryDelay: Math.max(1, options.retry.maxDelayMs / 1000),
      idempotencyStrategy: IdempotencyStrategy.RetryAlways,
      retryableErrorFn: (error) => RETRYABLE_ERR_FN_DEFAULT(error) || isRetryableError(error),
    },
  })
  // Resumable uploads send their chunks outside the SDK's JSON-API path: an interceptor gives
  // those requests the same timeout.
  type Interceptor = Storage['interceptors'][number]
  storage.interceptors.push({ request: (request) => ({ ...request, timeout: options.requestTimeoutMs }) as ReturnType<Interceptor['request']> })
  return storage
}

/** `http://host:port/storage/v1/` → `http://host:port`: the SDK adds the API paths itself. */
function apiEndpointOf(endpoint: string): string {
  return endpoint.replace(/\/+$/, '').replace(/\/storage\/v1$/, '')
}

// --- fromStoreConfig: etcd-backup-restore's credential rules ---

/**
 * Opens the GCS store for a {@link StoreConfig}, finding credentials as etcd-backup-restore does
 * (research notes §4.3): `<P>GOOGLE_APPLICATION_CREDENTIALS` names a JSON credentials file
 * (`type` `service_account`, or `external_account` for workload identity federation), with
 * `<P>` the store's env prefix; without it, the SDK's default chain is used. The endpoint is
 * `config.endpointOverride`, else the deprecated `storageAPIEndpoint` file next to the
 * credentials file; an `http:` endpoint is an emulator and is used without authentication.
 * @throws StewardError `CONFIG_INVALID` naming the variable and field at fault
 */
export async function fromStoreConfig(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Snapstore> {
  const variable = `${config.envPrefix}GOOGLE_APPLICATION_CREDENTIALS`
  const keyFilename = env[variable] || undefined
  let projectId: string | undefined
  let endpoint = config.endpointOverride
  if (keyFilename) {
    projectId = await checkCredentialsFile(keyFilename, variable)
    endpoint ??= await readOptionalFile(join(dirname(keyFilename), 'storageAPIEndpoint'), variable)
  }
  if (endpoint !== undefined && !URL.canParse(endpoint)) {
    throw new StewardError('CONFIG_INVALID', COMPONENT, `GCS endpoint ${JSON.stringify(endpoint)} is not a URL`, { hints: ['pass --store-endpoint-override http://host:port for an emulator'] })
  }
  return gcsSnapstore({
    bucket: config.container,
    chunkSize: config.minChunkSize,
    ...(keyFilename ? { keyFilename } : {}),
    ...(projectId ? { projectId } : {}),
    ...(endpoint ? { endpoint } : {}),
  })
}

/** Fields a service account key file must carry. */
const SERVICE_ACCOUNT_FIELDS = ['project_id', 'client_email', 'private_key'] as const
/** Fields a workload identity federation config must carry. */
const EXTERNAL_ACCOUNT_FIELDS = ['audience', 'subject_token_type', 'token_url', 'credential_source'] as const

/**
 * Checks that the credentials file is a JSON object of a supported `type` with its required
 * fields, and returns its project id (for `external_account`, from a `projectID` file beside it).
 * @throws StewardError `CONFIG_INVALID` naming the variable and the field
 */
async function checkCredentialsFile(path: string, variable: string): Promise<string | undefined> {
  const invalid = (message: string): StewardError =>
    new StewardError('CONFIG_INVALID', COMPONENT, `${variable}=${path}: ${message}`, {
      hints: ['point it at a service account key (JSON) or a workload identity federation config'],
      details: { variable, path },
    })
  let json: Record<string, unknown>
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'))
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object')
    json = value as Record<string, unknown>
  } catch (error) {
    throw invalid(`cannot read the credentials file: ${messageOf(error)}`)
  }
  const type = json['type']
  const required = type === 'service_account' ? SERVICE_ACCOUNT_FIELDS : type === 'external_account' ? EXTERNAL_ACCOUNT_FIELDS : null
  if (!required) throw invalid(`field "type" must be "service_account" or "external_account", got ${JSON.stringify(type)}`)
  for (const field of required) {
    if (json[field] === undefined || json[field] === '') throw invalid(`field "${field}" is required for type ${type}`)
  }
  if (type === 'service_account') return typeof json['project_id'] === 'string' ? json['project_id'] : undefined
  return readOptionalFile(join(dirname(path), 'projectID'), variable)
}

/** A file's content (verbatim), or `undefined` when it does not exist. */
async function readOptionalFile(path: string, variable: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')) || undefined
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new StewardError('CONFIG_INVALID', COMPONENT, `${variable}: cannot read ${path}: ${messageOf(error)}`)
  }
}

// --- helpers ---

function validateOptions(options: ResolvedOptions, requestedChunkSize: number | undefined): void {
  const invalid = (message: string, hints: string[] = []): StewardError => new StewardError('CONFIG_INVALID', COMPONENT, message, { hints })
  if (!options.bucket) throw invalid('the bucket name is missing', ['pass --store gs://bucket/prefix or --store-container <bucket>'])
  if (requestedChunkSize !== undefined && (!Number.isInteger(requestedChunkSize) || requestedChunkSize < MIN_CHUNK_SIZE)) {
    throw invalid(`chunk size ${requestedChunkSize} is below the minimum of ${MIN_CHUNK_SIZE} bytes (5 MiB)`)
  }
  if (!Number.isInteger(options.listPageSize) || options.listPageSize < 1 || options.listPageSize > 1000) throw invalid(`list page size must be 1–1000, got ${options.listPageSize}`)
  if (options.endpoint !== undefined && !URL.canParse(options.endpoint)) throw invalid(`endpoint ${JSON.stringify(options.endpoint)} is not a URL`)
  if (!(options.requestTimeoutMs > 0) || !(options.idleTimeoutMs > 0)) throw invalid('timeouts must be positive')
}

function infoOf(key: string, metadata: GcsSdk.FileMetadata): ObjectInfo {
  const updated = metadata.updated ?? metadata.timeCreated
  return { key, sizeBytes: Number(metadata.size ?? 0), lastModified: updated ? new Date(updated) : new Date(0) }
}

/** Rejects with an `AbortError` as soon as `signal` aborts; the request itself runs on. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) {
    promise.catch(() => undefined)
    return Promise.reject(abortError())
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError())
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

function abortError(): Error {
  return Object.assign(new Error('the operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' })
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

/** The HTTP status of an SDK error: `ApiError.code`, or a Gaxios error's `status`/`response.status`. */
function httpStatus(error: unknown): number | undefined {
  const e = error as { code?: unknown; status?: unknown; response?: { status?: unknown } } | null | undefined
  for (const value of [e?.code, e?.status, e?.response?.status]) if (typeof value === 'number' && value >= 100 && value <= 599) return value
  return undefined
}

/** GCS answers 404 for a missing bucket and for a missing object; only the message tells them apart. */
function isBucketMissing(error: unknown): boolean {
  return httpStatus(error) === 404 && /bucket does not exist/i.test(errorText(error))
}

function isObjectMissing(error: unknown): boolean {
  return httpStatus(error) === 404 && !isBucketMissing(error)
}

/** The error's message plus any API error body it carries. */
function errorText(error: unknown): string {
  const e = error as { response?: { data?: unknown } } | null | undefined
  const data = e?.response?.data
  return `${messageOf(error)} ${typeof data === 'string' ? data : data ? JSON.stringify(data) : ''}`
}

/** Messages google-auth-library uses when credentials are missing or refused. */
const CREDENTIAL_FAILURE = /could not load the default credentials|invalid_grant|invalid_client|unauthorized_client|does not contain a client_email|private key|no key or keyfile set|invalid jwt/i

interface FailureContext {
  readonly bucket: string
  readonly op: Operation
  readonly target: string
}

/** Turns an SDK error into one StewardError that names provider, bucket, operation and (for access errors) the permission. */
function toStewardError(error: unknown, ctx: FailureContext): StewardError {
  if (isStewardError(error)) return error
  const { bucket, op, target } = ctx
  const status = httpStatus(error)
  const message = messageOf(error)
  const details = { provider: DRIVER, bucket, operation: API_OPERATIONS[op], target, ...(status !== undefined ? { status } : {}) }
  const where = `GCS ${API_OPERATIONS[op]} of ${target} in bucket ${bucket}`
  if (isAbortError(error)) return new StewardError('ABORTED', COMPONENT, `${where} aborted`, { cause: error, details })
  if (isBucketMissing(error)) {
    return new StewardError('STORE_NOT_FOUND', COMPONENT, `GCS bucket ${bucket} does not exist (${API_OPERATIONS[op]} of ${target})`, {
      cause: error,
      details,
      hints: ['create the bucket, or check --store / --store-container and the endpoint'],
    })
  }
  if (status === 401 || CREDENTIAL_FAILURE.test(message)) {
    return new StewardError('CONFIG_INVALID', COMPONENT, `${where} failed: the credentials were rejected or not found (${firstLine(message)})`, {
      cause: error,
      details,
      hints: ['check GOOGLE_APPLICATION_CREDENTIALS (a service account key or workload identity config), or the default chain (gcloud auth application-default login, the metadata server)'],
    })
  }
  if (status === 403) {
    return new StewardError('STORE_FAILED', COMPONENT, `${where} was denied (HTTP 403): the credentials lack ${PERMISSIONS[op]} on bucket ${bucket}`, {
      cause: error,
      details: { ...details, permission: PERMISSIONS[op] },
      hints: ['grant the IAM permissions listed in docs/storage-gcs.md (e.g. roles/storage.objectAdmin) on the bucket'],
    })
  }
  return new StewardError('STORE_FAILED', COMPONENT, `${where} failed${status ? ` (HTTP ${status})` : ''}: ${firstLine(message)}`, { cause: error, details })
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text
}
