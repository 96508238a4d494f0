/**
 * Progress of long byte-moving work: a cli-progress bar on an interactive terminal, otherwise
 * a structured log line at most every 5 seconds. Silent under `--json` on a terminal.
 */
import { createRequire } from 'node:module'
import type cliProgressModule from 'cli-progress'
import type { Logger } from 'pino'
import { logger } from '../log.ts'

export interface ProgressReporter {
  /** Reports `bytes` done so far, of `totalBytes` when known. */
  update(bytes: number, totalBytes?: number): void
  stop(): void
}

export const LOG_EVERY_MS = 5000

/** Options of {@link createProgress}; all but `json` exist for tests. */
export interface ProgressOptions {
  /** `--json`: no bar, even on a terminal. */
  readonly json: boolean
  /** Where the bar is drawn; its `isTTY` picks the mode. @default process.stderr */
  readonly stream?: NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number }
  /** Logger of the log-line mode. @default the process logger */
  readonly log?: Pick<Logger, 'info'>
  /** Clock in milliseconds. @default Date.now */
  readonly now?: () => number
}

/** @param label short phrase, e.g. "snapshot" or "restore" */
export function createProgress(label: string, options: ProgressOptions): ProgressReporter {
  const stream = options.stream ?? process.stderr
  const now = options.now ?? Date.now
  if (stream.isTTY === true && !options.json) return barProgress(label, stream, now)
  let lastLog: number | undefined
  return {
    update(bytes, totalBytes) {
      const time = now()
      if (lastLog !== undefined && time - lastLog < LOG_EVERY_MS) return
      lastLog = time
      const log = options.log ?? logger()
      log.info({ label, bytes, totalBytes }, `${label}: ${mib(bytes)} MiB${totalBytes ? ` of ${mib(totalBytes)} MiB` : ''}`)
    },
    stop() {},
  }
}

/**
 * A bar when the total is known at the first update; otherwise (an etcd snapshot stream, a
 * compressed object) a running count without bar or percentage, which could only claim 100%.
 */
/** cli-progress, loaded on first use: only a terminal draws a bar, so other runs skip loading it (~2 ms). */
const requireModule = createRequire(import.meta.url)

function barProgress(label: string, stream: NodeJS.WritableStream, now: () => number): ProgressReporter {
  const cliProgress = requireModule('cli-progress') as typeof cliProgressModule
  const started = now()
  let bar: cliProgressModule.SingleBar | undefined
  let knownTotal = false
  return {
    update(bytes, totalBytes) {
      const payload = {
        done: mib(bytes),
        ofTotal: totalBytes ? ` of ${mib(totalBytes)} MiB` : '',
        speed: (bytes / 1048576 / Math.max(0.001, (now() - started) / 1000)).toFixed(1),
      }
      if (!bar) {
        knownTotal = Boolean(totalBytes)
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: knownTotal ? `${label} [{bar}] {percentage}% | {done} MiB{ofTotal} | {speed} MiB/s` : `${label}: {done} MiB | {speed} MiB/s`,
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        )
        bar.start(knownTotal ? totalBytes! : 0, bytes, payload)
      }
      if (knownTotal && totalBytes) bar.setTotal(totalBytes)
      bar.update(bytes, payload)
    },
    stop() {
      bar?.stop()
    },
  }
}

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1)
}
