/**
 * Applies a chain of delta snapshots, one delta at a time:
 * download → decompress → temp file while hashing → verify → stream-parse → apply → delete.
 * Memory stays bounded by one event and one read chunk, whatever the delta sizes; disk by two
 * decompressed deltas (the next one is read ahead). Continuity is checked from the names
 * before anything is applied and again from the sink's revision after each delta.
 *
 * Where the events go is a {@link DeltaSink}: a new bbolt file (`direct-apply.ts`, the default,
 * docs/restore.md "Applying deltas") or a temporary etcd on a restored data dir (research notes
 * `etcd-backup-restore.md` §6.3; {@link applyDeltaChain}).
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { StewardError, isStewardError } from '../errors.ts'
import { applyDeltaEvents, type CommitGroup, type CommitResult } from '../delta/apply.ts'
import { readDeltaEvents, spoolDelta, type DeltaEvent } from '../delta/decode.ts'
import type { TxnGuard } from '../etcd/wire/messages.ts'
import { garbageReleaser } from '../memory.ts'
import type { BackupStore, StoredSnapshot } from '../snapshot/backup-store.ts'
import { startTempEtcd, type TempEtcd, type TempEtcdLimits } from './temp-etcd.ts'

/** Size of the buffer Node's HTTP/2 session reads each socket chunk into (libuv's suggested 64 KiB). */
const HTTP2_READ_BUFFER_BYTES = 64 * 1024

/** What a sink did with one delta. */
export interface SinkApplied {
  /** Revision the sink holds after it. */
  readonly revision: number
  readonly eventsApplied: number
  /** `time` of the last applied event. */
  readonly lastEventTime: string | undefined
  /** A point-in-time limit was reached: later events exist and were not applied. */
  readonly stopped: boolean
}

/** Where a delta chain's events are applied; the chain logic ({@link applyDeltaChainTo}) is the same for every sink. */
export interface DeltaSink {
  /** The store revision the sink holds now (read again after a failed delta for `allowPartial`). */
  revision(): Promise<number>
  /**
   * Applies one verified delta's events above `revision` (see `revisionGroups` in
   * src/lib/delta/apply.ts for the checks), stopping at the point-in-time limits.
   * @param jsonBytes size of the delta's JSON text (a bound on what it adds)
   */
  applyDelta(events: AsyncIterable<DeltaEvent>, delta: StoredSnapshot, jsonBytes: number, revision: number, limits: { toRevision: number | undefined; toTimeNanos: bigint | undefined }): Promise<SinkApplied>
  /**
   * After a delta was applied: checks that the sink holds the revision expected and does any
   * upkeep. @throws StewardError `TOOL_FAILED` when it does not
   */
  afterDelta(delta: StoredSnapshot, applied: SinkApplied): Promise<void>
}

/** Options of the chain logic, whatever the sink. */
export interface ChainOptions {
  /** Directory for the temp delta files. */
  readonly workDir: string
  readonly toRevision?: number | undefined
  /** Nanoseconds since the epoch (see `rfc3339ToNanos`). */
  readonly toTimeNanos?: bigint | undefined
  /** On a corrupt, missing or non-continuous delta, keep what was applied before it instead of failing. */
  readonly allowPartial?: boolean
  readonly signal?: AbortSignal | undefined
  /** Called after each delta. */
  readonly onDelta?: (delta: StoredSnapshot, revision: number) => void
}

/** Options of the temporary-etcd replay ({@link applyDeltaChain}). */
export interface DeltaChainOptions extends ChainOptions {
  /** Restored data dir the temporary etcd runs on. */
  readonly dataDir: string
  /** Member name the data dir was restored with. */
  readonly memberName: string
  readonly limits: TempEtcdLimits
  /** Compact + defragment after this many deltas [10]; also whenever dbSize > 80 % of the quota. */
  readonly leanEveryDeltas?: number
  /** Transactions per wave [32] (docs/restore.md, "Applying deltas"). */
  readonly txnsInFlight?: number
  /**
   * Test seam: every transaction goes through this instead of straight to the temporary etcd
   * (`send` is the real call), e.g. to delay and reorder them.
   */
  readonly commitThrough?: (group: readonly DeltaEvent[], guard: TxnGuard | undefined, send: CommitGroup) => Promise<CommitResult>
}

