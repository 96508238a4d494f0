/**
 * `S3` driver: Amazon S3 and S3-compatible servers (MinIO, Ceph RGW, …), plus
 * etcd-backup-restore's two S3-based providers `ECS` (Dell EMC ECS) and `OCS` (OpenShift
 * Container Storage), which differ only in how credentials and the endpoint are found
 * (research notes §4.1, §4.6, §4.7).
 *
 * - `put` streams the body as a multipart upload (`./_shared/upload.ts`): parts of `partSize`
 *   bytes read into `queueSize` reusable buffers, `queueSize` in flight, so memory stays at
 *   `partSize × queueSize` (fewer parts when the caller's pipeline holds buffers of its own,
 *   `PutOptions.heldElsewhereBytes`). A body that fits in one part goes up in a single PutObject.
 *   When the body fails, the put is aborted, or a part fails for good, the multipart upload is
 *   aborted (AbortMultipartUpload) before `put` rejects: no object appears and no parts are
 *   left behind.
 * - Every request goes through the SDK with a retry strategy built on `../retry.ts`
 *   (throttling, 5xx, resets; exponential backoff with full jitter) and per-request
 *   connection/request/idle timeouts. A download whose body breaks is resumed with a ranged
 *   GET pinned to the first response's ETag.
 * - `list` pages through ListObjectsV2 and throws rather than end early.
 * - Absence is `null` (get, head); deleting a missing key is fine.
 *
 * The AWS SDK is loaded on first use only (`import type` at the top, `await import()` inside).
 */
import type { Readable } from 'node:stream'
import type * as S3Sdk from '@aws-sdk/client-s3'
import { StewardError, messageOf } from '../../errors.ts'
import type { StoreConfig } from '../config.ts'
import { assertSafeKey } from '../keys.ts'
import { isRetryableError, resumableStream, retryDelayMs, type RetryPolicy } from '../retry.ts'
import type { ObjectInfo, OperationOptions, PutOptions, Snapstore, SnapstoreFactory } from '../types.ts'
import { aborted, mapStoreError, type Operation, type OperationTable } from './_shared/errors.ts'
import { guardedPut, lazy, loadModule, retryPolicyOf } from './_shared/lifecycle.ts'
import { listPages } from './_shared/listing.ts'
import { partSizeFor, uploadParts, type PartSink } from './_shared/upload.ts'
import { s3OptionsFor } from './s3-credentials.ts'

/** Provider ids this driver serves. */
export type S3ProviderId = 'S3' | 'ECS' | 'OCS'

type S3Client = S3Sdk.S3Client
type S3ClientConfig = S3Sdk.S3ClientConfig
type RetryStrategyV2 = Extract<NonNullable<S3ClientConfig['retryStrategy']>, { acquireInitialRetryToken: unknown }>

/** Static credentials, or a provider function as the AWS SDK accepts. */
export type S3Credentials = NonNullable<S3ClientConfig['credentials']>

