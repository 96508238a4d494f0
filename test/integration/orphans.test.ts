/**
 * Issue 8, item 7: nothing survives a killed steward unnoticed. The temporary etcd of a delta
 * restore dies with its steward, even by SIGKILL (sh watchdog, src/lib/restore/temp-etcd.ts);
 * the next restore kills an orphan etcd still running in a leftover work dir (only after /proc
 * shows it is etcd on that dir), removes the dir, and logs both.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { TEMP_ETCD_DEFAULTS, isRunning, startTempEtcd } from '../../src/lib/restore/temp-etcd.ts'
import { runSteward } from '../harness/cli.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const FIXTURE_STORE = new URL('../../fixtures/etcdbr-v2/none/etcd-main', import.meta.url).pathname
const TEMP_ETCD_MODULE = new URL('../../src/lib/restore/temp-etcd.ts', import.meta.url).pathname
/** Above Linux's largest pid_max (2^22): never a live process. */
const DEAD_PID = 4_194_305

const test = suite<{ work: string; cleanup: (() => void)[] }>('killed steward leaves nothing running (real etcd)', { work: '', cleanup: [] })
test.before.each(async (ctx) => {
  ctx.work = await makeTempDir('steward-orphans-')
  ctx.cleanup = []
})
test.after.each(async (ctx) => {
  for (const fn of ctx.cleanup) fn()
  await removeDir(ctx.work)
})

async function waitUntil(what: string, condition: () => Promise<boolean>, seconds = 30): Promise<void> {
  const deadline = Date.now() + seconds * 1000
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds}s waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

test('kill -9 of the steward that runs a temporary etcd → that etcd stops too (watchdog)', async (ctx) => {
  const dataDir = join(ctx.work, 'data')
  // A steward stand-in: a Node process that starts the temporary etcd exactly as a delta restore does.
  const script = `
    const { startTempEtcd, TEMP_ETCD_DEFAULTS } = await import(${JSON.stringify(TEMP_ETCD_MODULE)})
    const etcd = await startTempEtcd({ dataDir: process.argv[1], name: 'default', workDir: process.argv[2], limits: TEMP_ETCD_DEFAULTS })
    console.log(JSON.stringify({ pid: etcd.pid }))
    setInterval(() => {}, 1 << 30)`
  const steward: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script, dataDir, ctx.work], { stdio: ['ignore', 'pipe', 'inherit'] })
  ctx.cleanup.push(() => steward.kill('SIGKILL'))
  const line: string = await new Promise((resolve, reject) => {
    createInterface({ input: steward.stdout! }).once('line', resolve)
    steward.once('exit', (code) => reject(new Error(`stand-in exited early (${code})`)))
  })
  const etcdPid = (JSON.parse(line) as { pid: number }).pid
  ctx.cleanup.push(() => killQuietly(etcdPid))
  const argv = (await readFile(`/proc/${etcdPid}/cmdline`, 'utf8')).split('\0')
  assert.ok(argv.some((arg) => arg.endsWith('/etcd')) && argv.includes(dataDir), `pid ${etcdPid} is etcd on ${dataDir}: ${argv.join(' ')}`)
  assert.ok(await isRunning(etcdPid))
  steward.kill('SIGKILL')
  await waitUntil(`the orphaned etcd ${etcdPid} is gone`, async () => !(await isRunning(etcdPid)))
})

test('the next restore kills an orphan etcd in a leftover work dir (checked via /proc), removes the dir and logs both; a pid that is not etcd is never killed', async (ctx) => {
  const target = join(ctx.work, 'r.etcd')
  // Leftover 1: a killed restore's work dir with its temporary etcd still running.
  const orphanDir = join(ctx.work, '.r.etcd.steward-restore-0badc0de')
  await mkdir(orphanDir, { mode: 0o700 })
  await writeFile(join(orphanDir, 'owner.pid'), `${DEAD_PID}\n`)
  const orphan = await startTempEtcd({ dataDir: join(orphanDir, 'data'), name: 'default', workDir: orphanDir, limits: TEMP_ETCD_DEFAULTS })
  ctx.cleanup.push(() => killQuietly(orphan.pid))
  assert.is((await readFile(join(orphanDir, 'etcd.pid'), 'utf8')).trim(), String(orphan.pid))
  // Leftover 2: its etcd.pid names a live process that is not etcd (pid reuse): left alone.
  const decoyDir = join(ctx.work, '.r.etcd.steward-restore-decafbad')
  await mkdir(decoyDir, { mode: 0o700 })
  const decoy = spawn('sleep', ['600'], { stdio: 'ignore' })
  ctx.cleanup.push(() => decoy.kill('SIGKILL'))
  await writeFile(join(decoyDir, 'owner.pid'), `${DEAD_PID}\n`)
  await writeFile(join(decoyDir, 'etcd.pid'), `${decoy.pid}\n`)

  const result = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', target, '--no-deltas', '--json'])
  assert.is(result.code, 0, result.stderr)
  assert.match(result.stderr, new RegExp(`killed orphan temporary etcd \\(pid ${orphan.pid}\\) left running on ${orphanDir.replace(/\./g, '\\.')}`))
  assert.match(result.stderr, /removed work dir .*\.r\.etcd\.steward-restore-0badc0de left by a killed restore/)
  assert.match(result.stderr, /removed work dir .*\.r\.etcd\.steward-restore-decafbad left by a killed restore/)
  assert.equal((result.json as { cleaned: string[] }).cleaned.sort(), [decoyDir, orphanDir].sort())
  await waitUntil('the orphan etcd is gone', async () => !(await isRunning(orphan.pid)), 10)
  assert.ok(await isRunning(decoy.pid!), 'the decoy (not etcd) still runs')
  assert.equal((await readdir(ctx.work)).sort(), ['r.etcd'])
  await orphan.stop()
})

test.run()
