/**
 * Schedules of `steward serve`: cron jobs (etcd-backup-restore's 5-field cron syntax, as in
 * `--schedule` and `--defragmentation-schedule`) and interval jobs. A job never overlaps
 * itself: a trigger that fires while the previous run is still going is skipped and
 * counted. Every run gets an AbortSignal that aborts when the scheduler stops. Per-job metrics:
 * `steward_job_runs_total{schedule,outcome}` and `steward_job_duration_seconds{schedule}`.
 *
 * Cron times are computed by croner (local time zone, vixie-cron OR rule when both day fields
 * are restricted, as etcd-backup-restore's cron library); timers go through the {@link Clock}
 * seam so tests advance time by hand.
 */
import { Cron } from 'croner'
import { Counter, Histogram, type Registry } from 'prom-client'
import type { Logger } from 'pino'
import { StewardError, messageOf } from '../errors.ts'
import { systemClock, type Clock } from './clock.ts'

/** When a job runs: on a cron expression, or every `everySeconds` (> 0) after the scheduler starts. */
export type JobTrigger = { readonly cron: string } | { readonly everySeconds: number }

export interface JobSpec {
  /** Unique job name, used in logs and metric labels (`full-snapshot`, `garbage-collection`). */
  readonly name: string
  readonly trigger: JobTrigger
  /** The work. `signal` aborts when the scheduler stops. A rejection is logged and counted; the schedule continues. */
  run(signal: AbortSignal): Promise<void>
}

export type RunOutcome = 'succeeded' | 'failed' | 'skipped'

/**
 * Checks a cron expression the way etcd-backup-restore's parser accepts it: exactly five
 * fields (minute hour day-of-month month day-of-week) or a `@hourly`-style descriptor.
 * @returns a croner instance that only computes times (never fires by itself)
 * @throws StewardError `CONFIG_INVALID` naming `setting`
 */
export function parseCron(expression: string, setting: string): Cron {
  const text = expression.trim()
  const fields = text.split(/\s+/)
  if (!text.startsWith('@') && fields.length !== 5) {
    throw new StewardError('CONFIG_INVALID', 'scheduler', `${setting}: ${JSON.stringify(expression)} must have 5 fields (minute hour day-of-month month day-of-week)`, {
      hints: ['e.g. "0 */1 * * *" for every hour, "0 0 */3 * *" for every third day at midnight'],
    })
  }
  try {
    return new Cron(text, { paused: true, legacyMode: true })
  } catch (error) {
    throw new StewardError('CONFIG_INVALID', 'scheduler', `${setting}: ${JSON.stringify(expression)} is not a valid cron expression: ${messageOf(error)}`)
  }
}

/** The next fire time of `cron` strictly after `afterMs` (epoch ms), or `null` when there is none. */
export function nextCronRun(cron: Cron, afterMs: number): number | null {
  return cron.nextRun(new Date(afterMs))?.getTime() ?? null
}

interface JobState {
  readonly spec: JobSpec
  readonly cron: Cron | null
  timer: unknown
  running: Promise<RunOutcome> | null
  nextAt: number | null
}

export interface SchedulerOptions {
  readonly clock?: Clock
  readonly registry?: Registry
  readonly logger?: Logger
}

export class Scheduler {
  readonly #clock: Clock
  readonly #logger: Logger | undefined
  readonly #jobs = new Map<string, JobState>()
  readonly #runs: Counter<'schedule' | 'outcome'> | undefined
  readonly #duration: Histogram<'schedule'> | undefined
  #controller = new AbortController()
  #started = false

  constructor(options: SchedulerOptions = {}) {
    this.#clock = options.clock ?? systemClock
    this.#logger = options.logger
    if (options.registry) {
      this.#runs = new Counter({ name: 'steward_job_runs_total', help: 'Scheduled job runs by outcome (succeeded, failed, skipped because the previous run was still going).', labelNames: ['schedule', 'outcome'], registers: [options.registry] })
      this.#duration = new Histogram({ name: 'steward_job_duration_seconds', help: 'Duration of scheduled job runs, seconds.', labelNames: ['schedule'], registers: [options.registry] })
    }
  }

