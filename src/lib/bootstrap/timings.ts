/**
 * Retries, backoffs and timeouts of multi-member bootstrap (docs/serve.md "Multi-member
 * bootstrap", docs/commands.md "bootstrap"), shared by `steward serve`'s initializer and
 * `steward bootstrap`. The defaults are etcd-backup-restore's numbers; the flags of
 * {@link MEMBERSHIP_TIMING_FLAGS} override them.
 */
import { parseDuration } from '../config/duration.ts'
import { StewardError } from '../errors.ts'

/** Timings (milliseconds) and attempt counts. */
export interface MembershipTimings {
  /** `--member-list-attempts`: tries of Get + MemberList through the service endpoints. */
  readonly probeAttempts: number
  /** `--member-list-backoff`: wait after the first failed try, doubled after each further one. */
  readonly probeBackoffMs: number
  /** `--member-call-timeout`: each MemberList / MemberAdd / MemberRemove / MemberPromote call. */
  readonly callTimeoutMs: number
  /** `--learner-add-attempts`: MemberAdd(learner) attempts (scale-up and rejoin). */
  readonly addAttempts: number
  /** `--learner-add-backoff`: wait after the first failed attempt, doubled after each further one (+ up to 10 % jitter). */
  readonly addBackoffMs: number
  /** `--learner-add-max-backoff`: cap of that wait. */
  readonly addBackoffCapMs: number
  /** `--too-many-learners-wait`: extra wait when etcd answers "too many learner members". */
  readonly tooManyLearnersWaitMs: number
}

export const DEFAULT_MEMBERSHIP_TIMINGS: MembershipTimings = {
  probeAttempts: 4,
  probeBackoffMs: 2000,
  callTimeoutMs: 5000,
  addAttempts: 6,
  addBackoffMs: 2000,
  addBackoffCapMs: 120_000,
  tooManyLearnersWaitMs: 5000,
}

/** The flag names, in the form the commands declare and parse them. */
export interface MembershipTimingFlags {
  'member-list-attempts'?: number | undefined
  'member-list-backoff'?: string | undefined
  'member-call-timeout'?: string | undefined
  'learner-add-attempts'?: number | undefined
  'learner-add-backoff'?: string | undefined
  'learner-add-max-backoff'?: string | undefined
  'too-many-learners-wait'?: string | undefined
}

function attempts(value: number | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback
  if (Number.isInteger(value) && value >= 1) return value
  throw new StewardError('CONFIG_INVALID', 'config', `${flag}: must be a whole number of at least 1, got ${value}`)
}

function millis(value: string | undefined, flag: string, fallbackMs: number, allowZero = false): number {
  if (value === undefined) return fallbackMs
  const seconds = parseDuration(value, flag)
  if (seconds > 0 || (allowZero && seconds === 0)) return Math.round(seconds * 1000)
  throw new StewardError('CONFIG_INVALID', 'config', `${flag}: must be ${allowZero ? 'zero or more' : 'longer than 0s'}, got ${JSON.stringify(value)}`, {
    hints: ['use a Go duration such as 500ms, 2s, 2m'],
  })
}

/**
 * Resolves the membership flags (defaults: {@link DEFAULT_MEMBERSHIP_TIMINGS}).
 * @throws StewardError `CONFIG_INVALID` naming the flag: attempts below 1, a duration that does not
 *   parse or is not positive (`--too-many-learners-wait` may be 0), a max backoff below the backoff
 */
export function resolveMembershipTimings(flags: MembershipTimingFlags): MembershipTimings {
  const d = DEFAULT_MEMBERSHIP_TIMINGS
  const timings: MembershipTimings = {
    probeAttempts: attempts(flags['member-list-attempts'], '--member-list-attempts', d.probeAttempts),
    probeBackoffMs: millis(flags['member-list-backoff'], '--member-list-backoff', d.probeBackoffMs),
    callTimeoutMs: millis(flags['member-call-timeout'], '--member-call-timeout', d.callTimeoutMs),
    addAttempts: attempts(flags['learner-add-attempts'], '--learner-add-attempts', d.addAttempts),
    addBackoffMs: millis(flags['learner-add-backoff'], '--learner-add-backoff', d.addBackoffMs),
    addBackoffCapMs: millis(flags['learner-add-max-backoff'], '--learner-add-max-backoff', d.addBackoffCapMs),
    tooManyLearnersWaitMs: millis(flags['too-many-learners-wait'], '--too-many-learners-wait', d.tooManyLearnersWaitMs, true),
  }
  if (timings.addBackoffCapMs < timings.addBackoffMs) {
    throw new StewardError('CONFIG_INVALID', 'config', `--learner-add-max-backoff: ${timings.addBackoffCapMs / 1000}s is shorter than --learner-add-backoff (${timings.addBackoffMs / 1000}s)`)
  }
  return timings
}
