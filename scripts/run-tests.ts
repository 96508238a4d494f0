/**
 * Runs the uvu suites and prints one closing line `N passed, N failed, N skipped`.
 *
 *   node scripts/run-tests.ts               # unit, integration, then image
 *   node scripts/run-tests.ts unit          # test/**\/*.test.ts outside test/integration
 *   node scripts/run-tests.ts integration   # test/integration/*.test.ts (real etcd, real storage servers)
 *   node scripts/run-tests.ts image         # test/image/*.test.ts (the container image, with buildah)
 *
 * Each group runs in its own uvu process. A process that has printed its totals but keeps
 * running (a handle left open) is stopped after a grace period and counted as a failure.
 */
import { spawn } from 'node:child_process'

interface Totals {
  passed: number
  failed: number
  skipped: number
}

const GROUPS = {
  unit: ['test', '\\.test\\.ts$', '-i', 'integration', '-i', 'harness', '-i', '^image'],
  integration: ['test/integration', '\\.test\\.ts$'],
  // Builds dist/steward-image.tar first when it is missing or stale (test/harness/image.ts).
  image: ['test/image', '\\.test\\.ts$'],
} as const

type Group = keyof typeof GROUPS
const requested = process.argv.slice(2)
const groups: Group[] = requested.length > 0 ? (requested as Group[]) : ['unit', 'integration', 'image']
for (const group of groups) {
  if (!(group in GROUPS)) {
    console.error(`unknown test group "${group}"; valid: ${Object.keys(GROUPS).join(', ')}`)
    process.exit(2)
  }
}

/** Time one group (all its files) may take; the whole suite takes a few minutes. */
const GROUP_DEADLINE_MS = 15 * 60_000

const total: Totals = { passed: 0, failed: 0, skipped: 0 }
let anyProcessFailed = false
for (const group of groups) {
  console.log(`\n=== ${group} tests ===`)
  const result = await runGroup(group)
  total.passed += result.totals.passed
  total.failed += result.totals.failed
  total.skipped += result.totals.skipped
  if (result.exitCode !== 0) anyProcessFailed = true
}
if (anyProcessFailed && total.failed === 0) total.failed = 1
console.log(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`)
process.exitCode = total.failed > 0 || anyProcessFailed ? 1 : 0

async function runGroup(group: Group): Promise<{ totals: Totals; exitCode: number }> {
  const child = spawn('uvu', [...GROUPS[group]], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...withoutForceColor(process.env), NO_COLOR: '1' },
  })
  let output = ''
  let graceTimer: NodeJS.Timeout | undefined
  // A test that hangs fails the run instead of holding CI until its own limit.
  const deadline = setTimeout(() => {
    console.error(`[run-tests] ${group}: still running after ${GROUP_DEADLINE_MS / 60_000} minutes (a hung test); stopping it`)
    child.kill('SIGKILL')
  }, GROUP_DEADLINE_MS)
  deadline.unref()
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString()
    output += text
    process.stdout.write(text)
    if (/Duration:/.test(output) && !graceTimer) {
      graceTimer = setTimeout(() => {
        console.error(`[run-tests] ${group}: the test process kept running after its totals (an open handle); stopping it`)
        child.kill('SIGKILL')
      }, 20_000)
      graceTimer.unref()
    }
  })
  const exitCode: number = await new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)))
  if (graceTimer) clearTimeout(graceTimer)
  clearTimeout(deadline)
  const plain = output.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '')
  const read = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? 0)
  const totalCount = read('Total')
  const passed = read('Passed')
  const skipped = read('Skipped')
  const failed = Math.max(0, totalCount - passed - skipped)
  const killed = exitCode !== 0 && failed === 0
  return { totals: { passed, failed: killed ? failed + 1 : failed, skipped }, exitCode }
}

function withoutForceColor(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env }
  delete copy['FORCE_COLOR']
  return copy
}
