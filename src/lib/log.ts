/**
 * Structured logs (pino, JSON lines on stderr). Default level: `warn` on a terminal (the
 * progress bar and the summary say enough), `info` otherwise (CronJobs, sidecars, CI).
 * Override with `--log-level` or `STEWARD_LOG_LEVEL`.
 */
import { pino, type Logger } from 'pino'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

let root: Logger | undefined

/** The process-wide logger; the first call fixes its level. */
export function logger(level?: LogLevel): Logger {
  root ??= pino(
    {
      base: { app: 'steward' },
      level: level ?? (process.env['STEWARD_LOG_LEVEL'] as LogLevel | undefined) ?? (process.stderr.isTTY ? 'warn' : 'info'),
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: true }),
  )
  return root
}
