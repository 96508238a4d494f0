/**
 * Delta ("Incr") snapshots: etcd's watch events since the previous snapshot, stored as
 * etcd-backup-restore stores them (research notes `etcd-backup-restore.md` §2.1, §3.2, §9.3):
 *
 *   <prefix>/v2/Incr-<previous last revision + 1, %08d>-<last event's mod_revision, %08d>-<unix><suffix>
 *
 * holding the JSON event array + its SHA-256, compressed as a whole.
 *
 * Memory: events are compressed as they arrive and only the compressed bytes of the delta
 * being built are held; a delta is cut once its JSON text reaches the memory limit, always
 * between two revisions (so one revision's events, e.g. a txn, never straddle two deltas). Uploads are atomic (`Snapstore.put`).
 */
import type { CompressionPolicy } from '../compression/index.ts'
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import type { EtcdClient } from '../etcd/client.ts'
import type { BackupStore } from '../snapshot/backup-store.ts'
import { takeFullSnapshot, type FullSnapshotResult } from '../snapshot/full.ts'
import { DEFAULT_DELTA_MEMORY_LIMIT_BYTES, DEFAULT_DELTA_PERIOD_SECONDS } from './defaults.ts'
import { DeltaRecorder, PendingDelta, byRevision, type CutTrigger, type StoredDelta } from './recorder.ts'
import { RevisionWatch, WatchCompactedError } from './watcher.ts'

export type { StoredDelta } from './recorder.ts'

export { DEFAULT_DELTA_MEMORY_LIMIT_BYTES, DEFAULT_DELTA_PERIOD_SECONDS } from './defaults.ts'

export interface DeltaSnapshotOptions {
  readonly compression: CompressionPolicy
  /** Cut a delta once its JSON text reaches this many bytes; values < 1 mean the default. @default 10485760 */
  readonly memoryLimitBytes?: number
  readonly signal?: AbortSignal
  /** Clock for object names, for tests. @default () => new Date() */
  readonly now?: () => Date
}

/** Options of {@link takeDeltaSnapshot} only. */
export interface OneShotDeltaOptions extends DeltaSnapshotOptions {
  /** Take a full snapshot when the chain cannot continue (no snapshot yet, compacted start). When false, such a case stores nothing and reports `empty` with the reason. @default true */
  readonly fallBackToFull?: boolean
}

/** What `steward snapshot --kind delta` reports. */
export interface DeltaSnapshotResult {
  readonly kind: 'Incr'
  /** `stored`: one or more deltas written; `empty`: no events, nothing written; `full`: a full snapshot was taken instead. */
  readonly outcome: 'stored' | 'empty' | 'full'
  /** Deltas written, oldest first (more than one when the memory limit was reached). */
  readonly deltas: readonly StoredDelta[]
  /** The previous snapshot's last revision, or `null` when the store had none. */
  readonly previousRevision: number | null
  /** etcd's revision when the delta was started. */
  readonly etcdRevision: number
  readonly fellBackToFull: boolean
  /** The full snapshot taken instead of a delta, if any. */
  readonly full: FullSnapshotResult | null
  /** Why nothing, or a full snapshot, was stored; `null` for a plain delta. */
  readonly reason: string | null
  readonly durationSeconds: number
}

function memoryLimit(bytes: number | undefined): number {
  return bytes === undefined || !(bytes >= 1) ? DEFAULT_DELTA_MEMORY_LIMIT_BYTES : bytes
}

function asAborted(error: unknown, what: string): unknown {
  if ((error as { name?: string } | undefined)?.name === 'AbortError') return new StewardError('ABORTED', 'delta', `${what} aborted`, { cause: error })
  return error
}

/**
 * The last revision of the newest stored (non-chunk) snapshot, or `null` for an empty store.
 * A store that does not exist yet (a Local directory before its first snapshot) counts as
 * empty: the full snapshot that follows creates it, or fails with the store's own error.
 */
async function previousRevision(store: BackupStore): Promise<number | null> {
  let listing
  try {
    listing = await store.list()
  } catch (error) {
    if (isStewardError(error, 'STORE_NOT_FOUND')) return null
    throw error
  }
  const last = listing.filter((snapshot) => !snapshot.isChunk).at(-1)
  return last ? last.lastRevision : null
}

