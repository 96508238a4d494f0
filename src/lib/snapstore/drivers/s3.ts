/**
 * `S3` driver: Amazon S3 and S3-compatible servers (MinIO, Ceph RGW, …), plus
 * etcd-backup-restore's two S3-based providers `ECS` (Dell EMC ECS) and `OCS` (OpenShift
 * Container Storage), which differ only in how credentials and the endpoint are found
 * (research notes §4.1, §4.6, §4.7).
 *
 * - `put` streams the body through `@aws-sdk/lib-storage`'s multipart `Upload`: parts of
 *   `partSize` bytes, `queueSize` in flight, so memory stays near `partSize × (queueSize + 1)`.
 *   Bodies smaller than one part go up in a single PutObject. When the body fails, the put is
 *   aborted, or a part fails for good, the multipart upload is aborted (AbortMultipartUpload)
 *   before `put` rejects: no object appears and no parts are left behind.
 * - Every request goes through the SDK with a retry strategy built on `../retry.ts`
 *   (throttling, 5xx, resets; exponential backoff with full jitter) and per-request
 *   connection/request/idle timeouts. A download whose body breaks is resumed with a ranged
 *   GET pinned to the first response's ETag.
 * - `list` pages through ListObjectsV2 and throws rather than end early.
 * - Absence is `null` (get, head); deleting a missing key is fine.
 *
 * The AWS SDK is loaded on first use only (`import type` at the top, `await import()` inside).
 */
import { join } from 'node:path'
import { Readable } from 'node:stream'
import type * as S3Sdk from '@aws-sdk/client-s3'
import type * as LibStorage from '@aws-sdk/lib-storage'
import { StewardError, isStewardError, messageOf } from '../../errors.ts'
import type { StoreConfig } from '../config.ts'
import { parseGoBool, readCredentialFields, type CredentialFields } from '../credentials.ts'
import { assertSafeKey } from '../keys.ts'
import { DEFAULT_RETRY_POLICY, isAbortError, isRetryableError, resumableStream, retryDelayMs, type RetryPolicy } from '../retry.ts'
import type { ObjectInfo, OperationOptions, PutOptions, Snapstore, SnapstoreFactory } from '../types.ts'

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
  /** SSE-C key, used verbatim (its MD5 is sent alongside); needs `sseCustomerAlgorithm`. @default none */
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

/** IAM permission each operation needs, for access-denied messages. */
const PERMISSIONS = {
  put: 's3:PutObject (and s3:AbortMultipartUpload)',
  get: 's3:GetObject',
  head: 's3:GetObject (and s3:ListBucket, without which a missing key answers 403)',
  list: 's3:ListBucket',
  delete: 's3:DeleteObject',
} as const
type Operation = keyof typeof PERMISSIONS
const SDK_OPERATIONS: Record<Operation, string> = { put: 'PutObject/UploadPart', get: 'GetObject', head: 'HeadObject', list: 'ListObjectsV2', delete: 'DeleteObject' }

