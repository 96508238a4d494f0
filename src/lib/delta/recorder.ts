/**
 * The mechanics of continuous delta snapshots, apart from the policy that decides when to cut
 * (`runDeltaSnapshots` in `snapshotter.ts`, `steward serve`'s snapshotter): a
 * {@link DeltaRecorder} watches etcd from a revision, adds every event to the pending delta (compressed
 * as it arrives), and on request cuts it — seals and uploads it as
 * `Incr-<start>-<last>-<unix>` (research notes §3.2, §9.3) — and goes on from the next
 * revision. Cuts fall between two revisions, never inside one write or txn.
 */
import { Readable, type Transform } from 'node:stream'
import { createCompressor, suffixForPolicy, type CompressionPolicy } from '../compression/index.ts'
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import type { EtcdClient } from '../etcd/client.ts'
import type { BackupStore } from '../snapshot/backup-store.ts'
import { formatSnapshotName } from '../snapshot/name.ts'
import { DeltaWriter, streamSink, type DeltaSummary, type WatchEvent } from './encode.ts'
import { RevisionWatch, type RevisionWatchOptions } from './watcher.ts'

/** One stored delta object. */
export interface StoredDelta {
  readonly kind: 'Incr'
  readonly name: string
  readonly key: string
  /** Start revision in the name (previous snapshot's last revision + 1). */
  readonly startRevision: number
  /** Last revision in the name: mod_revision of the last event. */
  readonly lastRevision: number
  readonly eventCount: number
  /** Bytes of the JSON text (before the 32-byte digest and compression). */
  readonly jsonBytes: number
  /** Stored object size in bytes. */
  readonly storedSizeBytes: number
  /** SHA-256 of the JSON text, hex (the object's trailer). */
  readonly sha256: string
  readonly compression: CompressionPolicy
}


/** The delta being built: events go through the compressor into memory as they arrive. */
export class PendingDelta {
  readonly startRevision: number
  readonly #compression: CompressionPolicy
  readonly #compressor: Transform
  readonly #chunks: Buffer[] = []
  readonly #writer: DeltaWriter
  #compressorError: Error | undefined

  constructor(startRevision: number, compression: CompressionPolicy) {
    this.startRevision = startRevision
    this.#compression = compression
    this.#compressor = createCompressor(compression)
    this.#compressor.on('data', (chunk: Buffer) => this.#chunks.push(chunk))
    this.#compressor.on('error', (error: Error) => (this.#compressorError = error))
    this.#writer = new DeltaWriter(streamSink(this.#compressor))
  }

  get eventCount(): number {
    return this.#writer.eventCount
  }

  get jsonBytes(): number {
    return this.#writer.jsonBytes
  }

  get lastRevision(): number | undefined {
    return this.#writer.lastRevision
  }

