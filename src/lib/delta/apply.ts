/**
 * Replays delta events into etcd so that every revision matches the source (research notes
 * `etcd-backup-restore.md` §6.3 step 4): events are grouped by `mod_revision`, and each group
 * becomes one transaction of puts (without lease) and single-key deletes. One applied
 * transaction = one new revision, so the restored store's revisions stay aligned.
 *
 * Order with many transactions in flight (docs/restore.md, "Applying deltas"): etcd does not
 * order concurrent RPCs, so transactions go in waves of consecutive revisions, and the one of
 * revision r carries a compare that holds only once revision r-1 has been applied
 * ({@link guardFor}); the first of a wave (the lowest revision not applied) needs none. A
 * transaction whose compare fails changes nothing, and so does every later one of its wave:
 * the applied ones are a prefix of the wave, and the next wave starts at the first refused one.
 * Where no sound compare exists, the wave ends before that revision.
 */
import { StewardError } from '../errors.ts'
import type { TxnGuard } from '../etcd/wire/messages.ts'
import type { DeltaEvent } from './decode.ts'

/** What etcd answered to one transaction: the header's revision and whether the compare held. */
export interface CommitResult {
  readonly revision: number
  readonly succeeded: boolean
}

/**
 * Sends one revision group as one transaction, applied only if `guard` holds (always without
 * one); resolves etcd's answer. A rejected promise (transport error, etcd error) is fatal.
 */
export type CommitGroup = (group: readonly DeltaEvent[], guard: TxnGuard | undefined) => Promise<CommitResult>

/**
 * Transactions per wave by default: large enough to keep etcd busy, small enough that a wave
 * cut short by an early arrival wastes little (docs/benchmarks.md, "delta-vs-etcdbrctl").
 */
export const DEFAULT_TXNS_IN_FLIGHT = 32

export interface ApplyOptions {
  /** Delta object key, for messages. */
  readonly objectKey: string
  /** etcd's revision before this delta; events at or below it are already present and skipped. */
  readonly currentRevision: number
  readonly maxTxnOps: number
  readonly maxRequestBytes: number
  /** Apply no revision above this one. */
  readonly toRevision?: number | undefined
  /** Apply no revision group whose first event's time is after this (ns since the epoch). */
  readonly toTimeNanos?: bigint | undefined
  /** Transactions per wave [32]; 1 sends one transaction at a time. Twice as many groups are read ahead. */
  readonly maxInFlight?: number | undefined
}

export interface ApplyResult {
  /** etcd's revision after the last committed group (= `currentRevision` when none). */
  readonly revision: number
  readonly eventsApplied: number
  readonly eventsSkipped: number
  /** `time` of the last applied event. */
  readonly lastEventTime: string | undefined
  /** A point-in-time limit was reached: later events exist and were not applied. */
  readonly stopped: boolean
  /** Transactions sent again after their compare failed (they arrived before their predecessor). */
  readonly resent: number
}

/** Bytes a request spends per op beyond key and value (protobuf tags and lengths, generous). */
const OP_OVERHEAD_BYTES = 16

/** One revision group between reading and being applied. */
interface Slot {
  readonly revision: number
  readonly events: readonly DeltaEvent[]
  /**
   * For a group of deletes only: the key a successor's `version == 0` compare uses, and the
   * latest earlier revision that touched it (0 when none in this replay).
   */
  deleteGuard?: { readonly key: Buffer; readonly lastTouch: number }
}

/**
 * The compare for the transaction of revision `revision` whose predecessor group is
 * `previous`, given that every revision up to `applied` is known to be applied; `undefined`
 * when no compare is needed (`revision === applied + 1`); `'wait'` when none is sound yet.
 *
 * - predecessor puts key k: `mod_revision(k) == revision - 1`. Before revision-1 is applied
 *   etcd's revision, and so every key's mod_revision, is below revision-1; after it, k keeps
 *   that mod_revision until revision itself is applied (every later transaction waits for its
 *   own predecessor).
 * - predecessor only deletes: `version(k) == 0` for a deleted key k. etcd records a delete only
 *   of a key that exists, so k exists at revision-2; but it is also absent before its creation.
 *   The compare is sound only once no revision in (applied, revision-2] touches k (then k
 *   exists at every state from `applied` to revision-2, and is absent only after revision-1);
 *   until then: `'wait'`.
 */
