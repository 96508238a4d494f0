/**
 * A Google Cloud Storage server for tests: an in-process HTTP server speaking the subset of the
 * GCS JSON API that `@google-cloud/storage` sends for the GCS driver's calls (found by logging
 * the SDK's requests; see docs/storage-gcs.md, "Test server"). Objects live in memory.
 *
 *   GET    /storage/v1/b/:bucket                         bucket metadata
 *   GET    /storage/v1/b/:bucket/o?prefix&maxResults&pageToken
 *                                                        list, name order, opaque page tokens
 *   GET    /storage/v1/b/:bucket/o/:object               object metadata (`?generation=` pins one)
 *   GET    /storage/v1/b/:bucket/o/:object?alt=media     media download, `Range: bytes=a-[b]`
 *   GET    /download/storage/v1/b/:bucket/o/:object?alt=media   the same
 *   DELETE /storage/v1/b/:bucket/o/:object               delete (404 when missing)
 *   POST   /upload/storage/v1/b/:bucket/o?uploadType=media&name=    simple upload
 *   POST   /upload/storage/v1/b/:bucket/o?uploadType=multipart      JSON metadata + media (multipart/related)
 *   POST   /upload/storage/v1/b/:bucket/o?uploadType=resumable&name=
 *                                                        starts a session: 200 + `Location` (on the
 *                                                        `Host` the client called, so a proxy stays in the path)
 *   PUT    <session>  `Content-Range: bytes a-b/total|*`  a chunk: 308 + `Range: bytes=0-n`, or
 *                                                        200 with the object once `total` is reached
 *   PUT    <session>  `Content-Range: bytes *\/total|*`   status query (308, or 200 when finished)
 *   DELETE <session>                                     cancels the session (499)
 *
 * Like GCS, an object appears only when its upload completes: an unfinished resumable session
 * leaves nothing visible. A chunk whose request breaks off is not persisted at all (GCS may keep
 * a prefix; clients must query the status either way). Errors use GCS's JSON error shape and
 * messages ("No such object: b/o", "The specified bucket does not exist."). Responses carry
 * `x-goog-hash` (CRC32C and MD5) and `x-goog-stored-content-encoding: identity`, so the SDK's
 * integrity checks run. No authentication: the SDK skips auth for a non-Google endpoint.
 */
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface GcsServerHandle {
  /** `http://127.0.0.1:<port>`: the SDK's `apiEndpoint` (and the GCS driver's endpoint override). */
  readonly endpoint: string
  /** Creates an empty bucket (no error when it exists). */
  createBucket(name: string): void
  /** From now on, every request touching `bucket` is answered with `status` (401: bad credentials, 403: missing permission). */
  denyAccess(bucket: string, status?: 401 | 403): void
  /** Names of the objects in `bucket`, sorted; `[]` for a missing bucket. */
  objectNames(bucket: string): string[]
  /** Resumable sessions started but neither finished nor cancelled. */
  openUploads(): { readonly bucket: string; readonly name: string; readonly receivedBytes: number }[]
  /** Every request received so far, as `METHOD /path?query` (for tests that check what a client sent). */
  requests(): readonly string[]
  /** Calls `listener` with `METHOD /path?query` as each request arrives, before it is answered; returns an unsubscribe function. */
  onRequest(listener: (request: string) => void): () => void
  /** Stops listening and closes every open connection. */
  close(): Promise<void>
}

interface StoredObject {
  readonly data: Buffer
  readonly generation: string
  readonly contentType: string
  readonly created: Date
}

interface Session {
  readonly bucket: string
  readonly name: string
  readonly contentType: string
  readonly chunks: Buffer[]
  received: number
  finished: StoredObject | null
}

/** Default and maximum page size of objects.list. */
const MAX_RESULTS = 1000

