/**
 * `GCS` driver: Google Cloud Storage through its JSON API, and GCS emulators reached over plain
 * `http` (research notes §4.3).
 *
 * - `put` reads up to one chunk of the body. A body that ends within it goes up in one simple
 *   (multipart) upload, retried as a whole. A longer body is streamed through a resumable
 *   upload session in chunks of `chunkSize` bytes (one chunk in memory at a time); the SDK
 *   re-sends a failed chunk from the offset the server confirms. The object appears only when
 *   the last chunk is accepted: when the body fails, the put is aborted or a chunk fails for
 *   good, the session is never finalized and no object appears; the session is then cancelled
 *   (DELETE on the session URI, which needs no other credential) so that no upload stays open.
 *   If even that fails, GCS discards the session after a week.
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
import { Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type * as GcsSdk from '@google-cloud/storage'
import { StewardError, messageOf } from '../../errors.ts'
import type { StoreConfig } from '../config.ts'
import { assertSafeKey } from '../keys.ts'
import { isRetryableError, resumableStream, type RetryPolicy } from '../retry.ts'
import type { ObjectInfo, OperationOptions, PutOptions, Snapstore, SnapstoreFactory } from '../types.ts'
import { aborted as abortedIn, firstLine, mapStoreError, type Operation, type OperationTable } from './_shared/errors.ts'
import { guardedPut, lazy, loadModule, retryPolicyOf } from './_shared/lifecycle.ts'
import { listPages } from './_shared/listing.ts'
import { isAttemptTimeout, timedWithRetry, untilAborted, withIdleTimeout } from './_shared/timeouts.ts'
import { gcsOptionsFor } from './gcs-credentials.ts'

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

/** JSON API method and IAM permission of each operation, for messages. */
const OPERATIONS: OperationTable = {
  put: { api: 'objects.insert', permission: 'storage.objects.create (and storage.objects.delete to replace an object)' },
  get: { api: 'objects.get (media)', permission: 'storage.objects.get' },
  head: { api: 'objects.get', permission: 'storage.objects.get' },
  list: { api: 'objects.list', permission: 'storage.objects.list' },
  delete: { api: 'objects.delete', permission: 'storage.objects.delete' },
}
const aborted = (what: string, cause?: unknown): StewardError => abortedIn(COMPONENT, what, cause)

