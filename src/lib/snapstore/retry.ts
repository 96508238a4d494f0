/**
 * Retry with exponential backoff and full jitter, shared by the cloud snapstore drivers.
 *
 * What is retried ({@link isRetryableError}): throttling (HTTP 429, S3 `SlowDown`/503 and the
 * SDKs' throttling error names), server errors (HTTP 5xx except 501 Not Implemented), request
 * timeouts, and broken connections (`ECONNRESET`, `EPIPE`, `ETIMEDOUT`, `ECONNREFUSED`,
 * "socket hang up", a response body cut short). Client errors (4xx: missing object, access
 * denied, bad request) and aborts are never retried.
 *
 * Delays ({@link retryDelayMs}) follow the "full jitter" scheme: before retry `n` (0-based) the
 * wait is uniformly random in `[0, min(maxDelayMs, baseDelayMs × 2ⁿ))`, which spreads the
 * retries of many clients hitting the same throttled bucket.
 *
 * Besides the request-level helper {@link withRetry}, {@link resumableStream} keeps a download
 * going when its body stream breaks: it re-opens the object from the byte offset reached
 * (an HTTP `Range` request in the drivers) instead of starting over or failing.
 */
import { Readable } from 'node:stream'

/** How often and how patiently to retry. */
export interface RetryPolicy {
  /** Attempts in total, the first one included (1 = no retries). @default 5 */
  readonly maxAttempts: number
  /** Upper bound of the first retry's delay, in milliseconds. @default 200 */
  readonly baseDelayMs: number
  /** Upper bound of any single delay, in milliseconds. @default 20000 */
  readonly maxDelayMs: number
}

/** The defaults of {@link RetryPolicy}. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({ maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 20_000 })

/** Node socket error codes that mean "the connection broke; the same request may succeed again". */
const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ECONNABORTED', 'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET'])
/** Error names/codes services use for throttling and transient server trouble. */
const RETRYABLE_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ServerBusy',
  'OperationTimedOut',
])

/** Error code {@link resumableStream} raises internally for a body that ended early. */
export const TRUNCATED_BODY = 'ERR_STEWARD_TRUNCATED_BODY'

/**
 * Whether `error` is worth retrying (see the module comment for the classes). Looks at the HTTP
 * status however the SDKs expose it (`$metadata.httpStatusCode`, `statusCode`, `status`, a
 * numeric `code`, `response.status`), at `name`/`code`, at the message for "socket hang up",
 * and follows `cause` chains.
 */
export function isRetryableError(error: unknown): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    const e = current as ErrorLike
    if (isAbortError(e)) return false
    const status = statusOf(e)
    if (status !== undefined) {
      if (status === 429 || (status >= 500 && status <= 599 && status !== 501)) return true
    }
    if (typeof e.code === 'string' && (RETRYABLE_CODES.has(e.code) || e.code === TRUNCATED_BODY || RETRYABLE_NAMES.has(e.code))) return true
    if (typeof e.name === 'string' && RETRYABLE_NAMES.has(e.name)) return true
    if (typeof e.message === 'string' && /socket hang up|other side closed|premature close/i.test(e.message)) return true
    current = e.cause
  }
  return false
}

/** Whether `error` is an abort (an `AbortError`, `ABORT_ERR`, or a steward `ABORTED`). */
export function isAbortError(error: unknown): boolean {
  const e = error as ErrorLike | null | undefined
  return !!e && (e.name === 'AbortError' || e.code === 'ABORT_ERR' || e.code === 'ABORTED')
}

/**
 * The wait before retry number `retry` (0 = the first retry), in milliseconds: full jitter,
 * `random() × min(maxDelayMs, baseDelayMs × 2^retry)`.
 */
export function retryDelayMs(retry: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'> = DEFAULT_RETRY_POLICY, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry))
  return Math.floor(random() * ceiling)
}

/**
 * Resolves after `ms` milliseconds; rejects with an `AbortError` as soon as `signal` aborts.
 * The timer does not keep the process alive once aborted.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortErrorOf(signal))
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(abortErrorOf(signal))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Options of {@link withRetry}. */
export interface WithRetryOptions extends Partial<RetryPolicy> {
  /** Stops waiting and retrying; the pending delay rejects with an `AbortError`. */
  readonly signal?: AbortSignal
  /** Which errors to retry. @default isRetryableError */
  readonly isRetryable?: (error: unknown) => boolean
  /** Called before each wait, e.g. for logging. `retry` is 0-based. */
  readonly onRetry?: (error: unknown, retry: number, delayMs: number) => void
  /** Random source in [0, 1), for tests. @default Math.random */
  readonly random?: () => number
}

