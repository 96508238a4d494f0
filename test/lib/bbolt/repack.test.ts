/** `repackBbolt`: same buckets, records and sequences in a new file (free pages are dropped: test/integration/restore-lean.test.ts). */
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BboltReader } from '../../../src/lib/bbolt/reader.ts'
import { repackBbolt } from '../../../src/lib/bbolt/repack.ts'
import { BboltWriter } from '../../../src/lib/bbolt/writer.ts'
import { makeTempDir, removeDir } from '../../harness/tmp.ts'

const test = suite('bbolt repack')
let tmp = ''
test.before(async () => {
  tmp = await makeTempDir('steward-repack-')
})
test.after(async () => {
  await removeDir(tmp)
})

/** Every bucket's name, sequence and records (hex), through the reader; and the root sequence. */
async function contents(path: string): Promise<{ rootSequence: bigint; buckets: [string, bigint, string[]][] }> {
  const reader = await BboltReader.open(path)
  try {
    const buckets: [string, bigint, string[]][] = []
    for (const bucket of await reader.topBuckets()) {
      const records: string[] = []
      for await (const leaf of reader.leafPages(bucket.value)) for (const e of reader.elements(leaf)) records.push(`${e.key.toString('hex')}=${e.value.toString('hex')}`)
      buckets.push([bucket.name.toString(), bucket.value.readBigUInt64LE(8), records])
    }
    return { rootSequence: reader.meta.rootSequence, buckets }
  } finally {
    await reader.close()
  }
}

test('records, bucket sequences, empty buckets, overflow values and the root sequence are kept', async () => {
  const source = join(tmp, 'source.db')
  const writer = await BboltWriter.create(source, 4096)
  const key = writer.tree()
  for (let i = 0; i < 3000; i++) await key.put(Buffer.from(`k-${String(i).padStart(6, '0')}`), Buffer.alloc(i % 500 === 0 ? 9000 : 30, i % 251))
  const keyRoot = await key.finish()
  const meta = writer.tree()
  await meta.put(Buffer.from('consistent_index'), Buffer.alloc(8, 1))
  const metaRoot = await meta.finish()
  const empty = await writer.tree().finish()
  await writer.finish([{ name: Buffer.from('key'), rootPgid: keyRoot, sequence: 5n }, { name: Buffer.from('meta'), rootPgid: metaRoot, sequence: 0n }, { name: Buffer.from('alarm'), rootPgid: empty, sequence: 2n }], { txid: 11, rootSequence: 4n })
  const target = join(tmp, 'target.db')
  const { sizeBytes } = await repackBbolt(source, target)
  assert.ok(sizeBytes > 0)
  const before = await contents(source)
  assert.is(before.buckets[1]![2].length, 3000)
  assert.equal(await contents(target), before)
})

test.run()
