/**
 * `steward snapshot --compression none` against `etcdctl snapshot save`, with steward launched
 * both ways users launch it: `bin/run.js` as a program (its shebang; `steward` in the image) and
 * `node bin/run.js`. Also the fixed cost of every run: `steward --version` and a snapshot of a
 * nearly empty etcd (start-up, connection, stream set-up, fsync and exit), same launch styles.
 * With `--before <package root>` (a copy of an earlier build: bin/, dist/, package.json,
 * oclif.manifest.json and a node_modules link) that build's two launch styles run in the same
 * rounds. Writes the `launch-styles` section of docs/benchmarks.md.
 *
 *   npm run build && node bench/launch-styles.ts [--size-mib 320] [--dir /tmp/bench-data] [--rounds 5] [--before DIR]
 *
 * `--size-mib 320` gives a database of about 482 MiB (bench/big-db.ts: 4 KiB mixed values).
 */
import { readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { findEtcdTool } from '../src/lib/etcd/binaries.ts'
import { startEtcdCluster } from '../test/harness/etcd.ts'
import { makeTempDir, removeDir } from '../test/harness/tmp.ts'
import { openBigDb } from './big-db.ts'
import { machine, measure, median, mib, writeSection, type Measurement } from './measure.ts'

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '320' }, dir: { type: 'string', default: '/tmp/bench-data' }, rounds: { type: 'string', default: '5' }, before: { type: 'string' } } })
const sizeMiB = Number(values['size-mib'])
const rounds = Number(values.rounds)
const roots: [string, string][] = [['', resolve(import.meta.dirname, '..')]]
if (values.before) roots.push([' (before)', values.before])
const etcdctl = findEtcdTool('etcdctl')
const env = { ...process.env, STEWARD_LOG_LEVEL: 'warn', ETCDCTL_API: '3' }
const loadAverage = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])

type Run = [label: string, run: (dir: string) => Promise<Measurement>]

/** etcdctl, then steward as a program and under `node`, for each build. */
function snapshotRuns(endpoint: string): Run[] {
  const runs: Run[] = [['etcdctl snapshot save', (dir) => measure(etcdctl, ['snapshot', 'save', join(dir, 'etcdctl.db'), '--endpoints', endpoint], env)]]
  for (const [suffix, root] of roots) {
    const bin = join(root, 'bin', 'run.js')
    const args = (dir: string) => ['snapshot', '--endpoints', endpoint, '--store', `file://${join(dir, 'store')}`, '--compression', 'none']
    runs.push([`steward (bin)${suffix}`, (dir) => measure(bin, args(dir), env)])
    runs.push([`steward (node bin/run.js)${suffix}`, (dir) => measure(process.execPath, [bin, ...args(dir)], env)])
  }
  return runs
}

/** Runs every run once per round (reversed on even rounds), each in a fresh directory. */
async function rounds_(runs: Run[], count: number, loads: number[]): Promise<Map<string, Measurement[]>> {
  const results = new Map<string, Measurement[]>()
  for (let round = 1; round <= count; round++) {
    loads.push(loadAverage())
    for (const [label, run] of round % 2 ? runs : [...runs].reverse()) {
      const dir = await makeTempDir('steward-bench-launch-')
      try {
        results.set(label, [...(results.get(label) ?? []), await run(dir)])
      } finally {
        await removeDir(dir)
      }
    }
  }
  return results
}

function table(results: Map<string, Measurement[]>, baseline: string): string {
  const base = results.get(baseline)!
  const rows = [...results].map(([label, ms]) => {
    const ratios = label === baseline ? [] : ms.map((m, i) => m.wallSeconds / base[i]!.wallSeconds)
    const ratio = ratios.length ? `${median(ratios).toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(', ')})` : ''
    return `| ${label} | ${median(ms.map((m) => m.wallSeconds)).toFixed(3)} | ${ms.map((m) => m.wallSeconds.toFixed(2)).join(', ')} | ${ratio} | ${median(ms.map((m) => m.cpuSeconds ?? 0)).toFixed(2)} | ${mib(Math.max(...ms.map((m) => m.peakRssBytes)))} |`
  })
  return `| run | median wall (s) | rounds (s) | ratio to ${baseline}: median (each round) | median CPU (s) | peak RSS (MiB) |\n|---|---|---|---|---|---|\n${rows.join('\n')}`
}

