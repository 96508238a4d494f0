/**
 * What `--json` costs: peak RSS and wall time of `steward snapshot list` and `steward gc
 * --dry-run`, as a table and with `--json`, on a Local store of many objects
 * (bench/lifecycle-store.ts). With `--before <package root>` (a copy of an earlier build:
 * bin/, dist/, package.json, oclif.manifest.json and a node_modules link) the same runs are
 * made with that build, interleaved, and each `--json` document is checked to be byte for byte
 * the same in both.
 *
 *   npm run build && node bench/json-output.ts [--objects 10000] [--rounds 3] [--before /tmp/steward-before]
 *
 * Writes the `json-output` section of docs/benchmarks.md.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { makeTempDir, removeDir } from '../test/harness/tmp.ts'
import { buildLifecycleStore } from './lifecycle-store.ts'
import { machine, measure, median, mib, writeSection } from './measure.ts'

const { values } = parseArgs({ options: { objects: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '3' }, before: { type: 'string' } } })
const objects = Number(values.objects)
const rounds = Number(values.rounds)
const builds: [string, string][] = [['this build', fileURLToPath(new URL('..', import.meta.url))]]
if (values.before) builds.unshift(['before', values.before])

const dir = await makeTempDir('steward-bench-json-')
try {
  const store = await buildLifecycleStore(dir, objects, 24)
  console.log(`store: ${store.objects} objects, ${mib(store.bytes)} MiB`)
  const storeArgs = ['--store', `file://${dir}`, '--store-prefix', 'etcd-main']
  const env = { ...process.env, STEWARD_LOG_LEVEL: 'warn' }
  const cases: [string, string[]][] = [
    ['snapshot list', ['snapshot', 'list', ...storeArgs]],
    ['snapshot list --json', ['snapshot', 'list', '--json', ...storeArgs]],
    ['gc --dry-run', ['gc', '--dry-run', ...storeArgs]],
    ['gc --dry-run --json', ['gc', '--dry-run', '--json', ...storeArgs]],
  ]
  const identical: string[] = []
  if (builds.length === 2) {
    for (const [label, args] of cases.filter(([label]) => label.endsWith('--json'))) {
      // gc's plan states the time it was made (`"now"`), the one field that may differ.
      const outputs = builds.map(([, root]) => spawnSync(join(root, 'bin', 'run.js'), args, { env, maxBuffer: 1 << 30 }).stdout.toString('latin1').replace(/^  "now": "[^"]*"/m, '  "now": ""'))
      const same = outputs[0] === outputs[1]
      identical.push(`\`${label}\`: ${same ? 'identical' : '**different**'}${label.startsWith('gc') ? ' but for `now`' : ''} (${outputs[1]!.length} bytes)`)
      console.log(identical.at(-1))
    }
  }
  const runs = new Map<string, { wall: number[]; rss: number[] }>()
  const load: string[] = []
  for (let round = 0; round < rounds; round++) {
    load.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!)
    for (const [label, args] of cases) {
      for (const [build, root] of round % 2 ? [...builds].reverse() : builds) {
        const m = await measure(join(root, 'bin', 'run.js'), args, env)
        const key = `${label} (${build})`
        const entry = runs.get(key) ?? { wall: [], rss: [] }
        runs.set(key, entry)
        entry.wall.push(m.wallSeconds)
        entry.rss.push(m.peakRssBytes)
        console.log(`${key}: ${m.wallSeconds.toFixed(2)} s, ${mib(m.peakRssBytes)} MiB`)
      }
    }
  }
  const rows = [...runs].map(([key, r]) => `| \`steward ${key}\` | ${median(r.wall).toFixed(2)} | ${r.wall.map((w) => w.toFixed(2)).join(', ')} | ${mib(Math.max(...r.rss))} |`)
  const body = `## \`--json\` output over ${store.objects} objects (\`bench/json-output.ts\`)

- Command: \`npm run build && node bench/json-output.ts --objects ${objects} --rounds ${rounds}${values.before ? ' --before <copy of the earlier build>' : ''}\`
- Data: Local store of ${store.objects} objects (${store.backups} hourly full snapshots of a 20 KiB database, each followed by up to 24 deltas of 5 events; ${mib(store.bytes)} MiB).
- Machine: ${machine()}; load average (1 min) at the start of each round: ${load.join(', ')}
- Date: ${new Date().toISOString()}
- Each run is its own process, \`bin/run.js\` run as a program, stdout to /dev/null; median wall of ${rounds} rounds (builds alternate order between rounds), highest peak RSS (VmHWM).${identical.length ? `\n- Output of the two builds: ${identical.join('; ')}.` : ''}

| run | median wall (s) | rounds (s) | peak RSS (MiB) |
|---|---|---|---|
${rows.join('\n')}`
  await writeSection('json-output', body)
  console.log(body)
} finally {
  await removeDir(dir)
}
