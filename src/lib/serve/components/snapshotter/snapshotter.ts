/**
 * The leader's snapshot work (docs/serve.md "Snapshotter"). While this member leads (one
 * "term"): the startup decision (full snapshot, or a delta continuing the chain), then the
 * delta loop of `src/lib/delta` (a delta every `--delta-snapshot-period` with events and at
 * `--delta-snapshot-memory-limit`), interrupted for full snapshots (`--schedule`,
 * `/snapshot/full`) and `/snapshot/delta`. Those operations run one at a time: each stops the
 * loop (which stores its pending events), does its work, and restarts the loop, so the chain
 * has no gap. Losing leadership aborts the term: an in-flight full snapshot is abandoned (the
 * store's atomic put lists nothing), pending delta events are stored.
 */
import { StewardError, isStewardError, messageOf } from '../../../errors.ts'
import type { DeltaRecorder } from '../../../delta/recorder.ts'
import { runDeltaSnapshots, takeDeltaSnapshot, type SnapshotEvent, type StoredDelta } from '../../../delta/snapshotter.ts'
import { takeFullSnapshot, type FullSnapshotResult } from '../../../snapshot/full.ts'
import { backoffSeconds, sleep } from '../../clock.ts'
import { reportFailure, type ServeContext } from '../../component.ts'
import { parseCron } from '../../scheduler.ts'
import { fullSnapshotRequired } from './startup.ts'

const NAME = 'snapshotter'

interface Loop {
  readonly controller: AbortController
  /** The loop's current recorder (cuts `/snapshot/delta` without stopping the watch). */
  recorder: DeltaRecorder | null
  /** Resolves with the deltas stored when the loop was stopped (its pending events). */
  readonly done: Promise<StoredDelta[]>
}

interface Term {
  readonly controller: AbortController
  queue: Promise<unknown>
  loop: Loop | null
  /** The snapshot being taken (full or initial delta), which a graceful stop lets finish. */
  inFlight: Promise<unknown> | null
}

export class Snapshotter {
  readonly #ctx: ServeContext
  #term: Term | null = null
  #lastFullFailed = false
  readonly #storedListeners = new Set<(kind: 'full' | 'delta') => void>()

  constructor(ctx: ServeContext) {
    this.#ctx = ctx
  }

  /** Whether this steward currently takes snapshots (leads, with a store). */
  get active(): boolean {
    return this.#term !== null
  }