/**
 * Takes one delta snapshot: the events from the newest stored snapshot's last revision + 1 up
 * to etcd's current revision, read through a watch (§9.3). Stores nothing when there were no
 * events. Falls back to a full snapshot ({@link takeFullSnapshot}) when the store holds no
 * snapshot yet, or when etcd has compacted the revision the delta must start from (the chain
 * cannot continue) — `fellBackToFull` and `reason` say so. When the events' JSON exceeds
 * `memoryLimitBytes`, several consecutive deltas are stored.
 * @throws StewardError `ETCD_UNREACHABLE` / `ETCD_TLS` / `ETCD_AUTH` / `ETCD_REQUEST_FAILED`,
 *   `STORE_*`, `ABORTED` (deltas completed before the abort stay stored), and the errors of
 *   {@link takeFullSnapshot} when it falls back
 */
export async function takeDeltaSnapshot(etcd: EtcdClient, store: BackupStore, options: OneShotDeltaOptions): Promise<DeltaSnapshotResult> {
  const started = performance.now()
  const now = options.now ?? (() => new Date())
  const limit = memoryLimit(options.memoryLimitBytes)
  const previous = await previousRevision(store)
  const { revision: etcdRevision } = await etcd.currentRevision()
  const finish = (fields: Pick<DeltaSnapshotResult, 'outcome' | 'deltas' | 'full' | 'reason'>): DeltaSnapshotResult => ({
    kind: 'Incr',
    ...fields,
    previousRevision: previous,
    etcdRevision,
    fellBackToFull: fields.full !== null,
    durationSeconds: (performance.now() - started) / 1000,
  })
  const fallBack = async (reason: string, deltas: readonly StoredDelta[]) => {
    if (options.fallBackToFull === false) return finish({ outcome: 'empty', deltas, full: null, reason })
    const full = await takeFullSnapshot(etcd, store, { compression: options.compression, ...(options.signal ? { signal: options.signal } : {}), now })
    return finish({ outcome: 'full', deltas, full, reason })
  }

  if (previous === null) return fallBack('the store holds no snapshot yet; a delta needs a previous snapshot to continue from', [])
  if (etcdRevision <= previous) {
    const reason =
      etcdRevision === previous
        ? `no events since revision ${previous}`
        : `etcd's revision ${etcdRevision} is older than the newest snapshot's ${previous} (a different or restored cluster?); nothing stored`
    return finish({ outcome: 'empty', deltas: [], full: null, reason })
  }

  const deltas: StoredDelta[] = []
  let pending = new PendingDelta(previous + 1, options.compression)
  const watch = new RevisionWatch(etcd, { startRevision: previous + 1, ...(options.signal ? { signal: options.signal } : {}) })
  try {
    let reached = false
    for await (const batch of watch) {
      for (const group of byRevision(batch.events)) {
        if (Number(group[0]!.modRevision) > etcdRevision) break
        await pending.add(group, batch.receivedAtNs)
        reached = pending.lastRevision === etcdRevision
        if (!reached && pending.jsonBytes >= limit) {
          const stored = await pending.upload(store, now, options.signal)
          deltas.push(stored)
          pending = new PendingDelta(stored.lastRevision + 1, options.compression)
        }
      }
      if (reached || batch.lastRevision >= etcdRevision) break
    }
    if (options.signal?.aborted) throw new StewardError('ABORTED', 'delta', 'delta snapshot aborted; nothing more was stored', { details: { stored: deltas.map((d) => d.key) } })
    if (pending.eventCount > 0) deltas.push(await pending.upload(store, now, options.signal))
    else pending.discard()
    return finish({ outcome: 'stored', deltas, full: null, reason: null })
  } catch (error) {
    pending.discard()
    if (error instanceof WatchCompactedError) {
      return fallBack(`etcd compacted revision ${error.startRevision} (compaction revision ${error.compactRevision}); the delta chain cannot continue, so a full snapshot was taken`, deltas)
    }
    throw asAborted(error, 'delta snapshot')
  } finally {
    watch.close()
  }
}

