/**
 * Replays delta events into etcd so that every revision matches the source (research notes
 * `etcd-backup-restore.md` §6.3 step 4): events are grouped by `mod_revision`, and each group
 * becomes one transaction with no compares and only puts (without lease) and single-key
 * deletes. One transaction = one new revision, so the restored store's revisions stay aligned.
 *
 * Order: etcd does not order concurrent RPCs, so exactly one transaction is in flight; the
 * next group is decoded while it travels (parse/commit overlap, bounded to one group).
 */
import { StewardError } from '../errors.ts'
import type { DeltaEvent } from './decode.ts'

/** Commits one revision group; resolves the revision etcd assigned. */
export type CommitGroup = (group: readonly DeltaEvent[]) => Promise<number>

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
}

/** Bytes a request spends per op beyond key and value (protobuf tags and lengths, generous). */
const OP_OVERHEAD_BYTES = 16

/**
 * Applies `events` (one delta, in order) through `commit`.
 * @throws StewardError `SNAPSHOT_CORRUPT` (revisions going backwards or skipping a number inside
 *   the delta), `CONFIG_INVALID` (a revision group exceeds `maxTxnOps` or `maxRequestBytes`:
 *   etcd could not keep revisions aligned), `TOOL_FAILED` (etcd assigned another revision than
 *   the source's, e.g. because it revoked an expired lease on its own, or rejected the txn)
 */
export async function applyDeltaEvents(events: AsyncIterable<DeltaEvent>, commit: CommitGroup, options: ApplyOptions): Promise<ApplyResult> {
  let revision = options.currentRevision
  let eventsApplied = 0
  let eventsSkipped = 0
  let lastEventTime: string | undefined
  let lastSeen = 0
  let group: DeltaEvent[] = []
  let inFlight: Promise<void> | undefined
  let stopped = false

  const send = async (batch: DeltaEvent[]) => {
    const expected = batch[0]!.modRevision
    if (inFlight) await inFlight
    if (expected !== revision + 1) {
      throw new StewardError('SNAPSHOT_CORRUPT', 'delta', `delta snapshot ${options.objectKey}: revision ${expected} follows ${revision}; revisions must be consecutive`, {
        details: { key: options.objectKey, revision: expected, previous: revision },
      })
    }
    checkLimits(batch, options)
    const task = commit(batch).then(
      (assigned) => {
        if (assigned !== expected) throw drift(options.objectKey, expected, assigned)
        revision = assigned
        eventsApplied += batch.length
        lastEventTime = batch.at(-1)!.time ?? lastEventTime
      },
      (error: unknown) => {
        throw new StewardError('TOOL_FAILED', 'temp-etcd', `applying revision ${expected} of ${options.objectKey} failed: ${(error as Error).message}`, {
          cause: error,
          details: { key: options.objectKey, revision: expected },
          hints: /space exceeded/i.test(String(error)) ? ['raise --embedded-etcd-quota-bytes'] : [],
        })
      },
    )
    task.catch(() => undefined)
    inFlight = task
  }

  const beyondLimit = (first: DeltaEvent) =>
    (options.toRevision !== undefined && first.modRevision > options.toRevision) ||
    (options.toTimeNanos !== undefined && first.time !== undefined && rfc3339ToNanos(first.time) > options.toTimeNanos)

  try {
    for await (const event of events) {
      if (event.modRevision < lastSeen) {
        throw new StewardError('SNAPSHOT_CORRUPT', 'delta', `delta snapshot ${options.objectKey}: revision ${event.modRevision} after ${lastSeen}; events must be in revision order`, {
          details: { key: options.objectKey, revision: event.modRevision },
        })
      }
      lastSeen = event.modRevision
      if (event.modRevision <= options.currentRevision) {
        eventsSkipped++
        continue
      }
      if (group.length > 0 && group[0]!.modRevision !== event.modRevision) {
        const batch = group
        group = []
        if (beyondLimit(batch[0]!)) {
          stopped = true
          break
        }
        await send(batch)
      }
      group.push(event)
    }
    if (!stopped && group.length > 0) {
      if (beyondLimit(group[0]!)) stopped = true
      else await send(group)
    }
    if (inFlight) await inFlight
  } finally {
    if (inFlight) await inFlight.catch(() => undefined)
  }
  return { revision, eventsApplied, eventsSkipped, lastEventTime, stopped }
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
