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

/** States of {@link GrpcBytesFieldReader}: what the next byte belongs to. */
const FieldState = { FrameHeader: 0, Tag: 1, Length: 2, SkipVarint: 3, Skip: 4, Field: 5 } as const
type FieldState = (typeof FieldState)[keyof typeof FieldState]

/**
 * Streams one length-delimited field (`bytes`, wire type 2) out of every gRPC message of an
 * HTTP/2 body, as views of the received chunks: no message is assembled, nothing is copied.
 * Built for `SnapshotResponse.blob` (etcd's snapshot stream is tens of thousands of 32 KiB
 * messages, each spread over 16 KiB HTTP/2 frames; assembling them cost one allocation and
 * one copy per message, the largest share of steward's garbage-collection time,
 * docs/benchmarks.md). Other fields are skipped by wire type as protobuf requires; a field that
 * occurs twice in one message yields both occurrences (etcd never repeats `blob`). Parsing the
 * few bytes around the field goes byte by byte; the field's bytes are sliced in one piece per
 * chunk.
 */
export class GrpcBytesFieldReader {
  readonly #field: number
  readonly #maxBytes: number
  #state: FieldState = FieldState.FrameHeader
  /** Bytes of the frame header read so far, and their values. */
  readonly #header = Buffer.alloc(5)
  #headerFill = 0
  /** Bytes of the current message not consumed yet. */
  #messageLeft = 0
  /** Varint being read: value, bit shift. */
  #varint = 0
  #shift = 0
  /** Field number of the current field. */
  #current = 0
  /** Bytes left of the field being sliced or skipped. */
  #fieldLeft = 0

  constructor(field: number, maxBytes: number) {
    this.#field = field
    this.#maxBytes = maxBytes
  }

  /**
   * Appends to `out` the pieces of the field found in `chunk` (views of it).
   * @throws GrpcStatusError for a compressed, oversized or malformed message
   */
  push(chunk: Buffer, out: Buffer[]): void {
    let at = 0
    const length = chunk.length
    while (at < length) {
      switch (this.#state) {
        case FieldState.FrameHeader: {
          if (this.#headerFill === 0 && length - at >= 5) {
            this.#messageLeft = this.#lengthOf(chunk, at)
            at += 5
          } else {
            this.#header[this.#headerFill++] = chunk[at++]!
            if (this.#headerFill < 5) continue
            this.#headerFill = 0
            this.#messageLeft = this.#lengthOf(this.#header, 0)
          }
          if (this.#messageLeft > 0) this.#startVarint(FieldState.Tag)
          continue
        }
        case FieldState.Tag:
        case FieldState.Length:
        case FieldState.SkipVarint: {
          const byte = chunk[at++]!
          this.#messageLeft--
          if (this.#state !== FieldState.SkipVarint) this.#varint += (byte & 0x7f) * 2 ** this.#shift
          this.#shift += 7
          if (byte & 0x80) {
            if (this.#messageLeft === 0 || this.#shift > 63) throw malformed('a varint runs past its message')
            continue
          }
          if (this.#state === FieldState.Tag) this.#onTag(this.#varint)
          else if (this.#state === FieldState.Length) this.#onLength(this.#varint)
          else this.#fieldDone()
          continue
        }
        case FieldState.Skip:
        case FieldState.Field: {
          const take = Math.min(this.#fieldLeft, length - at)
          if (this.#state === FieldState.Field) out.push(take === length ? chunk : chunk.subarray(at, at + take))
          at += take
          this.#fieldLeft -= take
          this.#messageLeft -= take
          if (this.#fieldLeft === 0) this.#fieldDone()
          continue
        }
      }
    }
  }

  /** @throws GrpcStatusError when the body ended inside a message */
  end(): void {
    if (this.#state !== FieldState.FrameHeader || this.#headerFill > 0) throw new GrpcStatusError(13, 'the response ended inside a message')
  }

  #startVarint(state: FieldState): void {
    this.#state = state
    this.#varint = 0
    this.#shift = 0
  }

  #onTag(tag: number): void {
    this.#current = Math.floor(tag / 8)
    const wireType = tag % 8
    if (this.#current === 0) throw malformed('field number 0')
    if (this.#messageLeft === 0) throw malformed('a field runs past its message')
    if (wireType === 2) return this.#startVarint(FieldState.Length)
    if (wireType === 0) return this.#startVarint(FieldState.SkipVarint)
    if (wireType === 1 || wireType === 5) return this.#startSkip(FieldState.Skip, wireType === 1 ? 8 : 4)
    throw malformed(`unsupported wire type ${wireType}`)
  }

  #onLength(bytes: number): void {
    this.#startSkip(this.#current === this.#field ? FieldState.Field : FieldState.Skip, bytes)
  }

  #startSkip(state: FieldState, bytes: number): void {
    if (bytes > this.#messageLeft) throw malformed('a field runs past its message')
    if (bytes === 0) return this.#fieldDone()
    this.#state = state
    this.#fieldLeft = bytes
  }

  #fieldDone(): void {
    if (this.#messageLeft === 0) {
      this.#state = FieldState.FrameHeader
      this.#headerFill = 0
    } else {
      this.#startVarint(FieldState.Tag)
    }
  }

  #lengthOf(buffer: Buffer, at: number): number {
    if (buffer[at]! & 1) throw new GrpcStatusError(13, 'received a compressed message; none was requested')
    const length = buffer.readUInt32BE(at + 1)
    if (length > this.#maxBytes) throw new GrpcStatusError(8, `received a ${length}-byte message, more than the ${this.#maxBytes}-byte limit`)
    return length
  }
}

function malformed(why: string): GrpcStatusError {
  return new GrpcStatusError(13, `received a malformed message: ${why}`)
}
