/**
 * Multipart uploads from a stream with bounded memory: the body is read into a fixed pool of
 * `parallel` reusable part buffers; while all of them are in flight the source waits (in its
 * own stream buffer), so memory stays at `parallel × partSize` whatever the body's size. Each byte is copied once, from the
 * source's chunk into its part buffer; a buffer is reused only after its part's request settled.
 *
 * The backend is a {@link PartSink}: S3 (CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload, AbortMultipartUpload) and ABS (Put Block, Put Block List). A body that
 * fits in one part goes up in one `single` request. Nothing is completed unless every part was
 * accepted: the first failed part calls `stopOthers` (cancelling the parts still in flight), and
 * after every request settled `abort` cleans up before the error is rethrown.
 */
import type { Readable } from 'node:stream'
import { StewardError } from '../../../errors.ts'

/** What a backend does with the parts. */
export interface PartSink {
  /** Uploads a body that fits in one part, in one request. */
  single(data: Buffer): Promise<void>
  /** Opens the multipart upload, before the first part. */
  begin(): Promise<void>
  /** Uploads part `number` (1-based). Must be done with `data` when the promise settles. */
  part(number: number, data: Buffer): Promise<void>
  /** Completes the upload of parts 1…`count`. */
  complete(count: number): Promise<void>
  /** Cleans up after a failure (best effort; its own errors are ignored). */
  abort(): Promise<void>
}

/** Options of {@link uploadParts}. */
export interface UploadPartsOptions {
  readonly partSize: number
  /** Parts in flight at most (before {@link UploadPartsOptions.heldElsewhereBytes} lowers it). */
  readonly parallel: number
  /** Bytes other stages of the pipeline hold (PutOptions.heldElsewhereBytes); see {@link partsInFlight}. [0] */
  readonly heldElsewhereBytes?: number | undefined
  /** The backend's limit on parts per upload. */
  readonly maxParts: number
  /** For the too-many-parts error. */
  readonly component: string
  /** What the backend calls a part (`parts`, `blocks`), for messages. */
  readonly partName: string
  /** Cancels the requests in flight (called on the first failed part). */
  stopOthers(): void
}

/** The part size for a put: `partSize`, raised so that a known size fits in `maxParts` parts. */
export function partSizeFor(partSize: number, sizeBytes: number | undefined, maxParts: number): number {
  return sizeBytes === undefined ? partSize : Math.max(partSize, Math.ceil(sizeBytes / maxParts))
}

/**
 * Parts in flight for an upload whose pipeline also holds `heldElsewhereBytes` in other stages:
 * `parallel` less `ceil(heldElsewhereBytes / partSize)`, at least 2 (one part uploading while the
 * next fills) unless `parallel` is smaller. The part buffers and the other stages then share the
 * `parallel × partSize` bytes the upload is configured for. Measured: a gzip S3 upload (2
 * compression workers, 11 MiB held, so 2 parts of 5 MiB instead of 5) peaked at 15 MiB less
 * RSS (docs/benchmarks.md, "S3 upload with gzip: one buffer budget").
 */
export function partsInFlight(parallel: number, partSize: number, heldElsewhereBytes = 0): number {
  if (heldElsewhereBytes <= 0) return parallel
  return Math.min(parallel, Math.max(2, parallel - Math.ceil(heldElsewhereBytes / partSize)))
}

/** Uploads `body` through `sink` (see the module comment); returns the byte count. */
export async function uploadParts(body: Readable, options: UploadPartsOptions, sink: PartSink): Promise<number> {
  const { partSize } = options
  const parallel = partsInFlight(options.parallel, partSize, options.heldElsewhereBytes)
  const reader = byteReader(body as AsyncIterable<Buffer | string>)
  const free: Buffer[] = []
  const acquire = (): Buffer => free.pop() ?? Buffer.allocUnsafeSlow(partSize)
  const inFlight = new Set<Promise<void>>()
  let failure: { error: unknown } | undefined
  let begun = false
  try {
    let buffer = acquire()
    let length = await reader.fill(buffer)
    if (length < partSize || !(await reader.more())) {
      await sink.single(buffer.subarray(0, length))
      return length
    }
    await sink.begin()
    begun = true
    let parts = 0
    let sizeBytes = 0
    for (;;) {
      if (parts >= options.maxParts) {
        throw new StewardError('STORE_FAILED', options.component, `the body needs more than ${options.maxParts} ${options.partName} of ${partSize} bytes`, {
          hints: ['raise --min-chunk-size, or pass the size in advance so the part size can grow'],
        })
      }
      while (inFlight.size >= parallel && !failure) await Promise.race(inFlight)
      if (failure) break
      parts += 1
      sizeBytes += length
      const held = buffer
      const sent: Promise<void> = sink.part(parts, held.subarray(0, length)).then(
        () => {
          inFlight.delete(sent)
          free.push(held)
        },
        (error: unknown) => {
          inFlight.delete(sent)
          if (!failure) {
            failure = { error }
            options.stopOthers()
          }
        },
      )
      inFlight.add(sent)
      if (length < partSize) break // the last, short part
      if (failure) break
      // Read the next part only once a buffer is free: `parallel` buffers in all. A spare
      // read-ahead buffer (parallel + 1) kept the source moving while every part was in flight,
      // but cost a part's size in RSS: an S3 upload of a 1.6 GiB snapshot peaked at 148–156 MiB
      // with it and 142–143 MiB without, same speed within noise (docs/benchmarks.md). The source
      // waits meanwhile in its own stream buffer and etcd's flow-control window.
      while (inFlight.size >= parallel && !failure) await Promise.race(inFlight)
      if (failure) break
      buffer = acquire()
      length = await reader.fill(buffer)
      if (length === 0 || failure) break
    }
    await Promise.all(inFlight)
    if (failure) throw failure.error
    await sink.complete(parts)
    return sizeBytes
  } catch (error) {
    await Promise.all(inFlight)
    if (begun) await sink.abort().catch(() => undefined)
    throw error
  } finally {
    await reader.close()
  }
}

/** Reads a byte stream into caller-supplied buffers, keeping the rest of a chunk for the next. */
function byteReader(source: AsyncIterable<Buffer | string>) {
  const iterator = source[Symbol.asyncIterator]()
  let left: Buffer | undefined
  let done = false
  const more = async (): Promise<boolean> => {
    while ((left === undefined || left.length === 0) && !done) {
      const next = await iterator.next()
      if (next.done) done = true
      else left = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
    }
    return left !== undefined && left.length > 0
  }
  return {
    more,
    /** Fills `target` from the start; returns the bytes written (less than its length only at the end). */
    async fill(target: Buffer): Promise<number> {
      let filled = 0
      while (filled < target.length && (await more())) {
        const chunk = left!
        const take = Math.min(chunk.length, target.length - filled)
        chunk.copy(target, filled, 0, take)
        filled += take
        left = take === chunk.length ? undefined : chunk.subarray(take)
      }
      return filled
    },
    async close(): Promise<void> {
      if (!done) await iterator.return?.()
    },
  }
}
