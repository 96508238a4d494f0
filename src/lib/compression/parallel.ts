/**
 * Parallel gzip and zlib compression for full snapshots (docs/compression.md). The input is cut
 * into independent blocks of {@link PARALLEL_BLOCK_BYTES}; each block is deflated on one of
 * libuv's pool threads (node:zlib's asynchronous calls run there, off the main thread), and the
 * results are written out in input order. At most `workers` blocks are being compressed at once
 * and at most `2 × workers` blocks are held (queued, compressing, or done and waiting for an
 * earlier block), so memory is bounded whatever the input size: about 2 × workers × 2 × block.
 *
 * Output formats, both readable by Go's readers (etcd-backup-restore's restore), zlib, Python
 * and Debian's gzip:
 * - gzip: one complete gzip member per block, concatenated (RFC 1952 §2.2 allows several
 *   members; multi-member files decode to the concatenation of their contents).
 * - zlib: a single zlib stream (RFC 1950), because Go's zlib reader stops after the first
 *   stream: a 2-byte header, each block as raw deflate ended by a sync flush (a byte-aligned
 *   empty stored block, final bit clear; blocks use no dictionary, so each is independent), one
 *   empty final block, and the Adler-32 of all input, computed on the main thread as blocks
 *   arrive ({@link adler32}).
 */
import { availableParallelism } from 'node:os'
import { Transform, type TransformCallback } from 'node:stream'
import { constants, deflateRaw, gzip, type ZlibOptions } from 'node:zlib'

/** Input bytes per independently compressed block. */
export const PARALLEL_BLOCK_BYTES = 1024 * 1024
/** zlib's and Go's default level. */
export const DEFAULT_COMPRESSION_LEVEL = 6

export interface ParallelDeflateOptions {
  /** 1 (fastest) … 9 (smallest) [6]. */
  readonly level?: number
  /** Blocks compressed at once [available cores]. libuv's pool (UV_THREADPOOL_SIZE, default 4) caps real parallelism. */
  readonly workers?: number
  /** Input bytes per block [{@link PARALLEL_BLOCK_BYTES}]. */
  readonly blockBytes?: number
}

/**
 * The most bytes of buffers a {@link ParallelDeflate} holds at once, for `workers` threads and
 * `blockBytes` blocks: up to `2 × workers` blocks held (each with its 1-block input, and once
 * compressed its output, at most about a block for incompressible data), the block being
 * filled, and up to `workers` spare input buffers kept for reuse: `(5 × workers + 1) × blockBytes`
 * (11 MiB for 2 workers). Callers that share one memory budget with it (the upload's part
 * buffers, full.ts) subtract this.
 */
export function parallelDeflateHeldBytes(workers: number, blockBytes: number = PARALLEL_BLOCK_BYTES): number {
  return (5 * Math.max(1, workers) + 1) * blockBytes
}

/** The default for `--compression-workers`: the cores this process may use. */
export function defaultCompressionWorkers(): number {
  return Math.max(1, availableParallelism())
}

interface Slot {
  output: Buffer | undefined
  error: Error | undefined
}

/**
 * A Transform that compresses its input as gzip (concatenated members) or zlib (one stream)
 * using several threads; see the module comment for the formats.
 */
export class ParallelDeflate extends Transform {
  readonly #format: 'gzip' | 'zlib'
  readonly #level: number
  readonly #workers: number
  readonly #blockBytes: number
  /** Blocks in input order: waiting to start, compressing, or done and not yet pushed. */
  readonly #slots: Slot[] = []
  /** Inputs of slots not started yet, oldest first (parallel to the head of the not-started part). */
  readonly #waiting: { slot: Slot; input: Buffer }[] = []
  #running = 0
  /** Full-size input buffers whose block is compressed, reused for later blocks. */
  readonly #spare: Buffer[] = []
  #block: Buffer
  #fill = 0
  #adlerA = 1
  #adlerB = 0
  #headerSent = false
  /** The upstream callback held back while too many blocks are in flight. */
  #blocked: (() => void) | undefined
  #flushed: TransformCallback | undefined
  #failed = false

  constructor(format: 'gzip' | 'zlib', options: ParallelDeflateOptions = {}) {
    super()
    this.#format = format
    this.#level = options.level ?? DEFAULT_COMPRESSION_LEVEL
    this.#workers = Math.max(1, options.workers ?? defaultCompressionWorkers())
    this.#blockBytes = options.blockBytes ?? PARALLEL_BLOCK_BYTES
    this.#block = Buffer.allocUnsafe(this.#blockBytes)
  }

  /** Blocks being compressed right now. */
  get compressing(): number {
    return this.#running
  }