export interface S3SnapstoreOptions {
  /** Bucket that holds the objects. Required. */
  readonly bucket: string
  /** Provider id reported as the store's `driver` and in messages. @default 'S3' */
  readonly provider?: S3ProviderId
  /** AWS region. @default the SDK's resolution (`AWS_REGION`, the shared config file) */
  readonly region?: string
  /** Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:9000`. @default AWS's endpoint for the region */
  readonly endpoint?: string
  /** Path-style addressing (`<endpoint>/<bucket>/<key>`) instead of virtual-hosted style. @default true when `endpoint` is set, else false */
  readonly forcePathStyle?: boolean
  /** Credentials. @default the AWS SDK default chain (env, shared files, web identity, ECS/EC2 metadata) */
  readonly credentials?: S3Credentials
  /** Assume this role with the web-identity token in `tokenFile` (STS AssumeRoleWithWebIdentity); used when `credentials` is not set. @default none */
  readonly webIdentity?: { readonly roleArn: string; readonly tokenFile: string }
  /** Skip TLS certificate verification (test setups only). @default false */
  readonly insecureSkipVerify?: boolean
  /** PEM CA bundle to trust for the endpoint; TLS 1.3 is then required, as etcd-backup-restore does. @default the system CAs */
  readonly trustedCaCert?: string
  /** SSE-C key: base64 of 32 bytes is sent as is, any other value base64-encoded; its MD5 goes alongside (the AWS SDK's rule, docs/storage-s3.md). Needs `sseCustomerAlgorithm`. @default none */
  readonly sseCustomerKey?: string
  /** SSE-C algorithm, e.g. `AES256`; needs `sseCustomerKey`. @default none */
  readonly sseCustomerAlgorithm?: string
  /** When to send request checksums; `WHEN_REQUIRED` helps S3-compatible servers that reject the newer CRC headers. @default 'WHEN_SUPPORTED' (SDK default) */
  readonly requestChecksumCalculation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'
  /** When to validate response checksums. @default 'WHEN_SUPPORTED' (SDK default) */
  readonly responseChecksumValidation?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'
  /** Multipart part size in bytes (≥ 5 MiB); raised to `ceil(size / 10000)` when a put's size is known and larger. @default 5242880 */
  readonly partSize?: number
  /** Parts uploaded in parallel per put. @default 5 */
  readonly queueSize?: number
  /** Keys requested per ListObjectsV2 page (1–1000). @default 1000 */
  readonly listPageSize?: number
  /** Retry policy for every request and for resuming broken downloads. @default { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 20000 } */
  readonly retry?: Partial<RetryPolicy>
  /** Time allowed to establish a connection, in milliseconds. @default 10000 */
  readonly connectionTimeoutMs?: number
  /** Time allowed from sending a request (body included) to its response headers, in milliseconds; etcd-backup-restore allows a chunk 180 s. @default 180000 */
  readonly requestTimeoutMs?: number
  /** A connection idle this long (no bytes either way, e.g. a stalled download) fails, in milliseconds. @default 60000 */
  readonly socketTimeoutMs?: number
  /** A ready client (or a function making one) instead of building one from these options; `dispose` leaves an injected client open. @default none */
  readonly client?: S3Client | (() => Promise<S3Client>)
}

/** S3's limit on parts per multipart upload. */
const MAX_PARTS = 10_000
const MIN_PART_SIZE = 5 * 1024 * 1024
const DEFAULTS = {
  provider: 'S3',
  partSize: MIN_PART_SIZE,
  queueSize: 5,
  listPageSize: 1000,
  connectionTimeoutMs: 10_000,
  requestTimeoutMs: 180_000,
  socketTimeoutMs: 60_000,
} as const

/** SDK operation and IAM permission of each operation, for messages. */
const OPERATIONS: OperationTable = {
  put: { api: 'PutObject/UploadPart', permission: 's3:PutObject (and s3:AbortMultipartUpload)' },
  get: { api: 'GetObject', permission: 's3:GetObject' },
  head: { api: 'HeadObject', permission: 's3:GetObject (and s3:ListBucket, without which a missing key answers 403)' },
  list: { api: 'ListObjectsV2', permission: 's3:ListBucket' },
  delete: { api: 'DeleteObject', permission: 's3:DeleteObject' },
}

