/**
 * What `steward snapshot` does in each of its three modes — one full snapshot, one delta, or
 * deltas until stopped — behind one entry point, plus the lines that describe a result to a
 * person. The command only parses flags and renders.
 */
import { formatBytes, plural } from '../format.ts'
import type { CompressionPolicy, CompressionTuning } from '../compression/index.ts'
// The delta snapshotter (watch, recorder) is loaded only for --kind delta and --watch: a full
// snapshot's start-up does not pay for it (about 5 ms, docs/benchmarks.md "Launch styles").
import type { ContinuousDeltaResult, DeltaSnapshotResult, SnapshotEvent } from '../delta/snapshotter.ts'
import { StewardError } from '../errors.ts'
import type { EtcdClient } from '../etcd/client.ts'
import type { BackupStore } from './backup-store.ts'
import { takeFullSnapshot, type FullSnapshotResult } from './full.ts'
import { removeStalePartialUploads } from './partials.ts'

export type SnapshotMode = 'full' | 'delta' | 'watch'

export interface SnapshotRequest {
  readonly mode: SnapshotMode
  readonly compression: CompressionPolicy
  /** `--compression-level` and `--compression-workers` for `full` mode (deltas, and the full snapshots delta modes fall back to, use the defaults). */
  readonly tuning?: CompressionTuning
  /** Full snapshots only: mark `.final`. */
  readonly final: boolean
  /** Cut a delta once its JSON reaches this many bytes. */
  readonly memoryLimitBytes: number
  /** `watch` mode: store pending events this often, in seconds (≥ 1). */
  readonly periodSeconds: number
  /** Stops `watch` mode (the pending delta is stored first) or aborts a full snapshot. */
  readonly signal?: AbortSignal
  /** Database bytes streamed so far (full snapshots). */
  readonly onProgress?: (bytes: number) => void
  /** What `watch` mode did (stored a snapshot, reconnected, buffered events). */
  readonly onEvent?: (event: SnapshotEvent) => void
  /** Called with a sentence per leftover removed first (unfinished uploads of killed snapshots), for the log. */
  readonly onCleanup?: (message: string) => void
}

/** `--json` output: the result of the mode that ran. */
export type SnapshotResult = FullSnapshotResult | DeltaSnapshotResult | ContinuousDeltaResult

/**
 * Checks a request before any work: `watch` needs a period of at least 1 s (etcd-backup-restore
 * disables deltas below that), and `.final` applies to full snapshots only.
 * @throws StewardError `CONFIG_INVALID` naming the flag
 */
export function checkSnapshotRequest(request: SnapshotRequest): void {
  if (request.mode === 'watch' && request.periodSeconds < 1) {
    throw new StewardError('CONFIG_INVALID', 'snapshot', `--delta-snapshot-period: ${request.periodSeconds}s is below 1s`, {
      hints: ['etcd-backup-restore disables deltas below 1s; steward needs a period of at least 1s with --watch'],
    })
  }
  if (request.final && request.mode !== 'full') throw new StewardError('CONFIG_INVALID', 'snapshot', '--final applies to full snapshots only')
}

/**
 * Runs the requested mode. See `full.ts` and `delta/snapshotter.ts` for each mode's errors.
 * @throws StewardError `CONFIG_INVALID` (bad request), `ETCD_*`, `STORE_*`, `SNAPSHOT_*`, `ABORTED`
 */
export async function takeSnapshot(etcd: EtcdClient, store: BackupStore, request: SnapshotRequest): Promise<SnapshotResult> {
  checkSnapshotRequest(request)
  // Uploads a killed snapshot left (older than an hour); a failure here must not cost a backup.
  await removeStalePartialUploads(store, request.onCleanup).catch((error: unknown) => {
    request.onCleanup?.(`could not remove unfinished uploads of killed snapshots: ${(error as Error).message}`)
  })
  const { compression, memoryLimitBytes, signal } = request
  const tuning = request.tuning ? { tuning: request.tuning } : {}
  switch (request.mode) {
    case 'watch': {
      const { runDeltaSnapshots } = await import('../delta/snapshotter.ts')
      return runDeltaSnapshots(etcd, store, {
        compression,
        memoryLimitBytes,
        periodSeconds: request.periodSeconds,
        ...(signal ? { signal } : {}),
        ...(request.onEvent ? { onEvent: request.onEvent } : {}),
      })
    }
    case 'delta': {
      const { takeDeltaSnapshot } = await import('../delta/snapshotter.ts')
      return takeDeltaSnapshot(etcd, store, { compression, memoryLimitBytes, ...(signal ? { signal } : {}) })
    }
    case 'full':
      return takeFullSnapshot(etcd, store, {
        compression,
        ...tuning,
        final: request.final,
        ...(signal ? { signal } : {}),
        ...(request.onProgress ? { onProgress: request.onProgress } : {}),
      })
  }
}

/** Sentences describing a result, for terminals. */
export function describeSnapshotResult(result: SnapshotResult): string[] {
  if ('fulls' in result) {
    return [`Stopped: ${plural(result.fulls.length, 'full snapshot')} and ${plural(result.deltas.length, 'delta snapshot')} stored; the store reaches revision ${result.lastRevision}.`]
  }
  if ('outcome' in result) {
    const lines = result.deltas.map((d) => `Stored ${d.key} (revisions ${d.startRevision}..${d.lastRevision}, ${plural(d.eventCount, 'event')}, ${formatBytes(d.storedSizeBytes)} stored)`)
    if (result.full) lines.push(`Stored full snapshot ${result.full.key} (revision ${result.full.revision}) instead: ${result.reason}`)
    else if (result.outcome === 'empty') lines.push(`Nothing stored: ${result.reason}.`)
    return lines
  }
  if (result.reusedExisting) return [`Final snapshot ${result.name} already covers revision ${result.revision}; nothing new stored.`]
  return [`Stored ${result.key} (revision ${result.revision}, ${formatBytes(result.dbSizeBytes)} database, ${formatBytes(result.storedSizeBytes)} stored, ${result.durationSeconds.toFixed(2)}s)`]
}

/** A sentence for one thing `watch` mode did, or `null` for events only worth a debug log. */
export function describeSnapshotEvent(event: SnapshotEvent): string | null {
  switch (event.type) {
    case 'full':
      return `Stored full snapshot ${event.snapshot.key} (revision ${event.snapshot.revision}): ${event.reason}`
    case 'delta':
      return `Stored ${event.snapshot.key} (revisions ${event.snapshot.startRevision}..${event.snapshot.lastRevision}, ${plural(event.snapshot.eventCount, 'event')}, trigger ${event.trigger})`
    case 'catch-up-failed':
      return `Could not store the last events at shutdown (${event.error.reason}); they stay in etcd and the next run continues from the store`
    default:
      return null
  }
}
