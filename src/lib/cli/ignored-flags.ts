/**
 * etcd-backup-restore flags that steward accepts and ignores. Existing CronJobs, Jobs and sidecar
 * argument lists pass `etcdbrctl` flags that have no meaning for the steward command they now
 * run (`--schedule` on a one-shot `snapshot`, `--max-fetchers` on `restore`, …). Rejecting them
 * would break those lists, silently accepting them would hide a difference, so each is declared
 * here with the reason it has no effect, listed under one help group, and warned about once per
 * process when given. See docs/compatibility.md ("Accepted and ignored flags").
 *
 * Usage: spread `ignoredFlags({...})` into a command's `flags`; {@link StewardCommand}'s `parse`
 * calls {@link givenIgnoredFlags} and reports each warning through its `warnIgnoredFlag` (a
 * `Warning:` line on stderr, a `warn` log line under `--json` and always under `steward serve`).
 */
import { Flags, type Interfaces } from '@oclif/core'
import { parseDuration } from '../config/duration.ts'

/** Help group of every accepted-and-ignored flag. */
export const IGNORED_HELP_GROUP = 'ETCDBRCTL COMPATIBILITY (ACCEPTED, IGNORED)'

/** One accepted-and-ignored flag. */
export interface IgnoredFlagSpec {
  /**
   * The value it takes, checked as etcd-backup-restore would (so a typo still fails):
   * `boolean` none (also `--x=true|false`), `duration` a Go duration (`1m0s`), `integer`, `string`.
   */
  type: 'boolean' | 'duration' | 'integer' | 'string'
  /** Why it has no effect here, shown in `--help` and in the warning ("steward streams deltas"). */
  reason: string
  /** Left out of `--help` (still accepted and warned about): for flags that are pure noise on a command, e.g. upload flags on a read-only one. */
  hidden?: boolean
  /** A pflag slice flag (`type: 'string'` only): may be repeated, as pflag allows. */
  multiple?: boolean
  /** Environment variable that may give it too (etcd-defrag's `ETCD_DEFRAG_*`); given that way it is warned about as well. */
  env?: string
  /** The tool whose argument lists pass it, named in the warning. [default: `etcdbrctl`] */
  compatibleWith?: 'etcdbrctl' | 'etcd-defrag'
  /** pflag shorthand (`-s` for `--schedule`). */
  char?: 'a' | 'b' | 'c' | 'f' | 'g' | 'h' | 'i' | 'j' | 'k' | 'l' | 'm' | 'n' | 'o' | 'p' | 'q' | 'r' | 's' | 't' | 'u' | 'v' | 'w' | 'x' | 'y' | 'z'
}

const reasons = new WeakMap<object, { reason: string; tool: string }>()

/** The oclif flag type an {@link IgnoredFlagSpec} becomes. */
type IgnoredFlag<S extends IgnoredFlagSpec> = S['type'] extends 'boolean'
  ? Interfaces.BooleanFlag<boolean | undefined>
  : S['type'] extends 'integer'
    ? Interfaces.OptionFlag<number | undefined>
    : S['multiple'] extends true
      ? Interfaces.OptionFlag<string[] | undefined>
      : Interfaces.OptionFlag<string | undefined>

/**
 * Declares accepted-and-ignored flags.
 * @param specs flag long name → what it takes and why it is ignored
 * @returns oclif flag definitions to spread into a command's `flags`
 */
export function ignoredFlags<const T extends Record<string, IgnoredFlagSpec>>(specs: T): { [K in keyof T]: IgnoredFlag<T[K]> } {
  const out: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(specs)) out[name] = ignoredFlag(name, spec)
  return out as { [K in keyof T]: IgnoredFlag<T[K]> }
}

function ignoredFlag(name: string, spec: IgnoredFlagSpec): object {
  const common = {
    summary: `Ignored: ${spec.reason}`,
    helpGroup: IGNORED_HELP_GROUP,
    ...(spec.char ? { char: spec.char } : {}),
    ...(spec.env ? { env: spec.env } : {}),
    ...(spec.hidden ? { hidden: true } : {}),
  }
  let flag
  switch (spec.type) {
    case 'boolean':
      flag = Flags.boolean({ ...common, allowNo: true })
      break
    case 'integer':
      flag = Flags.integer(common)
      break
    case 'duration':
      flag = Flags.string({
        ...common,
        parse: async (input: string) => {
          parseDuration(input, `--${name}`)
          return input
        },
      })
      break
    default:
      flag = spec.multiple ? Flags.string({ ...common, multiple: true }) : Flags.string(common)
  }
  reasons.set(flag, { reason: spec.reason, tool: spec.compatibleWith ?? 'etcdbrctl' })
  return flag
}

/** An ignored flag that was given, with the reason it has no effect. */
export interface GivenIgnoredFlag {
  flag: string
  reason: string
  /** The tool whose argument lists pass it (`etcdbrctl`, `etcd-defrag`). */
  tool: string
}

/**
 * The accepted-and-ignored flags among the parsed ones.
 * @param parsed flag values as oclif parsed them (undefined when not given)
 * @param definitions the command's flag definitions by long name
 */
export function givenIgnoredFlags(parsed: Readonly<Record<string, unknown>>, definitions: Readonly<Record<string, unknown>>): GivenIgnoredFlag[] {
  const given: GivenIgnoredFlag[] = []
  for (const [flag, definition] of Object.entries(definitions)) {
    const declared = typeof definition === 'object' && definition !== null ? reasons.get(definition) : undefined
    if (declared !== undefined && parsed[flag] !== undefined) given.push({ flag, ...declared })
  }
  return given
}

const warned = new Set<string>()

/**
 * The warning for each given ignored flag, once per flag and process.
 * @returns lines such as `--schedule is accepted for etcdbrctl compatibility and ignored: …`
 */
export function ignoredFlagWarnings(given: readonly GivenIgnoredFlag[]): string[] {
  const lines: string[] = []
  for (const { flag, reason, tool } of given) {
    if (warned.has(flag)) continue
    warned.add(flag)
    lines.push(`--${flag} is accepted for ${tool} compatibility and ignored: ${reason}`)
  }
  return lines
}
