/**
 * An S3 API server for tests: the `s3rver` package (a dev dependency) run in a child Node
 * process on a free loopback port, with its data in a fresh temp directory that `close()`
 * removes.
 *
 * s3rver 3.7 implements CreateMultipartUpload, UploadPart and CompleteMultipartUpload but not
 * AbortMultipartUpload (it answers 405 MethodNotAllowed) nor ListMultipartUploads (501
 * NotImplemented). The harness answers those two calls itself, in front of s3rver, from
 * s3rver's own on-disk state (`<bucket>/._S3rver_uploads/<uploadId>/`, which holds the
 * upload's `key` file and its parts): abort removes that directory, listing reports the
 * directories still there. So "no multipart upload left in progress" is checked against the
 * server's real storage, not against bookkeeping in the client. See docs/storage-s3.md.
 *
 * s3rver also writes an object's file in place, so two writes of one key at once interleave
 * their bytes on disk, where S3 replaces an object atomically. The harness runs the writes of
 * one key (PutObject, CompleteMultipartUpload) one after another, which is what S3's atomic
 * replace looks like to a reader.
 *
 * Credentials: s3rver accepts the access key `S3RVER` with secret `S3RVER` (exported below);
 * any other access key is rejected with `InvalidAccessKeyId` (403). It does not verify SigV4
 * signatures.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The only credentials s3rver accepts. Not frozen: the AWS SDK annotates credential objects in place. */
export const S3RVER_CREDENTIALS: { readonly accessKeyId: string; readonly secretAccessKey: string } = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
/** Region s3rver expects (its continuation tokens embed `us-east-1`). */
export const S3RVER_REGION = 'us-east-1'

export interface S3rverHandle {
  /** `http://127.0.0.1:<port>`; use path-style addressing. */
  readonly endpoint: string
  /** A bucket created at start. */
  readonly bucket: string
  /** The directory s3rver stores buckets in. */
  readonly directory: string
  /** Creates a bucket (no error when it exists). */
  createBucket(name: string): Promise<void>
  /** Stops the server process and removes its directory. */
  close(): Promise<void>
}

/** The part of s3rver's (untyped) API the harness uses. */
interface S3rverApp {
  callback(): (req: IncomingMessage, res: ServerResponse) => void
  readonly logger: { close(): void }
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverApp

const UPLOADS_DIR = '._S3rver_uploads'
const CHILD_FLAG = '--steward-s3rver-child'

/**
 * Starts s3rver with one bucket (`steward-test`) in a child process. Always pair with `close()`
 * (in a suite's `after` hook). The child also exits by itself when this process goes away
 * (it watches its stdin), so a crashed test run leaves no server behind.
 *
 * Why a child: s3rver encrypts ListObjectsV2 continuation tokens with DES, which Node 24's
 * OpenSSL 3 only offers with `--openssl-legacy-provider`; without it every truncated listing
 * page fails with HTTP 500. The child runs with that flag; the test process does not need it.
 */
export async function startS3rver(): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 'steward-s3rver-'))
  const bucket = 'steward-test'
  await mkdir(join(directory, bucket), { recursive: true })
  const child = spawn(process.execPath, ['--openssl-legacy-provider', fileURLToPath(import.meta.url), CHILD_FLAG, directory], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let port: number
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = ''
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (text: string) => {
        out += text
        const line = /^listening (\d+)$/m.exec(out)
        if (line) resolve(Number(line[1]))
      })
      child.once('error', reject)
      child.once('exit', (code, signal) => reject(new Error(`s3rver child exited early (code ${code}, signal ${signal}): ${out.trim()}`)))
    })
  } catch (error) {
    child.kill('SIGKILL')
    await exited
    await rm(directory, { recursive: true, force: true })
    throw error
  }
  let closed = false

  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    directory,
    async createBucket(name: string): Promise<void> {
      // s3rver's filesystem store: a bucket is a directory under its root.
      await mkdir(join(directory, name), { recursive: true, mode: 0o755 })
    },
    async close(): Promise<void> {
      if (closed) return
      closed = true
      child.stdin.end() // the child shuts down when its stdin closes
      await exited
      await rm(directory, { recursive: true, force: true })
    },
  }
}

