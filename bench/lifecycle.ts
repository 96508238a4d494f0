/**
 * gc planning and verify over a large store, measured as users launch them (the built bin):
 * `steward gc --dry-run --json` (lists and plans every object) and `steward verify --json`
 * (reads and checks every object) on a Local store of N snapshot objects — hourly full
 * snapshots (the 20 KiB etcdbrctl fixture database) each followed by deltas of 5 events
 * (written with steward's delta encoder, SHA-256 trailer), so every object verifies.
 *
 *   node bench/lifecycle.ts [--objects 10000] [--deltas-per-full 24] [--rounds 3]
 *
 * Writes the `lifecycle` section of docs/benchmarks.md.
 */
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { makeTempDir, removeDir } from '../test/harness/tmp.ts'
import { buildLifecycleStore } from './lifecycle-store.ts'
import { machine, measure, median, mib, writeSection } from './measure.ts'

const { values } = parseArgs({ options: { objects: { type: 'string', default: '10000' }, 'deltas-per-full': { type: 'string', default: '24' }, rounds: { type: 'string', default: '3' } } })
const objects = Number(values.objects)
const perFull = Number(values['deltas-per-full'])
const rounds = Number(values.rounds)
const BIN = fileURLToPath(new URL('../bin/run.js', import.meta.url))

const dir = await makeTempDir('steward-bench-lifecycle-')
try {
  const { objects: written, bytes, backups } = await buildLifecycleStore(dir, objects, perFull)
  console.log(`store: ${written} objects, ${mib(bytes)} MiB, ${backups} backups`)
  const store = ['--store', `file://${dir}`, '--store-prefix', 'etcd-main']
  const env = { ...process.env, STEWARD_LOG_LEVEL: 'warn' }
  const runs: Record<string, { wall: number[]; rss: number[] }> = {}
  const cases: [string, string[]][] = [
    ['gc --dry-run (Exponential, table)', ['gc', '--dry-run', ...store]],
    ['gc --dry-run --json (Exponential)', ['gc', '--dry-run', '--json', ...store]],
    ['gc --dry-run (LimitBased -m 7, table)', ['gc', '--dry-run', '--garbage-collection-policy', 'LimitBased', '--max-backups', '7', ...store]],
    ['verify (every object, table)', ['verify', ...store]],
    ['verify --json (every object)', ['verify', '--json', ...store]],
    ['verify --latest-only', ['verify', '--latest-only', ...store]],
    ['snapshot list (same store, for reference)', ['snapshot', 'list', ...store]],
  ]
  for (let round = 0; round < rounds; round++) {
    for (const [label, args] of cases) {
      // measure() throws on a non-zero exit: verify exits 71 only for an unrestorable store, and this one is restorable.
      const m = await measure(process.execPath, [BIN, ...args], env)
      const entry = (runs[label] ??= { wall: [], rss: [] })
      entry.wall.push(m.wallSeconds)
      entry.rss.push(m.peakRssBytes)
      console.log(`${label}: ${m.wallSeconds.toFixed(2)} s, ${mib(m.peakRssBytes)} MiB`)
    }
  }
  const rows = Object.entries(runs).map(([label, r]) => `| \`steward ${label}\` | ${median(r.wall).toFixed(2)} s | ${mib(Math.max(...r.rss))} MiB |`)
  await writeSection(
    'lifecycle',
    `## gc planning and verify over ${written} snapshot objects

\`node bench/lifecycle.ts --objects ${objects} --deltas-per-full ${perFull} --rounds ${rounds}\`, ${new Date().toISOString().slice(0, 10)}, ${machine()}.
Local store of ${written} objects (${backups} hourly full snapshots of a 20 KiB database, each followed by up to ${perFull} deltas of 5 events; ${mib(bytes)} MiB),
the built bin run as users launch it; median wall time of ${rounds} rounds, highest peak RSS of steward's process (start-up included).

| command | wall (median) | peak RSS |
|---|---|---|
${rows.join('\n')}

The plan is a pure function over the listing (linear in objects) and takes a small part of the gc time: most of it is start-up, listing
the directory and printing ${written} rows. \`--json\` costs about 90 MiB more RSS than the table for ${written} objects: oclif's \`logJson\`
pretty-prints and colourises the whole document in memory (\`snapshot list --json\` pays the same); writing it with a plain
\`JSON.stringify\` would remove that (done since: section "\`--json\` output", 184.5 → 109.0 MiB for \`snapshot list --json\`). \`verify\` reads and hashes every object, spooling each delta to a temp file, 4 objects at a time; its RSS does not grow with the
number of objects (a one-off in-process check, not part of this script: about 180 MiB peak at 2,000 objects and 199 MiB at 10,000, with 15 MiB of heap in use at the end).
etcdbrctl has no dry run or verify to compare with.`,
  )
} finally {
  await removeDir(dir)
}
