/**
 * An HTTP reverse proxy for fault injection, used by every cloud driver test (S3, Azure, GCS
 * emulators). It listens on a free loopback port and forwards each request unchanged
 * (method, path, headers — including `Host`, so signed requests stay valid) to `target`.
 *
 * Faults are armed by the test and consumed by the next matching requests:
 *   - `failNext(n, status)`: the next `n` requests are answered by the proxy itself with
 *     `status` (503 by default; 500, or 429 for throttling) and an S3-style XML error body;
 *     they never reach the target.
 *     The proxy reads the request body to its end before answering, so clients that stream
 *     a body see a clean response rather than a broken pipe.
 *   - `resetNextRequestAfter(bytes)`: the next request that carries a body is forwarded until
 *     `bytes` body bytes have been passed on, then the client's connection is reset (a TCP
 *     RST: the client sees ECONNRESET) and the upstream request is abandoned. When
 *     the body is shorter than `bytes`, the socket is destroyed once the whole body has been
 *     forwarded, before any response is returned — an armed reset always fires.
 *   - `resetNextResponseAfter(bytes)`: the next response that carries a body (not to a HEAD
 *     request) is passed back until `bytes` body bytes have reached the client, then the
 *     client's connection is reset mid-body — a download that breaks part-way.
 *   - `hangNext(n)`: the next `n` requests are read to their end and never answered (the
 *     connection stays open until `close`) — a server that stopped responding.
 *   - `stallNextResponseAfter(bytes)`: the next response whose body is longer than `bytes`
 *     (or of unknown length) stops after `bytes` body bytes, its connection left open — a
 *     download that stalls.
 *
 * `requests()` counts every request the proxy received, including those it failed;
 * `onRequest(listener)` reports each request (method, URL) as it arrives, before any fault;
 * `onResponse(listener)` reports each upstream answer (method, URL, status) as it is passed on,
 * so a test can wait for a request to have reached the server instead of sleeping.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FaultProxy {
  /** Base URL of the proxy, `http://127.0.0.1:<port>` followed by the target's path (if any). */
  readonly url: string
  /** Answers the next `count` requests with `status` (default 503) without forwarding them; replaces any count still pending (`failNext(0)` cancels). */
  failNext(count: number, status?: FaultStatus): void
  /** Destroys the client socket of the next request with a body after `bytes` body bytes were forwarded (0 = before any). */
  resetNextRequestAfter(bytes: number): void
  /** Destroys the client socket of the next response with a body after `bytes` body bytes were passed back. */
  resetNextResponseAfter(bytes: number): void
  /** Leaves the next `count` requests unanswered (their bodies are read); `hangNext(0)` cancels. */
  hangNext(count: number): void
  /** Stops passing the next response with a body back after `bytes` body bytes, leaving its connection open. */
  stallNextResponseAfter(bytes: number): void
  /** Calls `listener` for every request as it arrives, before faults apply; returns the unsubscribe. */
  onRequest(listener: (method: string, url: string) => void): () => void
  /** Calls `listener` for every upstream answer passed back to the client; returns the unsubscribe. */
  onResponse(listener: (method: string, url: string, status: number) => void): () => void
  /** Number of requests received so far (failed, reset and forwarded ones). */
  requests(): number
  /** Stops listening, closes every open connection and the upstream agent. */
  close(): Promise<void>
}

/** Statuses `failNext` answers with: throttling and server errors. */
export type FaultStatus = 429 | 500 | 503

