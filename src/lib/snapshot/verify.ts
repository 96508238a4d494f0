/**
 * Streaming integrity check of a full snapshot body (the bytes of etcd's
 * `Maintenance.Snapshot`): a bbolt database followed by a 32-byte SHA-256 of the database
 * (research notes §3.1). Passes the bytes through unchanged — the stored object keeps the
 * trailer, as etcd-backup-restore's does — and fails the stream with `SNAPSHOT_CORRUPT` when
 * the length or digest is wrong, or `SNAPSHOT_NOT_BBOLT` when the first page is not a bbolt
 * meta page. Memory: O(1) (a 32-byte tail).
 */
import { createHash, type Hash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { Transform, type TransformCallback } from 'node:stream'
import { StewardError } from '../errors.ts'
import { garbageReleaser } from '../memory.ts'

/** Length of etcd's SHA-256 trailer in bytes. */
export const TRAILER_BYTES = 32
/** bbolt meta page magic (little-endian u32 at offset 16 of page 0). */
const BBOLT_MAGIC = 0xed0cdaed

/** What a finished verification found. */
export interface SnapshotDigest {
  /** Bytes of the database, without the trailer. */
  readonly dbSizeBytes: number
  /** SHA-256 of the database, hex. */
  readonly sha256: string
}

export interface VerifyOptions {
  /** Name of the object or source for messages. */
  readonly source: string
  /** Skip the digest comparison (etcd's `--skip-hash-check`); length and bbolt checks still run. */
  readonly skipHashCheck?: boolean
  /**
   * Called with the bytes passed through so far, and streaming garbage released as they pass
   * (see `memory.ts`): what a {@link ByteCounter} in front of the verifier does, without the
   * extra stream stage per chunk (a snapshot is about 100,000 chunks per GiB).
   */
  readonly onBytes?: (totalBytes: number) => void
}

/**
 * A pass-through Transform verifying a full snapshot. After `finish`, `digest` holds the
 * result. Errors: `SNAPSHOT_NOT_BBOLT`, `SNAPSHOT_CORRUPT` (wrong length, digest mismatch).
 */
export class FullSnapshotVerifier extends Transform {
  readonly #hash: Hash = createHash('sha256')
  readonly #options: VerifyOptions
  #tail: Buffer = Buffer.alloc(0)
  #head: Buffer = Buffer.alloc(0)
  #total = 0
  readonly #release: ((totalBytes: number) => void) | undefined
  digest: SnapshotDigest | undefined

  constructor(options: VerifyOptions) {
    super()
    this.#options = options
    if (options.onBytes) this.#release = garbageReleaser()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#total += chunk.length
    if (this.#release) {
      this.#options.onBytes!(this.#total)
      this.#release(this.#total)
    }
    if (this.#head.length < 20) this.#head = Buffer.concat([this.#head, chunk.subarray(0, 20 - this.#head.length)])
    if (this.#tail.length + chunk.length <= TRAILER_BYTES) {
      this.#tail = Buffer.concat([this.#tail, chunk])
    } else if (chunk.length >= TRAILER_BYTES) {
      this.#hash.update(this.#tail)
      this.#hash.update(chunk.subarray(0, chunk.length - TRAILER_BYTES))
      this.#tail = Buffer.from(chunk.subarray(chunk.length - TRAILER_BYTES))
    } else {
      const joined = Buffer.concat([this.#tail, chunk])
      this.#hash.update(joined.subarray(0, joined.length - TRAILER_BYTES))
      this.#tail = joined.subarray(joined.length - TRAILER_BYTES)
    }
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    const { source } = this.#options
    if (this.#head.length < 20 || this.#head.readUInt32LE(16) !== BBOLT_MAGIC) {
      callback(new StewardError('SNAPSHOT_NOT_BBOLT', 'snapshot', `${source} is not a bbolt database (no bbolt meta page at its start)`, {
        details: { source },
        hints: ['only etcd v3 snapshots (etcdctl snapshot save, Maintenance.Snapshot) can be restored'],
      }))
      return
    }
    if (this.#total % 512 !== TRAILER_BYTES) {
      callback(new StewardError('SNAPSHOT_CORRUPT', 'snapshot', `${source} is truncated or has no SHA-256 trailer (${this.#total} bytes; a full snapshot is a multiple of 512 plus 32)`, {
        details: { source, sizeBytes: this.#total },
      }))
      return
    }
    const actual = this.#hash.digest()
    if (!this.#options.skipHashCheck && !actual.equals(this.#tail)) {
      callback(trailerMismatch(source, this.#tail, actual))
      return
    }
    this.digest = { dbSizeBytes: this.#total - TRAILER_BYTES, sha256: actual.toString('hex') }
    callback()
  }
}

function trailerMismatch(source: string, trailer: Buffer, actual: Buffer): StewardError {
  return new StewardError('SNAPSHOT_CORRUPT', 'snapshot', `${source} fails its SHA-256 check: trailer ${trailer.toString('hex')}, content ${actual.toString('hex')}`, {
    details: { source, expected: trailer.toString('hex'), actual: actual.toString('hex') },
  })
}

/**
 * Checks the SHA-256 trailer of a full snapshot file in place (length and bbolt header are the
 * caller's): hashes all but the last 32 bytes through one reused 1 MiB buffer, so it allocates
 * nothing per chunk whatever the file size.
 * @throws StewardError `SNAPSHOT_CORRUPT` (too short, digest mismatch) naming `source`; `ABORTED` when `signal` aborts
 */
export async function verifySnapshotFile(path: string, source: string, signal?: AbortSignal): Promise<void> {
  const file = await open(path, 'r')
  try {
    const size = (await file.stat()).size
    if (size < TRAILER_BYTES) throw new StewardError('SNAPSHOT_CORRUPT', 'snapshot', `${source} is shorter than its SHA-256 trailer (${size} bytes)`, { details: { source, sizeBytes: size } })
    const hash = createHash('sha256')
    const buffer = Buffer.allocUnsafe(1024 * 1024)
    const contentBytes = size - TRAILER_BYTES
    for (let at = 0; at < contentBytes; ) {
      if (signal?.aborted) throw new StewardError('ABORTED', 'snapshot', `checking ${source} aborted`, { cause: signal.reason })
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, contentBytes - at), at)
      if (bytesRead === 0) throw new StewardError('SNAPSHOT_CORRUPT', 'snapshot', `${source} shrank while being checked`, { details: { source } })
      hash.update(buffer.subarray(0, bytesRead))
      at += bytesRead
    }
    const trailer = Buffer.alloc(TRAILER_BYTES)
    await file.read(trailer, 0, TRAILER_BYTES, contentBytes)
    const actual = hash.digest()
    if (!actual.equals(trailer)) throw trailerMismatch(source, trailer, actual)
  } finally {
    await file.close()
  }
}

/**
 * Counts bytes passing through and reports them; used for progress and stored sizes. Also
 * releases streaming garbage as it goes (see `memory.ts`).
 */
export class ByteCounter extends Transform {
  bytes = 0
  readonly #onBytes: ((total: number) => void) | undefined
  readonly #release = garbageReleaser()

  constructor(onBytes?: (total: number) => void) {
    super()
    this.#onBytes = onBytes
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    this.#onBytes?.(this.bytes)
    this.#release(this.bytes)
    callback(null, chunk)
  }
}