/**
 * Runs `operation` until it succeeds, fails with an error that is not retryable, or
 * `maxAttempts` attempts have failed; then rethrows the last error unchanged (callers wrap it
 * into their own error). `operation` receives the 0-based attempt number.
 * @throws the last error of `operation`, or an `AbortError` when `signal` aborts
 */
export async function withRetry<T>(operation: (attempt: number) => Promise<T>, options: WithRetryOptions = {}): Promise<T> {
  const policy = policyOf(options)
  const retryable = options.isRetryable ?? isRetryableError
  for (let attempt = 0; ; attempt++) {
    if (options.signal?.aborted) throw abortErrorOf(options.signal)
    try {
      return await operation(attempt)
    } catch (error) {
      if (options.signal?.aborted) throw abortErrorOf(options.signal)
      if (attempt + 1 >= policy.maxAttempts || !retryable(error)) throw error
      const delay = retryDelayMs(attempt, policy, options.random)
      options.onRetry?.(error, attempt, delay)
      await sleep(delay, options.signal)
    }
  }
}

/** A body as {@link resumableStream} reads it: a Node stream, a web-style async iterable, or an array of chunks. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/** Options of {@link resumableStream}. */
export interface ResumableStreamOptions extends WithRetryOptions {
  /** Total bytes the stream must deliver; ending earlier counts as a break and is resumed. */
  readonly expectedBytes?: number
  /** Turns the error the stream finally fails with into the caller's error type. @default identity */
  readonly mapError?: (error: unknown) => unknown
}

/**
 * A byte stream that survives breaks of the underlying download. `open(offset)` returns the
 * bytes of the object from `offset` on (the drivers issue a ranged GET pinned to the first
 * response's ETag); `first`, when given, is the already-open body for offset 0. When the body
 * fails with a retryable error (or ends before `expectedBytes`), the stream waits with backoff
 * and re-opens from the offset reached; the consumer sees one continuous stream. Consecutive
 * failures without progress are bounded by `maxAttempts`; progress resets the count.
 * Destroying the returned stream destroys the current body.
 */
export function resumableStream(
  open: (offset: number) => Promise<ByteSource>,
  options: ResumableStreamOptions & { readonly first?: ByteSource } = {},
): Readable {
  const policy = policyOf(options)
  const retryable = options.isRetryable ?? isRetryableError
  const mapError = options.mapError ?? ((error: unknown) => error)
  async function* bytes(): AsyncGenerator<Buffer> {
    let offset = 0
    let failures = 0
    let body: ByteSource | undefined = options.first
    for (;;) {
      const startedAt = offset
      try {
        body ??= await open(offset)
        for await (const chunk of body) {
          const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
          offset += buffer.length
          yield buffer
        }
        if (options.expectedBytes !== undefined && offset < options.expectedBytes) {
          throw Object.assign(new Error(`body ended after ${offset} of ${options.expectedBytes} bytes`), { code: TRUNCATED_BODY })
        }
        return
      } catch (error) {
        body = undefined
        if (offset > startedAt) failures = 0
        failures += 1
        if (failures >= policy.maxAttempts || options.signal?.aborted || !retryable(error)) throw mapError(error)
        const delay = retryDelayMs(failures - 1, policy, options.random)
        options.onRetry?.(error, failures - 1, delay)
        try {
          await sleep(delay, options.signal)
        } catch (abortError) {
          throw mapError(abortError)
        }
      }
    }
  }
  return Readable.from(bytes(), { objectMode: false })
}

// --- helpers ---

interface ErrorLike {
  name?: unknown
  code?: unknown
  message?: unknown
  status?: unknown
  statusCode?: unknown
  cause?: unknown
  $metadata?: { httpStatusCode?: unknown }
  response?: { status?: unknown; statusCode?: unknown }
}

function statusOf(e: ErrorLike): number | undefined {
  const candidates = [e.$metadata?.httpStatusCode, e.statusCode, e.status, e.response?.status, e.response?.statusCode, e.code]
  for (const value of candidates) if (typeof value === 'number' && value >= 100 && value <= 599) return value
  return undefined
}

function policyOf(options: Partial<RetryPolicy>): RetryPolicy {
  return {
    maxAttempts: Math.max(1, options.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts),
    baseDelayMs: Math.max(0, options.baseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs),
    maxDelayMs: Math.max(0, options.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs),
  }
}

function abortErrorOf(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason
  if (reason instanceof Error && reason.name === 'AbortError') return reason
  return Object.assign(new Error('the operation was aborted', { cause: reason }), { name: 'AbortError', code: 'ABORT_ERR' })
}