/** What happened during {@link runDeltaSnapshots}, for logs and progress output. */
export type SnapshotEvent =
  | { readonly type: 'full'; readonly snapshot: FullSnapshotResult; readonly reason: string }
  | { readonly type: 'delta'; readonly snapshot: StoredDelta; readonly trigger: CutTrigger }
  | { readonly type: 'reconnect'; readonly endpoint: string; readonly fromRevision: number; readonly error: StewardError }
  /** Events of one watch response were added to the pending delta. */
  | { readonly type: 'watched'; readonly lastRevision: number; readonly pendingEvents: number; readonly pendingJsonBytes: number }
  /** The shutdown catch-up could not store the last events (they stay in etcd for the next run). */
  | { readonly type: 'catch-up-failed'; readonly error: StewardError }

export interface ContinuousDeltaOptions extends DeltaSnapshotOptions {
  /** Cut a delta this often when there are events, seconds (> 0). @default 20 */
  readonly periodSeconds?: number
  /** Called after every stored snapshot and every watch reconnect. */
  readonly onEvent?: (event: SnapshotEvent) => void
  /** Called with each recorder the loop starts (one per chain), so a caller can cut on request (`steward serve`'s `/snapshot/delta`). */
  readonly onRecorder?: (recorder: DeltaRecorder) => void
}

/** What `steward snapshot --watch` reports when it stops. */
export interface ContinuousDeltaResult {
  readonly kind: 'watch'
  readonly fulls: readonly FullSnapshotResult[]
  readonly deltas: readonly StoredDelta[]
  /** Watch streams replaced after a disconnect. */
  readonly reconnects: number
  /** Last revision covered by the store when stopping. */
  readonly lastRevision: number
  readonly durationSeconds: number
}

/**
 * Runs until `signal` aborts: takes a full snapshot first when the store holds none (or etcd
 * has compacted the revision the chain must continue from), then watches every key and stores
 * a delta whenever `periodSeconds` have passed with at least one event, or the delta's JSON
 * reaches `memoryLimitBytes` (checked after each watch response; the period restarts then).
 * A broken watch is re-created from the last received revision + 1 (no gap, no duplicate).
 * If etcd compacts past the watch while it is behind, the pending events are stored and a new
 * full snapshot starts a new chain. On abort the pending delta is stored (without the signal),
 * then the function returns.
 * @throws StewardError `ETCD_*` (the watch could not be kept or re-created), `STORE_*` (an
 *   upload failed; the pending events are lost and the next run continues from the store),
 *   errors of {@link takeFullSnapshot}
 */
