/**
 * Go/pflag flag forms that oclif does not read by itself. etcd-backup-restore and etcd-defrag
 * parse flags with spf13/pflag, where a boolean flag also takes `--flag=true` / `--flag=false`
 * (any value Go's `strconv.ParseBool` accepts); etcd-druid writes exactly that form
 * (`--compress-snapshots=true`). oclif's boolean flags take no value, so the argument list is
 * rewritten before oclif parses it: `--flag=<true>` → `--flag`, `--flag=<false>` → `--no-flag`
 * (or nothing, where the flag has no `--no-` form and so defaults to false).
 * See docs/compatibility.md ("Flag forms").
 */
import { StewardError } from '../errors.ts'

const GO_TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True'])
const GO_FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False'])

/** The part of an oclif flag definition this rewrite needs. */
export interface FlagShape {
  type: string
  allowNo?: boolean
}

/**
 * Rewrites `--name=value` for boolean flags into oclif's forms; every other argument is kept as
 * it is, and nothing after a bare `--` is touched.
 * @param argv the command's arguments (without the command id)
 * @param flags the command's flag definitions by long name
 * @returns a new argument list
 * @throws StewardError `CONFIG_INVALID` naming the flag when the value is not a Go boolean
 */
export function normalizeGoFlagForms(argv: readonly string[], flags: Readonly<Record<string, FlagShape>>): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') {
      out.push(...argv.slice(i))
      break
    }
    const match = /^--([^=]+)=(.*)$/s.exec(arg)
    const flag = match ? flags[match[1]!] : undefined
    if (!match || !flag || flag.type !== 'boolean') {
      out.push(arg)
      continue
    }
    const [, name, value] = match as unknown as [string, string, string]
    if (GO_TRUE.has(value)) out.push(`--${name}`)
    else if (GO_FALSE.has(value)) {
      if (flag.allowNo) out.push(`--no-${name}`)
    } else {
      throw new StewardError('CONFIG_INVALID', 'cli', `--${name}=${value}: not a boolean`, {
        hints: [`use --${name}, --${name}=true or --${name}=false (also 1/0, t/f)`],
        details: { flag: name, value },
      })
    }
  }
  return out
}
