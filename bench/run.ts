/**
 * Runs every benchmark in sequence at its full size (`npm run bench`), each writing its section
 * of docs/benchmarks.md. Run on a quiet machine: the numbers are ratios of runs made side by
 * side, but a busy machine still adds noise.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const BENCHMARKS: [string, string[]][] = [
  ['snapshot-restore.ts', ['--size-mib', '256', '--rounds', '3']],
  ['upload.ts', ['--db-mib', '512', '--rounds', '3']],
  ['delta-restore.ts', []],
  // Needs root (buildah); builds the container image.
  ['image.ts', []],
  ['lifecycle.ts', ['--objects', '10000', '--rounds', '3']],
  ['compact.ts', ['--db-mib', '256', '--events', '100000']],
  ['defrag.ts', ['--size-mib', '256', '--rounds', '3', '--gap-size-mib', '128', '--gap-rounds', '2']],
]

let failed = false
for (const [script, args] of BENCHMARKS) {
  console.log(`\n=== bench/${script} ${args.join(' ')} ===`)
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], { stdio: 'inherit' })
  if (result.status !== 0) {
    console.error(`bench/${script} failed (${result.status ?? result.signal})`)
    failed = true
  }
}
process.exitCode = failed ? 1 : 0