export interface DeltaChainResult {
  readonly deltasApplied: number
  readonly eventsApplied: number
  /** etcd's revision at the end. */
  readonly revision: number
  /** `time` of the last applied event. */
  readonly lastEventTime: string | undefined
  /** Why the chain ended: all applied, a point-in-time limit, or a bad delta with `allowPartial`. */
  readonly end: 'complete' | 'to-revision' | 'to-time' | 'partial'
  /** With `end: 'partial'`: the object that stopped the restore and why. */
  readonly failure?: { readonly object: string; readonly code: string; readonly message: string }
}

/**
 * The deltas continuing a full snapshot whose content is at `baseRevision`: every delta ending
 * after it, in order, up to the one that reaches `toRevision`. Overlaps are fine (events already
 * present are skipped); a gap is reported as `gap` (the object before and after it).
 */
export function deltaChain(all: readonly StoredSnapshot[], baseRevision: number, baseName: string, toRevision?: number): { deltas: StoredSnapshot[]; gap?: { after: string; before: StoredSnapshot; missingFrom: number } } {
  const deltas: StoredSnapshot[] = []
  let reached = baseRevision
  let previous = baseName
  for (const ref of all) {
    if (ref.isChunk || ref.kind !== 'Incr' || ref.lastRevision <= reached) continue
    if (toRevision !== undefined && reached >= toRevision) break
    if (ref.startRevision > reached + 1) return { deltas, gap: { after: previous, before: ref, missingFrom: reached + 1 } }
    deltas.push(ref)
    reached = ref.lastRevision
    previous = ref.name
  }
  return { deltas }
}

/** The continuity error of {@link deltaChain}'s `gap`. */
export function gapError(gap: { after: string; before: StoredSnapshot; missingFrom: number }): StewardError {
  return new StewardError('SNAPSHOT_NOT_FOUND', 'restore', `delta chain has a gap: revisions ${gap.missingFrom}..${gap.before.startRevision - 1} are in no snapshot between ${gap.after} and ${gap.before.name}`, {
    details: { after: gap.after, before: gap.before.key, missingFrom: gap.missingFrom, resumesAt: gap.before.startRevision },
    hints: ['pass --allow-partial to restore up to the gap', 'or --to-revision below the gap'],
  })
}

/**
 * Starts a temporary etcd on `options.dataDir`, applies `deltas` in order, stops etcd (also on
 * failure). Errors of a delta name its object.
 * @throws StewardError `SNAPSHOT_CORRUPT`, `SNAPSHOT_NOT_FOUND`, `COMPRESSION_UNSUPPORTED`,
 *   `STORE_*` (unless `allowPartial`), `CONFIG_INVALID` (revision group over the limits),
 *   `TOOL_FAILED` (temporary etcd failed or drifted), `ABORTED`
 */
export async function applyDeltaChain(store: BackupStore, deltas: readonly StoredSnapshot[], options: DeltaChainOptions): Promise<DeltaChainResult> {
  const etcd = await startTempEtcd({ dataDir: options.dataDir, name: options.memberName, workDir: options.workDir, limits: options.limits, signal: options.signal })
  try {
    return await applyDeltaChainTo(tempEtcdSink(etcd, options), store, deltas, options)
  } finally {
    await etcd.stop()
  }
}

/**
 * The temporary etcd as a {@link DeltaSink}: each revision group one guarded transaction, in
 * waves (src/lib/delta/apply.ts); room is made before a delta when the quota nears, history is
 * compacted every `leanEveryDeltas` deltas, and etcd's revision is checked after each delta.
 */