const s3Snapstore: SnapstoreFactory<S3SnapstoreOptions> = (input) => {
  const options = Object.freeze({
    ...input,
    provider: input.provider ?? DEFAULTS.provider,
    partSize: input.partSize ?? DEFAULTS.partSize,
    queueSize: input.queueSize ?? DEFAULTS.queueSize,
    listPageSize: input.listPageSize ?? DEFAULTS.listPageSize,
    retry: retryPolicyOf(input.retry),
    connectionTimeoutMs: input.connectionTimeoutMs ?? DEFAULTS.connectionTimeoutMs,
    requestTimeoutMs: input.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    socketTimeoutMs: input.socketTimeoutMs ?? DEFAULTS.socketTimeoutMs,
  })
  const provider = options.provider
  const component = `snapstore:${provider}`
  validateOptions(options, component)
  const bucket = options.bucket
  const sse = options.sseCustomerKey ? { SSECustomerAlgorithm: options.sseCustomerAlgorithm, SSECustomerKey: options.sseCustomerKey } : {}

  const sdk = lazy(() => loadModule('@aws-sdk/client-s3', () => import('@aws-sdk/client-s3'), component))
  const client = lazy(() => createClient(options, sdk.get, component))
  const ownsClient = options.client === undefined
  const open = (): Promise<[S3Client, typeof S3Sdk]> => Promise.all([client.get(), sdk.get()])
  const fail = (error: unknown, op: Operation, target: string): StewardError => toStewardError(error, { provider, component, bucket, op, target })

  const store: Snapstore = {
    driver: provider,
    location: options.endpoint ? `s3://${bucket} (endpoint ${options.endpoint})` : `s3://${bucket}`,
    capabilities: { streamingUpload: true, localFiles: false },

    async put(key: string, body: Readable, op: PutOptions = {}): Promise<ObjectInfo> {
      assertSafeKey(provider, key)
      const errors = { aborted: (cause?: unknown) => aborted(component, `upload of ${key}`, cause), fail: (error: unknown) => fail(error, 'put', key) }
      // An abort that arrives after the last part went out is too late: the object is complete.
      const sizeBytes = await guardedPut(body, op.signal, errors, async (stop) => {
        const [s3, api] = await open()
        const sink = multipartSink(s3, api, { Bucket: bucket, Key: key, ...sse }, stop.signal)
        const partSize = partSizeFor(options.partSize, op.sizeBytes, MAX_PARTS)
        return uploadParts(body, { partSize, parallel: options.queueSize, heldElsewhereBytes: op.heldElsewhereBytes, maxParts: MAX_PARTS, component, partName: 'parts', stopOthers: () => stop.abort() }, sink)
      })
      return { key, sizeBytes, lastModified: new Date() }
    },

    async get(key: string, op: OperationOptions = {}): Promise<Readable | null> {
      assertSafeKey(provider, key)
      const [s3, { GetObjectCommand }] = await open()
      const signal = op.signal
      let first: S3Sdk.GetObjectCommandOutput
      try {
        first = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...sse }), sendOptions(signal))
      } catch (error) {
        if (isNotFound(error)) return null
        throw fail(error, 'get', key)
      }
      const etag = first.ETag
      return resumableStream(
        async (offset) => {
          const next = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${offset}-`, ...(etag ? { IfMatch: etag } : {}), ...sse }), sendOptions(signal))
          return bodyOf(next)
        },
        {
          first: bodyOf(first),
          ...(first.ContentLength !== undefined ? { expectedBytes: first.ContentLength } : {}),
          ...options.retry,
          ...(signal ? { signal } : {}),
          mapError: (error) => (signal?.aborted ? aborted(component, `download of ${key}`, error) : fail(error, 'get', key)),
        },
      )
    },

    async head(key: string, op: OperationOptions = {}): Promise<ObjectInfo | null> {
      assertSafeKey(provider, key)
      const [s3, { HeadObjectCommand }] = await open()
      try {
        const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...sse }), sendOptions(op.signal))
        return { key, sizeBytes: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) }
      } catch (error) {
        if (isNotFound(error)) return null
        throw fail(error, 'head', key)
      }
    },

    async *list(prefix: string, op: OperationOptions = {}): AsyncIterable<ObjectInfo> {
      const [s3, { ListObjectsV2Command }] = await open()
      const target = prefix ? `prefix ${JSON.stringify(prefix)}` : 'the whole bucket'
      yield* listPages({
        component,
        scope: `bucket ${bucket}`,
        target,
        tokenName: 'continuation token',
        paginationHint: 'the server does not paginate ListObjectsV2 correctly; check the S3-compatible server',
        details: { bucket, prefix },
        fail: (error) => fail(error, 'list', target),
        async fetch(token) {
          const command = new ListObjectsV2Command({ Bucket: bucket, MaxKeys: options.listPageSize, ...(prefix ? { Prefix: prefix } : {}), ...(token ? { ContinuationToken: token } : {}) })
          const out = await s3.send(command, sendOptions(op.signal))
          const items = (out.Contents ?? []).flatMap((e) => (e.Key === undefined ? [] : [{ key: e.Key, sizeBytes: e.Size ?? 0, lastModified: e.LastModified ?? new Date(0) }]))
          return { items, next: out.IsTruncated ? out.NextContinuationToken || undefined : undefined, truncated: out.IsTruncated === true }
        },
      })
    },

    async delete(key: string, op: OperationOptions = {}): Promise<void> {
      assertSafeKey(provider, key)
      const [s3, { DeleteObjectCommand }] = await open()
      try {
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), sendOptions(op.signal))
      } catch (error) {
        if (isNotFound(error)) return
        throw fail(error, 'delete', key)
      }
    },

    async dispose(): Promise<void> {
      const current = client.take()
      if (!current || !ownsClient) return
      try {
        ;(await current).destroy()
      } catch {
        // a client that failed to build has nothing to release
      }
    },
  }
  return store
}

export default s3Snapstore

/**
 * The variables naming the credential files (or directories) of a store, watched for rotation
 * (research notes §4.9): `AWS_APPLICATION_CREDENTIALS[_JSON]` for S3,
 * `OPENSHIFT_APPLICATION_CREDENTIALS[_JSON]` for OCS, none for ECS (environment only).
 */
export function credentialVariables(config: StoreConfig): readonly string[] {
  if (config.provider === 'ECS') return []
  const base = config.provider === 'OCS' ? 'OPENSHIFT_APPLICATION_CREDENTIALS' : 'AWS_APPLICATION_CREDENTIALS'
  return [`${config.envPrefix}${base}_JSON`, `${config.envPrefix}${base}`]
}

/**
 * Opens the store for a {@link StoreConfig} with provider `S3`, `ECS` or `OCS`, finding
 * credentials as etcd-backup-restore does (`./s3-credentials.ts`, research notes §4.1, §4.6, §4.7).
 * @throws StewardError `CONFIG_INVALID` naming the variable and field at fault
 */
export async function fromStoreConfig(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Snapstore> {
  return s3Snapstore(await s3OptionsFor(config, env))
}

// --- uploads ---

type ObjectParams = { readonly Bucket: string; readonly Key: string; readonly SSECustomerAlgorithm?: string | undefined; readonly SSECustomerKey?: string | undefined }

/**
 * PutObject for a body of one part, else CreateMultipartUpload, UploadPart, and
 * CompleteMultipartUpload with the parts' ETags and checksums (as lib-storage's `Upload` sends
 * them); AbortMultipartUpload on failure. Requests take `signal`, except the abort.
 */
function multipartSink(s3: S3Client, api: typeof S3Sdk, params: ObjectParams, signal: AbortSignal): PartSink {
  let uploadId: string | undefined
  const parts: S3Sdk.CompletedPart[] = []
  return {
    async single(data) {
      await s3.send(new api.PutObjectCommand({ ...params, Body: data }), { abortSignal: signal })
    },
    async begin() {
      const mode = await (s3.config as Partial<S3Sdk.S3ClientResolvedConfig> | undefined)?.requestChecksumCalculation?.()
      const out = await s3.send(new api.CreateMultipartUploadCommand({ ...params, ...(mode === 'WHEN_SUPPORTED' ? { ChecksumAlgorithm: 'CRC32' as const } : {}) }), { abortSignal: signal })
      if (!out.UploadId) throw new Error('CreateMultipartUpload returned no upload id')
      uploadId = out.UploadId
    },
    async part(number, data) {
      const out = await s3.send(new api.UploadPartCommand({ ...params, UploadId: uploadId, PartNumber: number, Body: data }), { abortSignal: signal })
      if (!out.ETag) throw new Error(`part ${number} is missing its ETag in the UploadPart response`)
      const { ETag, ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256 } = out
      parts[number - 1] = Object.fromEntries(Object.entries({ PartNumber: number, ETag, ChecksumCRC32, ChecksumCRC32C, ChecksumCRC64NVME, ChecksumSHA1, ChecksumSHA256 }).filter(([, v]) => v !== undefined))
    },
    async complete(count) {
      await s3.send(new api.CompleteMultipartUploadCommand({ ...params, UploadId: uploadId, MultipartUpload: { Parts: parts.slice(0, count) } }), { abortSignal: signal })
    },
    async abort() {
      if (uploadId) await s3.send(new api.AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId }))
    },
  }
}

// --- client construction ---

type ResolvedOptions = S3SnapstoreOptions & {
  readonly provider: S3ProviderId
  readonly partSize: number
  readonly queueSize: number
  readonly listPageSize: number
  readonly retry: RetryPolicy
  readonly connectionTimeoutMs: number
  readonly requestTimeoutMs: number
  readonly socketTimeoutMs: number
}

async function createClient(options: ResolvedOptions, loadSdk: () => Promise<typeof S3Sdk>, component: string): Promise<S3Client> {
  if (options.client) return typeof options.client === 'function' ? options.client() : options.client
  const { S3Client } = await loadSdk()
  // The SDK annotates a static credentials object in place: hand it a copy, never the caller's (maybe frozen) one.
  let credentials = typeof options.credentials === 'object' ? { ...options.credentials } : options.credentials
  if (!credentials && options.webIdentity) {
    const { fromTokenFile } = await loadModule('@aws-sdk/credential-provider-web-identity', () => import('@aws-sdk/credential-provider-web-identity'), component)
    credentials = fromTokenFile({
      roleArn: options.webIdentity.roleArn,
      webIdentityTokenFile: options.webIdentity.tokenFile,
      roleSessionName: 'etcd-steward',
      ...(options.region ? { clientConfig: { region: options.region } } : {}),
    })
  }
  const tls = options.insecureSkipVerify || options.trustedCaCert
  const config: S3ClientConfig = {
    ...(options.region ? { region: options.region } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    ...(credentials ? { credentials } : {}),
    ...(options.requestChecksumCalculation ? { requestChecksumCalculation: options.requestChecksumCalculation } : {}),
    ...(options.responseChecksumValidation ? { responseChecksumValidation: options.responseChecksumValidation } : {}),
    maxAttempts: options.retry.maxAttempts,
    retryStrategy: sdkRetryStrategy(options.retry),
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: options.socketTimeoutMs,
      httpAgent: { keepAlive: true, maxSockets: 50 },
      httpsAgent: {
        keepAlive: true,
        maxSockets: 50,
        ...(tls ? { rejectUnauthorized: !options.insecureSkipVerify } : {}),
        ...(options.trustedCaCert ? { ca: options.trustedCaCert, minVersion: 'TLSv1.3' as const } : {}),
      },
    },
  }
  return new S3Client(config)
}

/**
 * The SDK retry strategy: retries what {@link isRetryableError} (or the SDK's own throttling
 * and transient classes) accepts, up to `maxAttempts` attempts, waiting with full jitter (and at
 * least as long as a `Retry-After` hint, capped at `maxDelayMs`).
 */
function sdkRetryStrategy(policy: RetryPolicy): RetryStrategyV2 {
  const token = (retries: number, delay: number) => ({ getRetryCount: () => retries, getRetryDelay: () => delay })
  return {
    async acquireInitialRetryToken() {
      return token(0, 0)
    },
    async refreshRetryTokenForRetry(previous, info) {
      const retries = previous.getRetryCount()
      const retryable = info.errorType === 'THROTTLING' || info.errorType === 'TRANSIENT' || isRetryableError(info.error)
      if (retries + 1 >= policy.maxAttempts || !retryable) throw new Error('no retry: not retryable or attempts exhausted')
      let delay = retryDelayMs(retries, policy)
      if (info.retryAfterHint) delay = Math.min(policy.maxDelayMs, Math.max(delay, info.retryAfterHint.getTime() - Date.now()))
      return token(retries + 1, delay)
    },
    recordSuccess() {},
  }
}

// --- helpers ---

function validateOptions(options: ResolvedOptions, component: string): void {
  const invalid = (message: string, hints: string[] = []): StewardError => new StewardError('CONFIG_INVALID', component, message, { hints })
  if (!options.bucket) throw invalid('the bucket name is missing', ['pass --store s3://bucket/prefix or --store-container <bucket>'])
  if (!Number.isInteger(options.partSize) || options.partSize < MIN_PART_SIZE) throw invalid(`part size ${options.partSize} is below S3's minimum of ${MIN_PART_SIZE} bytes (5 MiB)`)
  if (!Number.isInteger(options.queueSize) || options.queueSize < 1) throw invalid(`parallel part uploads must be at least 1, got ${options.queueSize}`)
  if (!Number.isInteger(options.listPageSize) || options.listPageSize < 1 || options.listPageSize > 1000) throw invalid(`list page size must be 1–1000, got ${options.listPageSize}`)
  if (!options.sseCustomerKey !== !options.sseCustomerAlgorithm) throw invalid('sseCustomerKey and sseCustomerAlgorithm must be given together')
  if (options.endpoint !== undefined && !URL.canParse(options.endpoint)) throw invalid(`endpoint ${JSON.stringify(options.endpoint)} is not a URL`)
}

function sendOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {}
}

