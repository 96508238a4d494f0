/**
 * A gap-free watch of the whole key space from a given revision, for delta snapshots.
 *
 * Drives etcd's `Watch` bidi stream directly instead of etcd3's managed watcher, because the
 * managed watcher (research notes `etcd-defrag-and-etcd3.md` §2.5):
 *  - hides `compact_revision` (a cancel for a compacted start revision arrives as an error
 *    with an empty reason), and
 *  - resumes after a disconnect from `header.revision + 1`, which skips events that were not
 *    yet delivered while the watcher was catching up.
 *
 * Here the resume point is the last `mod_revision` actually received plus one, so a
 * reconnect neither loses nor repeats an event. etcd never splits one revision's events over
 * two watch responses (etcd API guarantee, no fragmenting requested), so every batch this
 * yields ends on a revision boundary.
 */
import type * as grpc from '@grpc/grpc-js'
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import type { EtcdClient } from '../etcd/client.ts'
import { etcdError } from '../etcd/errors.ts'
import { fromEtcd3Event, nowEpochNs, type WatchEvent } from './encode.ts'

/** The events of one watch response (whole revisions), in order. */
export interface WatchBatch {
  readonly events: readonly WatchEvent[]
  /** When the response arrived, ns since the epoch (written as each event's `time`). */
  readonly receivedAtNs: bigint
  /** mod_revision of the last event. */
  readonly lastRevision: number
}

/** The watch's start revision has been compacted away; the chain of deltas cannot continue. */
export class WatchCompactedError extends StewardError {
  /** etcd's compaction revision: the oldest revision still watchable. */
  readonly compactRevision: number
  /** The revision the watch tried to start from. */
  readonly startRevision: number

  constructor(startRevision: number, compactRevision: number, endpoint: string) {
    super('ETCD_REQUEST_FAILED', 'delta', `cannot watch from revision ${startRevision}: etcd compacted its history up to revision ${compactRevision}`, {
      details: { startRevision, compactRevision, endpoint },
      hints: ['take a full snapshot; deltas can only continue from an uncompacted revision'],
    })
    this.compactRevision = compactRevision
    this.startRevision = startRevision
  }
}

export interface RevisionWatchOptions {
  /** First revision to deliver (inclusive). */
  readonly startRevision: number
  /** Ends the iteration (cleanly, `done`) when aborted. */
  readonly signal?: AbortSignal
  /** Pause the gRPC stream while this many event bytes (keys + values) wait unread. @default 8 MiB */
  readonly maxQueuedBytes?: number
  /**
   * Give up (throw `ETCD_UNREACHABLE`) after failing to (re-)establish the watch for this long,
   * seconds. @default etcd's connection timeout; `Infinity` retries until aborted
   */
  readonly reconnectWindowSeconds?: number
  /** Called when a broken stream is replaced; `fromRevision` is the resume point. */
  readonly onReconnect?: (info: { endpoint: string; fromRevision: number; error: StewardError }) => void
}

interface RawWatchCall extends NodeJS.EventEmitter {
  write(request: object): boolean
  cancel(): void
  pause(): void
  resume(): void
}
interface RawPool {
  withConnection<T>(service: string, fn: (ctx: { client: { watch(metadata: grpc.Metadata, options: grpc.CallOptions): RawWatchCall }; metadata: grpc.Metadata }) => T | Promise<T>): Promise<T>
}
interface RawWatchResponse {
  created?: boolean
  canceled?: boolean
  compact_revision?: string
  cancel_reason?: string
  events?: Parameters<typeof fromEtcd3Event>[0][]
}

const INITIAL_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 5000

/**
 * Watches every key from `startRevision` on, across the client's endpoints, re-creating the
 * watch after a broken stream from the last received revision + 1. Iterate it with
 * `for await`; breaking out or aborting the signal closes the stream.
 *
 * Errors thrown by the iteration: {@link WatchCompactedError} (start or resume revision
 * compacted), StewardError `ETCD_UNREACHABLE` (no endpoint for the reconnect window),
 * `ETCD_AUTH`, `ETCD_REQUEST_FAILED` (etcd cancelled the watch for another reason).
 */
export class RevisionWatch implements AsyncIterable<WatchBatch> {
  readonly #etcd: EtcdClient
  readonly #options: RevisionWatchOptions
  readonly #maxQueuedBytes: number
  readonly #queue: WatchBatch[] = []
  #queuedBytes = 0
  #lastRevision: number
  #call: RawWatchCall | undefined
  #paused = false
  #closed = false
  #failure: StewardError | undefined
  #wake: (() => void) | undefined
  #endpointIndex = 0
  #failingSince: number | undefined
  #backoffMs = INITIAL_BACKOFF_MS
  #reconnectTimer: NodeJS.Timeout | undefined
  #started = false
  #reconnects = 0
  readonly #onAbort = () => this.close()

  constructor(etcd: EtcdClient, options: RevisionWatchOptions) {
    this.#etcd = etcd
    this.#options = options
    this.#maxQueuedBytes = options.maxQueuedBytes ?? 8 * 1024 * 1024
    this.#lastRevision = options.startRevision - 1
  }

  /** mod_revision of the last event received (queued or delivered); `startRevision - 1` before any. */
  get lastRevision(): number {
    return this.#lastRevision
  }