function tempEtcdSink(etcd: TempEtcd, options: DeltaChainOptions): DeltaSink {
  // Each transaction's answer lands in a fresh 64 KiB read buffer of Node's HTTP/2 session,
  // held until the small objects viewing it are collected; at thousands of transactions per
  // second that is hundreds of MiB per second of short-lived memory outside V8's heap, which V8
  // alone lets pile up to well over 100 MiB. Counting it (plus the events' own bytes) and
  // collecting the young generation every few MiB keeps steward's RSS flat.
  const release = garbageReleaser({ minorEveryBytes: 8 * 1024 * 1024 })
  let allocatedBytes = 0
  const send: CommitGroup = options.commitThrough ? (group, guard) => options.commitThrough!(group, guard, etcd.client.writeTxn.bind(etcd.client)) : (group, guard) => etcd.client.writeTxn(group, guard)
  const commit: CommitGroup = async (group, guard) => {
    const answer = await send(group, guard)
    allocatedBytes += HTTP2_READ_BUFFER_BYTES + group.reduce((sum, e) => sum + e.key.length + e.value.length, 0)
    release(allocatedBytes)
    return answer
  }
  const lean = new LeanSchedule(options.leanEveryDeltas, options.toRevision)
  return {
    revision: () => readRevision(etcd),
    async applyDelta(events, delta, jsonBytes, revision, limits) {
      if (await makeRoom(etcd, options, revision, jsonBytes)) lean.restart()
      return applyDeltaEvents(events, commit, {
        objectKey: delta.key,
        currentRevision: revision,
        maxTxnOps: options.limits.maxTxnOps,
        maxRequestBytes: options.limits.maxRequestBytes,
        toRevision: limits.toRevision,
        toTimeNanos: limits.toTimeNanos,
        maxInFlight: options.txnsInFlight,
      })
    },
    async afterDelta(delta, applied) {
      const live = await readRevision(etcd)
      if (live !== applied.revision || (!applied.stopped && live !== delta.lastRevision)) {
        throw new StewardError('TOOL_FAILED', 'restore', `mismatched revision after ${delta.key}: expected ${applied.stopped ? applied.revision : delta.lastRevision}, etcd is at ${live}`, {
          details: { key: delta.key, expected: delta.lastRevision, actual: live },
        })
      }
      const point = lean.afterDelta(applied)
      if (point !== undefined) await etcd.client.compact(point, true)
    },
  }
}

/**
 * The chain logic shared by every sink: applies `deltas` in order into `sink`, reading the next
 * delta ahead while the current one applies; skips deltas already covered, stops at a gap (or
 * reports it with `allowPartial`), at the point-in-time limits, or at the first bad delta with
 * `allowPartial`. Errors of a delta name its object.
 * @throws StewardError `SNAPSHOT_CORRUPT`, `SNAPSHOT_NOT_FOUND`, `COMPRESSION_UNSUPPORTED`,
 *   `STORE_*` (unless `allowPartial`), the sink's own errors, `ABORTED`
 */
export async function applyDeltaChainTo(sink: DeltaSink, store: BackupStore, deltas: readonly StoredSnapshot[], options: ChainOptions): Promise<DeltaChainResult> {
  let revision = await sink.revision()
  let deltasApplied = 0
  let eventsApplied = 0
  let lastEventTime: string | undefined
  const result = (end: DeltaChainResult['end'], failure?: DeltaChainResult['failure']): DeltaChainResult => ({
    deltasApplied, eventsApplied, revision, lastEventTime, end, ...(failure ? { failure } : {}),
  })
  // The next delta is downloaded, decompressed and hash-checked into its own file while the
  // current one is applied (two files in the work dir at most).
  const spooled = new Map<number, Spooled>()
  const spool = (index: number): Spooled | undefined => {
    const delta = deltas[index]
    if (!delta) return undefined
    let entry = spooled.get(index)
    if (!entry) {
      const file = join(options.workDir, `delta-${index % 2}.json`)
      const jsonBytes = store.open(delta, options.signal).then((source) => spoolDelta(source, file, delta.key, options.signal))
      jsonBytes.catch(() => undefined)
      entry = { file, jsonBytes }
      spooled.set(index, entry)
    }
    return entry
  }
  const discard = async (index: number) => {
    const entry = spooled.get(index)
    if (!entry) return
    spooled.delete(index)
    await entry.jsonBytes.catch(() => undefined)
    await rm(entry.file, { force: true })
  }
  const limits = { toRevision: options.toRevision, toTimeNanos: options.toTimeNanos }
  try {
    for (const [index, delta] of deltas.entries()) {
      if (options.signal?.aborted) throw new StewardError('ABORTED', 'restore', 'restore aborted')
      if (delta.lastRevision <= revision) {
        await discard(index)
        continue
      }
      if (delta.startRevision > revision + 1) {
        const error = gapError({ after: `revision ${revision}`, before: delta, missingFrom: revision + 1 })
        if (options.allowPartial) return result('partial', { object: delta.key, code: error.code, message: error.reason })
        throw error
      }
      const { file, jsonBytes: spooling } = spool(index)!
      let applied: SinkApplied
      try {
        const jsonBytes = await spooling
        if (delta.lastRevision < (options.toRevision ?? Infinity)) spool(index + 1)
        applied = await sink.applyDelta(readDeltaEvents(file, jsonBytes, delta.key), delta, jsonBytes, revision, limits)
      } catch (error) {
        const failure = asDeltaFailure(error, delta)
        if (options.allowPartial && failure) {
          revision = await sink.revision()
          return result('partial', { object: delta.key, code: failure.code, message: failure.reason })
        }
        throw failure ?? error
      } finally {
        await discard(index)
      }
      revision = applied.revision
      eventsApplied += applied.eventsApplied
      lastEventTime = applied.lastEventTime ?? lastEventTime
      deltasApplied++
      await sink.afterDelta(delta, applied)
      options.onDelta?.(delta, revision)
      if (applied.stopped) return result(options.toRevision !== undefined && revision >= options.toRevision ? 'to-revision' : 'to-time')
      if (options.toRevision !== undefined && revision >= options.toRevision) return result('to-revision')
    }
    return result('complete')
  } finally {
    // A delta read ahead but not applied (stopped, failed): wait for its spooling, remove its file.
    for (const index of spooled.keys()) await discard(index)
  }
}

