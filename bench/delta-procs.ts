/**
 * Process helpers of bench/delta-restore.ts: peak RSS of processes the benchmark does not
 * spawn itself (the temporary etcd `steward restore` starts) or spawns without measure().
 * Everything reads the kernel's high-water mark `VmHWM` from /proc/<pid>/status (Linux only).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { basename } from 'node:path'

/** VmHWM of `pid` in bytes, or undefined when the process is gone (or not readable). */
export function vmHwmBytes(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** Polls one known pid's VmHWM every 10 ms; `stop()` returns the highest value seen (bytes). */
export function pollPeakRss(pid: number): { stop(): number } {
  let peak = 0
  const read = () => {
    const value = vmHwmBytes(pid)
    if (value !== undefined) peak = Math.max(peak, value)
  }
  read()
  const timer = setInterval(read, 10).unref()
  return {
    stop() {
      clearInterval(timer)
      read()
      return peak
    },
  }
}

export interface FoundEtcd {
  /** Pids of the matching etcd processes seen (normally exactly one). */
  readonly pids: readonly number[]
  /** Highest VmHWM of any of them, bytes (0 when none was seen). */
  readonly peakRssBytes: number
  /** Seconds between the first sighting and the last successful read (≈ the process's lifetime). */
  readonly seenSeconds: number
}

/**
 * Finds an `etcd` process (or another `program`, e.g. `etcdutl`) whose command line contains `fragment` (the restore's hidden work
 * dir prefix, e.g. `/tmp/x/.full.etcd.steward-restore-`) by scanning /proc every 50 ms, then
 * polls that process's VmHWM every 10 ms until it exits; afterwards keeps scanning for another
 * one. VmHWM is a high-water mark, so finding the process late loses nothing but the last
 * ≤ 10 ms before it exits. `stop()` ends the polling and reports.
 */
export function watchEtcdByCmdline(fragment: string, program = 'etcd'): { stop(): FoundEtcd } {
  const seen = new Set<number>()
  let current: number | undefined
  let peak = 0
  let firstSeen: number | undefined
  let lastSeen: number | undefined
  let lastScan = 0
  const scan = () => {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      const pid = Number(entry)
      if (seen.has(pid)) continue
      let argv: string[]
      try {
        argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      } catch {
        continue
      }
      if (basename(argv[0] ?? '') === program && argv.some((arg) => arg.includes(fragment))) {
        seen.add(pid)
        return pid
      }
    }
    return undefined
  }
  const tick = () => {
    const now = performance.now()
    if (current === undefined) {
      if (now - lastScan < 50) return
      lastScan = now
      current = scan()
      if (current === undefined) return
      firstSeen ??= now
    }
    const value = vmHwmBytes(current)
    if (value === undefined) {
      current = undefined
      return
    }
    peak = Math.max(peak, value)
    lastSeen = now
  }
  const timer = setInterval(tick, 10).unref()
  return {
    stop() {
      clearInterval(timer)
      tick()
      return { pids: [...seen], peakRssBytes: peak, seenSeconds: firstSeen !== undefined && lastSeen !== undefined ? (lastSeen - firstSeen) / 1000 : 0 }
    },
  }
}

/**
 * Pids of running `etcd` processes (argv[0] basename) that belong to this run: children of
 * this process (harness clusters) or with `fragment` (the run's temp dir) in their command line
 * (temporary etcds, whose steward parent may be gone). Other sessions' etcds are not counted.
 */
export function ownEtcdPids(fragment: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (basename(argv[0] ?? '') !== 'etcd') continue
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === process.pid || argv.some((arg) => arg.includes(fragment))) pids.push(Number(entry))
    } catch {
      // gone
    }
  }
  return pids
}
