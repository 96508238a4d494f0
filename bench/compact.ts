/**
 * `steward compact` against doing it by hand: on a store holding one full snapshot of a
 * --db-mib database plus --events watch events in deltas (written the real way, as in
 * bench/delta-restore.ts), times
 *   A. `steward compact` (restore the set, compact, defragment, snapshot, gzip, upload), and
 *   B. by hand: `steward restore` + start etcd on the result + `etcdctl snapshot save`,
 * each as users launch them, and reports the ratio A / B. Writes the `compact` section of
 * docs/benchmarks.md.
 *
 *   npm run build && node bench/compact.ts [--db-mib 256] [--events 100000] [--rounds 1]
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Etcd3 } from 'etcd3'
import { findEtcdTool } from '../src/lib/etcd/binaries.ts'
import { BackupStore } from '../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../src/lib/snapstore/drivers/local.ts'
import { STEWARD_BIN } from '../test/harness/cli.ts'
import { startEtcdCluster } from '../test/harness/etcd.ts'
import { trackProcess, trackTempDir } from '../test/harness/processes.ts'
import { currentRevision, fillBase, writeEvents } from './delta-workload.ts'
import { machine, measure, median, mib, writeSection, type Measurement } from './measure.ts'

const { values } = parseArgs({ options: { 'db-mib': { type: 'string', default: '256' }, events: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '1' } } })
const dbMiB = Number(values['db-mib'])
const events = Number(values.events)
const rounds = Number(values.rounds)
const quiet = { ...process.env, STEWARD_LOG_LEVEL: 'warn' }
const log = (message: string) => console.log(`[bench:compact] ${message}`)

const work = await mkdtemp(join(tmpdir(), 'steward-compact-bench-'))
trackTempDir(work)
const storeDir = join(work, 'store')
const storeUrl = `file://${storeDir}`
try {
  // 1. The backup set: a full snapshot, then deltas cut by a watching steward while events are written.
  const source = await startEtcdCluster({ members: 1, quotaBackendBytes: 8 * 1024 ** 3, extraArgs: ['--unsafe-no-fsync'] })
  const endpoint = source.endpoints[0]!
  log(`filling the source etcd to ${dbMiB} MiB…`)
  const base = await fillBase(endpoint, dbMiB)
  await measure(STEWARD_BIN, ['snapshot', '--endpoints', endpoint, '--store', storeUrl, '--compression', 'gzip'], quiet)
  const watcher = spawn(STEWARD_BIN, ['snapshot', '--watch', '--endpoints', endpoint, '--store', storeUrl, '--compression', 'gzip', '--delta-snapshot-period', '1h'], { env: quiet, stdio: 'ignore' })
  trackProcess(watcher)
  const watcherExit = new Promise((resolve) => watcher.once('exit', resolve))
  await new Promise((resolve) => setTimeout(resolve, 1000))
  log(`writing ${events} events…`)
  const workload = await writeEvents(endpoint, { events, baseKeys: base.keys })
  const client = new Etcd3({ hosts: endpoint })
  const finalRevision = await currentRevision(client).finally(() => client.close())
  await new Promise((resolve) => setTimeout(resolve, 1500))
  watcher.kill('SIGTERM')
  await watcherExit
  const store = new BackupStore(localSnapstore({ root: storeDir }), '')
  if (((await store.latestSet()).deltas.at(-1)?.lastRevision ?? 0) < finalRevision) {
    await measure(STEWARD_BIN, ['snapshot', '--kind', 'delta', '--endpoints', endpoint, '--store', storeUrl, '--compression', 'gzip'], quiet)
  }
  await source.stop()
  const set = await store.latestSet()
  const sizeOf = (key: string | undefined) => set.all.find((s) => s.key === key)?.sizeBytes ?? 0
  const fullBytes = sizeOf(set.full?.key)
  const deltaBytes = set.deltas.reduce((sum, d) => sum + sizeOf(d.key), 0)
  log(`set: ${set.full?.name} (${mib(fullBytes)} MiB) + ${set.deltas.length} deltas (${mib(deltaBytes)} MiB), revision ${finalRevision}`)

  // 2. Rounds: A then B (alternating order).
  const compactRuns: Measurement[] = []
  const manual: { restore: Measurement; save: number; total: number }[] = []
  let lastName = ''
  for (let round = 1; round <= rounds; round++) {
    const runA = async () => {
      const m = await measure(STEWARD_BIN, ['compact', '--store', storeUrl, '--data-dir', join(work, `compact-${round}.etcd`)], quiet)
      compactRuns.push(m)
      const newest = (await store.latestSet()).full!
      if (newest.lastRevision !== finalRevision) throw new Error(`compacted snapshot ${newest.name} is not at revision ${finalRevision}`)
      lastName = newest.name
      await rm(join(storeDir, newest.key), { force: true }) // the next round compacts the same set
      log(`round ${round} compact: ${m.wallSeconds.toFixed(1)} s, ${mib(m.peakRssBytes)} MiB`)
    }
    const runB = async () => {
      const dataDir = join(work, `manual-${round}.etcd`)
      const restore = await measure(STEWARD_BIN, ['restore', '--store', storeUrl, '--data-dir', dataDir], quiet)
      const started = performance.now()
      const etcd = await startEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default', quotaBackendBytes: 8 * 1024 ** 3 })
      const out = join(work, `manual-${round}.db`)
      const child = spawn(findEtcdTool('etcdctl'), ['--endpoints', etcd.endpoints[0]!, 'snapshot', 'save', out], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } })
      await new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve(code) : reject(new Error(`etcdctl snapshot save exited ${code}`)))))
      await etcd.stop()
      const save = (performance.now() - started) / 1000
      manual.push({ restore, save, total: restore.wallSeconds + save })
      await rm(dataDir, { recursive: true, force: true })
      await rm(out, { force: true })
      log(`round ${round} by hand: restore ${restore.wallSeconds.toFixed(1)} s + etcd start and snapshot save ${save.toFixed(1)} s`)
    }
    if (round % 2) {
      await runA()
      await runB()
    } else {
      await runB()
      await runA()
    }
  }
  const a = median(compactRuns.map((m) => m.wallSeconds))
  const b = median(manual.map((m) => m.total))
  const etcdVersion = /etcd Version: (\S+)/.exec(execFileSync(findEtcdTool('etcd'), ['--version'], { encoding: 'utf8' }))?.[1] ?? '?'
  await writeSection(
    'compact',
    `## Compaction (\`bench/compact.ts\`)

- Command: \`npm run build && node bench/compact.ts --db-mib ${dbMiB} --events ${events} --rounds ${rounds}\`, ${new Date().toISOString().slice(0, 10)}, ${machine()}, etcd ${etcdVersion}.
- Data: one full snapshot of a ${mib(base.dbSizeBytes)} MiB database (${mib(fullBytes)} MiB gzip) and ${set.deltas.length} deltas holding ${workload.events} events (${mib(deltaBytes)} MiB gzip), cut by \`steward snapshot --watch\`; Local store; revision ${finalRevision}.
- A: \`steward compact\` — restore the set (temporary etcd replays the deltas), compact, defragment, snapshot, gzip, upload \`${lastName.replace(/-\d+\.gz$/, '-<now>.gz')}\`.
- B, by hand: \`steward restore\` of the same set + start etcd on the result + \`etcdctl snapshot save\` (no compaction, defragmentation, compression or upload).
- ${rounds === 1 ? 'One round' : `Median of ${rounds} rounds, order alternating`}; wall times; RSS is steward's own process (the temporary etcd is not included).

| | wall | steward peak RSS |
|---|---|---|
| A \`steward compact\` | ${a.toFixed(1)} s | ${mib(Math.max(...compactRuns.map((m) => m.peakRssBytes)))} MiB |
| B restore + etcdctl snapshot save | ${b.toFixed(1)} s (restore ${median(manual.map((m) => m.restore.wallSeconds)).toFixed(1)} s) | ${mib(Math.max(...manual.map((m) => m.restore.peakRssBytes)))} MiB (restore) |
| **A / B** | **${(a / b).toFixed(2)}** | |

A does more than B: it also compacts and defragments the restored database and gzips the new snapshot (the newest object of the set is gzip), and steward's snapshot stream verifies etcd's SHA-256 trailer on the way. B's output is an uncompressed file on local disk, not a snapshot in the store.`,
  )
  log(`A/B = ${(a / b).toFixed(2)}`)
} finally {
  await rm(work, { recursive: true, force: true })
}
