/**
 * LZW exactly as Go's `compress/lzw` package writes and reads it with LSB bit order and literal
 * width 8 — the `.Z` snapshots of etcd-backup-restore (research notes
 * `etcd-backup-restore.md` §3.3). It is the GIF flavour of LZW, not Unix `compress(1)`: there is
 * no `1f 9d` header.
 *
 * The format:
 * - Codes 0–255 stand for literal bytes, 256 is the clear code, 257 the end-of-stream code, and
 *   table entries are assigned from 258 up; entry `n` is "the string of the code before, plus
 *   the first byte of the code after".
 * - Codes are packed least significant bit first. They start 9 bits wide; the width grows by one
 *   as soon as the next entry to assign reaches `1 << width`, up to 12 bits.
 * - Go's writer (since Go 1.17) starts with a clear code, sends a clear code right after the code
 *   that makes the next entry 4095 (so 4095 is never assigned), ends with the end code, and pads
 *   the last byte with zero bits.
 * - Go's reader also accepts a stream that goes on at 12 bits without a clear: the table then
 *   stops growing. A code above the next entry to assign is corrupt, and so is a stream without
 *   the end code. Bytes after the end code are ignored.
 *
 * Both directions work in constant memory (a few fixed tables) through {@link CodecTransform}.
 */
import type { Transform } from 'node:stream'
import { CodecTransform, type BlockCodec, type StepResult } from './codec-stream.ts'
import { corruptError } from './corrupt.ts'

const CLEAR = 256
const END = 257
const MIN_WIDTH = 9
const MAX_WIDTH = 12
/** The writer clears the table instead of assigning this code. */
const MAX_CODE = (1 << MAX_WIDTH) - 1
const TABLE_SIZE = 1 << MAX_WIDTH
/** No previous code: just after a clear, or when the 12-bit table is full. */
const NONE = -1
/** Longest expansion of a single code is under 4096 bytes. */
const MAX_EXPANSION = TABLE_SIZE

/** A Transform that compresses into Go-compatible LZW (LSB, literal width 8). */
export function createLzwEncoder(): Transform {
  return new CodecTransform(new LzwEncoder())
}

/**
 * A Transform that decompresses Go-compatible LZW (LSB, literal width 8). The stream errors
 * with `SNAPSHOT_CORRUPT` on an invalid code or when the input ends before the end code.
 */
export function createLzwDecoder(): Transform {
  return new CodecTransform(new LzwDecoder())
}

/** The LZW compressor state machine; output is byte-identical to Go's `lzw.NewWriter(w, lzw.LSB, 8)`. */
export class LzwEncoder implements BlockCodec {
  readonly margin = 8
  /** `(code << 8 | byte)` → the entry for that string, or 0 when it is not in the table. */
  readonly #table = new Uint16Array(TABLE_SIZE << 8)
  /** The `#table` index of every assigned entry, to clear the table without touching all of it. */
  readonly #keys = new Uint32Array(TABLE_SIZE)
  #bits = 0
  #nBits = 0
  #width = MIN_WIDTH
  /** The last assigned entry (END when the table is empty). */
  #hi = END
  #overflow = 1 << MIN_WIDTH
  /** The code of the longest match so far, or NONE before the first byte. */
  #code = NONE

  step(input: Uint8Array, inPos: number, out: Uint8Array, outPos: number): StepResult {
    const table = this.#table
    const keys = this.#keys
    const end = input.length
    const limit = out.length - this.margin
    let bits = this.#bits
    let nBits = this.#nBits
    let width = this.#width
    let hi = this.#hi
    let overflow = this.#overflow
    let code = this.#code
    let i = inPos
    let o = outPos
    if (code === NONE && i < end && o <= limit) {
      bits |= CLEAR << nBits
      nBits += width
      while (nBits >= 8) {
        out[o++] = bits & 0xff
        bits >>>= 8
        nBits -= 8
      }
      code = input[i++]!
    }
    while (i < end) {
      const byte = input[i]!
      const key = (code << 8) | byte
      const entry = table[key]!
      if (entry !== 0) {
        code = entry
        i++
        continue
      }
      if (o > limit) break
      i++
      bits |= code << nBits
      nBits += width
      while (nBits >= 8) {
        out[o++] = bits & 0xff
        bits >>>= 8
        nBits -= 8
      }
      hi++
      if (hi === overflow) {
        width++
        overflow <<= 1
      }
      if (hi === MAX_CODE) {
        bits |= CLEAR << nBits
        nBits += width
        while (nBits >= 8) {
          out[o++] = bits & 0xff
          bits >>>= 8
          nBits -= 8
        }
        for (let c = END + 1; c < MAX_CODE; c++) table[keys[c]!] = 0
        width = MIN_WIDTH
        hi = END
        overflow = 1 << MIN_WIDTH
      } else {
        table[key] = hi
        keys[hi] = key
      }
      code = byte
    }
    this.#bits = bits
    this.#nBits = nBits
    this.#width = width
    this.#hi = hi
    this.#overflow = overflow
    this.#code = code
    return { inPos: i, outPos: o }
  }

