/**
 * A lean gRPC client over `node:http2` for the few etcd calls on steward's hot paths: the
 * `Maintenance.Snapshot` stream, the per-revision `Txn` of a delta restore, the revision read
 * before a snapshot, and `Auth.Authenticate` for those.
 *
 * Why not @grpc/grpc-js (through etcd3) for these: measured on a 336 MiB database, streaming a
 * snapshot through grpc-js costs about 0.4 s more CPU than the same bytes read straight from
 * the HTTP/2 stream (its per-message filter chain, copies and call objects), which put steward
 * at 1.5x `etcdctl snapshot save`; over this transport it runs at etcdctl's speed. Everything
 * else (watch, status, compaction, defragment, leases) stays on etcd3. See docs/etcd-client.md.
 *
 * What it implements of the gRPC-over-HTTP/2 protocol (grpc/grpc PROTOCOL-HTTP2.md): one POST
 * per call with `content-type: application/grpc` and `te: trailers`; length-prefixed messages
 * (1 flag byte, 4-byte big-endian length; compressed messages are refused, none are requested);
 * `grpc-timeout` plus a local deadline; status from `grpc-status`/`grpc-message` in the trailers
 * (or in the headers of a trailers-only response); non-200 HTTP statuses mapped as the spec
 * says. Message bodies are encoded/decoded by `messages.ts`.
 */
import http2 from 'node:http2'
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders, SecureClientSessionOptions } from 'node:http2'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { GrpcBytesFieldReader, GrpcMessageReader } from './framing.ts'
import { GRPC_DEADLINE_EXCEEDED, GRPC_UNAVAILABLE, GrpcStatusError, checkStatus } from './status.ts'

export interface WireChannelOptions {
  /** `http://host:port` or `https://host:port`. */
  readonly endpoint: string
  /** TLS material for https endpoints (PEM). `rejectUnauthorized: false` is etcd's `--insecure-skip-tls-verify`. */
  readonly tls?: { readonly ca?: Buffer | undefined; readonly cert?: Buffer | undefined; readonly key?: Buffer | undefined; readonly rejectUnauthorized: boolean } | undefined
  /** HTTP/2 receive window, per stream and for the connection, in bytes. */
  readonly flowControlWindowBytes: number
  /** Largest message accepted, in bytes. */
  readonly maxMessageBytes: number
}

export interface CallOptions {
  /** Extra request headers (gRPC metadata), e.g. `{ token }`. */
  readonly metadata?: Readonly<Record<string, string>>
  /** Whole-call deadline in milliseconds from now. */
  readonly timeoutMs?: number
  readonly signal?: AbortSignal | undefined
}

export interface StreamCallOptions extends CallOptions {
  /** Bytes buffered for the consumer before HTTP/2 flow control pauses the sender. */
  readonly highWaterMark?: number
  /** Turns the call's errors into the caller's error type. */
  readonly mapError?: (error: unknown) => Error
}

/** One HTTP/2 connection to one etcd endpoint, opened on first use and reopened after a failure. */
export class WireChannel {
  readonly endpoint: string
  readonly #options: WireChannelOptions
  #session: ClientHttp2Session | undefined
  #closed = false
  /** Calls in flight, per session. */
  readonly #active = new WeakMap<ClientHttp2Session, number>()

  constructor(options: WireChannelOptions) {
    this.endpoint = options.endpoint
    this.#options = options
  }

  /**
   * Calls a unary method; resolves the response message.
   * @throws GrpcStatusError (non-OK status, deadline), or the connection's own error (refused, TLS)
   */
  unary(path: string, request: Uint8Array, options: CallOptions = {}): Promise<Buffer> {
    // Stream events straight to one promise: no async iterator per call (a delta restore makes
    // thousands of calls per second; the iterator's promises cost a tenth of its CPU).
    let call: OpenCall
    try {
      call = this.#open(path, request, options)
    } catch (error) {
      return Promise.reject(error as Error)
    }
    return new Promise<Buffer>((resolve, reject) => {
      let response: Buffer | undefined
      let settled = false
      const settle = (error: unknown, value?: Buffer) => {
        if (settled) return
        settled = true
        call.release()
        if (error === undefined) resolve(value!)
        else reject(error as Error)
      }
      call.stream.on('data', (chunk: Buffer) => {
        try {
          for (const message of call.reader.push(chunk)) {
            if (response) throw new GrpcStatusError(13, `${path} answered with more than one message`)
            response = message
          }
        } catch (error) {
          settle(call.failure(error))
        }
      })
      call.stream.once('end', () => {
        try {
          call.finish()
          if (!response) throw new GrpcStatusError(13, `${path} answered without a message`)
          settle(undefined, response)
        } catch (error) {
          settle(error)
        }
      })
      call.stream.once('error', (error) => settle(call.failure(error)))
      // A cancelled call (deadline, abort) closes without 'end' or 'error'.
      call.stream.once('close', () => {
        if (!settled) settle(call.failure(new GrpcStatusError(GRPC_UNAVAILABLE, `${path}: the stream closed before its end`)))
      })
    })
  }