  /** How many times a broken stream was replaced. */
  get reconnects(): number {
    return this.#reconnects
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    if (!this.#started) {
      this.#started = true
      if (this.#options.signal?.aborted) this.#closed = true
      else {
        this.#options.signal?.addEventListener('abort', this.#onAbort, { once: true })
        void this.#connect()
      }
    }
    return {
      next: () => this.#next(),
      return: async () => {
        this.close()
        return { done: true, value: undefined }
      },
    }
  }

  /** Stops watching; a pending `next()` resolves `done`. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#options.signal?.removeEventListener('abort', this.#onAbort)
    clearTimeout(this.#reconnectTimer)
    this.#dropCall()
    this.#notify()
  }

  async #next(): Promise<IteratorResult<WatchBatch>> {
    for (;;) {
      const batch = this.#queue.shift()
      if (batch) {
        this.#queuedBytes -= batchBytes(batch)
        if (this.#paused && this.#queuedBytes < this.#maxQueuedBytes / 2) {
          this.#paused = false
          this.#call?.resume()
        }
        return { done: false, value: batch }
      }
      if (this.#failure) {
        const failure = this.#failure
        this.close()
        throw failure
      }
      if (this.#closed) return { done: true, value: undefined }
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  #fail(error: StewardError): void {
    if (this.#closed || this.#failure) return
    this.#failure = error
    clearTimeout(this.#reconnectTimer)
    this.#dropCall()
    this.#notify()
  }

  #dropCall(): void {
    const call = this.#call
    this.#call = undefined
    this.#paused = false
    if (!call) return
    call.removeAllListeners('data')
    call.removeAllListeners('end')
    // Keep an error listener: cancel() makes the call emit CANCELLED.
    call.removeAllListeners('error')
    call.on('error', () => undefined)
    call.cancel()
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#failure) return
    const endpoints = this.#etcd.endpoints
    const endpoint = endpoints[this.#endpointIndex % endpoints.length]!
    const fromRevision = this.#lastRevision + 1
    let call: RawWatchCall
    try {
      const pool = (this.#etcd.clientFor(endpoint) as unknown as { pool: RawPool }).pool
      call = await pool.withConnection('Watch', ({ client, metadata }) => client.watch(metadata, {}))
    } catch (error) {
      this.#broken(etcdError(error, 'opening the watch stream', endpoint), endpoint)
      return
    }
    if (this.#closed || this.#failure) {
      call.on('error', () => undefined)
      call.cancel()
      return
    }
    this.#call = call
    let created = false
    call.on('data', (response: RawWatchResponse) => {
      if (this.#call !== call) return
      if (response.canceled) {
        const compact = Number(response.compact_revision ?? '0')
        if (compact > 0) this.#fail(new WatchCompactedError(fromRevision, compact, endpoint))
        else this.#fail(etcdError(new Error(`etcd cancelled the watch: ${response.cancel_reason || '(no reason given)'}`), 'watching', endpoint))
        return
      }
      if (response.created && !created) {
        created = true
        this.#failingSince = undefined
        this.#backoffMs = INITIAL_BACKOFF_MS
      }
      const raw = response.events ?? []
      if (raw.length === 0) return
      let events: WatchEvent[]
      try {
        events = raw.map(fromEtcd3Event).filter((event) => Number(event.modRevision) > this.#lastRevision)
      } catch (error) {
        this.#fail(isStewardError(error) ? error : new StewardError('INTERNAL', 'delta', messageOf(error), { cause: error }))
        return
      }
      if (events.length === 0) return
      const batch: WatchBatch = { events, receivedAtNs: nowEpochNs(), lastRevision: Number(events[events.length - 1]!.modRevision) }
      this.#lastRevision = batch.lastRevision
      this.#queue.push(batch)
      this.#queuedBytes += batchBytes(batch)
      if (!this.#paused && this.#queuedBytes >= this.#maxQueuedBytes) {
        this.#paused = true
        call.pause()
      }
      this.#notify()
    })
    call.on('error', (error: unknown) => {
      if (this.#call === call) this.#broken(etcdError(error, 'watching', endpoint), endpoint)
    })
    call.on('end', () => {
      if (this.#call === call) this.#broken(new StewardError('ETCD_UNREACHABLE', 'etcd', `the watch stream at ${endpoint} ended unexpectedly`, { details: { endpoint } }), endpoint)
    })
    call.write({
      create_request: {
        key: Buffer.from([0]),
        range_end: Buffer.from([0]),
        start_revision: String(fromRevision),
        progress_notify: false,
        prev_kv: false,
      },
    })
  }

  /** A stream failed or could not be opened: retry on the next endpoint after a backoff. */
  #broken(error: StewardError, endpoint: string): void {
    if (this.#closed || this.#failure) return
    this.#dropCall()
    if (error.code === 'ETCD_AUTH' || error.code === 'ETCD_TLS') {
      this.#fail(error)
      return
    }
    const now = Date.now()
    this.#failingSince ??= now
    const windowMs = (this.#options.reconnectWindowSeconds ?? this.#etcd.config.connectionTimeoutSeconds) * 1000
    if (now - this.#failingSince > windowMs) {
      this.#fail(
        new StewardError('ETCD_UNREACHABLE', 'delta', `the watch could not be re-established for ${Math.round(windowMs / 1000)}s: ${error.reason}`, {
          cause: error,
          details: { endpoint, resumeRevision: this.#lastRevision + 1 },
          hints: ['check that etcd is running and reachable at --endpoints'],
        }),
      )
      return
    }
    this.#endpointIndex += 1
    this.#reconnects += 1
    this.#options.onReconnect?.({ endpoint, fromRevision: this.#lastRevision + 1, error })
    const delay = this.#backoffMs
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2)
    this.#reconnectTimer = setTimeout(() => void this.#connect(), delay)
  }
}

function batchBytes(batch: WatchBatch): number {
  let bytes = 0
  for (const event of batch.events) bytes += event.key.length + event.value.length + 64
  return bytes
}