const s3Snapstore: SnapstoreFactory<S3SnapstoreOptions> = (input) => {
  const options = Object.freeze({
    ...input,
    provider: input.provider ?? DEFAULTS.provider,
    partSize: input.partSize ?? DEFAULTS.partSize,
    queueSize: input.queueSize ?? DEFAULTS.queueSize,
    listPageSize: input.listPageSize ?? DEFAULTS.listPageSize,
    retry: Object.freeze({ ...DEFAULT_RETRY_POLICY, ...definedOnly(input.retry ?? {}) }),
    connectionTimeoutMs: input.connectionTimeoutMs ?? DEFAULTS.connectionTimeoutMs,
    requestTimeoutMs: input.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    socketTimeoutMs: input.socketTimeoutMs ?? DEFAULTS.socketTimeoutMs,
  })
  const provider = options.provider
  const component = `snapstore:${provider}`
  validateOptions(options, component)
  const bucket = options.bucket
  const sse = options.sseCustomerKey ? { SSECustomerAlgorithm: options.sseCustomerAlgorithm, SSECustomerKey: options.sseCustomerKey } : {}

  let sdk: Promise<typeof S3Sdk> | undefined
  let storage: Promise<typeof LibStorage> | undefined
  let client: Promise<S3Client> | undefined
  const ownsClient = options.client === undefined

  const loadSdk = (): Promise<typeof S3Sdk> => (sdk ??= loadModule('@aws-sdk/client-s3', () => import('@aws-sdk/client-s3'), component))
  const loadStorage = (): Promise<typeof LibStorage> => (storage ??= loadModule('@aws-sdk/lib-storage', () => import('@aws-sdk/lib-storage'), component))
  const getClient = (): Promise<S3Client> => {
    client ??= createClient(options, loadSdk, component).catch((error: unknown) => {
      client = undefined // let the next call try again
      throw error
    })
    return client
  }
  const fail = (error: unknown, op: Operation, target: string): StewardError => toStewardError(error, { provider, component, bucket, op, target })

  const store: Snapstore = {
    driver: provider,
    location: options.endpoint ? `s3://${bucket} (endpoint ${options.endpoint})` : `s3://${bucket}`,
    capabilities: { streamingUpload: true, localFiles: false },

    async put(key: string, body: Readable, op: PutOptions = {}): Promise<ObjectInfo> {
      assertSafeKey(provider, key)
      const signal = op.signal
      if (signal?.aborted) {
        body.destroy()
        throw aborted(component, `upload of ${key}`)
      }
      // Aborting destroys the body: lib-storage's chunker then fails, and Upload aborts the
      // multipart upload before `done()` rejects (Upload's own abort() would reject first and
      // clean up in the background, racing with the caller).
      const onAbort = (): void => {
        body.destroy(Object.assign(new Error('upload aborted'), { name: 'AbortError', code: 'ABORT_ERR' }))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      let sizeBytes = 0
      try {
        const [s3, { Upload }] = await Promise.all([getClient(), loadStorage()])
        const counted = (async function* () {
          for await (const chunk of body as AsyncIterable<Buffer | string>) {
            const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
            sizeBytes += buffer.length
            yield buffer
          }
        })()
        const upload = new Upload({
          client: s3,
          params: { Bucket: bucket, Key: key, Body: Readable.from(counted, { objectMode: false }), ...sse },
          partSize: partSizeFor(options.partSize, op.sizeBytes),
          queueSize: options.queueSize,
          leavePartsOnError: false,
        })
        // An abort that arrives after the last part went out is too late: the object is complete.
        await upload.done()
      } catch (error) {
        if (!body.destroyed) body.destroy()
        if (signal?.aborted) throw aborted(component, `upload of ${key}`, error)
        throw fail(error, 'put', key)
      } finally {
        signal?.removeEventListener('abort', onAbort)
      }
      return { key, sizeBytes, lastModified: new Date() }
    },

    async get(key: string, op: OperationOptions = {}): Promise<Readable | null> {
      assertSafeKey(provider, key)
      const [s3, { GetObjectCommand }] = await Promise.all([getClient(), loadSdk()])
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
      const [s3, { HeadObjectCommand }] = await Promise.all([getClient(), loadSdk()])
      try {
        const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...sse }), sendOptions(op.signal))
        return { key, sizeBytes: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0) }
      } catch (error) {
        if (isNotFound(error)) return null
        throw fail(error, 'head', key)
      }
    },

    async *list(prefix: string, op: OperationOptions = {}): AsyncIterable<ObjectInfo> {
      const [s3, { ListObjectsV2Command }] = await Promise.all([getClient(), loadSdk()])
      const target = prefix ? `prefix ${JSON.stringify(prefix)}` : 'the whole bucket'
      const tokens = new Set<string>()
      let token: string | undefined
      let page = 0
      do {
        page += 1
        let out: S3Sdk.ListObjectsV2CommandOutput
        try {
          out = await s3.send(
            new ListObjectsV2Command({ Bucket: bucket, MaxKeys: options.listPageSize, ...(prefix ? { Prefix: prefix } : {}), ...(token ? { ContinuationToken: token } : {}) }),
            sendOptions(op.signal),
          )
        } catch (error) {
          const wrapped = fail(error, 'list', target)
          if (page > 1 && wrapped.code === 'STORE_FAILED') {
            throw new StewardError('STORE_FAILED', component, `listing ${target} of bucket ${bucket} failed at page ${page}; refusing to return a partial listing: ${wrapped.reason}`, {
              cause: error,
              hints: wrapped.hints,
              details: { ...wrapped.context, page },
            })
          }
          throw wrapped
        }
        for (const entry of out.Contents ?? []) {
          if (entry.Key === undefined) continue
          yield { key: entry.Key, sizeBytes: entry.Size ?? 0, lastModified: entry.LastModified ?? new Date(0) }
        }
        token = undefined
        if (out.IsTruncated) {
          const next = out.NextContinuationToken
          if (!next || tokens.has(next)) {
            throw new StewardError(
              'STORE_FAILED',
              component,
              `listing ${target} of bucket ${bucket}: page ${page} is truncated but ${next ? 'repeats an earlier continuation token' : 'has no continuation token'}; refusing to return a partial listing`,
              { details: { bucket, prefix, page }, hints: ['the server does not paginate ListObjectsV2 correctly; check the S3-compatible server'] },
            )
          }
          tokens.add(next)
          token = next
        }
      } while (token !== undefined)
    },

    async delete(key: string, op: OperationOptions = {}): Promise<void> {
      assertSafeKey(provider, key)
      const [s3, { DeleteObjectCommand }] = await Promise.all([getClient(), loadSdk()])
      try {
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), sendOptions(op.signal))
      } catch (error) {
        if (isNotFound(error)) return
        throw fail(error, 'delete', key)
      }
    },

    async dispose(): Promise<void> {
      const current = client
      client = undefined
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

// --- fromStoreConfig: etcd-backup-restore's credential rules ---

/** Fields of `AWS_APPLICATION_CREDENTIALS` (a directory has one file per field). */
const S3_FIELDS = [
  'accessKeyID',
  'secretAccessKey',
  'region',
  'endpoint',
  's3ForcePathStyle',
  'insecureSkipVerify',
  'trustedCaCert',
  'sseCustomerKey',
  'sseCustomerAlgorithm',
  'roleARN',
  'token',
  'tokenPath',
  'requestChecksumCalculation',
  'responseChecksumValidation',
] as const
/** Fields of `OPENSHIFT_APPLICATION_CREDENTIALS`. */
const OCS_FIELDS = ['endpoint', 'region', 'accessKeyID', 'secretAccessKey', 'disableSSL', 'insecureSkipVerify'] as const
/** ECS has a fixed region (research notes §4.6). */
const ECS_REGION = 'US-Standard'

/**
 * Opens the store for a {@link StoreConfig} with provider `S3`, `ECS` or `OCS`, finding
 * credentials as etcd-backup-restore does (research notes §4.1, §4.6, §4.7):
 * - `S3`: `<P>AWS_APPLICATION_CREDENTIALS_JSON` (file) or `<P>AWS_APPLICATION_CREDENTIALS`
 *   (directory); `region` is then required, and either `accessKeyID` + `secretAccessKey` or
 *   `roleARN` + `token` (directory: the `token` file; JSON: `tokenPath`). With neither variable
 *   set, the AWS SDK default chain is used (process environment, shared files, IRSA, metadata).
 * - `ECS`: `ECS_ENDPOINT`, `ECS_ACCESS_KEY_ID`, `ECS_SECRET_ACCESS_KEY` (never prefixed),
 *   optional `ECS_DISABLE_SSL`, `ECS_INSECURE_SKIP_VERIFY`; region `US-Standard`, path-style.
 * - `OCS`: `<P>OPENSHIFT_APPLICATION_CREDENTIALS[_JSON]` with `endpoint`, `region`,
 *   `accessKeyID`, `secretAccessKey` (required), `disableSSL`, `insecureSkipVerify`; path-style.
 * `config.endpointOverride` (`--store-endpoint-override`) wins over any endpoint found in
 * credentials and turns on path-style addressing unless `s3ForcePathStyle` says otherwise.
 * @throws StewardError `CONFIG_INVALID` naming the variable and field at fault
 */
export async function fromStoreConfig(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Snapstore> {
  const provider: S3ProviderId = config.provider === 'ECS' || config.provider === 'OCS' ? config.provider : 'S3'
  const base: S3SnapstoreOptions = {
    provider,
    bucket: config.container,
    partSize: config.minChunkSize,
    queueSize: config.maxParallelChunkUploads,
  }
  if (provider === 'ECS') return s3Snapstore({ ...base, ...ecsOptions(config, env) })
  if (provider === 'OCS') return s3Snapstore({ ...base, ...(await ocsOptions(config, env)) })
  return s3Snapstore({ ...base, ...(await s3Options(config, env)) })
}

async function s3Options(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Partial<S3SnapstoreOptions>> {
  const source = await readCredentialFields(config.envPrefix, 'AWS_APPLICATION_CREDENTIALS', S3_FIELDS, env)
  if (!source.fields) {
    // No credential files: the SDK default chain finds credentials; an endpoint override
    // (S3-compatible server) still needs some region to sign with.
    const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? (config.endpointOverride ? 'us-east-1' : undefined)
    return { ...(region ? { region } : {}), ...(config.endpointOverride ? { endpoint: config.endpointOverride } : {}) }
  }
  const f = fieldReader(source.fields, source.origin ?? 'AWS_APPLICATION_CREDENTIALS', 'S3')
  const region = f.required('region')
  const options: { -readonly [K in keyof S3SnapstoreOptions]?: S3SnapstoreOptions[K] } = { region }
  const accessKeyId = f.text('accessKeyID')
  const roleArn = f.text('roleARN')
  if (accessKeyId) {
    options.credentials = { accessKeyId, secretAccessKey: f.required('secretAccessKey') }
  } else if (roleArn) {
    const tokenFile = source.directory && source.fields['token'] !== undefined ? join(source.directory, 'token') : f.text('tokenPath')
    if (!tokenFile) throw f.invalid(`field "roleARN" needs a web-identity token (${source.directory ? 'a "token" file' : '"tokenPath"'})`)
    options.webIdentity = { roleArn, tokenFile }
  } else {
    throw f.invalid('needs either "accessKeyID" and "secretAccessKey", or "roleARN" and a token')
  }
  const endpoint = config.endpointOverride ?? f.text('endpoint')
  if (endpoint) options.endpoint = endpoint
  const pathStyle = f.bool('s3ForcePathStyle')
  if (pathStyle !== undefined) options.forcePathStyle = pathStyle
  const insecure = f.bool('insecureSkipVerify')
  if (insecure !== undefined) options.insecureSkipVerify = insecure
  const ca = f.text('trustedCaCert')
  if (ca) options.trustedCaCert = ca
  const sseKey = f.text('sseCustomerKey')
  const sseAlgorithm = f.text('sseCustomerAlgorithm')
  if (!sseKey !== !sseAlgorithm) throw f.invalid('"sseCustomerKey" and "sseCustomerAlgorithm" must be given together')
  if (sseKey && sseAlgorithm) {
    options.sseCustomerKey = sseKey
    options.sseCustomerAlgorithm = sseAlgorithm
  }
  const requestChecksum = f.checksumMode('requestChecksumCalculation')
  if (requestChecksum) options.requestChecksumCalculation = requestChecksum
  const responseChecksum = f.checksumMode('responseChecksumValidation')
  if (responseChecksum) options.responseChecksumValidation = responseChecksum
  return options
}

function ecsOptions(config: StoreConfig, env: NodeJS.ProcessEnv): Partial<S3SnapstoreOptions> {
  const need = (name: string): string => {
    const value = env[name]
    if (!value) {
      throw new StewardError('CONFIG_INVALID', 'snapstore:ECS', `environment variable ${name} is required for provider ECS`, {
        hints: ['set ECS_ENDPOINT, ECS_ACCESS_KEY_ID and ECS_SECRET_ACCESS_KEY (ECS variables are never prefixed)'],
      })
    }
    return value
  }
  const disableSsl = parseGoBool(env['ECS_DISABLE_SSL'], 'ECS_DISABLE_SSL') ?? false
  const insecure = parseGoBool(env['ECS_INSECURE_SKIP_VERIFY'], 'ECS_INSECURE_SKIP_VERIFY') ?? false
  const endpoint = config.endpointOverride ?? withScheme(need('ECS_ENDPOINT'), disableSsl)
  return {
    region: ECS_REGION,
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: need('ECS_ACCESS_KEY_ID'), secretAccessKey: need('ECS_SECRET_ACCESS_KEY') },
    insecureSkipVerify: insecure,
  }
}

async function ocsOptions(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Partial<S3SnapstoreOptions>> {
  const source = await readCredentialFields(config.envPrefix, 'OPENSHIFT_APPLICATION_CREDENTIALS', OCS_FIELDS, env)
  if (!source.fields) {
    throw new StewardError('CONFIG_INVALID', 'snapstore:OCS', `provider OCS needs ${config.envPrefix}OPENSHIFT_APPLICATION_CREDENTIALS or ${config.envPrefix}OPENSHIFT_APPLICATION_CREDENTIALS_JSON`, {
      hints: ['point it at a directory with files endpoint, region, accessKeyID, secretAccessKey (or at a JSON file with those keys)'],
    })
  }
  const f = fieldReader(source.fields, source.origin ?? 'OPENSHIFT_APPLICATION_CREDENTIALS', 'OCS')
  const endpoint = f.required('endpoint')
  const region = f.required('region')
  const credentials = { accessKeyId: f.required('accessKeyID'), secretAccessKey: f.required('secretAccessKey') }
  const disableSsl = f.bool('disableSSL') ?? false
  return {
    region,
    endpoint: config.endpointOverride ?? withScheme(endpoint, disableSsl),
    forcePathStyle: true,
    credentials,
    insecureSkipVerify: f.bool('insecureSkipVerify') ?? false,
  }
}

/** Typed access to credential fields with errors naming the origin and the field. */
function fieldReader(fields: CredentialFields, origin: string, provider: S3ProviderId) {
  const invalid = (message: string): StewardError =>
    new StewardError('CONFIG_INVALID', `snapstore:${provider}`, `${origin}: ${message}`, {
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
    invalid,
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
    checksumMode(name: string): 'WHEN_SUPPORTED' | 'WHEN_REQUIRED' | undefined {
      const value = text(name)?.toUpperCase()
      if (value === undefined) return undefined
      if (value === 'WHEN_SUPPORTED' || value === 'WHEN_REQUIRED') return value
      throw invalid(`field "${name}" must be when_supported or when_required`)
    },
  }
}

/** An endpoint without a scheme gets `http://` when SSL is disabled, else `https://`. */
function withScheme(endpoint: string, disableSsl: boolean): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `${disableSsl ? 'http' : 'https'}://${endpoint}`
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

/** Part size for a put: the configured size, raised so that a known size fits in 10 000 parts. */
function partSizeFor(partSize: number, sizeBytes: number | undefined): number {
  return sizeBytes === undefined ? partSize : Math.max(partSize, Math.ceil(sizeBytes / MAX_PARTS))
}

async function loadModule<T>(name: string, load: () => Promise<T>, component: string): Promise<T> {
  try {
    return await load()
  } catch (error) {
    throw new StewardError('STORE_FAILED', component, `could not load ${name}: ${messageOf(error)}`, {
      cause: error,
      hints: ['reinstall steward (npm ci) so its SDK dependencies are present'],
    })
  }
}

function sendOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {}
}

function bodyOf(out: S3Sdk.GetObjectCommandOutput): AsyncIterable<Uint8Array> {
  const body = out.Body as unknown as AsyncIterable<Uint8Array> | undefined
  if (!body) throw new Error('GetObject returned no body')
  return body
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
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

function aborted(component: string, what: string, cause?: unknown): StewardError {
  return new StewardError('ABORTED', component, `${what} aborted`, cause === undefined ? {} : { cause })
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
  if (isStewardError(error)) return error
  const { provider, component, bucket, op, target } = ctx
  const name = errorName(error) ?? 'Error'
  const status = httpStatus(error)
  const details = { provider, bucket, operation: SDK_OPERATIONS[op], target, ...(status !== undefined ? { status } : {}), error: name }
  const where = `${provider} ${SDK_OPERATIONS[op]} of ${target} in bucket ${bucket}`
  if (isAbortError(error)) return new StewardError('ABORTED', component, `${where} aborted`, { cause: error, details })
  if (name === 'NoSuchBucket') {
    return new StewardError('STORE_NOT_FOUND', component, `${provider} bucket ${bucket} does not exist (${SDK_OPERATIONS[op]} of ${target})`, {
      cause: error,
      details,
      hints: ['create the bucket, or check --store / --store-container, the endpoint and the region'],
    })
  }
  if (BAD_CREDENTIALS.has(name) || /could not load credentials|credential.*(missing|not found)/i.test(messageOf(error))) {
    return new StewardError('CONFIG_INVALID', component, `${where} failed: the credentials were rejected or not found (${name}: ${messageOf(error)})`, {
      cause: error,
      details,
      hints: [
        provider === 'S3'
          ? 'check AWS_APPLICATION_CREDENTIALS(_JSON) (accessKeyID/secretAccessKey or roleARN/token), or the AWS default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, IRSA)'
          : `check the ${provider} credentials (access key id and secret)`,
      ],
    })
  }
  if (/region is missing/i.test(messageOf(error))) {
    return new StewardError('CONFIG_INVALID', component, `${where} failed: no AWS region is configured`, {
      cause: error,
      details,
      hints: ['set "region" in AWS_APPLICATION_CREDENTIALS(_JSON), or AWS_REGION'],
    })
  }
  if (ACCESS_DENIED.has(name) || status === 403) {
    return new StewardError('STORE_FAILED', component, `${where} was denied (${name}, HTTP ${status ?? 403}): the credentials are invalid or lack ${PERMISSIONS[op]} on bucket ${bucket}`, {
      cause: error,
      details: { ...details, permission: PERMISSIONS[op] },
      hints: ['grant the IAM permissions listed in docs/storage-s3.md on the bucket and its objects'],
    })
  }
  if (name === 'PermanentRedirect' || status === 301) {
    return new StewardError('CONFIG_INVALID', component, `${where} failed: bucket ${bucket} is in another region than the one configured`, {
      cause: error,
      details,
      hints: ['set "region" to the bucket\'s region'],
    })
  }
  const retried = (error as { $metadata?: { attempts?: number } } | null)?.$metadata?.attempts
  return new StewardError('STORE_FAILED', component, `${where} failed${retried && retried > 1 ? ` after ${retried} attempts` : ''}: ${name}${status ? ` (HTTP ${status})` : ''}: ${messageOf(error)}`, {
    cause: error,
    details: { ...details, ...(retried ? { attempts: retried } : {}) },
  })
}
