/**
 * Module-level registry of every child process and temp dir the harness creates, so nothing
 * outlives the test process: on 'exit', SIGINT and SIGTERM the live children are SIGKILLed and
 * the temp dirs removed. Explicit teardown (cluster.stop) untracks what it cleaned up itself.
 */
import type { ChildProcess } from 'node:child_process'
import { removeDirSync } from './tmp.ts'

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()
let hooked = false

function killEverythingSync(): void {
  for (const child of children) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  children.clear()
  for (const dir of tempDirs) removeDirSync(dir)
  tempDirs.clear()
}

function onSignal(signal: NodeJS.Signals): void {
  killEverythingSync()
  // Only we listen: restore the default action (terminate) and re-raise so the exit status says "killed by signal".
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal)
    process.kill(process.pid, signal)
  }
}

function hook(): void {
  if (hooked) return
  hooked = true
  process.on('exit', killEverythingSync)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

/** Tracks `child` until it exits. */
export function trackProcess(child: ChildProcess): void {
  hook()
  if (child.exitCode !== null || child.signalCode !== null) return
  children.add(child)
  child.once('exit', () => children.delete(child))
}

/** Tracks `dir` for removal at process exit until {@link untrackTempDir}. */
export function trackTempDir(dir: string): void {
  hook()
  tempDirs.add(dir)
}

/** Stops tracking `dir` (it was removed or is deliberately kept). */
export function untrackTempDir(dir: string): void {
  tempDirs.delete(dir)
}

/** Number of tracked children still running (for leak checks in tests). */
export function liveProcessCount(): number {
  return children.size
}

/** Whether `child` has exited. */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

/**
 * Sends `signal` to `child` and waits up to `graceMs` ms for it to exit; then SIGKILLs it and
 * waits for that exit. Resolves at once when it already exited.
 */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (hasExited(child)) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill(signal)
  let timer: NodeJS.Timeout | undefined
  const graceOver = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), graceMs)
  })
  const outcome = await Promise.race([exited, graceOver])
  clearTimeout(timer)
  if (outcome === 'timeout' && !hasExited(child)) {
    child.kill('SIGKILL')
    await exited
  }
}
