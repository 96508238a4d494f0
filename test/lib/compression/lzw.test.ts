/**
 * Go compress/lzw compatibility (LSB, literal width 8). Go cannot run here, so the expected
 * streams below are derived by hand from the format rules of Go's writer (since Go 1.17):
 * a leading clear code (256); each emitted code bumps the "last assigned entry" `hi` (starting
 * at 257); the width grows from 9 bits when `hi` reaches 512, 1024 and 2048; when `hi` reaches
 * 4095 a clear code follows (at the current width) and the table restarts at 9 bits; the stream
 * ends with code 257 and zero padding to a byte. The fixtures were written by Go's writer, so
 * re-encoding their content must reproduce them byte for byte.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createCompressor, createDecompressor } from '../../../src/lib/compression/index.ts'
import { isStewardError } from '../../../src/lib/errors.ts'
import { through } from './through.ts'

const FIXTURES = join(import.meta.dirname, '../../../fixtures/etcdbr-v2/lzw/etcd-main/v2')

const encode = (data: Uint8Array): Promise<Buffer> => through(createCompressor('lzw'), data)
const decode = (data: Uint8Array): Promise<Buffer> => through(createDecompressor('.Z'), data)

async function expectCorrupt(data: Uint8Array, pattern: RegExp): Promise<void> {
  try {
    await decode(data)
  } catch (error) {
    assert.ok(isStewardError(error, 'SNAPSHOT_CORRUPT'), String(error))
    assert.match((error as Error).message, pattern)
    return
  }
  assert.unreachable('decoding did not fail')
}

/** Packs codes LSB-first, each with its own width, then pads the last byte with zeros. */
function pack(codes: ReadonlyArray<readonly [code: number, width: number]>): Buffer {
  const bytes: number[] = []
  let bits = 0
  let nBits = 0
  for (const [code, width] of codes) {
    bits |= code << nBits
    nBits += width
    while (nBits >= 8) {
      bytes.push(bits & 0xff)
      bits >>>= 8
      nBits -= 8
    }
  }
  if (nBits > 0) bytes.push(bits & 0xff)
  return Buffer.from(bytes)
}

/**
 * A byte sequence in which no adjacent pair repeats, so every code LZW emits is a literal: step
 * k adds the odd stride 2·⌊k/256⌋+1, so the 256 pairs of one block of steps all have the same
 * difference and distinct first bytes, and pairs of different blocks differ in their difference.
 */
function distinctPairs(length: number): Buffer {
  const out = Buffer.alloc(length)
  for (let k = 1; k < length; k++) out[k] = (out[k - 1]! + 2 * ((k - 1) >> 8) + 1) & 0xff
  return out
}

/** Width Go's writer uses for the k-th code (1-based) after a clear, while all codes are literals. */
function widthOf(k: number): number {
  return k <= 255 ? 9 : k <= 767 ? 10 : k <= 1791 ? 11 : 12
}

// "TOBEORNOTTOBEORTOBEORNOT", greedy LZW with entries from 258:
// TO=258 OB=259 BE=260 EO=261 OR=262 RN=263 NO=264 OT=265 TT=266 TOB=267 BEO=268 ORT=269
// TOBE=270 EOR=271 RNO=272. Codes: 256 (clear), T O B E O R N O T, TO BE OR TOB EO RN OT, 257 (end),
// all 9 bits wide: 18 × 9 = 162 bits → 21 bytes.
const TOBEORNOT = Buffer.from('TOBEORNOTTOBEORTOBEORNOT')
const TOBEORNOT_CODES = [256, 84, 79, 66, 69, 79, 82, 78, 79, 84, 258, 260, 262, 267, 261, 263, 265, 257]
// Packed by hand, 9 bits at a time, least significant bit first.
const TOBEORNOT_Z = Buffer.from('00a93c1152e48914274fa80824687061c183090302', 'hex')

test('golden vector: the hand-packed code sequence matches the hand-derived bytes', () => {
  assert.equal(pack(TOBEORNOT_CODES.map((code) => [code, 9] as const)).toString('hex'), TOBEORNOT_Z.toString('hex'))
})

test('golden vector: encoder output is byte-identical to the hand-derived stream', async () => {
  assert.equal((await encode(TOBEORNOT)).toString('hex'), TOBEORNOT_Z.toString('hex'))
  assert.equal(await decode(TOBEORNOT_Z), TOBEORNOT)
})

test('empty input encodes as clear + end: 00 03 02', async () => {
  assert.equal([...(await encode(new Uint8Array(0)))], [0x00, 0x03, 0x02])
  assert.equal((await decode(Buffer.from([0x00, 0x03, 0x02]))).length, 0)
  // Go's reader also accepts a stream without the leading clear (written by Go before 1.17).
  assert.equal((await decode(pack([[257, 9]]))).length, 0)
})

test('one byte: clear, the literal, end', async () => {
  assert.equal(await encode(Buffer.from([0xff])), pack([[256, 9], [255, 9], [257, 9]]))
})