function bodyOf(out: S3Sdk.GetObjectCommandOutput): AsyncIterable<Uint8Array> {
  const body = out.Body as unknown as AsyncIterable<Uint8Array> | undefined
  if (!body) throw new Error('GetObject returned no body')
  return body
}

function errorName(error: unknown): string | undefined {
  const e = error as { name?: unknown; Code?: unknown } | null | undefined
  if (typeof e?.Code === 'string') return e.Code
  return typeof e?.name === 'string' ? e.name : undefined
}

function httpStatus(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null | undefined)?.$metadata?.httpStatusCode
  return typeof status === 'number' ? status : undefined
}

function isNotFound(error: unknown): boolean {
  const name = errorName(error)
  return name === 'NoSuchKey' || name === 'NotFound' || (httpStatus(error) === 404 && name !== 'NoSuchBucket')
}

/** Names of errors that mean "these credentials are wrong", not "they lack a permission". */
const BAD_CREDENTIALS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'InvalidClientTokenId', 'CredentialsProviderError', 'AuthorizationHeaderMalformed'])
const ACCESS_DENIED = new Set(['AccessDenied', 'AllAccessDisabled', 'AccountProblem', 'Forbidden'])

interface FailureContext {
  readonly provider: S3ProviderId
  readonly component: string
  readonly bucket: string
  readonly op: Operation
  readonly target: string
}