export function guardFor(revision: number, previous: { readonly events: readonly DeltaEvent[]; readonly deleteGuard?: { readonly key: Buffer; readonly lastTouch: number } | undefined }, applied: number): TxnGuard | undefined | 'wait' {
  if (revision <= applied + 1) return undefined
  const put = previous.events.find((e) => e.type === 'put')
  if (put) return { key: put.key, modRevision: revision - 1 }
  const guard = previous.deleteGuard
  if (!guard || guard.lastTouch > applied) return 'wait'
  return { key: guard.key, version: 0 }
}

/**
 * Applies `events` (one delta, in order) through `commit`, in waves of up to `maxInFlight`
 * transactions while the next groups are read; returns once all are applied (or, on failure,
 * once the wave in flight has been answered).
 * @throws StewardError `SNAPSHOT_CORRUPT` (revisions going backwards or skipping a number inside
 *   the delta), `CONFIG_INVALID` (a revision group exceeds `maxTxnOps` or `maxRequestBytes`:
 *   etcd could not keep revisions aligned), `TOOL_FAILED` (etcd assigned another revision than
 *   the source's, e.g. because it revoked an expired lease on its own, or rejected the txn)
 */
export async function applyDeltaEvents(events: AsyncIterable<DeltaEvent>, commit: CommitGroup, options: ApplyOptions): Promise<ApplyResult> {
  const waveSize = Math.max(1, options.maxInFlight ?? DEFAULT_TXNS_IN_FLIGHT)
  const readAhead = 2 * waveSize
  let applied = options.currentRevision
  let eventsApplied = 0
  let lastEventTime: string | undefined
  let resent = 0
  let failure: unknown
  /** Read and not yet applied, in revision order (`pending[0].revision === applied + 1`). */
  let pending: Slot[] = []
  /** Latest read, not yet applied revision touching each key (latin1 of the key). */
  const touches = new Map<string, number>()
  let wave: Promise<void> | undefined
  let wake: (() => void) | undefined
  const notify = () => {
    const w = wake
    wake = undefined
    w?.()
  }

  const land = (slot: Slot) => {
    applied = slot.revision
    eventsApplied += slot.events.length
    lastEventTime = slot.events.at(-1)!.time ?? lastEventTime
    for (const event of slot.events) {
      const key = event.key.toString('latin1')
      if (touches.get(key) === slot.revision) touches.delete(key)
    }
  }

  /** Sends one wave from `pending[0]` and lands the applied prefix. @throws StewardError TOOL_FAILED */
  const runWave = async () => {
    const batch: { slot: Slot; guard: TxnGuard | undefined }[] = []
    for (const slot of pending) {
      if (batch.length >= waveSize) break
      const guard = guardFor(slot.revision, batch.at(-1)?.slot ?? { events: [] }, applied)
      if (guard === 'wait') break
      batch.push({ slot, guard })
    }
    // Sent lowest revision last: etcd's gRPC server (Go) tends to run the newest of a burst of
    // calls first, and the lowest one is the one all others wait for. Correctness does not
    // depend on it; it only makes waves cut short less often.
    const order = batch.length > 1 ? [...batch.slice(1), batch[0]!] : batch
    const answers = await Promise.allSettled(order.map(({ slot, guard }) => commit(slot.events, guard)))
    const byRevision = new Map(order.map(({ slot }, i) => [slot.revision, answers[i]!]))
    let refused: number | undefined
    let landed = 0
    for (const { slot } of batch) {
      const answer = byRevision.get(slot.revision)!
      if (answer.status === 'rejected') {
        const error = answer.reason as Error
        throw new StewardError('TOOL_FAILED', 'temp-etcd', `applying revision ${slot.revision} of ${options.objectKey} failed: ${error.message}`, {
          cause: error,
          details: { key: options.objectKey, revision: slot.revision },
          hints: /space exceeded/i.test(String(error)) ? ['raise --embedded-etcd-quota-bytes'] : [],
        })
      }
      const { revision, succeeded } = answer.value
      if (!succeeded) {
        // Refused: etcd is still below this revision (else something else wrote revisions).
        if (revision >= slot.revision) throw drift(options.objectKey, slot.revision, revision)
        refused ??= slot.revision
        resent++
      } else if (revision !== slot.revision) throw drift(options.objectKey, slot.revision, revision)
      else if (refused !== undefined) {
        throw new StewardError('TOOL_FAILED', 'temp-etcd', `revision ${slot.revision} of ${options.objectKey} was applied although revision ${refused} before it was refused`, {
          details: { key: options.objectKey, revision: slot.revision, refused },
        })
      } else {
        land(slot)
        landed++
      }
    }
    pending = pending.slice(landed)
  }

  const startWave = () => {
    if (wave || failure !== undefined || pending.length === 0) return
    wave = runWave().then(
      () => {
        wave = undefined
        startWave()
        notify()
      },
      (error: unknown) => {
        wave = undefined
        failure ??= error
        notify()
      },
    )
  }

  const enqueue = (batch: DeltaEvent[]) => {
    const revision = batch[0]!.modRevision
    checkLimits(batch, options)
    const slot: Slot = { revision, events: batch }
    if (!batch.some((e) => e.type === 'put')) {
      // Of the deleted keys, the one least recently touched makes the earliest sound compare.
      let best: { key: Buffer; lastTouch: number } | undefined
      for (const event of batch) {
        const lastTouch = touches.get(event.key.toString('latin1')) ?? 0
        if (!best || lastTouch < best.lastTouch) best = { key: event.key, lastTouch }
      }
      slot.deleteGuard = best
    }
    for (const event of batch) touches.set(event.key.toString('latin1'), revision)
    pending.push(slot)
    startWave()
  }

  /** Resolves once fewer than `limit` groups are read and not applied, or on failure. */
  const waitBelow = async (limit: number) => {
    while (failure === undefined && pending.length >= limit) await new Promise<void>((resolve) => (wake = resolve))
    if (failure !== undefined) throw failure
  }

  const groups = { eventsSkipped: 0, stopped: false }
  try {
    for await (const batch of revisionGroups(events, options, groups)) {
      await waitBelow(readAhead)
      enqueue(batch)
    }
    await waitBelow(1)
  } catch (error) {
    failure ??= error
    throw error
  } finally {
    // Nothing is sent after a failure; wait for the wave in flight, so the caller reads
    // etcd's revision only once it no longer moves.
    while (wave) await wave
  }
  return { revision: applied, eventsApplied, eventsSkipped: groups.eventsSkipped, lastEventTime, stopped: groups.stopped, resent }
}

