import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { gzipSync, deflateSync } from 'node:zlib'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  COMPRESSION_POLICIES,
  createCompressor,
  createDecompressor,
  policyForSuffix,
  suffixForPolicy,
} from '../../../src/lib/compression/index.ts'
import { isStewardError, StewardError } from '../../../src/lib/errors.ts'
import { COMPRESSION_SUFFIXES } from '../../../src/lib/snapshot/name.ts'
import { through } from './through.ts'

async function expectCorrupt(suffix: string, data: Uint8Array): Promise<StewardError> {
  try {
    await through(createDecompressor(suffix), data)
  } catch (error) {
    assert.ok(isStewardError(error, 'SNAPSHOT_CORRUPT'), `expected SNAPSHOT_CORRUPT, got ${String(error)}`)
    return error as StewardError
  }
  throw new Error(`decompressing ${suffix} data did not fail`)
}

const TEXT = Buffer.from('etcd-steward compression test; '.repeat(200))

test('policies map to the suffixes etcd-backup-restore uses, plus .zst', () => {
  assert.equal([...COMPRESSION_POLICIES], ['gzip', 'zlib', 'lzw', 'zstd', 'none'])
  assert.equal(COMPRESSION_POLICIES.map(suffixForPolicy), ['.gz', '.zlib', '.Z', '.zst', ''])
  for (const policy of COMPRESSION_POLICIES) {
    assert.is(policyForSuffix(suffixForPolicy(policy)), policy)
    assert.ok((COMPRESSION_SUFFIXES as readonly string[]).includes(suffixForPolicy(policy)))
  }
})

test('policyForSuffix rejects unknown suffixes with COMPRESSION_UNSUPPORTED', () => {
  for (const suffix of ['.bz2', '.z', '.GZ', 'gz', '.final', '.xz']) {
    try {
      policyForSuffix(suffix)
      assert.unreachable(`${suffix} accepted`)
    } catch (error) {
      assert.ok(isStewardError(error, 'COMPRESSION_UNSUPPORTED'))
      const steward = error as StewardError
      assert.is(steward.component, 'compression')
      assert.ok(steward.message.includes(`'${suffix}'`), steward.message)
      for (const valid of ["'.gz'", "'.zlib'", "'.Z'", "'.zst'", "''"]) assert.ok(steward.message.includes(valid), steward.message)
    }
  }
})

test('createDecompressor throws synchronously for an unknown suffix', () => {
  assert.throws(() => createDecompressor('.bz2'), (error: unknown) => isStewardError(error, 'COMPRESSION_UNSUPPORTED'))
})

test('gzip output has no file name and mtime 0, and Go-readable framing', async () => {
  const gz = await through(createCompressor('gzip'), TEXT)
  assert.equal([...gz.subarray(0, 4)], [0x1f, 0x8b, 8, 0]) // magic, deflate, no FNAME/FCOMMENT/FEXTRA
  assert.equal([...gz.subarray(4, 8)], [0, 0, 0, 0]) // mtime
  const z = await through(createCompressor('zlib'), TEXT)
  assert.is(((z[0]! << 8) | z[1]!) % 31, 0) // zlib header check bits
  assert.is(z[0]! & 0x0f, 8) // deflate
})

test('decompressors read what node:zlib one-shot functions write', async () => {
  assert.equal(await through(createDecompressor('.gz'), gzipSync(TEXT)), TEXT)
  assert.equal(await through(createDecompressor('.zlib'), deflateSync(TEXT)), TEXT)
  assert.equal(await through(createDecompressor(''), TEXT), TEXT)
})

test('a truncated gzip stream errors with SNAPSHOT_CORRUPT', async () => {
  const gz = gzipSync(TEXT)
  const error = await expectCorrupt('.gz', gz.subarray(0, gz.length - 6))
  assert.is(error.context['codec'], 'gzip')
  assert.ok(error.cause instanceof Error)
  await expectCorrupt('.gz', gz.subarray(0, 5))
})

test('garbage and truncation in every compressed codec give SNAPSHOT_CORRUPT', async () => {
  for (const policy of ['gzip', 'zlib', 'zstd', 'lzw'] as const) {
    const suffix = suffixForPolicy(policy)
    const compressed = await through(createCompressor(policy), TEXT)
    await expectCorrupt(suffix, compressed.subarray(0, compressed.length - 2))
    await expectCorrupt(suffix, new Uint8Array(0))
  }
  await expectCorrupt('.gz', Buffer.from('this is not gzip at all'))
  await expectCorrupt('.zlib', Buffer.from('this is not zlib at all'))
  await expectCorrupt('.zst', Buffer.from('this is not zstd at all'))
})

test('a bit-flipped gzip body fails its CRC as SNAPSHOT_CORRUPT', async () => {
  const gz = gzipSync(Buffer.from('0123456789'.repeat(10)))
  const flipped = Buffer.from(gz)
  flipped[gz.length - 8] = flipped[gz.length - 8]! ^ 0x01 // inside the CRC-32 trailer
  await expectCorrupt('.gz', flipped)
})

test('errors from other streams in a pipeline keep their code', async () => {
  const storeError = new StewardError('STORE_FAILED', 'snapstore:test', 'connection reset')
  const source = new Readable({
    read() {
      this.destroy(storeError)
    },
  })
  try {
    await pipeline(source, createDecompressor('.gz'), new Writable({ write: (_c, _e, cb) => cb() }))
    assert.unreachable('pipeline succeeded')
  } catch (error) {
    assert.is(error, storeError)
  }
})

test.run()