/** Turns an SDK error into one StewardError that names provider, bucket, operation and (for access errors) the permission. */
function toStewardError(error: unknown, ctx: FailureContext): StewardError {
  const { provider, component, bucket, op, target } = ctx
  const { api, permission } = OPERATIONS[op]
  const name = errorName(error) ?? 'Error'
  const status = httpStatus(error)
  const details = { provider, bucket, operation: api, target, ...(status !== undefined ? { status } : {}), error: name }
  const where = `${provider} ${api} of ${target} in bucket ${bucket}`
  return mapStoreError(error, { component, where, details }, (kit) => {
    const message = messageOf(error)
    if (name === 'NoSuchBucket') {
      return kit.notFound(`${provider} bucket ${bucket} does not exist (${api} of ${target})`, 'create the bucket, or check --store / --store-container, the endpoint and the region')
    }
    if (BAD_CREDENTIALS.has(name) || /could not load credentials|credential.*(missing|not found)/i.test(message)) {
      return kit.config(
        `the credentials were rejected or not found (${name}: ${message})`,
        provider === 'S3'
          ? 'check AWS_APPLICATION_CREDENTIALS(_JSON) (accessKeyID/secretAccessKey or roleARN/token), or the AWS default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, IRSA)'
          : `check the ${provider} credentials (access key id and secret)`,
      )
    }
    if (/region is missing/i.test(message)) return kit.config('no AWS region is configured', 'set "region" in AWS_APPLICATION_CREDENTIALS(_JSON), or AWS_REGION')
    if (ACCESS_DENIED.has(name) || status === 403) {
      return kit.denied(`${name}, HTTP ${status ?? 403}`, `the credentials are invalid or lack ${permission} on bucket ${bucket}`, permission, 'grant the IAM permissions listed in docs/storage-s3.md on the bucket and its objects')
    }
    if (name === 'PermanentRedirect' || status === 301) return kit.config(`bucket ${bucket} is in another region than the one configured`, 'set "region" to the bucket\'s region')
    const retried = (error as { $metadata?: { attempts?: number } } | null)?.$metadata?.attempts
    return kit.failed(`failed${retried && retried > 1 ? ` after ${retried} attempts` : ''}: ${name}${status ? ` (HTTP ${status})` : ''}: ${message}`, retried ? { attempts: retried } : {})
  })
}