  /** Blocks held: waiting to start, compressing, or done and waiting for an earlier block. */
  get heldBlocks(): number {
    return this.#slots.length
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let at = 0
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, this.#blockBytes - this.#fill)
      chunk.copy(this.#block, this.#fill, at, at + n)
      this.#fill += n
      at += n
      if (this.#fill === this.#blockBytes) this.#submit()
    }
    if (this.#slots.length >= 2 * this.#workers) this.#blocked = () => callback()
    else callback()
  }

  override _flush(callback: TransformCallback): void {
    if (this.#fill > 0 || (this.#format === 'gzip' && this.#slots.length === 0 && !this.#headerSent)) this.#submit()
    this.#flushed = callback
    this.#drain()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#failed = true
    this.#waiting.length = 0
    callback(error)
  }

  /** Queues the current block and starts a new one. */
  #submit(): void {
    const input = this.#fill === this.#blockBytes ? this.#block : this.#block.subarray(0, this.#fill)
    if (this.#format === 'zlib') this.#updateAdler(input)
    const slot: Slot = { output: undefined, error: undefined }
    this.#slots.push(slot)
    this.#waiting.push({ slot, input })
    this.#block = this.#spare.pop() ?? Buffer.allocUnsafe(this.#blockBytes)
    this.#fill = 0
    this.#start()
  }

  #start(): void {
    while (this.#running < this.#workers && this.#waiting.length > 0) {
      const { slot, input } = this.#waiting.shift()!
      this.#running++
      const options: ZlibOptions = { level: this.#level, chunkSize: 128 * 1024 }
      const done = (error: Error | null, output: Buffer) => {
        this.#running--
        // zlib is done with the input: reuse its memory rather than leave 1 MiB per block to the GC.
        if (input.length === this.#blockBytes && this.#spare.length < this.#workers) this.#spare.push(input)
        if (error) slot.error = error
        else slot.output = output
        this.#start()
        this.#drain()
      }
      if (this.#format === 'gzip') gzip(input, options, done)
      else deflateRaw(input, { ...options, finishFlush: constants.Z_SYNC_FLUSH }, done)
    }
  }

  /** Pushes finished blocks in order; releases upstream and completes the flush when due. */
  #drain(): void {
    if (this.#failed) return
    while (this.#slots.length > 0) {
      const head = this.#slots[0]!
      if (head.error) {
        this.#failed = true
        this.destroy(head.error)
        return
      }
      if (!head.output) break
      this.#slots.shift()
      if (this.#format === 'zlib' && !this.#headerSent) this.push(zlibHeader(this.#level))
      this.#headerSent = true
      this.push(head.output)
    }
    if (this.#blocked && this.#slots.length < 2 * this.#workers) {
      const release = this.#blocked
      this.#blocked = undefined
      release()
    }
    if (this.#flushed && this.#slots.length === 0) {
      const callback = this.#flushed
      this.#flushed = undefined
      if (this.#format === 'zlib') {
        if (!this.#headerSent) this.push(zlibHeader(this.#level))
        const trailer = Buffer.alloc(6)
        trailer[0] = 0x03 // empty final block with fixed Huffman codes
        trailer.writeUInt32BE(((this.#adlerB << 16) | this.#adlerA) >>> 0, 2)
        this.push(trailer)
      }
      callback()
    }
  }

  #updateAdler(data: Buffer): void {
    ;[this.#adlerA, this.#adlerB] = adler32Update(this.#adlerA, this.#adlerB, data)
  }
}

/** Bytes summed between two reductions (zlib's NMAX: keeps both sums below 2^32). */
const ADLER_NMAX = 5552
const ADLER_MOD = 65521

/** Continues an Adler-32 (RFC 1950 §8.2) from its two halves `a` and `b` over `data`. */
export function adler32Update(a: number, b: number, data: Uint8Array): [number, number] {
  let at = 0
  while (at < data.length) {
    const end = Math.min(data.length, at + ADLER_NMAX)
    for (; at < end; at++) {
      a += data[at]!
      b += a
    }
    a %= ADLER_MOD
    b %= ADLER_MOD
  }
  return [a, b]
}

/** Adler-32 of `data` as an unsigned 32-bit number. */
export function adler32(data: Uint8Array): number {
  const [a, b] = adler32Update(1, 0, data)
  return ((b << 16) | a) >>> 0
}

/** The 2-byte zlib header for deflate with a 32 KiB window; FLEVEL follows zlib's mapping of `level`. */
function zlibHeader(level: number): Buffer {
  const flevel = level < 2 ? 0 : level < 6 ? 1 : level === 6 ? 2 : 3
  const cmf = 0x78
  let flg = flevel << 6
  flg += (31 - ((cmf * 256 + flg) % 31)) % 31
  return Buffer.from([cmf, flg])
}