/** Child side: s3rver plus the multipart shim on a free loopback port; prints `listening <port>`. */
async function runChild(directory: string): Promise<void> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor
  const app = new S3rver({ directory, silent: true, vhostBuckets: false, resetOnClose: false })
  const handle = app.callback()
  const writes = new Map<string, Promise<void>>()
  /** Runs `req` after the earlier writes of the same object have been answered. */
  const serialized = (object: string, req: IncomingMessage, res: ServerResponse): void => {
    const answered = new Promise<void>((resolve) => res.once('close', resolve))
    const next = (writes.get(object) ?? Promise.resolve()).then(() => {
      handle(req, res)
      return answered
    })
    writes.set(object, next)
    void next.then(() => {
      if (writes.get(object) === next) writes.delete(object)
    })
  }
  const server = createServer((req, res) => {
    void shim(directory, req, res).then(
      (handled) => {
        if (handled) return
        const object = objectWriteOf(req)
        if (object) serialized(object, req, res)
        else handle(req, res)
      },
      (error: unknown) => {
        if (!res.headersSent) sendXml(res, 500, errorXml('InternalError', String(error)))
        else res.destroy()
      },
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const shutdown = (): void => {
    server.close()
    server.closeAllConnections()
    app.logger.close()
  }
  process.stdin.on('end', shutdown)
  process.stdin.on('close', shutdown)
  process.stdin.resume()
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`)
}

if (process.argv[2] === CHILD_FLAG && process.argv[1] === fileURLToPath(import.meta.url)) {
  await runChild(process.argv[3] ?? '')
}

/** `bucket/key` when `req` replaces an object (PutObject or CompleteMultipartUpload), else null. */
function objectWriteOf(req: IncomingMessage): string | null {
  const url = new URL(req.url ?? '/', 'http://s3rver.invalid')
  const path = url.pathname.slice(1)
  if (!path.includes('/') || path.endsWith('/')) return null
  const putObject = req.method === 'PUT' && !url.searchParams.has('partNumber') && !url.searchParams.has('uploadId')
  const complete = req.method === 'POST' && url.searchParams.has('uploadId')
  return putObject || complete ? path : null
}

// --- the ListMultipartUploads / AbortMultipartUpload shim ---

/** Answers the two multipart calls s3rver lacks; returns false for everything else. */
async function shim(root: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://s3rver.invalid')
  const segments = url.pathname.split('/').slice(1)
  if (segments.length === 2 && segments[1] === '') segments.pop() // `/bucket/` is the bucket too
  const bucket = decodeURIComponent(segments[0] ?? '')
  if (!bucket) return false
  const uploadsDir = join(root, bucket, UPLOADS_DIR)

  if (req.method === 'GET' && segments.length === 1 && url.searchParams.has('uploads')) {
    req.resume()
    if (!(await exists(join(root, bucket)))) {
      sendXml(res, 404, errorXml('NoSuchBucket', 'The specified bucket does not exist', bucket))
      return true
    }
    const prefix = url.searchParams.get('prefix') ?? ''
    const uploads: string[] = []
    for (const uploadId of (await readdir(uploadsDir).catch(() => [])).sort()) {
      const key = await readFile(join(uploadsDir, uploadId, 'key'), 'utf8').catch(() => null)
      if (key === null || !key.startsWith(prefix)) continue
      const initiated = (await stat(join(uploadsDir, uploadId))).birthtime.toISOString()
      uploads.push(`<Upload><Key>${escapeXml(key)}</Key><UploadId>${uploadId}</UploadId><Initiated>${initiated}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`)
    }
    sendXml(
      res,
      200,
      `<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${escapeXml(bucket)}</Bucket>` +
        `<Prefix>${escapeXml(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`,
    )
    return true
  }

  const uploadId = url.searchParams.get('uploadId')
  if (req.method === 'DELETE' && segments.length > 1 && uploadId) {
    req.resume()
    const dir = join(uploadsDir, uploadId)
    if (!/^[0-9a-f]+$/.test(uploadId) || !(await exists(dir))) {
      sendXml(res, 404, errorXml('NoSuchUpload', 'The specified multipart upload does not exist.'))
      return true
    }
    await rm(dir, { recursive: true, force: true })
    res.writeHead(204)
    res.end()
    return true
  }
  return false
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

function sendXml(res: ServerResponse, status: number, body: string): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function errorXml(code: string, message: string, bucket?: string): string {
  return `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message>${bucket ? `<BucketName>${escapeXml(bucket)}</BucketName>` : ''}</Error>`
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
