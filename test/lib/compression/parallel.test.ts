/**
 * Parallel gzip/zlib (`parallel.ts`): output decodes to the input with steward's own readers and
 * with independent ones (Python's gzip and zlib modules, Debian's `gzip -t` / `gzip -dc`), keeps
 * order, stays a single zlib stream, bounds the blocks it holds, and checks its flags.
 */
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync, inflateSync } from 'node:zlib'
import type { Transform } from 'node:stream'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { checkCompressionTuning, createDecompressor, createSnapshotCompressor, snapshotCompressorHeldBytes } from '../../../src/lib/compression/index.ts'
import { ParallelDeflate, adler32, parallelDeflateHeldBytes } from '../../../src/lib/compression/parallel.ts'
import { isStewardError } from '../../../src/lib/errors.ts'
import { through as throughAll } from './through.ts'

/** Writes in 10 000-byte pieces unless told otherwise. */
const through = (stream: Transform, data: Buffer, chunkSize = 10_000) => throughAll(stream, data, chunkSize)

const BLOCK = 64 * 1024

/** Half text, half random: blocks compress to different sizes, so they finish out of order. */
function mixed(size: number): Buffer {
  const parts: Buffer[] = []
  for (let at = 0, i = 0; at < size; i++) {
    const n = Math.min(size - at, 1000 + ((i * 7919) % 30000))
    parts.push(i % 2 ? randomBytes(n) : Buffer.alloc(n, `line ${i} of text; `))
    at += n
  }
  return Buffer.concat(parts)
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex')

function python(script: string, file: string): string {
  const result = spawnSync('python3', ['-c', script, file], { encoding: 'utf8' })
  assert.is(result.status, 0, `python3 failed: ${result.stderr}`)
  return result.stdout.trim()
}

const DATA = mixed(BLOCK * 9 + 1234)

test('gzip: concatenated members decode with node, Python and Debian gzip to the input', async () => {
  const compressed = await through(new ParallelDeflate('gzip', { workers: 3, blockBytes: BLOCK }), DATA)
  // One member per block: each starts with the gzip magic.
  let members = 0
  for (let at = compressed.indexOf(Buffer.from([0x1f, 0x8b, 8])); at >= 0; at = compressed.indexOf(Buffer.from([0x1f, 0x8b, 8]), at + 1)) members++
  assert.ok(members >= 10, `expected ≥ 10 members, found ${members}`)
  assert.ok(gunzipSync(compressed).equals(DATA))
  assert.ok((await through(createDecompressor('.gz'), compressed)).equals(DATA))
  const dir = await mkdtemp(join(tmpdir(), 'steward-pgz-'))
  try {
    const file = join(dir, 'snapshot.gz')
    await writeFile(file, compressed)
    assert.is(python('import gzip,hashlib,sys; print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())', file), sha(DATA))
    const check = spawnSync('gzip', ['-t', file])
    assert.is(check.status, 0, `gzip -t: ${check.stderr}`)
    const decoded = spawnSync('gzip', ['-dc', file], { maxBuffer: 64 * 1024 * 1024 })
    assert.is(decoded.status, 0)
    assert.ok(decoded.stdout.equals(DATA), 'gzip -dc output differs')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('zlib: one stream with a correct Adler-32, decoded by node and Python (which reject trailing data)', async () => {
  const compressed = await through(new ParallelDeflate('zlib', { workers: 3, blockBytes: BLOCK, level: 9 }), DATA)
  assert.ok(inflateSync(compressed).equals(DATA))
  assert.is(compressed.readUInt32BE(compressed.length - 4), adler32(DATA))
  assert.ok((await through(createDecompressor('.zlib'), compressed)).equals(DATA))
  const dir = await mkdtemp(join(tmpdir(), 'steward-pzl-'))
  try {
    const file = join(dir, 'snapshot.zlib')
    await writeFile(file, compressed)
    // decompressobj keeps any bytes after the end of the stream in unused_data: there must be none.
    const out = python('import zlib,hashlib,sys; d=zlib.decompressobj(); b=d.decompress(open(sys.argv[1],"rb").read()); print(hashlib.sha256(b).hexdigest(), d.eof, len(d.unused_data))', file)
    assert.is(out, `${sha(DATA)} True 0`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('empty input and input of exactly one block decode', async () => {
  for (const format of ['gzip', 'zlib'] as const) {
    const decode = format === 'gzip' ? gunzipSync : inflateSync
    assert.is(decode(await through(new ParallelDeflate(format, { blockBytes: BLOCK }), Buffer.alloc(0))).length, 0, `${format} empty`)
    const one = DATA.subarray(0, BLOCK)
    assert.ok(decode(await through(new ParallelDeflate(format, { blockBytes: BLOCK }), one)).equals(one), `${format} one block`)
  }
})

test('holds a bounded number of blocks: upstream waits while nobody reads', async () => {
  const workers = 2
  const stream = new ParallelDeflate('gzip', { workers, blockBytes: BLOCK })
  let accepted = 0
  const block = randomBytes(BLOCK)
  for (let i = 0; i < 20; i++) stream.write(block, () => accepted++)
  // Wait until nothing is compressing any more (all it could take in is done), with a deadline.
  const deadline = Date.now() + 20_000
  const tick = () => new Promise((resolve) => setImmediate(resolve))
  do {
    await tick()
    await tick()
  } while ((stream.compressing > 0 || accepted === 0) && Date.now() < deadline)
  assert.is(stream.compressing, 0, 'still compressing at the deadline')
  assert.ok(stream.heldBlocks <= 2 * workers, `holds ${stream.heldBlocks} blocks`)
  // Held blocks + one batch pushed to the (unread) readable side + the one being written.
  assert.ok(accepted <= 4 * workers + 1, `accepted ${accepted} of 20 blocks without a reader`)
  stream.destroy()
})

test('the held-bytes bound: (5 × workers + 1) blocks for gzip and zlib, nothing counted for the serial codecs', () => {
  const MiB = 1024 * 1024
  assert.is(parallelDeflateHeldBytes(2), 11 * MiB)
  assert.is(parallelDeflateHeldBytes(1, 1000), 6000)
  assert.is(snapshotCompressorHeldBytes('gzip', { workers: 2 }), 11 * MiB)
  assert.is(snapshotCompressorHeldBytes('zlib', { workers: 4 }), 21 * MiB)
  assert.is(snapshotCompressorHeldBytes('zstd'), 0)
  assert.is(snapshotCompressorHeldBytes('none'), 0)
})

test('createSnapshotCompressor uses blocks for gzip and zlib, the serial codecs otherwise', async () => {
  assert.instance(createSnapshotCompressor('gzip', { workers: 2 }), ParallelDeflate)
  assert.instance(createSnapshotCompressor('zlib'), ParallelDeflate)
  assert.not.instance(createSnapshotCompressor('lzw'), ParallelDeflate)
})

test('--compression-level and --compression-workers are checked against the policy', () => {
  const invalid = (fn: () => void, flag: string) => {
    try {
      fn()
      assert.unreachable(`${flag} accepted`)
    } catch (error) {
      assert.ok(isStewardError(error) && error.code === 'CONFIG_INVALID' && error.message.includes(flag), String(error))
    }
  }
  checkCompressionTuning('gzip', { level: 1, workers: 4 })
  checkCompressionTuning('zstd', { level: 19 })
  invalid(() => checkCompressionTuning('gzip', { level: 10 }), '--compression-level')
  invalid(() => checkCompressionTuning('zlib', { level: 0 }), '--compression-level')
  invalid(() => checkCompressionTuning('lzw', { level: 5 }), '--compression-level')
  invalid(() => checkCompressionTuning('none', { level: 5 }), '--compression-level')
  invalid(() => checkCompressionTuning('gzip', { workers: 0 }), '--compression-workers')
})

test.run()