// Fixed costs first, on a nearly empty member.
const small = await startEtcdCluster({})
const startLoads: number[] = []
let startup: Map<string, Measurement[]>
let tiny: Map<string, Measurement[]>
try {
  const versionRuns: Run[] = roots.flatMap(([suffix, root]): Run[] => [
    [`steward --version (bin)${suffix}`, () => measure(join(root, 'bin', 'run.js'), ['--version'], env)],
    [`steward --version (node bin/run.js)${suffix}`, () => measure(process.execPath, [join(root, 'bin', 'run.js'), '--version'], env)],
  ])
  startup = await rounds_(versionRuns, 15, startLoads)
  tiny = await rounds_(snapshotRuns(small.endpoints[0]!), 15, startLoads)
} finally {
  await small.stop()
}

const cluster = await openBigDb(sizeMiB, values.dir)
const loads: number[] = []
let big: Map<string, Measurement[]>
let dbBytes = 0
try {
  const probe = await makeTempDir('steward-bench-launch-')
  await measure(etcdctl, ['snapshot', 'save', join(probe, 'db'), '--endpoints', cluster.endpoints[0]!], env)
  dbBytes = statSync(join(probe, 'db')).size
  await removeDir(probe)
  big = await rounds_(snapshotRuns(cluster.endpoints[0]!), rounds, loads)
} finally {
  await cluster.stop({ keepDataDirs: true })
}

const startupRows = [...startup].map(([label, ms]) => `| ${label} | ${(median(ms.map((m) => m.wallSeconds)) * 1000).toFixed(0)} | ${mib(Math.max(...ms.map((m) => m.peakRssBytes)))} |`)
const body = `## Launch styles: \`--compression none\` vs etcdctl, start-up (\`bench/launch-styles.ts\`)

- Command: \`npm run build && node bench/launch-styles.ts --size-mib ${sizeMiB} --rounds ${rounds}${values.before ? ' --before <copy of the earlier build>' : ''}\`
- Data: one etcd 3.5 member on \`bench/big-db.ts\`'s data dir (${Math.ceil((sizeMiB * 1048576) / 4096)} keys × 4 KiB mixed values), database ${mib(dbBytes)} MiB; Local store on the same disk. Fixed costs: a fresh member holding nothing (snapshot of about 20 KiB).
- Machine: ${machine()}; 1-minute load average at the start of each round: ${loads.join(', ')} (large database), ${Math.min(...startLoads)}–${Math.max(...startLoads)} (fixed costs)
- Date: ${new Date().toISOString()}
- Method: every run is its own process, wall time from spawn to exit, \`sync\` before each; runs of a round back to back, reversed on even rounds; ratio = steward's wall / etcdctl's in the same round, median over rounds. CPU = the process's own user + system time from /proc (etcd's not included). Peak RSS = the process's VmHWM, maximum over rounds. "bin" = \`bin/run.js\` run as a program (its shebang), "node bin/run.js" = the same file given to node.${values.before ? ' "(before)" = the build before this change, same rounds.' : ''}

Fixed costs, 15 rounds:

| run | median wall (ms) | peak RSS (MiB) |
|---|---|---|
${startupRows.join('\n')}

${table(tiny, 'etcdctl snapshot save').replace('| run |', '| snapshot of an empty member |')}

${mib(dbBytes)} MiB database, ${rounds} rounds:

${table(big, 'etcdctl snapshot save')}`
await writeSection('launch-styles', body)
console.log(body)
