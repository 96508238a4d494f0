/**
 * What every cloud driver does the same way around its SDK: load the SDK on first use, build
 * the client once (and again after a failed build), resolve the retry policy, and guard a put
 * (refuse an aborted signal, stop the body and in-flight requests on abort, map the failure).
 */
import type { Readable } from 'node:stream'
import { StewardError, messageOf } from '../../../errors.ts'
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../retry.ts'
import { abortError } from './errors.ts'

/** Imports an SDK module; a failure becomes `STORE_FAILED` telling how to fix it. */
export async function loadModule<T>(name: string, load: () => Promise<T>, component: string): Promise<T> {
  try {
    return await load()
  } catch (error) {
    throw new StewardError('STORE_FAILED', component, `could not load ${name}: ${messageOf(error)}`, {
      cause: error,
      hints: ['reinstall steward (npm ci) so its SDK dependencies are present'],
    })
  }
}

/** A value built on first use and kept; a failed build is forgotten so the next call tries again. */
export interface Lazy<T> {
  get(): Promise<T>
  /** The promise kept so far (if any), forgotten. */
  take(): Promise<T> | undefined
}

/** {@link Lazy} around `create`. */
export function lazy<T>(create: () => Promise<T>): Lazy<T> {
  let value: Promise<T> | undefined
  return {
    get() {
      value ??= create().catch((error: unknown) => {
        value = undefined // let the next call try again
        throw error
      })
      return value
    },
    take() {
      const current = value
      value = undefined
      return current
    },
  }
}

/** The defaults of {@link RetryPolicy} overridden by the fields of `input` that are set; frozen. */
export function retryPolicyOf(input: Partial<RetryPolicy> | undefined): Readonly<RetryPolicy> {
  const defined = Object.fromEntries(Object.entries(input ?? {}).filter(([, v]) => v !== undefined)) as Partial<RetryPolicy>
  return Object.freeze({ ...DEFAULT_RETRY_POLICY, ...defined })
}

/** How {@link guardedPut} reports failures. */
export interface PutErrors {
  aborted(cause?: unknown): StewardError
  fail(error: unknown): StewardError
}

/**
 * Runs a put's upload with the abort handling every driver shares: an already aborted signal
 * destroys the body and fails at once; an abort while running destroys the body (so the reader
 * fails) and aborts `stop`, the signal handed to `run` for its requests. Any failure destroys
 * the body and becomes `errors.aborted` (the caller aborted) or `errors.fail`.
 */
export async function guardedPut<T>(body: Readable, signal: AbortSignal | undefined, errors: PutErrors, run: (stop: AbortController) => Promise<T>): Promise<T> {
  if (signal?.aborted) {
    body.destroy()
    throw errors.aborted()
  }
  const stop = new AbortController()
  const onAbort = (): void => {
    stop.abort()
    body.destroy(abortError('upload aborted'))
  }
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    return await run(stop)
  } catch (error) {
    if (!body.destroyed) body.destroy()
    if (signal?.aborted) throw errors.aborted(error)
    throw errors.fail(error)
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}