test('widths grow at entries 512/1024/2048 and a clear follows when entry 4095 would be assigned', async () => {
  const input = distinctPairs(4000)
  // Emission k (k = 1..3838) is input[k-1] at widthOf(k); after emission 3838 the next entry
  // would be 4095, so a clear goes out at 12 bits. The remaining 162 bytes (the last one
  // written by Close) restart at 9 bits, and the end code is 9 bits wide too.
  const codes: Array<[number, number]> = [[256, 9]]
  for (let k = 1; k <= 3838; k++) codes.push([input[k - 1]!, widthOf(k)])
  codes.push([256, 12])
  for (let k = 3839; k <= 4000; k++) codes.push([input[k - 1]!, 9])
  codes.push([257, 9])
  const expected = pack(codes)
  const actual = await encode(input)
  assert.is(actual.length, expected.length)
  assert.ok(actual.equals(expected), 'encoder stream differs from the hand-derived one')
  assert.ok((await decode(expected)).equals(input))
})

test('decoder keeps going with a frozen table when a 12-bit stream has no clear', async () => {
  // The reader assigns entry k+257 at the (k+1)-th code; after the code that would assign 4096
  // the table is full and stays as it is: 4094 = input[3836..3837], 4095 = input[3837..3838].
  const input = distinctPairs(4100)
  const codes: Array<[number, number]> = [[256, 9]]
  for (let k = 1; k <= 4100; k++) codes.push([input[k - 1]!, k <= 3839 ? widthOf(k) : 12])
  codes.push([4095, 12], [4094, 12], [257, 12])
  const expected = Buffer.concat([input, input.subarray(3837, 3839), input.subarray(3836, 3838)])
  assert.ok((await decode(pack(codes))).equals(expected))
})

test('a code above the next free code is corrupt (bit-flipped golden vector)', async () => {
  // Third code (79, bits 18..26): setting its bit 8 (stream bit 26 = byte 3, bit 2) makes it
  // 335 while the next free code is 258.
  const flipped = Buffer.from(TOBEORNOT_Z)
  flipped[3] = flipped[3]! ^ 0x04
  await expectCorrupt(flipped, /invalid code 335, the next free code is 258/)
  // The first code after a clear cannot be a table entry either.
  await expectCorrupt(pack([[256, 9], [258, 9], [257, 9]]), /invalid code 258/)
})

test('a stream without the end code is corrupt (truncated)', async () => {
  await expectCorrupt(TOBEORNOT_Z.subarray(0, TOBEORNOT_Z.length - 1), /truncated/)
  await expectCorrupt(new Uint8Array(0), /truncated/)
  const fixture = readFileSync(join(FIXTURES, readdirSync(FIXTURES).find((name) => name.startsWith('Full-'))!))
  await expectCorrupt(fixture.subarray(0, fixture.length >> 1), /truncated/)
})

test('bytes after the end code are ignored, as Go does', async () => {
  assert.equal(await decode(Buffer.concat([TOBEORNOT_Z, Buffer.from('trailing garbage')])), TOBEORNOT)
})

test('Go-written fixtures: decoding then re-encoding reproduces them byte for byte', async () => {
  const names = readdirSync(FIXTURES)
  assert.is(names.length, 5)
  for (const name of names) {
    const goStream = readFileSync(join(FIXTURES, name))
    const content = await decode(goStream)
    const ours = await encode(content)
    assert.ok(ours.equals(goStream), `${name}: our stream (${ours.length} bytes) differs from Go's (${goStream.length})`)
  }
})

test('repetitive input clears the table many times and still round-trips', async () => {
  const line = (i: number): string => `/registry/configmaps/ns-${i % 13}/cm-${i % 997} rev=${i}\n`
  const input = Buffer.from(Array.from({ length: 200_000 }, (_, i) => line(i)).join(''))
  const compressed = await encode(input)
  // Count clear codes with a reader written from the rules above.
  let clears = 0
  let bitPos = 9 // skip the leading clear
  let width = 9
  let hi = 257
  for (;;) {
    let code = 0
    for (let b = 0; b < width; b++) code |= ((compressed[(bitPos + b) >> 3]! >> ((bitPos + b) & 7)) & 1) << b
    bitPos += width
    if (code === 257) break
    if (code === 256) {
      clears++
      width = 9
      hi = 257
      continue
    }
    hi++
    if (hi === 1 << width && width < 12) width++
  }
  assert.is(Math.ceil(bitPos / 8), compressed.length)
  assert.ok(clears > 50, `only ${clears} clears`)
  assert.ok((await decode(compressed)).equals(input))
})

test('decoder honours backpressure inside one input chunk', async () => {
  const size = 64 * 1024 * 1024
  const compressed = await encode(Buffer.alloc(size)) // ~50 KiB that expands 1300-fold
  const decoder = createDecompressor('.Z')
  decoder.write(compressed)
  decoder.end()
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.ok(decoder.readableLength <= 128 * 1024, `buffered ${decoder.readableLength} bytes while nobody reads`)
  let total = 0
  for await (const chunk of decoder as AsyncIterable<Buffer>) {
    if (chunk.some((byte) => byte !== 0)) assert.unreachable('non-zero byte')
    total += chunk.length
  }
  assert.is(total, size)
})

test.run()