  /**
   * Adds a job; it is armed at once when the scheduler runs.
   * @throws StewardError `CONFIG_INVALID` (bad cron, non-positive interval), `INTERNAL` (duplicate name)
   */
  add(spec: JobSpec): void {
    if (this.#jobs.has(spec.name)) throw new StewardError('INTERNAL', 'scheduler', `job ${spec.name} is already scheduled`)
    let cron: Cron | null = null
    if ('cron' in spec.trigger) cron = parseCron(spec.trigger.cron, spec.name)
    else if (!(spec.trigger.everySeconds > 0)) throw new StewardError('CONFIG_INVALID', 'scheduler', `${spec.name}: interval must be positive, got ${spec.trigger.everySeconds}s`)
    const state: JobState = { spec, cron, timer: undefined, running: null, nextAt: null }
    this.#jobs.set(spec.name, state)
    for (const outcome of ['succeeded', 'failed', 'skipped'] as const) this.#runs?.inc({ schedule: spec.name, outcome }, 0)
    if (this.#started) this.#arm(state)
  }

  /** Removes a job (an in-flight run finishes; it is not aborted). */
  remove(name: string): void {
    const state = this.#jobs.get(name)
    if (!state) return
    this.#clock.clearTimer(state.timer)
    this.#jobs.delete(name)
  }

  /** Arms every job. Idempotent. */
  start(): void {
    if (this.#started) return
    this.#started = true
    if (this.#controller.signal.aborted) this.#controller = new AbortController()
    for (const state of this.#jobs.values()) this.#arm(state)
  }

  /** Epoch ms of a job's next trigger, or `null` (not armed, unknown job, cron with no next time). */
  nextRunAt(name: string): number | null {
    return this.#jobs.get(name)?.nextAt ?? null
  }

  /** Whether a run of the job is in flight. */
  isRunning(name: string): boolean {
    return Boolean(this.#jobs.get(name)?.running)
  }

  /**
   * Runs a job now, outside its schedule, unless a run is in flight (then `skipped`). Resolves
   * when the run ends; never rejects (failures are logged and counted).
   */
  runNow(name: string): Promise<RunOutcome> {
    const state = this.#jobs.get(name)
    if (!state) return Promise.reject(new StewardError('INTERNAL', 'scheduler', `no job named ${name}`))
    return this.#fire(state)
  }

  /**
   * Disarms every job, aborts the signal given to in-flight runs and waits for them to end.
   * `graceMs` (≥ 0): how long runs may continue before the signal aborts [0].
   */
  async stop(graceMs = 0): Promise<void> {
    this.#started = false
    for (const state of this.#jobs.values()) {
      this.#clock.clearTimer(state.timer)
      state.nextAt = null
    }
    const inFlight = [...this.#jobs.values()].map((s) => s.running).filter((p): p is Promise<RunOutcome> => p !== null)
    if (inFlight.length > 0 && graceMs > 0) {
      let handle: unknown
      const grace = new Promise<void>((resolve) => (handle = this.#clock.setTimer(resolve, graceMs)))
      await Promise.race([Promise.all(inFlight), grace])
      this.#clock.clearTimer(handle)
    }
    this.#controller.abort(new StewardError('ABORTED', 'scheduler', 'the scheduler stopped'))
    await Promise.all(inFlight)
  }

  #arm(state: JobState): void {
    if (!this.#started || !this.#jobs.has(state.spec.name)) return
    const now = this.#clock.now()
    const nextAt = state.cron ? nextCronRun(state.cron, now) : now + ('everySeconds' in state.spec.trigger ? state.spec.trigger.everySeconds * 1000 : 0)
    state.nextAt = nextAt
    if (nextAt === null) return
    state.timer = this.#clock.setTimer(() => {
      // Re-arm first: the schedule keeps its rhythm whatever the run takes; an overlapping trigger is skipped.
      this.#arm(state)
      void this.#fire(state)
    }, nextAt - now)
  }

  #fire(state: JobState): Promise<RunOutcome> {
    const job = state.spec.name
    if (state.running) {
      this.#runs?.inc({ schedule: job, outcome: 'skipped' })
      this.#logger?.info({ component: 'scheduler', job }, `${job}: previous run still in progress; this trigger is skipped`)
      return Promise.resolve('skipped')
    }
    const started = this.#clock.now()
    const run = (async (): Promise<RunOutcome> => {
      try {
        await state.spec.run(this.#controller.signal)
        return 'succeeded'
      } catch (error) {
        this.#logger?.error({ component: 'scheduler', job, err: error }, `${job} failed: ${messageOf(error)}`)
        return 'failed'
      }
    })()
    state.running = run.then((outcome) => {
      state.running = null
      this.#runs?.inc({ schedule: job, outcome })
      this.#duration?.observe({ schedule: job }, (this.#clock.now() - started) / 1000)
      return outcome
    })
    return state.running
  }
}
