/**
 * Two ways the direct delta apply could copy a snapshot's buckets (docs/restore.md, "Direct
 * apply"): whole leaf pages written as they are (`TreeBuilder.copyLeaf`) against every record
 * decoded and re-encoded into full leaves (`TreeBuilder.put`), on the same bbolt file,
 * alternating, medians of rounds; time and output size.
 * Writes the "bbolt-copy" section of docs/benchmarks.md.
 *
 *   node bench/bbolt-copy.ts --db PATH [--rounds 3]
 *
 * PATH: a bbolt file, e.g. member/snap/db of `steward restore --no-deltas` of the
 * delta-vs-etcdbrctl store (263 MiB).
 */
import { rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { BboltReader } from '../src/lib/bbolt/reader.ts'
import { BboltWriter, type FinishedBucket } from '../src/lib/bbolt/writer.ts'
import { machine, median, mib, writeSection } from './measure.ts'

const { values } = parseArgs({ options: { db: { type: 'string' }, rounds: { type: 'string', default: '3' } } })
if (!values.db) throw new Error('--db PATH is required')
const db = values.db
const rounds = Number(values.rounds)

async function copy(raw: boolean): Promise<{ seconds: number; records: number; bytes: number }> {
  const out = join(tmpdir(), `bbolt-copy-${process.pid}.db`)
  await rm(out, { force: true })
  const started = performance.now()
  const reader = await BboltReader.open(db)
  const writer = await BboltWriter.create(out, reader.pageSize)
  let records = 0
  const buckets: FinishedBucket[] = []
  for (const bucket of await reader.topBuckets()) {
    if (bucket.value.readBigUInt64LE(0) === 0n) {
      buckets.push({ name: bucket.name, inlineValue: bucket.value })
      continue
    }
    const tree = writer.tree()
    for await (const leaf of reader.leafPages(bucket.value)) {
      if (raw) await tree.copyLeaf(leaf)
      else for (const e of reader.elements(leaf)) await tree.put(Buffer.from(e.key), Buffer.from(e.value))
    }
    records += tree.entries
    buckets.push({ name: bucket.name, rootPgid: await tree.finish(), sequence: bucket.value.readBigUInt64LE(8) })
  }
  const { sizeBytes } = await writer.finish(buckets, { txid: reader.meta.txid + 1 })
  await reader.close()
  const seconds = (performance.now() - started) / 1000
  await rm(out, { force: true })
  return { seconds, records, bytes: sizeBytes }
}

const rawTimes: number[] = []
const encodedTimes: number[] = []
let records = 0
const bytes = { raw: 0, encoded: 0 }
for (let round = 0; round < rounds; round++) {
  for (const raw of round % 2 === 0 ? [true, false] : [false, true]) {
    const result = await copy(raw)
    records = result.records
    bytes[raw ? 'raw' : 'encoded'] = result.bytes
    ;(raw ? rawTimes : encodedTimes).push(result.seconds)
    console.error(`round ${round + 1}: ${raw ? 'raw leaves' : 're-encoded'} ${result.seconds.toFixed(2)} s`)
  }
}
const size = (await stat(db)).size
const body = `## Copying a snapshot's buckets: raw leaf pages vs re-encoded records (\`bench/bbolt-copy.ts\`)

- Command: \`node bench/bbolt-copy.ts --db <member/snap/db of the delta-vs-etcdbrctl store's --no-deltas restore> --rounds ${rounds}\`
- Data: ${mib(size)} MiB bbolt file, ${records} records; machine: ${machine()}; date: ${new Date().toISOString()}

| way | median (s) | rounds (s) | output (MiB) |
|---|---|---|---|
| leaf pages copied as they are | ${median(rawTimes).toFixed(2)} | ${rawTimes.map((t) => t.toFixed(2)).join(', ')} | ${mib(bytes.raw)} |
| every record decoded and re-encoded into full leaves | ${median(encodedTimes).toFixed(2)} | ${encodedTimes.map((t) => t.toFixed(2)).join(', ')} | ${mib(bytes.encoded)} |

Time ratio re-encoded / raw: ${(median(encodedTimes) / median(rawTimes)).toFixed(2)}; size ratio ${(bytes.encoded / bytes.raw).toFixed(2)}.`
await writeSection('bbolt-copy', body)
console.log(body)
