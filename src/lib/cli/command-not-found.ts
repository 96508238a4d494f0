/**
 * oclif `command_not_found` hook: an unknown command gets the nearest known one as a
 * suggestion ("Did you mean restore?") and the list of commands, as CONFIG_INVALID (exit 2; a
 * JSON error on stdout under `--json`). Registered in package.json (`oclif.hooks`).
 */
import type { Hook } from '@oclif/core'
import { StewardError, exitCodeFor } from '../errors.ts'

/** Edit distance (insertions, deletions, substitutions; a swap of neighbours counts 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1)
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

/**
 * The known command nearest to `typed` (both with spaces between words), or undefined when none
 * is close: at most a third of the longer name's length (and at least 2) edits away, or one
 * that starts with what was typed.
 */
export function suggestCommand(typed: string, known: readonly string[]): string | undefined {
  let best: { id: string; distance: number } | undefined
  for (const id of known) {
    const distance = id.startsWith(typed) ? 0 : editDistance(typed, id)
    if (!best || distance < best.distance) best = { id, distance }
  }
  if (!best) return undefined
  return best.distance <= Math.max(2, Math.floor(Math.max(typed.length, best.id.length) / 3)) ? best.id : undefined
}

/** The error for an unknown command. */
export function commandNotFound(typed: string, known: readonly string[], bin: string): StewardError {
  const suggestion = suggestCommand(typed, known)
  return new StewardError('CONFIG_INVALID', 'cli', `unknown command "${typed}"${suggestion ? `; did you mean "${bin} ${suggestion}"?` : ''}`, {
    hints: [`commands: ${[...known].sort().join(', ')}`, `see ${bin} --help`],
    details: { command: typed, ...(suggestion ? { suggestion } : {}) },
  })
}

const hook: Hook<'command_not_found'> = async function (options) {
  const separator = options.config.topicSeparator
  const typed = options.id.split(':').join(separator)
  const known = options.config.commandIDs.map((id) => id.split(':').join(separator))
  const failure = commandNotFound(typed, known, options.config.bin)
  if (options.argv?.includes('--json')) process.stdout.write(`${JSON.stringify({ error: failure.toJSON() }, null, 2)}\n`)
  else process.stderr.write(`Error: ${failure.reason}${failure.hints.map((h) => `\n  hint: ${h}`).join('')}\n`)
  process.exitCode = exitCodeFor(failure)
}

export default hook
