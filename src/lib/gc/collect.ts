/**
 * Garbage collection as one operation `(deps, options, signal) → result`: list the store,
 * plan with `plan.ts`, then (unless a dry run) delete what the plan says, in
 * etcd-backup-restore's order. `steward gc` calls it once; a `serve` component can call it on
 * a schedule with the same dependencies.
 *
 * Safety: the listing is complete or the operation fails before deleting anything (the
 * snapstore seam throws on a listing that fails part-way); a stream's full snapshot is deleted
 * only when every delta of that stream planned for deletion was deleted; a stream stops after
 * {@link MAX_ERRORS_PER_STREAM} failed deletions. No timers, no process state.
 */
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import type { BackupStore } from '../snapshot/backup-store.ts'
import { planGarbageCollection, type GcDecision, type GcPolicyOptions, type GcRule } from './plan.ts'

/** Failed deletions after which the rest of a stream is left for the next run (as etcd-backup-restore). */
export const MAX_ERRORS_PER_STREAM = 5

export interface GcDeps {
  readonly store: BackupStore
  /** Clock; the plan measures ages from it. @default () => new Date() */
  readonly now?: () => Date
  /** Called after each deletion attempt (for logs, progress and metrics). */
  readonly onDelete?: (outcome: GcOutcome) => void
}

export interface GcOptions extends GcPolicyOptions {
  /** Plan only; delete nothing. */
  readonly dryRun?: boolean
}

/** One object's fate. */
export interface GcOutcome {
  readonly key: string
  readonly name: string
  readonly kind: 'Full' | 'Incr'
  readonly isChunk: boolean
  readonly lastRevision: number
  /** ISO-8601 creation time from the name. */
  readonly createdOn: string
  readonly sizeBytes: number
  /** What the plan decided. */
  readonly decision: 'keep' | 'delete'
  readonly rule: GcRule
  readonly reason: string
  /** What happened: `kept`; `deleted`; `planned` (dry run); `failed` (see error); `skipped` (left for the next run after a failure in its stream). */
  readonly result: 'kept' | 'deleted' | 'planned' | 'failed' | 'skipped'
  readonly error?: string
}

export interface GcResult {
  readonly location: string
  readonly policy: GcOptions['policy']
  readonly dryRun: boolean
  /** ISO-8601 time the plan was made at. */
  readonly now: string
  readonly newestFull: string | null
  readonly objects: readonly GcOutcome[]
  readonly counts: { readonly kept: number; readonly deleted: number; readonly planned: number; readonly failed: number; readonly skipped: number }
  /** Bytes deleted (or, in a dry run, that would be). */
  readonly freedBytes: number
}

/**
 * Lists the store, plans and (unless `dryRun`) deletes.
 * @returns every object with its decision and outcome; failed deletions are reported, not thrown
 * @throws StewardError `STORE_*` from the listing (nothing deleted), `CONFIG_INVALID` (options), `ABORTED`
 *   (stops between deletions; what was deleted stays deleted, the result is lost)
 */