/** A delta being (or already) downloaded, decompressed and hash-checked into `file`. */
interface Spooled {
  readonly file: string
  /** Length of its JSON text in bytes (see `spoolDelta`). */
  readonly jsonBytes: Promise<number>
}

/** A delta-content error worth `--allow-partial` (object damaged or gone), re-labelled with the object. */
function asDeltaFailure(error: unknown, delta: StoredSnapshot): StewardError | undefined {
  if (!isStewardError(error, 'SNAPSHOT_CORRUPT', 'SNAPSHOT_NOT_FOUND', 'COMPRESSION_UNSUPPORTED', 'STORE_FAILED')) return undefined
  if (error.message.includes(delta.key)) return error
  return new StewardError(error.code, 'restore', `delta snapshot ${delta.key}: ${error.reason}`, { cause: error, details: { ...error.context, key: delta.key }, hints: error.hints })
}

async function readRevision(etcd: TempEtcd): Promise<number> {
  return etcd.client.revision()
}

/**
 * etcd-backup-restore's rule for keeping a delta restore's history lean (docs/restore.md,
 * "Compacted history"): compact at the last revision of every `every`th applied delta, counting
 * only deltas applied whole (not one that stopped at a point in time or reached `toRevision`).
 * The `etcd` apply compacts at each point as it comes; the direct apply compacts once, at the
 * last point, after the merge (`lean-history.ts`), which leaves the same history.
 */
export class LeanSchedule {
  readonly #every: number
  readonly #toRevision: number | undefined
  #since = 0
  #last: number | undefined

  /** @param every deltas between compactions [10]; @param toRevision the point-in-time limit, if any */
  constructor(every = 10, toRevision?: number) {
    this.#every = every
    this.#toRevision = toRevision
  }

  /** Counts an applied delta. @returns the revision to compact at now, or undefined */
  afterDelta(applied: Pick<SinkApplied, 'revision' | 'stopped'>): number | undefined {
    if (applied.stopped || (this.#toRevision !== undefined && applied.revision >= this.#toRevision)) return undefined
    if (++this.#since < this.#every) return undefined
    this.#since = 0
    this.#last = applied.revision
    return applied.revision
  }

  /** Restarts the count (the history was compacted for another reason, e.g. to make room). */
  restart(): void {
    this.#since = 0
  }

  /** The last compaction point {@link afterDelta} returned; undefined when none yet. */
  get lastPoint(): number | undefined {
    return this.#last
  }
}

/**
 * Makes room for the next delta before applying it: when the database plus twice the delta's
 * JSON size (a generous bound on what its events add) would pass 80 % of the quota, compacts at
 * the current revision and defragments, so etcd never refuses a write with "database space
 * exceeded" mid-delta. A defragment rewrites the whole database, so it only happens when needed.
 * @returns whether it compacted
 */
async function makeRoom(etcd: TempEtcd, options: DeltaChainOptions, revision: number, incomingJsonBytes: number): Promise<boolean> {
  const { dbSizeBytes } = await etcd.client.dbSize()
  if (dbSizeBytes + 2 * incomingJsonBytes <= 0.8 * options.limits.quotaBackendBytes) return false
  await etcd.client.compact(revision, true).catch((error: unknown) => {
    // Compacting at the revision compacted last time is harmless; anything else is not.
    if (!/compacted/i.test(String(error))) throw error
  })
  await etcd.client.defragment()
  return true
}