export async function runDeltaSnapshots(etcd: EtcdClient, store: BackupStore, options: ContinuousDeltaOptions): Promise<ContinuousDeltaResult> {
  const started = performance.now()
  const now = options.now ?? (() => new Date())
  const limit = memoryLimit(options.memoryLimitBytes)
  const periodMs = (options.periodSeconds ?? DEFAULT_DELTA_PERIOD_SECONDS) * 1000
  if (!(periodMs > 0)) throw new StewardError('CONFIG_INVALID', 'delta', `the delta snapshot period must be positive, got ${options.periodSeconds}s`)
  const signal = options.signal
  const fulls: FullSnapshotResult[] = []
  const deltas: StoredDelta[] = []
  let reconnects = 0

  const full = async (reason: string): Promise<number> => {
    const snapshot = await takeFullSnapshot(etcd, store, { compression: options.compression, ...(signal ? { signal } : {}), now })
    fulls.push(snapshot)
    options.onEvent?.({ type: 'full', snapshot, reason })
    return snapshot.revision
  }

  let last = await previousRevision(store)
  if (last === null) last = await full('the store holds no snapshot')
  else {
    const { revision } = await etcd.currentRevision()
    if (revision < last) last = await full(`etcd's revision ${revision} is older than the newest snapshot's ${last}`)
  }

  while (!signal?.aborted) {
    let periodEnd = Date.now() + periodMs
    const recorder = new DeltaRecorder(etcd, store, {
      compression: options.compression,
      startRevision: last + 1,
      ...(signal ? { signal } : {}),
      now,
      reconnectWindowSeconds: Number.POSITIVE_INFINITY,
      onReconnect: (info) => {
        reconnects += 1
        options.onEvent?.({ type: 'reconnect', ...info })
      },
      cutAfter: (pending) => pending.jsonBytes >= limit,
      onCut: (snapshot, trigger) => {
        deltas.push(snapshot)
        last = snapshot.lastRevision
        if (trigger === 'memory-limit') periodEnd = Date.now() + periodMs
        options.onEvent?.({ type: 'delta', snapshot, trigger })
      },
      onBatch: (state) => options.onEvent?.({ type: 'watched', ...state }),
    })
    options.onRecorder?.(recorder)
    const recording = recorder.run().then(() => ({ kind: 'ended' as const }))
    try {
      for (;;) {
        const timer = deferTimer(periodEnd - Date.now())
        const winner = await Promise.race([recording, timer.promise]).finally(timer.cancel)
        if (winner.kind === 'ended') break
        await recorder.cut('period')
        periodEnd = Date.now() + periodMs
      }
      // The watch ends only when the signal aborted: store what is pending, then stop.
      await recorder.cut('shutdown')
    } catch (error) {
      if (error instanceof WatchCompactedError) {
        await recorder.cut('compaction')
        recorder.close()
        last = await full(`etcd compacted revision ${error.startRevision} (compaction revision ${error.compactRevision}) before the watch caught up`)
        continue
      }
      if (signal?.aborted && isStewardError(error, 'ABORTED')) break
      throw asAborted(error, 'continuous delta snapshots')
    } finally {
      recorder.close()
    }
  }
  if (signal?.aborted) last = await catchUpOnShutdown(etcd, store, options, last, deltas)
  return { kind: 'watch', fulls, deltas, reconnects, lastRevision: last, durationSeconds: (performance.now() - started) / 1000 }
}

/** How long the shutdown catch-up of {@link runDeltaSnapshots} may take, in seconds. */
export const SHUTDOWN_CATCH_UP_SECONDS = 10

/**
 * After a shutdown signal: stores the events etcd had already committed that the watch had not
 * delivered yet (it may still have been connecting, or behind), so the store reaches etcd's
 * revision of that moment. Bounded by {@link SHUTDOWN_CATCH_UP_SECONDS}; never takes a full
 * snapshot. A failure is reported as an event and leaves the store as it was: the next run
 * continues from the last stored revision, so nothing is lost either way.
 * @returns the store's last revision afterwards
 */
async function catchUpOnShutdown(etcd: EtcdClient, store: BackupStore, options: ContinuousDeltaOptions, last: number, deltas: StoredDelta[]): Promise<number> {
  try {
    const result = await takeDeltaSnapshot(etcd, store, {
      compression: options.compression,
      ...(options.memoryLimitBytes !== undefined ? { memoryLimitBytes: options.memoryLimitBytes } : {}),
      ...(options.now ? { now: options.now } : {}),
      signal: AbortSignal.timeout(SHUTDOWN_CATCH_UP_SECONDS * 1000),
      fallBackToFull: false,
    })
    for (const snapshot of result.deltas) {
      deltas.push(snapshot)
      options.onEvent?.({ type: 'delta', snapshot, trigger: 'shutdown' })
    }
    return result.deltas.at(-1)?.lastRevision ?? last
  } catch (error) {
    options.onEvent?.({ type: 'catch-up-failed', error: isStewardError(error) ? error : new StewardError('INTERNAL', 'delta', messageOf(error), { cause: error }) })
    return last
  }
}

/** A timer promise that resolves `{kind: 'tick'}` after `ms` (≥ 0) and can be cancelled. */
function deferTimer(ms: number): { promise: Promise<{ kind: 'tick' }>; cancel: () => void } {
  let handle: NodeJS.Timeout | undefined
  const promise = new Promise<{ kind: 'tick' }>((resolve) => {
    handle = setTimeout(() => resolve({ kind: 'tick' }), Math.max(0, ms))
  })
  return { promise, cancel: () => clearTimeout(handle) }
}