const gcsSnapstore: SnapstoreFactory<GcsSnapstoreOptions> = (input) => {
  const options = Object.freeze({
    ...input,
    endpoint: input.endpoint === undefined ? undefined : apiEndpointOf(input.endpoint),
    chunkSize: input.chunkSize === undefined ? DEFAULTS.chunkSize : Math.ceil(input.chunkSize / CHUNK_GRANULE) * CHUNK_GRANULE,
    listPageSize: input.listPageSize ?? DEFAULTS.listPageSize,
    retry: retryPolicyOf(input.retry),
    requestTimeoutMs: input.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    idleTimeoutMs: input.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
  })
  validateOptions(options, input.chunkSize)
  const bucketName = options.bucket

  const sdk = lazy(() => loadModule('@google-cloud/storage', () => import('@google-cloud/storage'), COMPONENT))
  const client = lazy(() => createClient(options, sdk.get))
  const bucketOf = async (): Promise<GcsSdk.Bucket> => (await client.get()).bucket(bucketName)
  const fail = (error: unknown, op: Operation, target: string): StewardError => toStewardError(error, { bucket: bucketName, op, target })
  /**
   * A JSON-API call through the SDK (which retries it on its own), bounded per attempt by
   * `requestTimeoutMs`: the SDK's timeout does not reach a request that never gets an answer.
   * Only those timeouts are retried here, so the SDK's retries are not multiplied by ours.
   */
  const sdkCall = <T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> =>
    timedWithRetry(signal, options.requestTimeoutMs, options.retry, (attempt) => untilAborted(run(), attempt), isAttemptTimeout)

  const store: Snapstore = {
    driver: DRIVER,
    location: `gs://${bucketName}${options.endpoint ? ` (endpoint ${options.endpoint})` : ''}`,
    capabilities: { streamingUpload: true, localFiles: false },

    async put(key: string, body: Readable, op: PutOptions = {}): Promise<ObjectInfo> {
      assertSafeKey(DRIVER, key)
      const signal = op.signal
      const errors = { aborted: (cause?: unknown) => aborted(`upload of ${key}`, cause), fail: (error: unknown) => fail(error, 'put', key) }
      // Destroying the body fails the pipeline into the upload stream, which then never
      // finalizes its session.
      const sizeBytes = await guardedPut(body, signal, errors, async () => {
        const file = (await bucketOf()).file(key)
        const source = body[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>
        const head = await readUpTo(source, options.chunkSize)
        let size = head.data.length
        if (head.ended) {
          // The SDK does not apply its timeout to a simple upload: each attempt gets ours.
          await timedWithRetry(signal, options.requestTimeoutMs, options.retry, (attempt) => writeOnce(file.createWriteStream(writeOptions(options, false)), head.data, attempt))
        } else {
          const rest = (async function* () {
            yield head.data
            for (let next = await source.next(); !next.done; next = await source.next()) {
              const buffer = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
              size += buffer.length
              yield buffer
            }
          })()
          // The session is opened first, so its URI is known whenever the upload fails.
          const [sessionUri] = await sdkCall(signal, () => file.createResumableUpload({ metadata: { contentType: CONTENT_TYPE } }))
          try {
            await pipeline(Readable.from(rest, { objectMode: false }), file.createWriteStream({ ...writeOptions(options, true), chunkSize: options.chunkSize, uri: sessionUri, offset: 0 }))
          } catch (error) {
            await cancelSession(sessionUri, options.requestTimeoutMs)
            throw error
          }
        }
        if (signal?.aborted) throw aborted(`upload of ${key}`)
        return size
      })
      return { key, sizeBytes, lastModified: new Date() }
    },

    async get(key: string, op: OperationOptions = {}): Promise<Readable | null> {
      assertSafeKey(DRIVER, key)
      const signal = op.signal
      const bucket = await bucketOf()
      let metadata: GcsSdk.FileMetadata
      try {
        ;[metadata] = await sdkCall(signal, () => bucket.file(key).getMetadata())
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
        const [metadata] = await sdkCall(op.signal, () => bucket.file(key).getMetadata())
        return infoOf(key, metadata)
      } catch (error) {
        if (isObjectMissing(error)) return null
        throw op.signal?.aborted ? aborted(`head of ${key}`, error) : fail(error, 'head', key)
      }
    },

    async *list(prefix: string, op: OperationOptions = {}): AsyncIterable<ObjectInfo> {
      const bucket = await bucketOf()
      const target = prefix ? `prefix ${JSON.stringify(prefix)}` : 'the whole bucket'
      const signal = op.signal
      yield* listPages({
        component: COMPONENT,
        scope: `bucket ${bucketName}`,
        target,
        tokenName: 'page token',
        paginationHint: 'the server does not paginate objects.list correctly',
        details: { bucket: bucketName, prefix },
        fail: (error) => fail(error, 'list', target),
        async fetch(token) {
          if (signal?.aborted) throw aborted(`listing ${target}`)
          try {
            const query: GcsSdk.GetFilesOptions = { autoPaginate: false, maxResults: options.listPageSize, ...(prefix ? { prefix } : {}), ...(token ? { pageToken: token } : {}) }
            const [files, nextQuery] = await sdkCall(signal, () => bucket.getFiles(query))
            return { items: files.map((file) => infoOf(file.name, file.metadata)), next: (nextQuery as { pageToken?: string } | null)?.pageToken || undefined }
          } catch (error) {
            throw signal?.aborted ? aborted(`listing ${target}`, error) : error
          }
        },
      })
    },

    async delete(key: string, op: OperationOptions = {}): Promise<void> {
      assertSafeKey(DRIVER, key)
      const bucket = await bucketOf()
      try {
        await sdkCall(op.signal, () => bucket.file(key).delete())
      } catch (error) {
        if (isObjectMissing(error)) return
        throw op.signal?.aborted ? aborted(`delete of ${key}`, error) : fail(error, 'delete', key)
      }
    },

    async dispose(): Promise<void> {
      // The SDK holds no sockets of its own (its HTTP agents are shared and unref'd when idle);
      // dropping the client lets it be collected.
      client.take()
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

/**
 * Cancels a resumable upload session (DELETE on its URI; GCS answers 499). The session URI is
 * its own credential. Best effort, one attempt bounded by `timeoutMs`: a session left open
 * expires after a week and never becomes an object.
 */
async function cancelSession(uri: string, timeoutMs: number): Promise<void> {
  try {
    const answer = await fetch(uri, { method: 'DELETE', headers: { 'content-length': '0' }, signal: AbortSignal.timeout(timeoutMs) })
    await answer.body?.cancel()
  } catch {
    // unreachable: leave the session to expire
  }
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

/** The variable naming the credential file, watched for rotation (research notes §4.9). */
export function credentialVariables(config: StoreConfig): readonly string[] {
  return [`${config.envPrefix}GOOGLE_APPLICATION_CREDENTIALS`]
}

/**
 * Opens the GCS store for a {@link StoreConfig}, finding credentials as etcd-backup-restore does
 * (`./gcs-credentials.ts`, research notes §4.3).
 * @throws StewardError `CONFIG_INVALID` naming the variable and field at fault
 */
export async function fromStoreConfig(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Snapstore> {
  return gcsSnapstore(await gcsOptionsFor(config, env))
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
  const { bucket, op, target } = ctx
  const { api, permission } = OPERATIONS[op]
  const status = httpStatus(error)
  const details = { provider: DRIVER, bucket, operation: api, target, ...(status !== undefined ? { status } : {}) }
  const where = `GCS ${api} of ${target} in bucket ${bucket}`
  return mapStoreError(error, { component: COMPONENT, where, details }, (kit) => {
    const message = messageOf(error)
    if (isBucketMissing(error)) return kit.notFound(`GCS bucket ${bucket} does not exist (${api} of ${target})`, 'create the bucket, or check --store / --store-container and the endpoint')
    if (status === 401 || CREDENTIAL_FAILURE.test(message)) {
      return kit.config(
        `the credentials were rejected or not found (${firstLine(message)})`,
        'check GOOGLE_APPLICATION_CREDENTIALS (a service account key or workload identity config), or the default chain (gcloud auth application-default login, the metadata server)',
      )
    }
    if (status === 403) {
      return kit.denied('HTTP 403', `the credentials lack ${permission} on bucket ${bucket}`, permission, 'grant the IAM permissions listed in docs/storage-gcs.md (e.g. roles/storage.objectAdmin) on the bucket')
    }
    return kit.failed(`failed${status ? ` (HTTP ${status})` : ''}: ${firstLine(message)}`)
  })
}