export async function collectGarbage(deps: GcDeps, options: GcOptions, signal?: AbortSignal): Promise<GcResult> {
  checkAborted(signal)
  const listed = await deps.store.list()
  checkAborted(signal)
  const plan = planGarbageCollection(listed, (deps.now ?? (() => new Date()))(), options)
  const outcomes = new Map<GcDecision, GcOutcome>()
  const dryRun = options.dryRun ?? false
  for (const decision of plan.decisions) {
    if (decision.action === 'keep') outcomes.set(decision, outcome(decision, 'kept'))
    else if (dryRun) outcomes.set(decision, outcome(decision, 'planned'))
  }
  if (!dryRun) {
    const remove = async (decision: GcDecision): Promise<boolean> => {
      checkAborted(signal)
      try {
        await deps.store.snapstore.delete(decision.object.key, signal ? { signal } : {})
        outcomes.set(decision, outcome(decision, 'deleted'))
        return true
      } catch (error) {
        if (isStewardError(error, 'ABORTED')) throw error
        outcomes.set(decision, outcome(decision, 'failed', messageOf(error)))
        return false
      } finally {
        const done = outcomes.get(decision)
        if (done) deps.onDelete?.(done)
      }
    }
    const deletions = plan.decisions.filter((d) => d.action === 'delete')
    // Leftovers first (chunks, zero-byte objects), then stream by stream, oldest stream first.
    for (const decision of deletions.filter((d) => d.stream < 0)) await remove(decision)
    const streams = [...new Set(deletions.filter((d) => d.stream >= 0).map((d) => d.stream))].sort((a, b) => a - b)
    for (const stream of streams) {
      const inStream = deletions.filter((d) => d.stream === stream)
      // Deltas newest to oldest, then the full snapshot (etcd-backup-restore's order).
      const deltas = inStream.filter((d) => d.object.kind === 'Incr').reverse()
      const fulls = inStream.filter((d) => d.object.kind === 'Full')
      let errors = 0
      for (const decision of deltas) {
        if (errors >= MAX_ERRORS_PER_STREAM) {
          outcomes.set(decision, outcome(decision, 'skipped', `left for the next run after ${MAX_ERRORS_PER_STREAM} failed deletions in its backup`))
          continue
        }
        if (!(await remove(decision))) errors++
      }
      for (const decision of fulls) {
        if (errors > 0) outcomes.set(decision, outcome(decision, 'skipped', 'left for the next run: a delta of its backup could not be deleted'))
        else await remove(decision)
      }
    }
  }
  const objects = plan.decisions.map((d) => {
    const done = outcomes.get(d)
    if (!done) throw new StewardError('INTERNAL', 'gc', `no outcome for ${d.object.key}`)
    return done
  })
  const count = (result: GcOutcome['result']) => objects.filter((o) => o.result === result).length
  return {
    location: deps.store.location,
    policy: options.policy,
    dryRun,
    now: plan.now.toISOString(),
    newestFull: plan.newestFull,
    objects,
    counts: { kept: count('kept'), deleted: count('deleted'), planned: count('planned'), failed: count('failed'), skipped: count('skipped') },
    freedBytes: objects.filter((o) => o.result === 'deleted' || o.result === 'planned').reduce((sum, o) => sum + o.sizeBytes, 0),
  }
}

function outcome(decision: GcDecision, result: GcOutcome['result'], error?: string): GcOutcome {
  const o = decision.object
  return {
    key: o.key,
    name: o.name,
    kind: o.kind,
    isChunk: o.isChunk,
    lastRevision: o.lastRevision,
    createdOn: o.createdOn.toISOString(),
    sizeBytes: o.sizeBytes,
    decision: decision.action,
    rule: decision.rule,
    reason: decision.reason,
    result,
    ...(error === undefined ? {} : { error }),
  }
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StewardError('ABORTED', 'gc', 'garbage collection aborted', { cause: signal.reason })
}

/** A plain-text table of a result, one row per object, then a summary line. */
export function renderGcResult(result: GcResult): string {
  const header = ['RESULT', 'KIND', 'LAST REV', 'CREATED (UTC)', 'RULE', 'NAME', 'REASON']
  const rows = result.objects.map((o) => [
    o.result === 'planned' ? 'delete' : o.result === 'kept' ? 'keep' : o.result,
    o.isChunk ? `${o.kind}(chunk)` : o.kind,
    String(o.lastRevision),
    o.createdOn.replace('T', ' ').replace('.000Z', ''),
    o.rule,
    o.name,
    o.error ? `${o.reason}; ${o.error}` : o.reason,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()
  return [`Store: ${result.location}`, ...(rows.length > 0 ? [line(header), ...rows.map(line)] : ['(no snapshots)']), '', summarizeGc(result)].join('\n')
}

/** One line for logs: policy, counts, bytes. */
export function summarizeGc(result: GcResult): string {
  const c = result.counts
  const mib = (result.freedBytes / 1024 / 1024).toFixed(1)
  if (result.dryRun) return `gc (${result.policy}, dry run): would delete ${c.planned} of ${result.objects.length} objects (${mib} MiB), keep ${c.kept}.`
  const trouble = c.failed + c.skipped > 0 ? `, ${c.failed} failed, ${c.skipped} left for the next run` : ''
  return `gc (${result.policy}): deleted ${c.deleted} of ${result.objects.length} objects (${mib} MiB), kept ${c.kept}${trouble}.`
}