  get #deltasEnabled(): boolean {
    return this.#ctx.options.deltaSnapshotPeriodSeconds >= 1
  }

  /** Calls `listener` after each stored full snapshot or delta (the snapshot leases follow them); returns an unsubscribe function. */
  onStored(listener: (kind: 'full' | 'delta') => void): () => void {
    this.#storedListeners.add(listener)
    return () => this.#storedListeners.delete(listener)
  }

  #notifyStored(kind: 'full' | 'delta'): void {
    for (const listener of this.#storedListeners) {
      try {
        listener(kind)
      } catch (error) {
        this.#fail(error, `a snapshot listener failed: ${messageOf(error)}`)
      }
    }
  }

  /** Starts a term (this member became leader). No-op when one runs. */
  begin(): void {
    if (this.#term || !this.#ctx.store || !this.#ctx.etcdClient) return
    const term: Term = { controller: new AbortController(), queue: Promise.resolve(), loop: null, inFlight: null }
    this.#term = term
    this.#ctx.logger.info({ component: NAME }, 'this member leads: snapshotting starts')
    void this.#exclusive(term, () => this.#startup(term)).catch(() => undefined)
  }

  /**
   * Ends the current term: waits up to `graceMs` for an in-flight operation, then aborts it,
   * stops the delta loop (its pending events are stored) and waits for everything to settle.
   */
  async end(reason: string, graceMs = 0): Promise<void> {
    const term = this.#term
    if (!term) return
    this.#term = null
    this.#ctx.logger.info({ component: NAME, reason }, `snapshotting stops: ${reason}`)
    if (graceMs > 0 && term.inFlight) {
      const grace = new AbortController()
      await Promise.race([term.inFlight.catch(() => undefined), sleep(this.#ctx.clock, graceMs, grace.signal).catch(() => undefined)])
      grace.abort()
    }
    term.controller.abort(new StewardError('ABORTED', NAME, reason))
    await term.queue
    await term.loop?.done
  }

  /**
   * Takes a full snapshot now (out of schedule).
   * @throws StewardError `INTERNAL` "not active" when this steward does not snapshot, errors of {@link takeFullSnapshot}
   */
  full(final: boolean, signal?: AbortSignal): Promise<FullSnapshotResult> {
    const term = this.#requireTerm()
    return this.#exclusive(term, () => this.#takeFull(term, final, final ? 'requested final full snapshot' : 'requested full snapshot', signal))
  }

  /**
   * Stores the pending delta events now.
   * @returns the stored delta, or `null` when there were no events
   * @throws StewardError when deltas are disabled or this steward does not snapshot
   */
  delta(): Promise<StoredDelta | null> {
    const term = this.#requireTerm()
    if (!this.#deltasEnabled) return Promise.reject(new StewardError('CONFIG_INVALID', NAME, 'delta snapshots are disabled (--delta-snapshot-period below 1s)'))
    // In order with other operations; the running loop's recorder cuts its pending events
    // without restarting the watch. Without a running loop (it is restarting after a failure),
    // stopping and restarting it stores and catches up the pending events instead.
    const run = term.queue.then(async () => {
      const recorder = term.loop?.recorder
      if (recorder) {
        // Everything committed before the request goes into this delta (the watch lags by milliseconds).
        const { revision } = await this.#ctx.etcdClient!.currentRevision()
        await recorder.waitFor(revision, 10_000)
        return recorder.cut('request')
      }
      return this.#exclusiveNow(term, async (stored) => stored.at(-1) ?? null)
    })
    term.queue = run.catch(() => undefined)
    return run
  }

  #requireTerm(): Term {
    if (!this.#term) throw new StewardError('INTERNAL', NAME, 'the snapshotter is not active (not the leader, or no store)')
    return this.#term
  }

  /** Queues `fn` to run with the delta loop stopped (`fn` gets the deltas the stop stored), then restarts the loop. */
  #exclusive<T>(term: Term, fn: (stored: StoredDelta[]) => Promise<T>): Promise<T> {
    const run = term.queue.then(() => this.#exclusiveNow(term, fn))
    term.queue = run.catch(() => undefined)
    return run
  }

  async #exclusiveNow<T>(term: Term, fn: (stored: StoredDelta[]) => Promise<T>): Promise<T> {
    if (term.controller.signal.aborted) throw new StewardError('ABORTED', NAME, 'snapshotting stopped')
    const stored = await this.#stopLoop(term)
    try {
      return await fn(stored)
    } finally {
      if (!term.controller.signal.aborted) this.#startLoop(term)
    }
  }

  async #stopLoop(term: Term): Promise<StoredDelta[]> {
    const loop = term.loop
    if (!loop) return []
    term.loop = null
    loop.controller.abort()
    return loop.done
  }

  #startLoop(term: Term): void {
    if (!this.#deltasEnabled || term.loop) return
    const controller = new AbortController()
    const signal = AbortSignal.any([controller.signal, term.controller.signal])
    const loop: { controller: AbortController; recorder: DeltaRecorder | null; done: Promise<StoredDelta[]> } = { controller, recorder: null, done: Promise.resolve([]) }
    loop.done = this.#runLoop(signal, loop)
    term.loop = loop
  }

  async #runLoop(signal: AbortSignal, loop: { recorder: DeltaRecorder | null }): Promise<StoredDelta[]> {
    const { options, store, etcdClient, clock } = this.#ctx
    const stopped: StoredDelta[] = []
    let failures = 0
    while (!signal.aborted) {
      try {
        await runDeltaSnapshots(etcdClient!, store!, {
          compression: options.compression,
          memoryLimitBytes: options.deltaSnapshotMemoryLimitBytes,
          periodSeconds: options.deltaSnapshotPeriodSeconds,
          signal,
          onRecorder: (recorder) => (loop.recorder = recorder),
          onEvent: (event) => {
            this.#record(event)
            if (event.type === 'delta' && event.trigger === 'shutdown') stopped.push(event.snapshot)
          },
        })
        failures = 0
      } catch (error) {
        loop.recorder = null
        if (signal.aborted) break
        failures += 1
        const wait = backoffSeconds(failures, options.backoff.multiplier, options.backoff.thresholdSeconds)
        // Gardener's KubeEtcdDeltaBackupFailed multiplies the delta's age by this gauge.
        this.#ctx.metrics.snapshotRequired.set({ kind: 'Incr' }, 1)
        this.#fail(error, `delta snapshots failed (${failures} in a row): ${messageOf(error)}; restarting in ${wait}s`)
        await sleep(clock, wait * 1000, signal).catch(() => undefined)
      }
    }
    return stopped
  }

  /** The startup decision, retried with backoff until it succeeds or the term ends. */
  async #startup(term: Term): Promise<void> {
    const { options, store, etcdClient, clock } = this.#ctx
    const cron = parseCron(options.fullSnapshotSchedule, '--schedule')
    for (let failures = 0; !term.controller.signal.aborted; ) {
      try {
        const set = await store!.latestSet().catch((error: unknown) => {
          // A Local store directory appears with the first snapshot: no directory = no snapshot yet.
          if (isStewardError(error, 'STORE_NOT_FOUND')) return { full: null, deltas: [] }
          throw error
        })
        const reason = fullSnapshotRequired(set.full ? { createdOn: set.full.createdOn, isFinal: set.full.isFinal } : null, options.fullSnapshotSchedule, cron, clock.now(), this.#lastFullFailed)
        if (reason || !this.#deltasEnabled) {
          if (reason) {
            this.#ctx.metrics.snapshotRequired.set({ kind: 'Full' }, 1)
            await this.#takeFull(term, false, `startup: ${reason}`)
          }
          return
        }
        const started = clock.now()
        const result = await this.#inFlight(
          term,
          takeDeltaSnapshot(etcdClient!, store!, {
            compression: options.compression,
            memoryLimitBytes: options.deltaSnapshotMemoryLimitBytes,
            signal: term.controller.signal,
            fallBackToFull: true,
          }),
        )
        for (const snapshot of result.deltas) this.#record({ type: 'delta', snapshot, trigger: 'period' })
        if (result.full) this.#recordFull(result.full, (clock.now() - started) / 1000)
        this.#ctx.logger.info({ component: NAME, outcome: result.outcome }, `startup: initial delta ${result.outcome}${result.reason ? ` (${result.reason})` : ''}`)
        return
      } catch (error) {
        if (term.controller.signal.aborted) return
        failures += 1
        const wait = backoffSeconds(failures, options.backoff.multiplier, options.backoff.thresholdSeconds)
        this.#fail(error, `snapshotter startup failed (${failures} in a row): ${messageOf(error)}; retrying in ${wait}s`)
        await sleep(clock, wait * 1000, term.controller.signal).catch(() => undefined)
      }
    }
  }

  async #takeFull(term: Term, final: boolean, reason: string, signal?: AbortSignal): Promise<FullSnapshotResult> {
    const { options, store, etcdClient, metrics } = this.#ctx
    const started = performance.now()
    try {
      const result = await this.#inFlight(
        term,
        takeFullSnapshot(etcdClient!, store!, {
          compression: options.compression,
          final,
          signal: signal ? AbortSignal.any([signal, term.controller.signal]) : term.controller.signal,
        }),
      )
      this.#lastFullFailed = false
      this.#recordFull(result, (performance.now() - started) / 1000)
      this.#ctx.logger.info({ component: NAME, key: result.key, revision: result.revision, reason }, `stored full snapshot ${result.key} (${reason})`)
      return result
    } catch (error) {
      metrics.snapshotDuration.observe({ kind: 'Full', succeeded: 'false' }, (performance.now() - started) / 1000)
      if (!isStewardError(error, 'ABORTED')) {
        this.#lastFullFailed = true
        metrics.snapshotRequired.set({ kind: 'Full' }, 1)
        this.#fail(error, `full snapshot failed (${reason}): ${messageOf(error)}`)
      }
      throw error
    }
  }

  async #inFlight<T>(term: Term, operation: Promise<T>): Promise<T> {
    term.inFlight = operation
    try {
      return await operation
    } finally {
      term.inFlight = null
    }
  }

  #recordFull(result: FullSnapshotResult, seconds: number): void {
    const { metrics } = this.#ctx
    metrics.snapshotDuration.observe({ kind: 'Full', succeeded: 'true' }, seconds)
    metrics.snapshotLatestRevision.set({ kind: 'Full' }, result.revision)
    metrics.snapshotLatestTimestamp.set({ kind: 'Full' }, Math.floor(Date.now() / 1000))
    metrics.snapshotRequired.set({ kind: 'Full' }, 0)
    metrics.snapshotRequired.set({ kind: 'Incr' }, 0)
    metrics.latestDeltasTotal.set(0)
    metrics.latestDeltasRevisionsTotal.set(0)
    this.#notifyStored('full')
  }

  #record(event: SnapshotEvent): void {
    const { metrics, logger } = this.#ctx
    if (event.type === 'full') {
      this.#recordFull(event.snapshot, event.snapshot.durationSeconds)
      logger.info({ component: NAME, key: event.snapshot.key }, `stored full snapshot ${event.snapshot.key} (${event.reason})`)
    } else if (event.type === 'delta') {
      metrics.snapshotLatestRevision.set({ kind: 'Incr' }, event.snapshot.lastRevision)
      metrics.snapshotLatestTimestamp.set({ kind: 'Incr' }, Math.floor(Date.now() / 1000))
      metrics.snapshotRequired.set({ kind: 'Incr' }, 0)
      metrics.latestDeltasTotal.inc()
      metrics.latestDeltasRevisionsTotal.inc(event.snapshot.lastRevision - event.snapshot.startRevision + 1)
      logger.info({ component: NAME, key: event.snapshot.key, trigger: event.trigger }, `stored delta ${event.snapshot.key} (${event.trigger})`)
      this.#notifyStored('delta')
    } else if (event.type === 'reconnect') {
      logger.warn({ component: NAME, endpoint: event.endpoint, fromRevision: event.fromRevision }, `watch broke (${event.error.reason}); resuming from revision ${event.fromRevision}`)
    } else if (event.type === 'catch-up-failed') {
      metrics.snapshotRequired.set({ kind: 'Incr' }, 1)
      this.#fail(event.error, `could not store the last events: ${event.error.reason}`)
    }
  }

  #fail(error: unknown, message: string): void {
    this.#ctx.metrics.snapshotterFailure.inc({ error: messageOf(error) })
    reportFailure(this.#ctx, NAME, error, message)
  }
}
