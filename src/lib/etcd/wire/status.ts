/**
 * gRPC status handling for the HTTP/2 transport: status codes, the error type, and how a
 * finished call's headers and trailers map to a status (grpc/grpc PROTOCOL-HTTP2.md,
 * doc/statuscodes.md, doc/http-grpc-status-mapping.md).
 */
import type { IncomingHttpHeaders } from 'node:http2'

/** gRPC status codes by number (grpc/grpc doc/statuscodes.md). */
const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const

export const GRPC_DEADLINE_EXCEEDED = 4
export const GRPC_UNAVAILABLE = 14
export const GRPC_UNAUTHENTICATED = 16

/**
 * A call that ended with a non-OK gRPC status. The message has grpc-js's shape
 * (`14 UNAVAILABLE: …`), so `etcdError` classifies both clients' errors alike.
 */
export class GrpcStatusError extends Error {
  readonly code: number
  readonly details: string

  constructor(code: number, details: string) {
    super(`${code} ${STATUS_NAMES[code] ?? 'UNKNOWN'}: ${details}`)
    this.name = 'GrpcStatusError'
    this.code = code
    this.details = details
  }
}

/** Status of a finished call. @throws GrpcStatusError unless OK */
export function checkStatus(headers: IncomingHttpHeaders | undefined, trailers: IncomingHttpHeaders | undefined, path: string): void {
  if (!headers) throw new GrpcStatusError(GRPC_UNAVAILABLE, `${path}: the stream ended without response headers`)
  const httpStatus = Number(headers[':status'])
  if (httpStatus !== 200) throw new GrpcStatusError(statusForHttp(httpStatus), `${path}: HTTP status ${httpStatus}`)
  const source = trailers?.['grpc-status'] !== undefined ? trailers : headers
  const status = source['grpc-status']
  if (status === undefined) throw new GrpcStatusError(13, `${path}: the stream ended without a grpc-status`)
  const code = Number(status)
  if (code === 0) return
  const message = source['grpc-message']
  throw new GrpcStatusError(code, typeof message === 'string' ? decodeGrpcMessage(message) : `${path} failed`)
}

/** HTTP status → gRPC status for responses that are not gRPC (PROTOCOL-HTTP2.md, http-grpc-status-mapping.md). */
function statusForHttp(status: number): number {
  if (status === 400) return 13
  if (status === 401) return GRPC_UNAUTHENTICATED
  if (status === 403) return 7
  if (status === 404) return 12
  if (status === 429 || status === 502 || status === 503 || status === 504) return GRPC_UNAVAILABLE
  return 2
}

function decodeGrpcMessage(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