  /**
   * Calls a server-streaming method; yields each response message (a view of the received
   * bytes where a message arrived in one piece). Backpressure is HTTP/2 flow control: nothing
   * more is read while the consumer is busy. Stopping the iteration cancels the call.
   * @throws GrpcStatusError (non-OK status, deadline, oversized or compressed message), or the
   *   connection's own error (refused, TLS); `signal`'s reason when aborted
   */
  async *serverStream(path: string, request: Uint8Array, options: CallOptions = {}): AsyncGenerator<Buffer> {
    const call = this.#open(path, request, options)
    try {
      try {
        for await (const chunk of call.stream as AsyncIterable<Buffer>) {
          for (const message of call.reader.push(chunk)) yield message
        }
      } catch (error) {
        throw call.failure(error)
      }
      call.finish()
    } finally {
      call.release()
    }
  }

  /**
   * A server-streaming call as a byte stream: each response message goes through `map`
   * (e.g. to take one field out of it) and what it returns is pushed downstream; empty results
   * are dropped. The same semantics as {@link serverStream} without its per-message promise
   * round trips, for long streams (a snapshot is tens of thousands of messages). Destroying
   * the returned stream cancels the call; the call's failure destroys the stream with the
   * errors {@link serverStream} throws, passed through `options.mapError` when given.
   */
  serverStreamReadable(path: string, request: Uint8Array, map: (message: Buffer) => Buffer, options: StreamCallOptions = {}): Readable {
    const call = this.#open(path, request, options)
    return this.#readable(call, path, options, (chunk, out) => {
      for (const message of call.reader.push(chunk)) {
        const piece = map(message)
        if (piece.length > 0) out.push(piece)
      }
    }, () => call.reader.end())
  }

  /**
   * A server-streaming call as the bytes of one length-delimited field (`bytes`) of every
   * response message, in order, as views of the received HTTP/2 chunks: no message is assembled
   * or copied (framing.ts {@link GrpcBytesFieldReader}). Otherwise as {@link serverStreamReadable}.
   */
  serverStreamField(path: string, request: Uint8Array, field: number, options: StreamCallOptions = {}): Readable {
    const call = this.#open(path, request, options)
    const fields = new GrpcBytesFieldReader(field, this.#options.maxMessageBytes)
    return this.#readable(call, path, options, (chunk, out) => fields.push(chunk, out), () => fields.end())
  }

  /** The Transform behind the Readable calls: `split` turns each body chunk into pieces to push; `end` checks the body's end. */
  #readable(call: OpenCall, path: string, options: StreamCallOptions, split: (chunk: Buffer, out: Buffer[]) => void, end: () => void): Readable {
    const mapError = (error: unknown): Error => (options.mapError ? options.mapError(error) : (error as Error))
    const pieces: Buffer[] = []
    const messages = new Transform({
      readableHighWaterMark: options.highWaterMark,
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        try {
          split(chunk, pieces)
          for (const piece of pieces) this.push(piece)
          pieces.length = 0
          callback()
        } catch (error) {
          pieces.length = 0
          callback(mapError(call.failure(error)))
        }
      },
      flush(callback: TransformCallback) {
        try {
          end()
          call.finish()
          callback()
        } catch (error) {
          callback(mapError(call.failure(error)))
        }
      },
    })
    call.stream.on('error', (error) => messages.destroy(mapError(call.failure(error))))
    // A cancelled call (deadline, abort) closes without 'end' or 'error'; report it then.
    call.stream.once('close', () => {
      if (!messages.writableEnded && !messages.destroyed) messages.destroy(mapError(call.failure(new GrpcStatusError(GRPC_UNAVAILABLE, `${path}: the stream closed before its end`))))
    })
    call.stream.pipe(messages)
    messages.once('close', () => call.release())
    return messages
  }

  #open(path: string, request: Uint8Array, options: CallOptions): OpenCall {
    if (this.#closed) throw new GrpcStatusError(1, 'the channel is closed')
    options.signal?.throwIfAborted()
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'etcd-steward',
      ...(options.timeoutMs !== undefined ? { 'grpc-timeout': `${Math.max(1, Math.ceil(options.timeoutMs))}m` } : {}),
      ...options.metadata,
    }
    const session = this.#connect()
    const stream = session.request(headers)
    // The session is unref'd while idle; a call in flight keeps the process alive.
    const active = this.#active.get(session) ?? 0
    this.#active.set(session, active + 1)
    if (active === 0) session.ref()
    let responseHeaders: IncomingHttpHeaders | undefined
    let trailers: IncomingHttpHeaders | undefined
    stream.once('response', (h) => (responseHeaders = h))
    stream.once('trailers', (t) => (trailers = t))
    let ended: 'deadline' | 'aborted' | undefined
    const cancel = (why: 'deadline' | 'aborted') => {
      ended ??= why
      stream.close(http2.constants.NGHTTP2_CANCEL)
    }
    const timer = options.timeoutMs !== undefined ? setTimeout(() => cancel('deadline'), options.timeoutMs) : undefined
    const onAbort = () => cancel('aborted')
    options.signal?.addEventListener('abort', onAbort, { once: true })
    const failure = (error?: unknown): unknown => {
      if (ended === 'deadline') return new GrpcStatusError(GRPC_DEADLINE_EXCEEDED, `deadline of ${options.timeoutMs} ms exceeded calling ${path}`)
      if (ended === 'aborted') return options.signal?.reason ?? new GrpcStatusError(1, 'cancelled')
      return error
    }
    const frame = Buffer.allocUnsafe(5 + request.length)
    frame.writeUInt8(0, 0)
    frame.writeUInt32BE(request.length, 1)
    frame.set(request, 5)
    stream.end(frame)
    const reader = new GrpcMessageReader(this.#options.maxMessageBytes)
    let released = false
    return {
      stream,
      reader,
      failure,
      finish: () => {
        if (ended) throw failure()
        reader.end()
        checkStatus(responseHeaders, trailers, path)
      },
      release: () => {
        if (released) return
        released = true
        const left = (this.#active.get(session) ?? 1) - 1
        this.#active.set(session, left)
        if (left === 0 && !session.destroyed) session.unref()
        clearTimeout(timer)
        options.signal?.removeEventListener('abort', onAbort)
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL)
      },
    }
  }

  /** Closes the connection; later calls fail. Safe to call twice. */
  close(): void {
    this.#closed = true
    this.#session?.close()
    this.#session = undefined
  }

  #connect(): ClientHttp2Session {
    const current = this.#session
    if (current && !current.closed && !current.destroyed) return current
    const { tls, flowControlWindowBytes } = this.#options
    const options: SecureClientSessionOptions = {
      settings: { initialWindowSize: flowControlWindowBytes, enablePush: false },
      ...(tls ? { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}), rejectUnauthorized: tls.rejectUnauthorized } : {}),
      ...(tls && !tls.rejectUnauthorized ? { checkServerIdentity: () => undefined } : {}),
    }
    const session = http2.connect(this.endpoint, options)
    session.once('connect', () => session.setLocalWindowSize(flowControlWindowBytes))
    // Errors reach the calls through their streams; the listener keeps an unanswered 'error'
    // event from crashing the process, and a failed connection is replaced on next use.
    session.on('error', () => undefined)
    session.once('close', () => {
      if (this.#session === session) this.#session = undefined
    })
    session.once('goaway', () => {
      if (this.#session === session) this.#session = undefined
    })
    // An idle connection must not keep the process alive.
    session.unref()
    this.#session = session
    return session
  }
}

/** A call in flight: its HTTP/2 stream, message splitter, and end-of-call checks. */
interface OpenCall {
  readonly stream: ClientHttp2Stream
  readonly reader: GrpcMessageReader
  /** The error to report for `error` (or for a quiet end): the deadline or abort when one caused it. */
  failure(error?: unknown): unknown
  /** After the body ended: @throws GrpcStatusError unless the call completed with status OK */
  finish(): void
  /** Clears the deadline and abort listener, cancels the stream if still open. Idempotent. */
  release(): void
}
