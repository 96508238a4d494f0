/** gRPC message framing: 1 flag byte, 4-byte big-endian length, then the message (PROTOCOL-HTTP2.md). */
import { GrpcStatusError } from './status.ts'

/**
 * Splits an HTTP/2 body into gRPC messages. A message that arrives within one chunk is
 * returned as a view of it; one spread over chunks is assembled in a buffer of its length.
 */
export class GrpcMessageReader {
  readonly #maxBytes: number
  readonly #header = Buffer.alloc(5)
  #headerFill = 0
  #message: Buffer | undefined
  #messageFill = 0

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  /** @throws GrpcStatusError for a compressed or oversized message */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = []
    let at = 0
    while (at < chunk.length) {
      if (!this.#message) {
        let length: number
        if (this.#headerFill === 0 && chunk.length - at >= 5) {
          length = this.#lengthOf(chunk, at)
          at += 5
        } else {
          const take = Math.min(5 - this.#headerFill, chunk.length - at)
          chunk.copy(this.#header, this.#headerFill, at, at + take)
          this.#headerFill += take
          at += take
          if (this.#headerFill < 5) break
          this.#headerFill = 0
          length = this.#lengthOf(this.#header, 0)
        }
        if (chunk.length - at >= length) {
          out.push(chunk.subarray(at, at + length))
          at += length
          continue
        }
        this.#message = Buffer.allocUnsafe(length)
        this.#messageFill = 0
      }
      const take = Math.min(this.#message.length - this.#messageFill, chunk.length - at)
      chunk.copy(this.#message, this.#messageFill, at, at + take)
      this.#messageFill += take
      at += take
      if (this.#messageFill === this.#message.length) {
        out.push(this.#message)
        this.#message = undefined
      }
    }
    return out
  }

  /** @throws GrpcStatusError when the body ended inside a message */
  end(): void {
    if (this.#message || this.#headerFill > 0) throw new GrpcStatusError(13, 'the response ended inside a message')
  }

  #lengthOf(buffer: Buffer, at: number): number {
    if (buffer[at]! & 1) throw new GrpcStatusError(13, 'received a compressed message; none was requested')
    const length = buffer.readUInt32BE(at + 1)
    if (length > this.#maxBytes) throw new GrpcStatusError(8, `received a ${length}-byte message, more than the ${this.#maxBytes}-byte limit`)
    return length
  }
}
