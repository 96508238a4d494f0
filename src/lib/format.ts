/** Human-readable text for terminal output (JSON output keeps raw numbers). */

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const

/**
 * Bytes in binary units: `512 B`, `1.5 KiB`, `20.0 MiB`, `1.02 GiB` (three significant digits
 * at most, one decimal at least above bytes).
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${bytes} B`
  let value = bytes
  let unit = -1
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  const text = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)
  return `${text} ${UNITS[unit]}`
}

/** `1 event`, `2 events`, `0 events`: `count` and the word, plural unless exactly one. */
export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`
}