/** Where {@link revisionGroups} reports what it skipped and whether it stopped at a limit. */
export interface GroupProgress {
  /** Events at or below `currentRevision` (already present). */
  eventsSkipped: number
  /** A point-in-time limit was reached: later events exist and were not yielded. */
  stopped: boolean
}

/**
 * The events of one delta above `options.currentRevision`, as revision groups (all events of
 * one `mod_revision`, in order), checked: events in revision order, groups consecutive from
 * `currentRevision + 1`; ends before the first group beyond `toRevision`/`toTimeNanos` (setting
 * `progress.stopped`). Shared by every way of applying deltas (the temporary etcd, the direct
 * bbolt merge).
 * @throws StewardError `SNAPSHOT_CORRUPT` naming `options.objectKey` (revisions going backwards
 *   or skipping a number)
 */
export async function* revisionGroups(events: AsyncIterable<DeltaEvent>, options: Pick<ApplyOptions, 'objectKey' | 'currentRevision' | 'toRevision' | 'toTimeNanos'>, progress: GroupProgress): AsyncGenerator<DeltaEvent[]> {
  let lastSeen = 0
  let lastRead = options.currentRevision
  let group: DeltaEvent[] = []
  const beyondLimit = (first: DeltaEvent) =>
    (options.toRevision !== undefined && first.modRevision > options.toRevision) ||
    (options.toTimeNanos !== undefined && first.time !== undefined && rfc3339ToNanos(first.time) > options.toTimeNanos)
  const checked = (batch: DeltaEvent[]): DeltaEvent[] => {
    const revision = batch[0]!.modRevision
    if (revision !== lastRead + 1) {
      throw new StewardError('SNAPSHOT_CORRUPT', 'delta', `delta snapshot ${options.objectKey}: revision ${revision} follows ${lastRead}; revisions must be consecutive`, {
        details: { key: options.objectKey, revision, previous: lastRead },
      })
    }
    lastRead = revision
    return batch
  }
  for await (const event of events) {
    if (event.modRevision < lastSeen) {
      throw new StewardError('SNAPSHOT_CORRUPT', 'delta', `delta snapshot ${options.objectKey}: revision ${event.modRevision} after ${lastSeen}; events must be in revision order`, {
        details: { key: options.objectKey, revision: event.modRevision },
      })
    }
    lastSeen = event.modRevision
    if (event.modRevision <= options.currentRevision) {
      progress.eventsSkipped++
      continue
    }
    if (group.length > 0 && group[0]!.modRevision !== event.modRevision) {
      const batch = group
      group = []
      if (beyondLimit(batch[0]!)) {
        progress.stopped = true
        return
      }
      yield checked(batch)
    }
    group.push(event)
  }
  if (group.length > 0) {
    if (beyondLimit(group[0]!)) progress.stopped = true
    else yield checked(group)
  }
}

