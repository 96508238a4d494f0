/**
 * Garbage-collection planning: a pure function from a sorted store listing and the current
 * time to a decision (keep or delete, and the rule that decided) for every object. Nothing
 * here touches a store; `collect.ts` executes a plan.
 *
 * The two policies are etcd-backup-restore's, step by step, so a store collected by steward
 * keeps the same snapshots as one collected by `etcdbrctl` (docs/gc.md restates the rules and
 * walks through example timelines):
 *
 * - the listing is cut into *streams*: a full snapshot and the deltas after it, with index 0
 *   opening the first stream whatever its kind; the newest stream is never touched;
 * - in every older stream, deltas created before `now − deltaRetention` are deleted;
 * - `Exponential` thins full snapshots to: every one of the current hour, the newest per hour
 *   for a day, per day for a week, per week for four weeks (all measured back from the end of
 *   the current UTC day, with its quirks kept); `LimitBased` keeps the newest `maxBackups`.
 *
 * steward adds, before the policy runs: chunk objects (parts of a chunked upload) of snapshots
 * that are complete are deleted, and zero-byte snapshot objects (failed uploads) are deleted;
 * both only when older than {@link LEFTOVER_GRACE_SECONDS}, so a concurrent writer's in-flight
 * parts survive. Zero-byte objects never count as a stream's full snapshot.
 */
import type { SnapshotKind } from '../snapshot/name.ts'
import { StewardError } from '../errors.ts'

/** etcd-backup-restore's `--garbage-collection-policy` values. */
export const GC_POLICIES = ['Exponential', 'LimitBased'] as const
export type GcPolicy = (typeof GC_POLICIES)[number]

/**
 * Chunks and zero-byte objects younger than this are left alone: seconds. Their age counts from
 * the store's last-modified time when the listing reports one, else from the time in their name
 * (see {@link leftoverTime}).
 */
export const LEFTOVER_GRACE_SECONDS = 3600

/** What the planner needs to know about one listed object. */
export interface GcCandidate {
  readonly key: string
  readonly name: string
  readonly kind: SnapshotKind
  readonly startRevision: number
  readonly lastRevision: number
  readonly createdOn: Date
  readonly isChunk: boolean
  /** Stored size in bytes. */
  readonly sizeBytes: number
  /** When the store last wrote it (absent or `new Date(0)`: the store did not say). */
  readonly lastModified?: Date | undefined
}

export interface GcPolicyOptions {
  readonly policy: GcPolicy
  /** `LimitBased`: full snapshots to keep (> 0). Ignored by `Exponential`. */
  readonly maxBackups: number
  /** Deltas of older streams created within this many seconds before `now` are kept; 0 keeps none. */
  readonly deltaRetentionSeconds: number
}

/** Why an object is kept or deleted. Stable strings: `--json` prints them. */
export type GcRule =
  | 'latest-set' // the newest full snapshot and its deltas: never touched
  | 'delta-retention' // a delta of an older stream, inside (keep) or outside (delete) the retention period
  | 'exponential-current-hour'
  | 'exponential-hourly'
  | 'exponential-daily'
  | 'exponential-weekly'
  | 'exponential-expired'
  | 'max-backups'
  | 'chunk-leftover'
  | 'zero-byte'
  | 'leftover-grace' // a chunk or zero-byte object too young to remove

export interface GcDecision {
  readonly object: GcCandidate
  readonly action: 'keep' | 'delete'
  readonly rule: GcRule
  /** One line in words: the numbers the rule compared. */
  readonly reason: string
  /**
   * Index of the stream (0 = oldest) whose steps decided this object, for the executor's
   * ordering: a stream's full snapshot is deleted only after all its deltas were. `-1` for
   * chunks and zero-byte objects.
   */
  readonly stream: number
}

export interface GcPlan {
  /** One decision per listed object, in listing order. */
  readonly decisions: readonly GcDecision[]
  /** The full snapshot the newest stream starts with (never deleted), or null. */
  readonly newestFull: string | null
  readonly now: Date
  readonly options: GcPolicyOptions
}

const HOUR_MS = 3_600_000
const MAX_INT32 = 2 ** 31 - 1

/**
 * When a leftover (chunk or zero-byte object) was last written: the store's last-modified time
 * when the listing reports one (every driver does; S3, GCS and ABS give `new Date(0)` when the
 * backend leaves it out), else the creation time in its name. The store's time is the better
 * clock: a chunk is written when its part is uploaded, long after the time in its name when a
 * large snapshot uploads slowly, and an object copied from another store is new here.
 */
