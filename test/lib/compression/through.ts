/** Shared by the compression tests: runs bytes through a stream and collects what comes out. */
import { Readable, Writable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'

/** `data` in pieces of `size` bytes (views, not copies); nothing for empty data. */
function* chunksOf(data: Uint8Array, size: number): Generator<Buffer> {
  for (let at = 0; at < data.length; at += size) {
    const piece = data.subarray(at, at + size)
    yield Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength)
  }
}

/**
 * Pipes `data` through `stream` and returns the output bytes.
 * @param chunkSize bytes per written chunk [default: all of `data` in one]
 */
export async function through(stream: Transform, data: Uint8Array, chunkSize = Number.POSITIVE_INFINITY): Promise<Buffer> {
  const chunks: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk)
      callback()
    },
  })
  await pipeline(Readable.from(chunksOf(data, chunkSize)), stream, sink)
  return Buffer.concat(chunks)
}