function checkLimits(batch: readonly DeltaEvent[], options: ApplyOptions): void {
  const bytes = batch.reduce((sum, e) => sum + e.key.length + e.value.length + OP_OVERHEAD_BYTES, OP_OVERHEAD_BYTES)
  const revision = batch[0]!.modRevision
  if (batch.length > options.maxTxnOps) {
    throw new StewardError('CONFIG_INVALID', 'delta', `revision ${revision} of ${options.objectKey} has ${batch.length} operations, more than --max-txn-ops ${options.maxTxnOps}; it must be applied as one transaction to keep revisions aligned`, {
      details: { key: options.objectKey, revision, ops: batch.length },
      hints: [`pass --max-txn-ops ${batch.length} or more`],
    })
  }
  if (bytes > options.maxRequestBytes) {
    throw new StewardError('CONFIG_INVALID', 'delta', `revision ${revision} of ${options.objectKey} needs a ~${bytes}-byte request, more than --max-request-bytes ${options.maxRequestBytes}; it must be applied as one transaction to keep revisions aligned`, {
      details: { key: options.objectKey, revision, bytes },
      hints: [`pass --max-request-bytes ${Math.ceil((bytes * 1.1) / 1024 / 1024)}Mi or more (in bytes)`],
    })
  }
}

function drift(objectKey: string, expected: number, assigned: number): StewardError {
  return new StewardError('TOOL_FAILED', 'temp-etcd', `mismatched revision applying ${objectKey}: expected ${expected}, etcd assigned ${assigned}`, {
    details: { key: objectKey, expected, assigned },
    hints: ['the temporary etcd wrote revisions of its own (an expired lease from the full snapshot was revoked?); see docs/restore.md'],
  })
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i

/**
 * An RFC 3339 time (with up to nanosecond fraction) as nanoseconds since the Unix epoch.
 * @throws StewardError `CONFIG_INVALID` for text that is not RFC 3339
 */
export function rfc3339ToNanos(text: string): bigint {
  const match = RFC3339.exec(text.trim())
  const seconds = match ? Date.parse(`${match[1]}${match[3]!.toUpperCase()}`) : Number.NaN
  if (!match || Number.isNaN(seconds)) {
    throw new StewardError('CONFIG_INVALID', 'delta', `"${text}" is not an RFC 3339 time (e.g. 2026-11-22T18:54:06Z or 2026-11-22T18:54:06.5+02:00)`)
  }
  return BigInt(seconds) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'))
}
