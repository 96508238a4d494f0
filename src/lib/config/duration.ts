import { StewardError } from '../errors.ts'

const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }

/**
 * Parses a Go-style duration (`20s`, `1h30m`, `500ms`; the syntax etcd-backup-restore's flags
 * take) or a plain number of seconds, and returns seconds.
 * @param setting the flag or key name, for the error message
 * @throws StewardError `CONFIG_INVALID` naming `setting` and the valid syntax
 */
export function parseDuration(value: string | number, setting: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return value
  } else {
    const text = value.trim()
    if (/^\d+(\.\d+)?$/.test(text)) return Number(text)
    const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy
    let total = 0
    let matched = 0
    for (let m = re.exec(text); m; m = re.exec(text)) {
      total += Number(m[1]) * (UNIT_SECONDS[m[2]!] ?? 0)
      matched = re.lastIndex
    }
    if (text.length > 0 && matched === text.length) return total
  }
  throw new StewardError('CONFIG_INVALID', 'config', `${setting}: ${JSON.stringify(value)} is not a duration`, {
    hints: ['use a number of seconds or Go syntax such as 30s, 15m, 1h30m'],
  })
}

/** Formats seconds as a short Go-style duration (`1h30m`, `20s`, `0.5s`). */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Number(seconds.toFixed(3))}s`
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = Math.round(seconds % 60)
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`
}
