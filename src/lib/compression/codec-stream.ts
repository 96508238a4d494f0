/**
 * A Transform around a synchronous block codec (the LZW encoder and decoder) that keeps memory
 * bounded: output goes out in blocks of {@link BLOCK_BYTES}, and when the readable side is
 * full the codec stops in the middle of an input chunk and resumes on the next `_read`, so a
 * small, highly compressed chunk cannot expand into an unbounded buffer.
 */
import { Transform, type TransformCallback } from 'node:stream'

/** Size of each output chunk the stream pushes, in bytes. */
export const BLOCK_BYTES = 64 * 1024

/** Where a {@link BlockCodec.step} call stopped (byte offsets into its input and output). */
export interface StepResult {
  readonly inPos: number
  readonly outPos: number
}

/** A synchronous, resumable codec driven by {@link CodecTransform}. */
export interface BlockCodec {
  /** Free bytes `out` must have for `step` to make progress and for `finish` to complete. */
  readonly margin: number
  /**
   * Converts `input` from `inPos` into `out` from `outPos`. Stops when the input is used up or
   * fewer than `margin` bytes of `out` are free. May keep a few bits of input as internal state.
   * Throws a StewardError on corrupt input.
   */
  step(input: Uint8Array, inPos: number, out: Uint8Array, outPos: number): StepResult
  /**
   * Ends the stream: writes any trailer into `out` from `outPos` (needs at most `margin` bytes)
   * and returns the new output position. Throws a StewardError when the input was incomplete.
   */
  finish(out: Uint8Array, outPos: number): number
}

const EMPTY = new Uint8Array(0)

/** Streams a {@link BlockCodec}; errors thrown by the codec become stream errors as they are. */
export class CodecTransform extends Transform {
  readonly #codec: BlockCodec
  #out: Buffer = Buffer.allocUnsafe(BLOCK_BYTES)
  #outPos = 0
  #input: Uint8Array = EMPTY
  #inPos = 0
  #callback: TransformCallback | null = null
  /** The codec stopped mid-chunk because the readable side was full; resume on `_read`. */
  #parked = false

  constructor(codec: BlockCodec) {
    super()
    this.#codec = codec
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#input = chunk
    this.#inPos = 0
    this.#callback = callback
    this.#pump()
  }

  override _read(size: number): void {
    if (this.#parked) {
      this.#parked = false
      this.#pump()
    }
    super._read(size)
  }

  override _flush(callback: TransformCallback): void {
    try {
      // Drain what the codec still holds (e.g. decoder bits that were waiting for output space).
      for (;;) {
        const { outPos } = this.#codec.step(EMPTY, 0, this.#out, this.#outPos)
        this.#outPos = outPos
        if (!this.#outOfSpace()) break
        this.#emit()
      }
      this.#outPos = this.#codec.finish(this.#out, this.#outPos)
    } catch (error) {
      callback(error as Error)
      return
    }
    if (this.#outPos > 0) this.#emit()
    callback()
  }

  #pump(): void {
    for (;;) {
      try {
        const { inPos, outPos } = this.#codec.step(this.#input, this.#inPos, this.#out, this.#outPos)
        this.#inPos = inPos
        this.#outPos = outPos
      } catch (error) {
        this.#done(error as Error)
        return
      }
      if (!this.#outOfSpace()) break
      if (!this.#emit() && this.#inPos < this.#input.length) {
        this.#parked = true
        return
      }
    }
    this.#done(null)
  }

  #outOfSpace(): boolean {
    return this.#out.length - this.#outPos < this.#codec.margin
  }

  /** Pushes the filled part of the output block and starts a new block; returns `push`'s verdict. */
  #emit(): boolean {
    const block = this.#out.subarray(0, this.#outPos)
    this.#out = Buffer.allocUnsafe(BLOCK_BYTES)
    this.#outPos = 0
    return this.push(block)
  }

  #done(error: Error | null): void {
    const callback = this.#callback
    this.#callback = null
    this.#input = EMPTY
    this.#inPos = 0
    callback?.(error)
  }
}
