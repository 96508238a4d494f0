/**
 * Progress of long byte-moving work: a cli-progress bar on an interactive terminal, otherwise
 * a structured log line at most every 5 seconds. Silent under `--json` on a terminal.
 */
import cliProgress from 'cli-progress'
import { logger } from '../log.ts'

export interface ProgressReporter {
  /** Reports `bytes` done so far, of `totalBytes` when known. */
  update(bytes: number, totalBytes?: number): void
  stop(): void
}

const LOG_EVERY_MS = 5000

/** @param label short phrase, e.g. "snapshot" or "restore" */
export function createProgress(label: string, options: { json: boolean }): ProgressReporter {
  if (process.stderr.isTTY && !options.json) return barProgress(label)
  let lastLog = 0
  return {
    update(bytes, totalBytes) {
      const now = Date.now()
      if (now - lastLog < LOG_EVERY_MS) return
      lastLog = now
      logger().info({ label, bytes, totalBytes }, `${label}: ${mib(bytes)} MiB${totalBytes ? ` of ${mib(totalBytes)} MiB` : ''}`)
    },
    stop() {},
  }
}

function barProgress(label: string): ProgressReporter {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {done} MiB{ofTotal} | {speed} MiB/s`,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  )
  const started = Date.now()
  let running = false
  return {
    update(bytes, totalBytes) {
      const payload = {
        done: mib(bytes),
        ofTotal: totalBytes ? ` of ${mib(totalBytes)}` : '',
        speed: (bytes / 1048576 / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1),
      }
      if (!running) {
        bar.start(totalBytes ?? Math.max(bytes, 1), bytes, payload)
        running = true
      }
      if (!totalBytes) bar.setTotal(Math.max(bytes, 1))
      bar.update(bytes, payload)
    },
    stop() {
      if (running) bar.stop()
    },
  }
}

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1)
}
