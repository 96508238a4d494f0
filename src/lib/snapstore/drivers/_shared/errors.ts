/**
 * The error vocabulary the cloud drivers share: `ABORTED` errors, and the builders a driver's
 * error mapping uses to turn an SDK error into one StewardError that names the provider, the
 * bucket or container, the operation and (for access errors) the permission it needs. Each
 * driver keeps only the classification that is specific to its backend (which codes, statuses
 * and messages mean what).
 */
import { StewardError, isStewardError } from '../../../errors.ts'
import { isAbortError } from '../../retry.ts'

/** The operations of the snapstore seam, as named in error messages and permission tables. */
export type Operation = 'put' | 'get' | 'head' | 'list' | 'delete'

/** Per operation: the backend's API name and the permission it needs. */
export type OperationTable = Readonly<Record<Operation, { readonly api: string; readonly permission: string }>>

/** An `ABORTED` StewardError for `what` (e.g. `upload of <key>`). */
export function aborted(component: string, what: string, cause?: unknown): StewardError {
  return new StewardError('ABORTED', component, `${what} aborted`, cause === undefined ? {} : { cause })
}

/** A plain `AbortError` (what `node:stream` and fetch throw when aborted). */
export function abortError(message = 'the operation was aborted'): Error {
  return Object.assign(new Error(message), { name: 'AbortError', code: 'ABORT_ERR' })
}

/** The first line of a (multi-line SDK) message. */
export function firstLine(text: string): string {
  return text.split('\n')[0] ?? text
}

/** What every mapped error carries. */
export interface FailureFacts {
  readonly component: string
  /** e.g. `S3 PutObject/UploadPart of <key> in bucket <bucket>` */
  readonly where: string
  readonly details: Readonly<Record<string, unknown>>
}

/** Builders for the errors a driver's mapping returns; every one keeps the SDK error as `cause`. */
export interface FailureKit {
  /** `STORE_NOT_FOUND` (missing bucket or container). */
  notFound(message: string, hint: string): StewardError
  /** `CONFIG_INVALID`: `<where> failed: <reason>`. */
  config(reason: string, hint: string): StewardError
  /** `STORE_FAILED`: `<where> was denied (<why>): <lack>`, with the permission in the details. */
  denied(why: string, lack: string, permission: string, hint: string): StewardError
  /** `STORE_FAILED`: `<where> <text>`, e.g. `failed: …`. */
  failed(text: string, extraDetails?: Readonly<Record<string, unknown>>, hints?: readonly string[]): StewardError
}

/**
 * Maps an SDK error: a StewardError passes through unchanged, an abort becomes `ABORTED`, and
 * everything else is left to the driver's `classify`, which picks one of the kit's builders.
 */
export function mapStoreError(error: unknown, facts: FailureFacts, classify: (kit: FailureKit) => StewardError): StewardError {
  if (isStewardError(error)) return error
  const { component, where, details } = facts
  if (isAbortError(error)) return new StewardError('ABORTED', component, `${where} aborted`, { cause: error, details })
  return classify({
    notFound: (message, hint) => new StewardError('STORE_NOT_FOUND', component, message, { cause: error, details, hints: [hint] }),
    config: (reason, hint) => new StewardError('CONFIG_INVALID', component, `${where} failed: ${reason}`, { cause: error, details, hints: [hint] }),
    denied: (why, lack, permission, hint) =>
      new StewardError('STORE_FAILED', component, `${where} was denied (${why}): ${lack}`, { cause: error, details: { ...details, permission }, hints: [hint] }),
    failed: (text, extraDetails = {}, hints = []) => new StewardError('STORE_FAILED', component, `${where} ${text}`, { cause: error, details: { ...details, ...extraDetails }, hints }),
  })
}
