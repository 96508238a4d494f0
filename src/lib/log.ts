/**
 * Structured logs (pino, JSON lines on stderr). Default level: `warn` on a terminal (the
 * progress bar and the summary say enough), `info` otherwise (CronJobs, sidecars, CI).
 * Override with `--log-level` or `STEWARD_LOG_LEVEL` (see docs/configuration.md).
 */
import { pino, type Logger } from 'pino'
import { StewardError } from './errors.ts'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

let root: Logger | undefined

/** The level used when neither `--log-level` nor `STEWARD_LOG_LEVEL` sets one. */
export function defaultLogLevel(): LogLevel {
  return process.stderr.isTTY ? 'warn' : 'info'
}

function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value)
}

/** etcd-backup-restore's numeric (logrus) levels: 0 panic, 1 fatal, 2 error, 3 warning, 4 info, 5 debug, 6 trace. */
const LOGRUS_LEVELS: Readonly<Record<string, LogLevel>> = { 0: 'fatal', 1: 'fatal', 2: 'error', 3: 'warn', 4: 'info', 5: 'debug', 6: 'trace' }

/**
 * The log level from the `--log-level` flag, else the `STEWARD_LOG_LEVEL` variable, else the
 * default. An empty value (easy to get from a templated pod env) counts as unset. etcdbrctl's
 * numeric levels (`--log-level 4`) are accepted too (see {@link LOGRUS_LEVELS}).
 * @throws StewardError `CONFIG_INVALID` naming the flag or the variable and the valid levels
 */
export function resolveLogLevel(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): LogLevel {
  for (const [source, value] of [['--log-level', flag], ['STEWARD_LOG_LEVEL', env['STEWARD_LOG_LEVEL']]] as const) {
    if (value === undefined || value === '') continue
    if (isLogLevel(value)) return value
    const logrus = LOGRUS_LEVELS[value]
    if (logrus) return logrus
    throw new StewardError('CONFIG_INVALID', 'config', `${source}: unknown log level ${JSON.stringify(value)} (valid: ${LOG_LEVELS.join(', ')}; or etcdbrctl's 0-6)`, {
      details: { source, value },
    })
  }
  return defaultLogLevel()
}

/**
 * The process-wide logger; the first call fixes its level. Without `level`, an invalid
 * `STEWARD_LOG_LEVEL` falls back to the default here (commands report it through
 * {@link resolveLogLevel}), so logging an error never throws.
 */
export function logger(level?: LogLevel): Logger {
  root ??= pino(
    {
      base: { app: 'steward' },
      level: level ?? fallbackLevel(),
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: true }),
  )
  return root
}

function fallbackLevel(): LogLevel {
  const fromEnv = process.env['STEWARD_LOG_LEVEL']
  return fromEnv !== undefined && isLogLevel(fromEnv) ? fromEnv : defaultLogLevel()
}
