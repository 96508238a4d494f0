/**
 * One garbage-collection cycle of `steward serve` over one store, leader only: the library
 * operation `collectGarbage` (src/lib/gc/collect.ts, docs/gc.md) with the serve flags' policy,
 * the runtime's clock and metrics. Used by the garbage-collector component (primary store) and
 * the secondary-store sync (docs/serve.md "Garbage collector", "Secondary store").
 *
 * - Runs only while this member leads; losing leadership aborts a run in flight (between two
 *   deletions: what was deleted stays deleted, nothing half-done is left).
 * - Every deletion counts in `etcdbr_snapshot_gc_total{kind=Full|Incr|Chunk,succeeded}`.
 * - A failure (listing, options, failed deletions) is one log line with the component name,
 *   `etcdbr_snapshotter_failure{error}` and `steward_component_failures_total{component}`; it
 *   is rethrown so the scheduler counts the run as failed. It never stops the schedule.
 * - A Local store whose directory does not exist yet (no snapshot taken) has nothing to collect.
 */
import { StewardError, isStewardError, messageOf } from '../../../errors.ts'
import { collectGarbage, summarizeGc, type GcResult } from '../../../gc/collect.ts'
import type { BackupStore } from '../../../snapshot/backup-store.ts'
import { reportFailure, type ServeContext } from '../../component.ts'
import type { ServeGcOptions } from '../../options.ts'

export interface LeaderGcOptions {
  /** Component name in logs and `steward_component_failures_total`. */
  readonly component: string
  readonly settings: ServeGcOptions
}

/** The outcome of the last cycle, for `health()`. */
export interface GcCycleState {
  readonly at: number
  readonly ok: boolean
  readonly detail: string
}

export class LeaderGarbageCollector {
  readonly #ctx: ServeContext
  readonly #options: LeaderGcOptions
  #term: AbortController | null = null
  #last: GcCycleState | null = null
  readonly #unsubscribe: () => void

  constructor(ctx: ServeContext, options: LeaderGcOptions) {
    this.#ctx = ctx
    this.#options = options
    this.#unsubscribe = ctx.leadership.on((event) => {
      if (event.type === 'became-leader') this.#term = new AbortController()
      else if (event.type === 'lost-leader') this.#endTerm(`leadership lost: ${event.reason}`)
    })
  }

  get last(): GcCycleState | null {
    return this.#last
  }

  /**
   * Collects `store` once if this member leads.
   * @param signal aborts the run (scheduler stop); leadership loss aborts it too
   * @returns the result, or `null` when skipped (not the leader, aborted, nothing stored yet)
   * @throws StewardError from the listing or the options, `GC_INCOMPLETE` when deletions failed
   */
  async collect(store: BackupStore, signal: AbortSignal): Promise<GcResult | null> {
    const { logger, metrics, clock } = this.#ctx
    const { component, settings } = this.#options
    const term = this.#term
    if (!term || term.signal.aborted || !this.#ctx.leadership.isLeader) return null
    const runSignal = AbortSignal.any([signal, term.signal])
    let result: GcResult
    try {
      result = await collectGarbage(
        {
          store,
          now: () => new Date(clock.now()),
          onDelete: (o) => metrics.snapshotGcTotal.inc({ kind: o.isChunk ? 'Chunk' : o.kind, succeeded: o.result === 'deleted' ? 'true' : 'false' }),
        },
        { policy: settings.policy, maxBackups: settings.maxBackups, deltaRetentionSeconds: settings.deltaRetentionSeconds },
        runSignal,
      )
    } catch (error) {
      if (runSignal.aborted || isStewardError(error, 'ABORTED')) {
        logger.info({ component, store: store.location }, `garbage collection of ${store.location} aborted: ${messageOf(runSignal.reason ?? error)}`)
        return null
      }
      if (isStewardError(error, 'STORE_NOT_FOUND') && store.snapstore.capabilities.localFiles) {
        logger.debug({ component, store: store.location }, `nothing to collect in ${store.location} yet`)
        return null
      }
      this.#fail(error, `garbage collection of ${store.location} failed: ${messageOf(error)}`)
      throw error
    }
    const summary = summarizeGc(result)
    if (result.counts.failed > 0) {
      const failed = result.objects.filter((o) => o.result === 'failed')
      const error = new StewardError('GC_INCOMPLETE', component, `${store.location}: ${failed.length} deletion(s) failed (${failed.slice(0, 3).map((o) => `${o.name}: ${o.error}`).join('; ')}); retried next run`)
      this.#fail(error, `${summary} ${error.reason}`)
      throw error
    }
    this.#last = { at: clock.now(), ok: true, detail: summary }
    if (result.counts.deleted > 0) logger.info({ component, store: store.location, deleted: result.counts.deleted, kept: result.counts.kept, freedBytes: result.freedBytes }, summary)
    else logger.debug({ component, store: store.location }, summary)
    return result
  }

  /** Aborts a run in flight and unsubscribes. */
  dispose(): void {
    this.#unsubscribe()
    this.#endTerm('steward is stopping')
  }

  #endTerm(reason: string): void {
    this.#term?.abort(new StewardError('ABORTED', this.#options.component, reason))
    this.#term = null
  }

  #fail(error: unknown, message: string): void {
    this.#last = { at: this.#ctx.clock.now(), ok: false, detail: message }
    this.#ctx.metrics.snapshotterFailure.inc({ error: messageOf(error) })
    reportFailure(this.#ctx, this.#options.component, error, message)
  }
}
