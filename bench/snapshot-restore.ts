/**
 * Benchmark for issue "foundation": `steward snapshot` vs `etcdctl snapshot save`, and
 * `steward restore` vs `etcdutl snapshot restore`, on the same database, side by side,
 * alternating, several rounds. Writes the "snapshot-restore" section of docs/benchmarks.md.
 *
 *   npm run build && node bench/snapshot-restore.ts [--size-mib 256] [--rounds 3]
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { findEtcdTool } from '../src/lib/etcd/binaries.ts'
import { STEWARD_BIN } from '../test/harness/cli.ts'
import { testClient } from '../test/harness/data.ts'
import { startEtcdCluster } from '../test/harness/etcd.ts'
import { machine, measure, median, mib, writeSection, type Measurement } from './measure.ts'

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '256' }, rounds: { type: 'string', default: '3' } } })
const sizeMiB = Number(values['size-mib'])
const rounds = Number(values.rounds)
const work = await mkdtemp(join(tmpdir(), 'steward-bench-'))
const cluster = await startEtcdCluster({ members: 1, quotaBackendBytes: 8 * 1024 * 1024 * 1024 })
const endpoint = cluster.endpoints[0]!

try {
  console.log(`filling etcd with ~${sizeMiB} MiB of incompressible values…`)
  await fill(endpoint, sizeMiB)
  const results: Record<string, Measurement[]> = { etcdctlSave: [], stewardSnapshot: [], etcdutlRestore: [], stewardRestore: [], stewardSnapshotGzip: [], stewardRestoreGzip: [] }
  let dbBytes = 0
  for (let round = 1; round <= rounds; round++) {
    const dir = join(work, `round-${round}`)
    const etcdctlFile = join(dir, 'etcdctl.db')
    const store = `file://${join(dir, 'store')}`
    const gzStore = `file://${join(dir, 'store-gz')}`
    await mkdirp(dir)
    // Alternate which tool goes first, so caches favour neither.
    const pairs: [string, () => Promise<Measurement>][] = [
      ['etcdctlSave', () => measure(findEtcdTool('etcdctl'), ['snapshot', 'save', etcdctlFile, '--endpoints', endpoint], { ...process.env, ETCDCTL_API: '3' })],
      ['stewardSnapshot', () => measure(STEWARD_BIN, ['snapshot', '--endpoints', endpoint, '--store', store, '--compression', 'none'], quiet())],
    ]
    for (const [name, run] of round % 2 ? pairs : [...pairs].reverse()) results[name]!.push(await run())
    dbBytes = (await stat(etcdctlFile)).size
    const restorePairs: [string, () => Promise<Measurement>][] = [
      ['etcdutlRestore', () => measure(findEtcdTool('etcdutl'), ['snapshot', 'restore', etcdctlFile, '--data-dir', join(dir, 'etcdutl.etcd')])],
      ['stewardRestore', () => measure(STEWARD_BIN, ['restore', '--store', store, '--data-dir', join(dir, 'steward.etcd')], quiet())],
    ]
    for (const [name, run] of round % 2 ? restorePairs : [...restorePairs].reverse()) results[name]!.push(await run())
    results['stewardSnapshotGzip']!.push(await measure(STEWARD_BIN, ['snapshot', '--endpoints', endpoint, '--store', gzStore, '--compression', 'gzip'], quiet()))
    results['stewardRestoreGzip']!.push(await measure(STEWARD_BIN, ['restore', '--store', gzStore, '--data-dir', join(dir, 'steward-gz.etcd')], quiet()))
    await rm(dir, { recursive: true, force: true })
    console.log(`round ${round}/${rounds} done`)
  }
  const row = (label: string, key: string, baseline?: string) => {
    const wall = median(results[key]!.map((m) => m.wallSeconds))
    const rss = Math.max(...results[key]!.map((m) => m.peakRssBytes))
    // Each round runs the pair back to back, so the ratio is taken per round, then its median:
    // drift between rounds (page cache, writeback, neighbours) cancels out within a pair.
    const perRound = baseline ? results[key]!.map((m, i) => m.wallSeconds / results[baseline]![i]!.wallSeconds) : []
    const ratio = baseline ? `${median(perRound).toFixed(2)} (${perRound.map((r) => r.toFixed(2)).join(', ')})` : ''
    return `| ${label} | ${wall.toFixed(2)} | ${ratio} | ${mib(rss)} |`
  }
  const body = `## Full snapshot and restore (\`bench/snapshot-restore.ts\`)

- Command: \`npm run build && node bench/snapshot-restore.ts --size-mib ${sizeMiB} --rounds ${rounds}\`
- Data: one etcd 3.5.16 member, database ${mib(dbBytes)} MiB (8 KiB random values), local disk, Local store
- Machine: ${machine()}
- Date: ${new Date().toISOString()}
- ${rounds} rounds; in each, steward and its baseline run back to back, alternating which goes first; the ratio is the median of the per-round ratios; peak RSS is the maximum over rounds of each process's own high-water mark (VmHWM).

| run | median wall (s) | ratio to baseline: median of per-round ratios (each round) | peak RSS (MiB) |
|---|---|---|---|
${row('etcdctl snapshot save', 'etcdctlSave')}
${row('steward snapshot --compression none', 'stewardSnapshot', 'etcdctlSave')}
${row('etcdutl snapshot restore', 'etcdutlRestore')}
${row('steward restore (uncompressed)', 'stewardRestore', 'etcdutlRestore')}
${row('steward snapshot --compression gzip', 'stewardSnapshotGzip', 'etcdctlSave')}
${row('steward restore (gzip)', 'stewardRestoreGzip', 'etcdutlRestore')}

Targets (issue "foundation"): ratio ≤ 1.2 for uncompressed snapshot and restore; steward's peak RSS ≤ 150 MiB whatever the database size.
\`steward restore\` runs \`etcdutl snapshot restore\` as a child process; the RSS shown is steward's own. etcdutl's own peak is the baseline row.`
  await writeSection('snapshot-restore', body)
  console.log(body)
} finally {
  await cluster.stop()
  await rm(work, { recursive: true, force: true })
}

function quiet(): NodeJS.ProcessEnv {
  return { ...process.env, STEWARD_LOG_LEVEL: 'warn' }
}

async function mkdirp(dir: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises')
  await mkdir(dir, { recursive: true })
}

async function fill(target: string, mebibytes: number): Promise<void> {
  const client = testClient(target)
  try {
    const valueBytes = 8 * 1024
    const count = Math.ceil((mebibytes * 1048576) / valueBytes)
    const inFlight = 64
    let next = 0
    const worker = async () => {
      while (next < count) {
        const i = next++
        await client.put(`/bench/${String(i).padStart(8, '0')}`).value(randomBytes(valueBytes))
      }
    }
    await Promise.all(Array.from({ length: inFlight }, worker))
  } finally {
    client.close()
  }
}
