/** Measuring helpers shared by the benchmarks in bench/. */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'

export interface Measurement {
  wallSeconds: number
  peakRssBytes: number
  /** CPU time (user + system) of the process itself, seconds, as last read from /proc before it exited (up to 10 ms short). */
  cpuSeconds?: number
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ; 100 on Linux). */
const CLOCK_TICKS = 100

/**
 * Runs a command and returns its wall time (seconds) and its own peak RSS (bytes): the
 * kernel's high-water mark `VmHWM` from /proc/<pid>/status, read every 10 ms until the
 * process exits. Children (steward's etcdutl) are not included, so steward's figure is its
 * own. Used to compare steward with etcdctl/etcdutl side by side in one run.
 * @throws Error when the command fails
 */
export async function measure(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Measurement> {
  // Start every run with no dirty pages left by the previous one: their writeback (and ext4's
  // journal, which makes an fsync wait for other files' data) otherwise lands on whichever
  // run comes next.
  spawnSync('sync')
  const started = performance.now()
  const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  let peakKiB = 0
  let cpuTicks = 0
  const poll = setInterval(() => {
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      if (match) peakKiB = Math.max(peakKiB, Number(match[1]))
      // utime and stime: fields 14 and 15, counted after the parenthesised command name
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')
      if (fields) cpuTicks = Math.max(cpuTicks, Number(fields[11]) + Number(fields[12]))
    } catch {
      // exited between polls
    }
  }, 10)
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)))
  clearInterval(poll)
  const wallSeconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr.slice(-2000)}`)
  return { wallSeconds, peakRssBytes: peakKiB * 1024, cpuSeconds: cpuTicks / CLOCK_TICKS }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1)
}

/** One line describing this machine, for the results. */
export function machine(): string {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${mib(totalmem())} MiB RAM, Node ${process.version}, ${process.platform}`
}

/** Replaces (or appends) the section between `<!-- bench:NAME -->` markers in docs/benchmarks.md. */
export async function writeSection(name: string, body: string): Promise<void> {
  const path = new URL('../docs/benchmarks.md', import.meta.url)
  const start = `<!-- bench:${name}:start -->`
  const end = `<!-- bench:${name}:end -->`
  let text = existsSync(path) ? await readFile(path, 'utf8') : '# Benchmarks\n\nResults written by the scripts in `bench/`. Each section says the command, data size, machine and date. Ratios compare runs made side by side in one session on the same data (the machines are small and noisy; absolute times vary more than ratios).\n'
  const block = `${start}\n${body.trim()}\n${end}`
  const at = text.indexOf(start)
  const stop = text.indexOf(end)
  text = at >= 0 && stop > at ? text.slice(0, at) + block + text.slice(stop + end.length) : `${text.trimEnd()}\n\n${block}\n`
  await writeFile(path, text)
}