export function leftoverTime(object: GcCandidate): { at: Date; source: 'store' | 'name' } {
  return object.lastModified && object.lastModified.getTime() > 0 ? { at: object.lastModified, source: 'store' } : { at: object.createdOn, source: 'name' }
}

/**
 * Decides the fate of every object of a listing sorted as etcd-backup-restore sorts (docs/backup-layout.md).
 * @param sorted the whole listing (chunks included), sorted by `compareSnapshots`
 * @param now the collection time (UTC); all age arithmetic is relative to it
 * @throws StewardError `CONFIG_INVALID` for `LimitBased` with `maxBackups < 1`; `INTERNAL` if
 *   a decision would delete the newest full snapshot or a delta after it (a bug, never data loss)
 */
export function planGarbageCollection(sorted: readonly GcCandidate[], now: Date, options: GcPolicyOptions): GcPlan {
  if (options.policy === 'LimitBased' && !(options.maxBackups >= 1)) {
    throw new StewardError('CONFIG_INVALID', 'gc', `--max-backups must be at least 1 with the LimitBased policy, got ${options.maxBackups}`)
  }
  const decided = new Map<GcCandidate, GcDecision>()
  const decide = (object: GcCandidate, action: 'keep' | 'delete', rule: GcRule, reason: string, stream: number) => {
    if (!decided.has(object)) decided.set(object, { object, action, rule, reason, stream })
  }

  // steward's additions first: complete-snapshot chunks and zero-byte objects never enter the policy.
  const graceEdge = now.getTime() - LEFTOVER_GRACE_SECONDS * 1000
  const newestComplete = [...sorted].reverse().find((o) => !o.isChunk && o.sizeBytes > 0)
  const list: GcCandidate[] = []
  for (const object of sorted) {
    const written = leftoverTime(object)
    const young = `${written.source === 'store' ? 'last written' : 'created'} less than ${LEFTOVER_GRACE_SECONDS / 3600}h ago`
    if (object.isChunk) {
      if (written.at.getTime() > graceEdge) decide(object, 'keep', 'leftover-grace', `chunk ${young}; may belong to an upload in progress`, -1)
      else if (newestComplete && newestComplete.lastRevision > 0 && object.startRevision <= newestComplete.lastRevision) decide(object, 'delete', 'chunk-leftover', `chunk of a snapshot up to revision ${object.lastRevision}, at or before the newest complete snapshot (revision ${newestComplete.lastRevision})`, -1)
      else decide(object, 'keep', 'chunk-leftover', 'chunk newer than every complete snapshot', -1)
    } else if (object.sizeBytes === 0) {
      if (written.at.getTime() > graceEdge) decide(object, 'keep', 'leftover-grace', `zero-byte object ${young}; may be an upload in progress`, -1)
      else decide(object, 'delete', 'zero-byte', 'zero-byte object: a failed upload, not a snapshot', -1)
    } else {
      list.push(object)
    }
  }

  // Stream starts F: index 0 whatever its kind, then every full snapshot.
  const starts = [0]
  for (let i = 1; i < list.length; i++) if (list[i]!.kind === 'Full') starts.push(i)
  const newestStart = list.length > 0 ? starts.at(-1)! : -1
  const newestFull = newestStart >= 0 && list[newestStart]!.kind === 'Full' ? list[newestStart]! : null
  for (let i = Math.max(newestStart, 0); i < list.length; i++) {
    decide(list[i]!, 'keep', 'latest-set', i === newestStart && newestFull ? 'newest full snapshot' : newestFull ? `delta after the newest full snapshot ${newestFull.name}` : 'newest stream (no full snapshot before it)', starts.length - 1)
  }

  const cutoff = now.getTime() - options.deltaRetentionSeconds * 1000
  const collectDeltas = (k: number) => {
    const from = starts[k]!
    const to = starts[k + 1]!
    for (let i = to - 1; i >= from; i--) {
      const object = list[i]!
      if (object.kind !== 'Incr') continue
      if (object.createdOn.getTime() < cutoff) decide(object, 'delete', 'delta-retention', retentionReason(object, options.deltaRetentionSeconds, true), k)
    }
  }

  if (options.policy === 'LimitBased') {
    for (let k = 0; k <= starts.length - 2; k++) {
      collectDeltas(k)
      const full = list[starts[k]!]!
      const rank = starts.length - k
      if (k < starts.length - options.maxBackups) decide(full, 'delete', 'max-backups', `backup ${rank} counting from the newest; --max-backups ${options.maxBackups}`, k)
      else decide(full, 'keep', 'max-backups', `backup ${rank} counting from the newest; --max-backups ${options.maxBackups}`, k)
    }
  } else {
    exponential(list, starts, now, collectDeltas, decide)
  }

  // Deltas of older streams the retention step kept, and anything no step reached.
  for (const [k, from] of starts.entries()) {
    const to = k + 1 < starts.length ? starts[k + 1]! : list.length
    for (let i = from; i < to; i++) {
      const object = list[i]!
      if (object.kind === 'Incr') decide(object, 'keep', 'delta-retention', retentionReason(object, options.deltaRetentionSeconds, false), k)
    }
  }

  const decisions = sorted.map((object) => {
    const decision = decided.get(object)
    if (!decision) throw new StewardError('INTERNAL', 'gc', `no garbage-collection rule reached ${object.key}; nothing was deleted`)
    return decision
  })
  const plan: GcPlan = { decisions, newestFull: newestFull?.name ?? null, now, options }
  assertSafe(plan, list, newestStart)
  return plan
}

