/**
 * Timeouts and abort helpers for SDK calls that take no (or no reliable) timeout of their own:
 * a per-attempt deadline, an idle timeout for download bodies, and a way to stop waiting for a
 * request that takes no AbortSignal.
 */
import type { Readable } from 'node:stream'
import { withRetry, type RetryPolicy } from '../../retry.ts'
import { abortError } from './errors.ts'

/**
 * Runs one attempt of a request with its own timeout, linked to the caller's signal. A timeout
 * becomes a retryable `ETIMEDOUT` error; the caller's abort stays an abort.
 */
export async function timed<T>(signal: AbortSignal | undefined, timeoutMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
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

/** Whether `error` is the per-attempt timeout {@link timed} throws (not an error the request itself failed with). */
export function isAttemptTimeout(error: unknown): boolean {
  const e = error as { name?: unknown; code?: unknown } | null | undefined
  return e?.name === 'TimeoutError' && e.code === 'ETIMEDOUT'
}

/**
 * `run` with retries under `retry`, each attempt bounded by `timeoutMs` ({@link timed}) and
 * stopped by the caller's `signal`. `isRetryable` narrows what is retried (default: every
 * transient error, `isRetryableError`), e.g. to {@link isAttemptTimeout} around an SDK call
 * that already retries everything else itself.
 */
export function timedWithRetry<T>(
  signal: AbortSignal | undefined,
  timeoutMs: number,
  retry: RetryPolicy,
  run: (attemptSignal: AbortSignal) => Promise<T>,
  isRetryable?: (error: unknown) => boolean,
): Promise<T> {
  return withRetry(() => timed(signal, timeoutMs, run), { ...retry, ...(signal ? { signal } : {}), ...(isRetryable ? { isRetryable } : {}) })
}

/** Fails a body that delivers no byte for `idleMs` with a retryable `ETIMEDOUT`, destroying it. */
export async function* withIdleTimeout(body: Readable, idleMs: number): AsyncGenerator<Buffer> {
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

/** Rejects with an `AbortError` as soon as `signal` aborts; the request itself runs on. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
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
