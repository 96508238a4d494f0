import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { COMPRESSION_POLICIES, createCompressor, createDecompressor, suffixForPolicy, type CompressionPolicy } from '../../../src/lib/compression/index.ts'
import { through } from './through.ts'

const MiB = 1024 * 1024

async function roundTrip(policy: CompressionPolicy, data: Uint8Array, chunkSize = 64 * 1024): Promise<Buffer> {
  const compressed = await through(createCompressor(policy), data, chunkSize)
  const restored = await through(createDecompressor(suffixForPolicy(policy)), compressed, chunkSize)
  assert.is(restored.length, data.length, `${policy}: length`)
  assert.ok(restored.equals(data), `${policy}: content differs`)
  return compressed
}

/** Etcd-like text: many similar keys and values, so LZW fills its table and clears it often. */
function repetitive(size: number): Buffer {
  const lines: string[] = []
  let length = 0
  for (let i = 0; length < size; i++) {
    const line = `{"key":"/registry/pods/ns-${i % 37}/pod-${i % 1000}","rev":${i},"value":"${'abcdef'.repeat(1 + (i % 5))}"}\n`
    lines.push(line)
    length += line.length
  }
  return Buffer.from(lines.join('')).subarray(0, size)
}

/** Random bytes, text and runs of zeros: different code lengths in one stream. */
const MIXED = Buffer.concat([randomBytes(20_000), repetitive(40_000), Buffer.alloc(30_000), randomBytes(6_000)])
/** node:zlib costs ~20 µs per write, so the 1-byte case uses a smaller input. */
const SMALL_MIXED = Buffer.concat([randomBytes(3_000), repetitive(8_000), Buffer.alloc(5_000), randomBytes(500)])
const RANDOM = randomBytes(5 * MiB)
const REPETITIVE = repetitive(20 * MiB)

for (const policy of COMPRESSION_POLICIES) {
  test(`${policy}: empty input`, async () => {
    await roundTrip(policy, new Uint8Array(0))
  })

  test(`${policy}: one byte`, async () => {
    await roundTrip(policy, Buffer.from([0x2a]))
    await roundTrip(policy, Buffer.from([0xff]))
  })

  test(`${policy}: random 5 MiB`, async () => {
    await roundTrip(policy, RANDOM)
  })

  test(`${policy}: highly repetitive 20 MiB`, async () => {
    const compressed = await roundTrip(policy, REPETITIVE)
    if (policy !== 'none') assert.ok(compressed.length < REPETITIVE.length / 3, `${policy}: ${compressed.length} bytes`)
  })

  test(`${policy}: 20 MiB of zeros (longest LZW strings)`, async () => {
    await roundTrip(policy, Buffer.alloc(20 * MiB))
  })

  for (const chunkSize of [1, 7, 4096]) {
    test(`${policy}: input and compressed data fed in ${chunkSize}-byte chunks`, async () => {
      await roundTrip(policy, chunkSize === 1 ? SMALL_MIXED : MIXED, chunkSize)
    })
  }
}

test.run()