/**
 * etcd-backup-restore's Exponential rule (docs/gc.md): walks full snapshots newest to oldest,
 * comparing each (`older`) with the next newer one, in hours back from the end of today (UTC).
 */
function exponential(
  list: readonly GcCandidate[],
  starts: readonly number[],
  now: Date,
  collectDeltas: (k: number) => void,
  decide: (object: GcCandidate, action: 'keep' | 'delete', rule: GcRule, reason: string, stream: number) => void,
): void {
  let endOfDay = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 23, 59, 59)
  let weekShifted = false
  const hoursBack = (object: GcCandidate) => Math.trunc((endOfDay - object.createdOn.getTime()) / HOUR_MS)
  for (let k = starts.length - 1; k >= 1; k--) {
    const newer = list[starts[k]!]!
    const older = list[starts[k - 1]!]!
    collectDeltas(k - 1)
    const age = endOfDay - older.createdOn.getTime()
    let threshold: number
    let band: GcRule
    if (age < 24 * HOUR_MS) {
      threshold = older.createdOn.getUTCHours() === now.getUTCHours() ? 0 : 1
      band = threshold === 0 ? 'exponential-current-hour' : 'exponential-hourly'
    } else if (age < 8 * 24 * HOUR_MS) {
      threshold = 24
      band = 'exponential-daily'
    } else if (age < 35 * 24 * HOUR_MS) {
      if (!weekShifted) {
        endOfDay -= 24 * HOUR_MS
        weekShifted = true
      }
      threshold = 168
      band = 'exponential-weekly'
    } else {
      threshold = MAX_INT32
      band = 'exponential-expired'
    }
    const olderHours = hoursBack(older)
    const newerHours = hoursBack(newer)
    const hourChange = olderHours - newerHours
    const dayChange = Math.trunc(olderHours / 24) - Math.trunc(newerHours / 24)
    const weekChange = Math.trunc(olderHours / 168) - Math.trunc(newerHours / 168)
    const keep = threshold === 0 || Math.trunc(hourChange / threshold) !== 0 || Math.trunc((dayChange * 24) / threshold) !== 0 || Math.trunc((weekChange * 168) / threshold) !== 0
    const numbers = `${olderHours}h back from end of day vs ${newerHours}h for the next newer full snapshot (hour/day/week change ${hourChange}/${dayChange}/${weekChange})`
    const unit = band === 'exponential-hourly' ? 'hour' : band === 'exponential-daily' ? 'day' : 'week'
    const reason =
      band === 'exponential-current-hour' ? `created in the current hour (${now.getUTCHours()}:00 UTC)`
      : band === 'exponential-expired' ? `older than 5 weeks (${Math.floor(age / HOUR_MS)}h back from end of day)`
      : keep ? `newest full snapshot of its ${unit}: ${numbers}`
      : `a newer full snapshot is in the same ${unit}: ${numbers}`
    decide(older, keep ? 'keep' : 'delete', band, reason, k - 1)
  }
}

function retentionReason(object: GcCandidate, retentionSeconds: number, deleted: boolean): string {
  if (retentionSeconds === 0) return deleted ? 'delta of an older backup (no --delta-snapshot-retention-period)' : 'delta of an older backup'
  return deleted ? `delta of an older backup, created before the ${retentionSeconds}s retention period` : `delta of an older backup, inside the ${retentionSeconds}s retention period`
}

function assertSafe(plan: GcPlan, list: readonly GcCandidate[], newestStart: number): void {
  if (newestStart < 0) return
  const protectedKeys = new Set(list.slice(newestStart).map((o) => o.key))
  const bad = plan.decisions.find((d) => d.action === 'delete' && protectedKeys.has(d.object.key))
  if (bad) throw new StewardError('INTERNAL', 'gc', `garbage collection planned to delete ${bad.object.key}, part of the latest set; nothing was deleted`)
}
