/**
 * A temporary etcd (the real `etcd` binary) on a restored data dir, used only to replay delta
 * snapshots (research notes `etcd-backup-restore.md` §6.3 step 1). Loopback-only, on free
 * ports, with fsync off (`--unsafe-no-fsync`: a failed restore is redone from scratch, so
 * durability during it buys nothing). Always stopped: by {@link TempEtcd.stop}, on abort, on
 * SIGINT/SIGTERM and on process exit; and when steward itself is SIGKILLed, by a watchdog (see
 * {@link WATCHDOG_SCRIPT}). Its pid is written to `<workDir>/etcd.pid` so a re-run after a
 * SIGKILLed restore can reap it should the watchdog have failed too (see `cleanupStaleWorkDirs`).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { basename, dirname, join, resolve } from 'node:path'
import { findEtcdTool } from '../etcd/binaries.ts'
import { MemberClient } from '../etcd/wire/member-client.ts'
import { StewardError, messageOf } from '../errors.ts'

/** Limits of the temporary etcd (etcd-backup-restore's flag names and defaults). */
export interface TempEtcdLimits {
  /** `--embedded-etcd-quota-bytes` [8 GiB]. */
  readonly quotaBackendBytes: number
  /** `--max-request-bytes` [10 MiB]. */
  readonly maxRequestBytes: number
  /** `--max-txn-ops` [10240]. */
  readonly maxTxnOps: number
}

export const TEMP_ETCD_DEFAULTS: TempEtcdLimits = { quotaBackendBytes: 8 * 1024 ** 3, maxRequestBytes: 10 * 1024 ** 2, maxTxnOps: 10240 }

export interface TempEtcdOptions {
  readonly dataDir: string
  /** Member name (as restored). */
  readonly name: string
  /** Directory for `etcd.pid` and `etcd.log`. */
  readonly workDir: string
  readonly limits: TempEtcdLimits
  /** Seconds to wait for readiness [60]. */
  readonly readyTimeoutSeconds?: number
  readonly signal?: AbortSignal
}

export interface TempEtcd {
  readonly endpoint: string
  /** Client of the temporary etcd (HTTP/2 transport, per-call deadlines, no retries). */
  readonly client: MemberClient
  readonly pid: number
  /** Closes the client and stops etcd (SIGTERM, SIGKILL after 10 s). Idempotent. */
  stop(): Promise<void>
}

/** Raft entries the temporary etcd keeps in memory between its snapshots (etcd's default: 100000). */
export const TEMP_ETCD_SNAPSHOT_COUNT = 10_000

/**
 * Node has no PR_SET_PDEATHSIG, so etcd is started through this POSIX `sh` script: it keeps
 * steward's end of a pipe (fd 0) in a background subshell and `exec`s etcd (same pid, so
 * signals and the pid file reach etcd itself). When steward stops etcd normally it first
 * writes a line to the pipe and the subshell exits; when steward dies, even by SIGKILL, the
 * kernel closes the pipe, `read` hits end-of-file, and the subshell SIGKILLs etcd. Only sh
 * builtins are used (no ps, grep or kill binaries needed in the image).
 */
export const WATCHDOG_SCRIPT = 'exec 3<&0; ( if read -r _ <&3; then exit 0; fi; kill -9 $$ 2>/dev/null ) & exec "$@" 0</dev/null 3<&-'

const CALL_MS = 60_000
const MAINTENANCE_MS = 5 * 60_000
const START_ATTEMPTS = 3

/**
 * Starts etcd on `options.dataDir` and waits until it answers.
 * @throws StewardError `TOOL_FAILED` (binary missing, exited, not ready in time; with etcd's log tail), `ABORTED`
 */
export async function startTempEtcd(options: TempEtcdOptions): Promise<TempEtcd> {
  let last: unknown
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(options)
    } catch (error) {
      last = error
      if (!(error instanceof StewardError) || !/address already in use/.test(error.message)) throw error
    }
  }
  throw last
}

async function startOnce(options: TempEtcdOptions): Promise<TempEtcd> {
  const [clientPort, peerPort] = [await freePort(), await freePort()]
  const endpoint = `http://127.0.0.1:${clientPort}`
  const { limits } = options
  const args = [
    '--name', options.name,
    '--data-dir', options.dataDir,
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--unsafe-no-fsync',
    '--quota-backend-bytes', String(limits.quotaBackendBytes),
    '--max-request-bytes', String(limits.maxRequestBytes),
    '--max-txn-ops', String(limits.maxTxnOps),
    '--auto-compaction-retention', '0',
    '--log-level', 'warn',
    // etcd keeps up to --snapshot-count raft entries (here: the replayed transactions) in
    // memory; 3.5's default of 100000 held well over 100 MiB during a 300k-event replay.
    '--snapshot-count', String(TEMP_ETCD_SNAPSHOT_COUNT),
  ]
  // A fresh log per attempt, so a start-up error shows this attempt's lines only.
  const logPath = join(options.workDir, 'etcd.log')
  const log = createWriteStream(logPath, { flags: 'w' })
  const child = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'steward-etcd-watchdog', findEtcdTool('etcd'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '' },
  })
  // A write to the watchdog's pipe after etcd died is harmless.
  child.stdin?.on('error', () => undefined)
  child.stdout?.pipe(log, { end: false })
  child.stderr?.pipe(log, { end: false })
  const guard = installGuards(child, options.signal)
  const client = new MemberClient({ endpoint, callTimeoutMs: CALL_MS, maintenanceTimeoutMs: MAINTENANCE_MS })
  let stopped: Promise<void> | undefined
  const stop = () => (stopped ??= (async () => {
    client.close()
    guard.remove()
    await terminate(child)
    log.end()
  })())
  try {
    if (child.pid !== undefined) {
      // Written whole or not at all (temp file + rename): a reader never sees an empty pid file.
      const pidFile = join(options.workDir, 'etcd.pid')
      await writeFile(`${pidFile}.tmp`, `${child.pid}\n`)
      await rename(`${pidFile}.tmp`, pidFile)
    }
    await waitReady(child, client, options, logPath)
  } catch (error) {
    await stop()
    throw error
  }
  return { endpoint, client, pid: child.pid ?? -1, stop }
}