const ERROR_BODIES: Record<FaultStatus, { code: string; message: string }> = {
  429: { code: 'TooManyRequests', message: 'Too many requests; please slow down.' },
  500: { code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  503: { code: 'SlowDown', message: 'Please reduce your request rate.' },
}

/**
 * Starts a fault-injection proxy in front of `target` (e.g. `http://127.0.0.1:4568`).
 * @throws when `target` is not an `http:` URL or the proxy cannot listen.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target)
  if (upstream.protocol !== 'http:') throw new Error(`fault proxy: target must be an http: URL, got ${target}`)
  const agent = new Agent({ keepAlive: true })
  let received = 0
  let failures: { remaining: number; status: FaultStatus } = { remaining: 0, status: 503 }
  let hangs = 0
  let responseStall = false
  let resetAfter: number | null = null
  let responseResetAfter: number | null = null
  const responseListeners = new Set<(method: string, url: string, status: number) => void>()
  const requestListeners = new Set<(method: string, url: string) => void>()

  const server = createServer((req, res) => {
    received += 1
    for (const listener of requestListeners) listener(req.method ?? '', req.url ?? '')
    if (failures.remaining > 0) {
      failures.remaining -= 1
      answerWithError(req, res, failures.status)
      return
    }
    if (hangs > 0) {
      hangs -= 1
      req.resume() // read the body, never answer
      return
    }
    let resetAt: number | null = null
    if (resetAfter !== null && hasBody(req)) {
      resetAt = resetAfter
      resetAfter = null
    }
    forward(req, res, resetAt)
  })

  function forward(req: IncomingMessage, res: ServerResponse, resetAt: number | null): void {
    const out = httpRequest({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port || 80,
      method: req.method,
      path: req.url,
      headers: req.headers,
      agent,
    })
    out.on('response', (answer) => {
      if (res.destroyed) {
        answer.resume()
        return
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers)
      for (const listener of responseListeners) listener(req.method ?? '', req.url ?? '', answer.statusCode ?? 502)
      answer.on('error', () => res.destroy())
      const bodyExpected = req.method !== 'HEAD' && (Number(answer.headers['content-length'] ?? 0) > 0 || answer.headers['transfer-encoding'] !== undefined)
      // A stall waits for a response longer than its byte count (small metadata answers pass).
      const longEnough = !responseStall || responseResetAfter === null || Number(answer.headers['content-length'] ?? Number.POSITIVE_INFINITY) > responseResetAfter
      if (responseResetAfter === null || !bodyExpected || !longEnough) {
        answer.pipe(res)
        return
      }
      const limit = responseResetAfter
      const stall = responseStall
      responseResetAfter = null
      let passed = 0
      const cutResponse = (): void => {
        answer.destroy()
        if (!stall) res.socket?.resetAndDestroy()
      }
      answer.on('data', (chunk: Buffer) => {
        if (passed >= limit) return
        const piece = chunk.length > limit - passed ? chunk.subarray(0, limit - passed) : chunk
        passed += piece.length
        if (passed >= limit) res.write(piece, cutResponse)
        else res.write(piece)
      })
      answer.on('end', () => {
        if (passed < limit) cutResponse()
      })
    })
    out.on('error', (error) => {
      if (res.destroyed) return
      if (res.headersSent) {
        res.destroy()
        return
      }
      res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(`fault proxy: upstream failed: ${error.message}`)
    })
    req.on('aborted', () => out.destroy())
    res.on('close', () => {
      if (!res.writableFinished) out.destroy()
    })

    if (resetAt === null) {
      req.pipe(out)
      return
    }
    let forwarded = 0
    const cut = (): void => {
      out.destroy()
      req.socket.resetAndDestroy()
    }
    if (resetAt <= 0) {
      cut()
      return
    }
    req.on('data', (chunk: Buffer) => {
      if (forwarded >= resetAt) return
      const room = resetAt - forwarded
      const piece = chunk.length > room ? chunk.subarray(0, room) : chunk
      forwarded += piece.length
      out.write(piece)
      if (forwarded >= resetAt) cut()
    })
    req.on('end', () => {
      if (forwarded < resetAt) cut()
    })
  }

  server.on('clientError', (_error, socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const path = upstream.pathname === '/' ? '' : upstream.pathname.replace(/\/+$/, '')

  return {
    url: `http://127.0.0.1:${port}${path}`,
    failNext(count: number, status: FaultStatus = 503): void {
      if (!Number.isInteger(count) || count < 0) throw new Error(`fault proxy: failNext count must be a non-negative integer, got ${count}`)
      failures = { remaining: count, status }
    },
    resetNextRequestAfter(bytes: number): void {
      if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`fault proxy: reset byte count must be a non-negative integer, got ${bytes}`)
      resetAfter = bytes
    },
    resetNextResponseAfter(bytes: number): void {
      if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`fault proxy: reset byte count must be a non-negative integer, got ${bytes}`)
      responseResetAfter = bytes
      responseStall = false
    },
    hangNext(count: number): void {
      if (!Number.isInteger(count) || count < 0) throw new Error(`fault proxy: hangNext count must be a non-negative integer, got ${count}`)
      hangs = count
    },
    stallNextResponseAfter(bytes: number): void {
      if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`fault proxy: stall byte count must be a non-negative integer, got ${bytes}`)
      responseResetAfter = bytes
      responseStall = true
    },
    onRequest(listener) {
      requestListeners.add(listener)
      return () => requestListeners.delete(listener)
    },
    onResponse(listener) {
      responseListeners.add(listener)
      return () => responseListeners.delete(listener)
    },
    requests(): number {
      return received
    },
    async close(): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      agent.destroy()
      await closed
    },
  }
}

// --- helpers ---

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length']
  if (length !== undefined) return Number(length) > 0
  return req.headers['transfer-encoding'] !== undefined
}

function answerWithError(req: IncomingMessage, res: ServerResponse, status: FaultStatus): void {
  const { code, message } = ERROR_BODIES[status]
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-proxy</RequestId></Error>`
  const reply = (): void => {
    if (res.destroyed) return
    res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
  if (req.complete) {
    reply()
    return
  }
  req.on('end', reply)
  req.on('error', () => res.destroy())
  req.resume()
}
