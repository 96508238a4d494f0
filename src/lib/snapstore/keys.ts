import { StewardError } from '../errors.ts'

/**
 * Checks that `key` is a safe store-relative key (no `..`, no leading `/`, no empty or `.`
 * segments, no NUL) and returns it; throws `CONFIG_INVALID` naming the driver otherwise.
 */
export function assertSafeKey(driver: string, key: string): string {
  const segments = key.split('/')
  const bad = key.length === 0 || key.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..')
  if (bad) {
    throw new StewardError('CONFIG_INVALID', `snapstore:${driver}`, `unsafe object key ${JSON.stringify(key)}`, {
      hints: ['keys are /-separated, relative, and contain no empty, "." or ".." segments'],
    })
  }
  return key
}

/** Joins key parts with `/`, dropping empty parts and stray slashes. */
export function joinKey(...parts: string[]): string {
  return parts
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter((p) => p.length > 0)
    .join('/')
}