/** Starts the server on a free loopback port. Always pair with `close()`. */
export async function startGcsServer(): Promise<GcsServerHandle> {
  const buckets = new Map<string, Map<string, StoredObject>>()
  const sessions = new Map<string, Session>()
  const denied = new Map<string, 401 | 403>()
  const log: string[] = []
  const listeners = new Set<(request: string) => void>()
  let generation = 1_700_000_000_000_000
  let origin = ''

  const nextGeneration = (): string => String(++generation)

  const server = createServer((req, res) => {
    const line = `${req.method} ${req.url}`
    log.push(line)
    for (const listener of listeners) listener(line)
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, `test server failed: ${String(error)}`, 'backendError')
      else res.destroy()
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gcs.invalid')
    const path = url.pathname
    const query = url.searchParams
    const method = req.method ?? 'GET'

    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path)
    if (upload) {
      const bucket = decodeURIComponent(upload[1]!)
      if (method === 'PUT' && query.has('upload_id')) return resumableChunk(req, res, query.get('upload_id')!)
      if (method === 'DELETE' && query.has('upload_id')) return cancelSession(req, res, query.get('upload_id')!)
      if (method !== 'POST') return methodNotAllowed(req, res)
      if (refused(res, bucket) || !bucketExists(res, bucket)) return drain(req)
      const type = query.get('uploadType')
      if (type === 'media') return mediaUpload(req, res, bucket, query.get('name'))
      if (type === 'multipart') return multipartUpload(req, res, bucket, query.get('name'))
      if (type === 'resumable') return startSession(req, res, bucket, query.get('name'))
      await drain(req)
      return sendError(res, 400, `unsupported uploadType ${JSON.stringify(type)}`, 'invalid')
    }

    const object = /^\/(?:storage|download\/storage)\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path)
    if (object) {
      await drain(req)
      const bucket = decodeURIComponent(object[1]!)
      const name = decodeURIComponent(object[2]!)
      if (refused(res, bucket) || !bucketExists(res, bucket)) return
      const stored = buckets.get(bucket)!.get(name)
      const pinned = query.get('generation')
      if (!stored || (pinned !== null && pinned !== stored.generation)) return sendError(res, 404, `No such object: ${bucket}/${name}`, 'notFound')
      if (method === 'GET' && query.get('alt') === 'media') return download(req, res, stored)
      if (method === 'GET') return sendJson(res, 200, objectResource(bucket, name, stored))
      if (method === 'DELETE') {
        buckets.get(bucket)!.delete(name)
        res.writeHead(204)
        res.end()
        return
      }
      return methodNotAllowed(req, res)
    }

    const objects = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path)
    if (objects) {
      await drain(req)
      const bucket = decodeURIComponent(objects[1]!)
      if (method !== 'GET') return methodNotAllowed(req, res)
      if (refused(res, bucket) || !bucketExists(res, bucket)) return
      return list(res, bucket, query)
    }

    const bucketPath = /^\/storage\/v1\/b\/([^/]+)$/.exec(path)
    if (bucketPath) {
      await drain(req)
      const bucket = decodeURIComponent(bucketPath[1]!)
      if (method !== 'GET') return methodNotAllowed(req, res)
      if (refused(res, bucket) || !bucketExists(res, bucket)) return
      return sendJson(res, 200, { kind: 'storage#bucket', id: bucket, name: bucket, location: 'US', storageClass: 'STANDARD', metageneration: '1' })
    }

    await drain(req)
    sendError(res, 404, `Not Found: ${method} ${path}`, 'notFound')
  }

  // --- uploads ---

  async function mediaUpload(req: IncomingMessage, res: ServerResponse, bucket: string, name: string | null): Promise<void> {
    const data = await readBody(req)
    if (data === null) return
    if (!name) return sendError(res, 400, 'Required parameter: name', 'required')
    const stored = store(bucket, name, data, headerOf(req, 'content-type') ?? 'application/octet-stream')
    sendJson(res, 200, objectResource(bucket, name, stored))
  }

  async function multipartUpload(req: IncomingMessage, res: ServerResponse, bucket: string, queryName: string | null): Promise<void> {
    const body = await readBody(req)
    if (body === null) return
    const boundary = /boundary=("?)([^";]+)\1/i.exec(headerOf(req, 'content-type') ?? '')?.[2]
    const parts = boundary ? multipartParts(body, boundary) : []
    const [metaPart, mediaPart] = parts
    if (!metaPart || !mediaPart) return sendError(res, 400, 'multipart body must have a metadata part and a media part', 'invalid')
    let metadata: { name?: unknown; contentType?: unknown }
    try {
      metadata = JSON.parse(metaPart.body.toString('utf8')) as typeof metadata
    } catch {
      return sendError(res, 400, 'metadata part is not JSON', 'parseError')
    }
    const name = typeof metadata.name === 'string' ? metadata.name : queryName
    if (!name) return sendError(res, 400, 'Required parameter: name', 'required')
    const contentType = typeof metadata.contentType === 'string' ? metadata.contentType : (mediaPart.contentType ?? 'application/octet-stream')
    const stored = store(bucket, name, mediaPart.body, contentType)
    sendJson(res, 200, objectResource(bucket, name, stored))
  }

  async function startSession(req: IncomingMessage, res: ServerResponse, bucket: string, queryName: string | null): Promise<void> {
    const body = await readBody(req)
    if (body === null) return
    let metadata: { name?: unknown; contentType?: unknown } = {}
    if (body.length > 0) {
      try {
        metadata = JSON.parse(body.toString('utf8')) as typeof metadata
      } catch {
        return sendError(res, 400, 'session metadata is not JSON', 'parseError')
      }
    }
    const name = queryName ?? (typeof metadata.name === 'string' ? metadata.name : null)
    if (!name) return sendError(res, 400, 'Required parameter: name', 'required')
    const contentType = headerOf(req, 'x-upload-content-type') ?? (typeof metadata.contentType === 'string' ? metadata.contentType : 'application/octet-stream')
    const id = randomBytes(12).toString('hex')
    sessions.set(id, { bucket, name, contentType, chunks: [], received: 0, finished: null })
    // The session URL uses the host the client called (a proxy in front of this server stays in the path).
    const host = headerOf(req, 'host')
    const location = `${host ? `http://${host}` : origin}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`
    res.writeHead(200, { location, 'content-length': '0' })
    res.end()
  }

  async function resumableChunk(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const data = await readBody(req)
    if (data === null) return // broke off: nothing of this chunk is persisted
    const session = sessions.get(id)
    if (!session) return sendError(res, 404, 'No such upload session', 'notFound')
    if (refused(res, session.bucket)) return
    if (session.finished) return sendJson(res, 200, objectResource(session.bucket, session.name, session.finished))
    const range = /^bytes (\*|(\d+)-(\d+))\/(\*|\d+)$/.exec(headerOf(req, 'content-range') ?? '')
    if (!range) return sendError(res, 400, `bad Content-Range ${JSON.stringify(headerOf(req, 'content-range'))}`, 'invalid')
    const total = range[4] === '*' ? null : Number(range[4])
    if (range[1] !== '*') {
      const start = Number(range[2])
      const end = Number(range[3])
      if (end - start + 1 !== data.length) return sendError(res, 400, `Content-Range ${start}-${end} does not match a body of ${data.length} bytes`, 'invalid')
      if (start > session.received) return sendError(res, 400, `chunk starts at ${start} but only ${session.received} bytes were received`, 'invalid')
      const fresh = data.subarray(session.received - start) // a re-sent overlap is skipped
      if (fresh.length > 0) {
        session.chunks.push(fresh)
        session.received += fresh.length
      }
    }
    if (total !== null && session.received > total) return sendError(res, 400, `received ${session.received} bytes, more than the declared ${total}`, 'invalid')
    if (total !== null && session.received === total) {
      session.finished = store(session.bucket, session.name, Buffer.concat(session.chunks), session.contentType)
      session.chunks.length = 0
      return sendJson(res, 200, objectResource(session.bucket, session.name, session.finished))
    }
    // 308 Resume Incomplete; no Range header while nothing has been received.
    res.writeHead(308, { ...(session.received > 0 ? { range: `bytes=0-${session.received - 1}` } : {}), 'content-length': '0' })
    res.end()
  }

  async function cancelSession(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    await drain(req)
    if (!sessions.delete(id)) return sendError(res, 404, 'No such upload session', 'notFound')
    res.writeHead(499, { 'content-length': '0' })
    res.end()
  }

  function store(bucket: string, name: string, data: Buffer, contentType: string): StoredObject {
    const stored: StoredObject = { data, generation: nextGeneration(), contentType, created: new Date() }
    buckets.get(bucket)!.set(name, stored)
    return stored
  }

  // --- reads ---

  function download(req: IncomingMessage, res: ServerResponse, stored: StoredObject): void {
    const headers = {
      'content-type': stored.contentType,
      'x-goog-generation': stored.generation,
      'x-goog-hash': `crc32c=${crc32cBase64(stored.data)},md5=${md5Base64(stored.data)}`,
      'x-goog-stored-content-encoding': 'identity',
      'x-goog-stored-content-length': String(stored.data.length),
      etag: etagOf(stored),
    }
    const range = /^bytes=(\d+)-(\d*)$/.exec(headerOf(req, 'range') ?? '')
    if (range) {
      const start = Number(range[1])
      const end = range[2] ? Math.min(Number(range[2]), stored.data.length - 1) : stored.data.length - 1
      if (start >= stored.data.length) {
        res.writeHead(416, { 'content-range': `bytes */${stored.data.length}`, 'content-length': '0' })
        res.end()
        return
      }
      const piece = stored.data.subarray(start, end + 1)
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${stored.data.length}`, 'content-length': String(piece.length) })
      res.end(piece)
      return
    }
    res.writeHead(200, { ...headers, 'content-length': String(stored.data.length) })
    res.end(stored.data)
  }

  function list(res: ServerResponse, bucket: string, query: URLSearchParams): void {
    const prefix = query.get('prefix') ?? ''
    const requested = Number(query.get('maxResults') ?? MAX_RESULTS)
    const maxResults = Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_RESULTS) : MAX_RESULTS
    const token = query.get('pageToken')
    let after = ''
    if (token) {
      const decoded = decodePageToken(token)
      if (decoded === null) return sendError(res, 400, 'Invalid pageToken', 'invalid')
      after = decoded
    }
    const names = [...buckets.get(bucket)!.keys()].filter((name) => name.startsWith(prefix) && (!token || name > after)).sort()
    const page = names.slice(0, maxResults)
    const more = names.length > page.length
    sendJson(res, 200, {
      kind: 'storage#objects',
      ...(page.length > 0 ? { items: page.map((name) => objectResource(bucket, name, buckets.get(bucket)!.get(name)!)) } : {}),
      ...(more ? { nextPageToken: encodePageToken(page[page.length - 1]!) } : {}),
    })
  }

  // --- helpers ---

  function refused(res: ServerResponse, bucket: string): boolean {
    const status = denied.get(bucket)
    if (status === undefined) return false
    if (status === 401) sendError(res, 401, 'Invalid Credentials', 'authError')
    else sendError(res, 403, `steward-test@example.iam.gserviceaccount.com does not have storage.objects.list access to the Google Cloud Storage bucket. Permission 'storage.objects.list' denied on resource (or it may not exist).`, 'forbidden')
    return true
  }

  function bucketExists(res: ServerResponse, bucket: string): boolean {
    if (buckets.has(bucket)) return true
    sendError(res, 404, 'The specified bucket does not exist.', 'notFound')
    return false
  }

  function objectResource(bucket: string, name: string, stored: StoredObject): Record<string, unknown> {
    const time = stored.created.toISOString()
    return {
      kind: 'storage#object',
      id: `${bucket}/${name}/${stored.generation}`,
      selfLink: `${origin}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}`,
      mediaLink: `${origin}/download/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}?generation=${stored.generation}&alt=media`,
      name,
      bucket,
      generation: stored.generation,
      metageneration: '1',
      contentType: stored.contentType,
      storageClass: 'STANDARD',
      size: String(stored.data.length),
      md5Hash: md5Base64(stored.data),
      crc32c: crc32cBase64(stored.data),
      etag: etagOf(stored),
      timeCreated: time,
      updated: time,
      timeStorageClassUpdated: time,
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  let closed = false

  return {
    endpoint: origin,
    createBucket(name: string): void {
      if (!buckets.has(name)) buckets.set(name, new Map())
    },
    denyAccess(bucket: string, status: 401 | 403 = 403): void {
      denied.set(bucket, status)
    },
    objectNames(bucket: string): string[] {
      return [...(buckets.get(bucket)?.keys() ?? [])].sort()
    },
    openUploads() {
      return [...sessions.values()].filter((s) => !s.finished).map((s) => ({ bucket: s.bucket, name: s.name, receivedBytes: s.received }))
    },
    requests(): readonly string[] {
      return [...log]
    },
    onRequest(listener: (request: string) => void): () => void {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close(): Promise<void> {
      if (closed) return
      closed = true
      const done = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeAllConnections()
      await done
    },
  }
}

// --- wire helpers ---

/** The whole request body, or `null` when the client broke off before the end. */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const parts: Buffer[] = []
    req.on('data', (chunk: Buffer) => parts.push(chunk))
    req.on('end', () => resolve(Buffer.concat(parts)))
    req.on('error', () => resolve(null))
    req.on('close', () => {
      if (!req.complete) resolve(null)
    })
  })
}

async function drain(req: IncomingMessage): Promise<void> {
  await readBody(req)
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function sendError(res: ServerResponse, status: number, message: string, reason: string): void {
  sendJson(res, status, { error: { code: status, message, errors: [{ message, domain: 'global', reason }] } })
}

function methodNotAllowed(req: IncomingMessage, res: ServerResponse): void {
  sendError(res, 405, `method ${req.method} is not supported here by the test server`, 'methodNotAllowed')
}

/** Parts of a `multipart/related` body: each part's Content-Type and bytes. */
function multipartParts(body: Buffer, boundary: string): { contentType: string | undefined; body: Buffer }[] {
  const delimiter = Buffer.from(`--${boundary}`)
  const parts: { contentType: string | undefined; body: Buffer }[] = []
  let at = body.indexOf(delimiter)
  while (at !== -1) {
    const start = at + delimiter.length
    if (body.subarray(start, start + 2).toString() === '--') break // closing delimiter
    const next = body.indexOf(delimiter, start)
    if (next === -1) break
    let part = body.subarray(start, next)
    if (part.subarray(0, 2).toString() === '\r\n') part = part.subarray(2)
    if (part.subarray(part.length - 2).toString() === '\r\n') part = part.subarray(0, part.length - 2)
    const split = part.indexOf('\r\n\r\n')
    const head = split === -1 ? '' : part.subarray(0, split).toString('utf8')
    const contentType = /^content-type:\s*(.+)$/im.exec(head)?.[1]?.trim()
    parts.push({ contentType, body: split === -1 ? part : part.subarray(split + 4) })
    at = next
  }
  return parts
}

function encodePageToken(lastName: string): string {
  return Buffer.from(JSON.stringify({ after: lastName })).toString('base64url')
}

function decodePageToken(token: string): string | null {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown }
    return typeof value.after === 'string' ? value.after : null
  } catch {
    return null
  }
}

function etagOf(stored: StoredObject): string {
  return `"${stored.generation}"`
}

function md5Base64(data: Buffer): string {
  return createHash('md5').update(data).digest('base64')
}

/** CRC32C (Castagnoli) lookup table, reflected polynomial 0x82F63B78. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** CRC32C of `data` as GCS reports it: the big-endian 4 bytes, base64. */
export function crc32cBase64(data: Uint8Array): string {
  let crc = 0xffffffff
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8)
  const out = Buffer.alloc(4)
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0)
  return out.toString('base64')
}