async function waitReady(child: ChildProcess, client: MemberClient, options: TempEtcdOptions, logPath: string): Promise<void> {
  const deadline = Date.now() + (options.readyTimeoutSeconds ?? 60) * 1000
  for (;;) {
    if (options.signal?.aborted) throw new StewardError('ABORTED', 'temp-etcd', 'restore aborted while the temporary etcd was starting')
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new StewardError('TOOL_FAILED', 'temp-etcd', `temporary etcd exited during start-up (${child.exitCode ?? child.signalCode}): ${await logTail(logPath)}`, {
        details: { dataDir: options.dataDir },
      })
    }
    try {
      await client.revision(2000)
      return
    } catch (error) {
      if (Date.now() > deadline) {
        throw new StewardError('TOOL_FAILED', 'temp-etcd', `temporary etcd not ready after ${options.readyTimeoutSeconds ?? 60} s (${messageOf(error)}): ${await logTail(logPath)}`)
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The last lines of etcd's log, for error messages. */
async function logTail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '')
  return text.trimEnd().split('\n').slice(-8).join('\n') || '(no output)'
}

/** Kills `child` on abort, SIGINT/SIGTERM (then re-raises when nobody else handles it) and process exit. */
function installGuards(child: ChildProcess, signal: AbortSignal | undefined): { remove(): void } {
  const killNow = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  const onSignal = (sig: NodeJS.Signals) => {
    killNow()
    remove()
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
  }
  const remove = () => {
    process.off('exit', killNow)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    signal?.removeEventListener('abort', killNow)
  }
  process.on('exit', killNow)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  signal?.addEventListener('abort', killNow, { once: true })
  return { remove }
}

async function terminate(child: ChildProcess): Promise<void> {
  // Tell the watchdog this stop is deliberate (see WATCHDOG_SCRIPT), so it exits without a SIGKILL.
  if (child.stdin && !child.stdin.destroyed) child.stdin.end('stop\n')
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * Removes work dirs a killed restore left beside `dataDir` (`.<name>.steward-restore-*`, see
 * `makeWorkDir`), after SIGKILLing the temporary etcd recorded in their `etcd.pid` when that
 * process still runs on that dir. Dirs whose `owner.pid` process is alive are left alone (a
 * concurrent restore). Linux `/proc` is used to confirm a pid (it must be etcd, with that
 * dir in its arguments); elsewhere the pid is not killed.
 * @param onCleanup called with a sentence per orphan killed and per dir removed (for the log)
 * @returns the dirs removed
 */
export async function cleanupStaleWorkDirs(dataDir: string, onCleanup?: (message: string) => void): Promise<string[]> {
  const target = resolve(dataDir)
  const prefix = `.${basename(target)}.steward-restore-`
  const entries = await readdir(dirname(target)).catch(() => [] as string[])
  const removed: string[] = []
  for (const entry of entries.filter((e) => e.startsWith(prefix))) {
    const dir = join(dirname(target), entry)
    const owner = await readPid(join(dir, 'owner.pid'))
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) continue
    const etcdPid = await readPid(join(dir, 'etcd.pid'))
    if (etcdPid !== undefined) {
      const argv = (await readFile(`/proc/${etcdPid}/cmdline`, 'utf8').catch(() => '')).split('\0')
      if (isEtcdOn(argv, dir) && (await isRunning(etcdPid))) {
        process.kill(etcdPid, 'SIGKILL')
        for (let i = 0; i < 50 && (await isRunning(etcdPid)); i++) await new Promise((r) => setTimeout(r, 100))
        onCleanup?.(`killed orphan temporary etcd (pid ${etcdPid}) left running on ${dir} by a killed restore`)
      }
    }
    await rm(dir, { recursive: true, force: true })
    onCleanup?.(`removed work dir ${dir} left by a killed restore`)
    removed.push(dir)
  }
  return removed
}

/** Whether a process's argv (from /proc/<pid>/cmdline) is etcd with a `--data-dir` inside `dir`. */
export function isEtcdOn(argv: readonly string[], dir: string): boolean {
  const program = argv.findIndex((arg) => basename(arg) === 'etcd')
  if (program < 0) return false
  const rest = argv.slice(program + 1)
  const at = rest.indexOf('--data-dir')
  const dataDir = at >= 0 ? rest[at + 1] : rest.find((arg) => arg.startsWith('--data-dir='))?.slice('--data-dir='.length)
  return dataDir !== undefined && (dataDir === dir || dataDir.startsWith(`${dir}/`))
}

async function readPid(path: string): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

/** Whether `pid` runs and is not a zombie (an orphan's exit may be reaped late). Linux `/proc`, else signal 0. */
export async function isRunning(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return isAlive(pid) && !(await readdir('/proc').then(() => true, () => false))
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state !== 'Z' && state !== 'X'
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
