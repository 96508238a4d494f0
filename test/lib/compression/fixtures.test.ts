/**
 * Decompresses every object etcdbrctl (Go) wrote in fixtures/etcdbr-v2 and checks the SHA-256
 * trailers of the decompressed bodies (full: bbolt + trailer; delta: JSON array + trailer).
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createDecompressor } from '../../../src/lib/compression/index.ts'
import { parseSnapshotKey } from '../../../src/lib/snapshot/name.ts'

const ROOT = join(import.meta.dirname, '../../../fixtures/etcdbr-v2')
const SETS = ['gzip', 'zlib', 'lzw', 'none', 'final'] as const

async function decompress(suffix: string, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = []
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk)
      callback()
    },
  })
  await pipeline(Readable.from([data]), createDecompressor(suffix), sink)
  return Buffer.concat(chunks)
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest()
}

/** Delta event counts per revision range, to compare the sets with one another. */
const eventCounts = new Map<string, Map<string, number>>()

for (const set of SETS) {
  const dir = join(ROOT, set, 'etcd-main/v2')
  const names = readdirSync(dir).sort()
  test(`${set}: the set has a full snapshot and four deltas`, () => {
    assert.is(names.filter((name) => name.startsWith('Full-')).length, set === 'final' ? 2 : 1)
    assert.is(names.filter((name) => name.startsWith('Incr-')).length, 4)
  })
  for (const name of names) {
    test(`${set}: ${name} decompresses to a body with a valid SHA-256 trailer`, async () => {
      const ref = parseSnapshotKey(`etcd-main/v2/${name}`)
      assert.ok(ref, `not a snapshot name: ${name}`)
      const body = await decompress(ref.compressionSuffix, readFileSync(join(dir, name)))
      assert.ok(body.length > 32)
      const content = body.subarray(0, body.length - 32)
      const trailer = body.subarray(body.length - 32)
      assert.equal(sha256(content).toString('hex'), trailer.toString('hex'))
      if (ref.kind === 'Full') {
        assert.is(body.length % 512, 32)
      } else {
        const events: unknown = JSON.parse(content.toString('utf8'))
        assert.ok(Array.isArray(events), 'delta body is not a JSON array')
        assert.ok(events.length > 0)
        for (const event of events) assert.type((event as { etcdEvent?: unknown }).etcdEvent, 'object')
        const range = `${ref.startRevision}-${ref.lastRevision}`
        const counts = eventCounts.get(range) ?? new Map<string, number>()
        counts.set(set, events.length)
        eventCounts.set(range, counts)
      }
    })
  }
}

test('every set holds the same number of events per delta', () => {
  assert.is(eventCounts.size, 4)
  for (const [range, counts] of eventCounts) {
    assert.is(counts.size, SETS.length, range)
    assert.is(new Set(counts.values()).size, 1, `${range}: ${JSON.stringify([...counts])}`)
  }
})

test.run()