  async add(events: readonly WatchEvent[], receivedAtNs: bigint): Promise<void> {
    if (this.#compressorError) throw compressionFailed(this.#compressorError)
    await this.#writer.add(events, receivedAtNs)
  }

  /** Seals the delta and uploads it. Call only with at least one event. */
  async upload(store: BackupStore, now: () => Date, signal: AbortSignal | undefined): Promise<StoredDelta> {
    // A compressor that already failed would never emit 'end' or 'error' again.
    if (this.#compressorError) throw compressionFailed(this.#compressorError)
    const summary: DeltaSummary = await this.#writer.finish()
    const ended = new Promise<void>((resolve, reject) => {
      this.#compressor.once('end', resolve)
      this.#compressor.once('error', reject)
    })
    this.#compressor.end()
    await ended.catch((error: unknown) => {
      throw compressionFailed(error)
    })
    const lastRevision = summary.lastRevision
    if (lastRevision === undefined) throw new StewardError('INTERNAL', 'delta', 'upload() of an empty delta')
    const name = formatSnapshotName({
      kind: 'Incr',
      startRevision: this.startRevision,
      lastRevision,
      createdOn: now(),
      compressionSuffix: suffixForPolicy(this.#compression),
    })
    const key = store.keyFor(name)
    const size = this.#chunks.reduce((sum, chunk) => sum + chunk.length, 0)
    const info = await store.snapstore.put(key, Readable.from(this.#chunks, { objectMode: false }), { sizeBytes: size, ...(signal ? { signal } : {}) })
    return {
      kind: 'Incr',
      name,
      key,
      startRevision: this.startRevision,
      lastRevision,
      eventCount: summary.eventCount,
      jsonBytes: summary.jsonBytes,
      storedSizeBytes: info.sizeBytes,
      sha256: summary.sha256,
      compression: this.#compression,
    }
  }

  /** Releases the compressor without storing anything. */
  discard(): void {
    this.#compressor.destroy()
  }
}

/** A compressor failure as a StewardError. */
export function compressionFailed(error: unknown): StewardError {
  return isStewardError(error) ? error : new StewardError('INTERNAL', 'delta', `compressing the delta failed: ${messageOf(error)}`, { cause: error })
}


/**
 * Splits a watch response's events into runs sharing one mod_revision (one write or txn
 * each), in order. Deltas are only ever cut between two runs.
 */
export function byRevision(events: readonly WatchEvent[]): WatchEvent[][] {
  const groups: WatchEvent[][] = []
  for (const event of events) {
    const current = groups.at(-1)
    if (current && current[0]!.modRevision === event.modRevision) current.push(event)
    else groups.push([event])
  }
  return groups
}



/** Why a delta was cut. */
export type CutTrigger = 'period' | 'memory-limit' | 'compaction' | 'shutdown' | 'request'

export interface DeltaRecorderOptions {
  readonly compression: CompressionPolicy
  /** First revision to record (the newest stored snapshot's last revision + 1). */
  readonly startRevision: number
  /** Ends the watch; `run()` then resolves (pending events stay until `cut`). */
  readonly signal?: AbortSignal
  /** Clock for object names. @default () => new Date() */
  readonly now?: () => Date
  /** Policy hook, asked after each revision's events were added: cut the delta here? */
  readonly cutAfter?: (pending: { readonly eventCount: number; readonly jsonBytes: number }) => boolean
  /** Called for every stored delta, with why it was cut. */
  readonly onCut?: (delta: StoredDelta, trigger: CutTrigger) => void
  /** Called after each watch response was added. */
  readonly onBatch?: (state: { readonly lastRevision: number; readonly pendingEvents: number; readonly pendingJsonBytes: number }) => void
  /** Passed to the watch (see {@link RevisionWatch}). */
  readonly reconnectWindowSeconds?: number
  readonly onReconnect?: RevisionWatchOptions['onReconnect']
}

/**
 * Records watch events into the pending delta and cuts it on request. One recorder covers one
 * chain from `startRevision`; after etcd compacted past it (`run()` rejects with
 * `WatchCompactedError`) start a new one from a full snapshot's revision.
 */
export class DeltaRecorder {
  readonly #store: BackupStore
  readonly #options: DeltaRecorderOptions
  readonly #watch: RevisionWatch
  #pending: PendingDelta
  #lock: Promise<unknown> = Promise.resolve()
  /** Revision of the last event added (startRevision - 1 before any). */
  #lastRevision: number
  readonly #waiters = new Set<{ revision: number; resolve: (reached: boolean) => void }>()

  constructor(etcd: EtcdClient, store: BackupStore, options: DeltaRecorderOptions) {
    this.#store = store
    this.#options = options
    this.#pending = new PendingDelta(options.startRevision, options.compression)
    this.#lastRevision = options.startRevision - 1
    this.#watch = new RevisionWatch(etcd, {
      startRevision: options.startRevision,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.reconnectWindowSeconds !== undefined ? { reconnectWindowSeconds: options.reconnectWindowSeconds } : {}),
      ...(options.onReconnect ? { onReconnect: options.onReconnect } : {}),
    })
  }

  /** Events waiting in the pending delta. */
  get pendingEvents(): number {
    return this.#pending.eventCount
  }

  /** JSON bytes of the pending delta. */
  get pendingJsonBytes(): number {
    return this.#pending.jsonBytes
  }

  /** First revision of the pending delta (the last stored revision + 1). */
  get nextRevision(): number {
    return this.#pending.startRevision
  }

  /**
   * Consumes the watch until it ends (signal aborted or {@link close}). Events are added
   * revision by revision; `cutAfter` may cut between two revisions.
   * @throws `WatchCompactedError` when etcd compacted the start revision; `ETCD_*` when the
   *   watch cannot be kept; `STORE_*` when a memory-limit cut failed to upload
   */
  async run(): Promise<void> {
    for await (const batch of this.#watch) {
      await this.#exclusive(async () => {
        for (const group of byRevision(batch.events)) {
          await this.#pending.add(group, batch.receivedAtNs)
          if (this.#options.cutAfter?.(this.#pending)) await this.#cut('memory-limit')
        }
      })
      this.#lastRevision = Math.max(this.#lastRevision, batch.lastRevision)
      for (const waiter of this.#waiters) {
        if (waiter.revision <= this.#lastRevision) {
          this.#waiters.delete(waiter)
          waiter.resolve(true)
        }
      }
      this.#options.onBatch?.({ lastRevision: batch.lastRevision, pendingEvents: this.#pending.eventCount, pendingJsonBytes: this.#pending.jsonBytes })
    }
  }

  /** Revision of the last event recorded so far. */
  get lastRevision(): number {
    return this.#lastRevision
  }

  /**
   * Resolves `true` once the events up to `revision` were recorded, or `false` after
   * `timeoutMs` (the watch lags or ended). For cutting "everything committed so far".
   */
  waitFor(revision: number, timeoutMs: number): Promise<boolean> {
    if (revision <= this.#lastRevision) return Promise.resolve(true)
    return new Promise((resolve) => {
      const waiter = {
        revision,
        resolve: (reached: boolean) => {
          clearTimeout(timer)
          resolve(reached)
        },
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        resolve(false)
      }, timeoutMs)
      this.#waiters.add(waiter)
    })
  }

  /**
   * Seals and uploads the pending delta (never aborted by the signal: events the watch consumed
   * must reach the store) and starts a new one from its last revision + 1.
   * @returns the stored delta, or `null` when no events were pending
   * @throws StewardError `STORE_*` (the pending events are lost; the next chain continues from the store)
   */
  cut(trigger: CutTrigger): Promise<StoredDelta | null> {
    return this.#exclusive(() => this.#cut(trigger))
  }

  /** Stops the watch and drops the pending events (cut first to keep them). */
  close(): void {
    this.#watch.close()
    this.#pending.discard()
  }

  async #cut(trigger: CutTrigger): Promise<StoredDelta | null> {
    if (this.#pending.eventCount === 0) return null
    const delta = await this.#pending.upload(this.#store, this.#options.now ?? (() => new Date()), undefined)
    this.#pending = new PendingDelta(delta.lastRevision + 1, this.#options.compression)
    this.#options.onCut?.(delta, trigger)
    return delta
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn)
    this.#lock = run.catch(() => undefined)
    return run
  }
}