  finish(out: Uint8Array, outPos: number): number {
    let o = outPos
    const put = (code: number): void => {
      this.#bits |= code << this.#nBits
      this.#nBits += this.#width
      while (this.#nBits >= 8) {
        out[o++] = this.#bits & 0xff
        this.#bits >>>= 8
        this.#nBits -= 8
      }
    }
    if (this.#code === NONE) {
      put(CLEAR)
    } else {
      put(this.#code)
      // The pending code still counts towards the width and the table-full clear, as in Go.
      this.#hi++
      if (this.#hi === this.#overflow) {
        this.#width++
        this.#overflow <<= 1
      }
      if (this.#hi === MAX_CODE) {
        put(CLEAR)
        this.#width = MIN_WIDTH
      }
    }
    put(END)
    if (this.#nBits > 0) out[o++] = this.#bits & 0xff
    this.#bits = 0
    this.#nBits = 0
    return o
  }
}

/** The LZW decompressor state machine; accepts what Go's `lzw.NewReader(r, lzw.LSB, 8)` accepts. */
export class LzwDecoder implements BlockCodec {
  readonly margin = MAX_EXPANSION
  /** For entries ≥ 258: the code of the string without its last byte. */
  readonly #prefix = new Uint16Array(TABLE_SIZE)
  /** For entries ≥ 258: the last byte of the string. */
  readonly #suffix = new Uint8Array(TABLE_SIZE)
  /** First byte of every code's string. */
  readonly #first = new Uint8Array(TABLE_SIZE)
  /** Length in bytes of every code's string. */
  readonly #length = new Uint16Array(TABLE_SIZE)
  #bits = 0
  #nBits = 0
  #width = MIN_WIDTH
  /** The next entry to assign (END when the table is empty). */
  #hi = END
  #overflow = 1 << MIN_WIDTH
  #last = NONE
  #ended = false

  constructor() {
    for (let c = 0; c < CLEAR; c++) {
      this.#first[c] = c
      this.#length[c] = 1
    }
  }

  step(input: Uint8Array, inPos: number, out: Uint8Array, outPos: number): StepResult {
    const end = input.length
    if (this.#ended) return { inPos: end, outPos }
    const prefix = this.#prefix
    const suffix = this.#suffix
    const first = this.#first
    const length = this.#length
    const limit = out.length - MAX_EXPANSION
    let bits = this.#bits
    let nBits = this.#nBits
    let width = this.#width
    let hi = this.#hi
    let overflow = this.#overflow
    let last = this.#last
    let i = inPos
    let o = outPos
    while (o <= limit) {
      if (nBits < width) {
        if (i >= end) break
        bits |= input[i++]! << nBits
        nBits += 8
        if (nBits < width) {
          if (i >= end) break
          bits |= input[i++]! << nBits
          nBits += 8
        }
      }
      const code = bits & ((1 << width) - 1)
      bits >>>= width
      nBits -= width
      let head: number
      if (code < CLEAR) {
        out[o++] = code
        head = code
      } else if (code === CLEAR) {
        width = MIN_WIDTH
        hi = END
        overflow = 1 << MIN_WIDTH
        last = NONE
        continue
      } else if (code === END) {
        this.#ended = true
        i = end
        break
      } else if (code <= hi) {
        let c = code
        let n = length[code]!
        if (code === hi && last !== NONE) {
          // The entry being defined right now: the previous string plus its own first byte.
          c = last
          n = length[last]! + 1
          out[o + n - 1] = first[last]!
        }
        head = first[c]!
        let p = o + length[c]! - 1
        while (c > END) {
          out[p--] = suffix[c]!
          c = prefix[c]!
        }
        out[p] = c
        o += n
      } else {
        this.#save(bits, nBits, width, hi, overflow, last)
        throw corruptError('lzw', `invalid code ${code}, the next free code is ${hi}`)
      }
      if (last !== NONE) {
        prefix[hi] = last
        suffix[hi] = head
        first[hi] = first[last]!
        length[hi] = length[last]! + 1
      }
      last = code
      hi++
      if (hi >= overflow) {
        if (width === MAX_WIDTH) {
          // Table full and no clear code: keep decoding with a frozen table, as Go does.
          last = NONE
          hi--
        } else {
          width++
          overflow <<= 1
        }
      }
    }
    this.#save(bits, nBits, width, hi, overflow, last)
    return { inPos: i, outPos: o }
  }

  finish(_out: Uint8Array, outPos: number): number {
    if (!this.#ended) throw corruptError('lzw', 'the data ends before the end-of-stream code (truncated)')
    return outPos
  }

  #save(bits: number, nBits: number, width: number, hi: number, overflow: number, last: number): void {
    this.#bits = bits
    this.#nBits = nBits
    this.#width = width
    this.#hi = hi
    this.#overflow = overflow
    this.#last = last
  }
}
