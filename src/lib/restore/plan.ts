/**
 * What a restore of the store would do, predicted from the listing alone (names and sizes):
 * which full snapshot and deltas it uses, the revision it reaches, and where it would fail.
 * Built from the restore's own selection (`fullCandidates`, `deltaChain`, `fallbackFits` in
 * restore.ts / deltas.ts), so `snapshot list` and `restore` cannot disagree about the set.
 * Problems found by name and size only; content corruption shows on restore (or `verify`).
 * See docs/commands.md ("snapshot list").
 */
import { COMPRESSION_SUFFIXES } from '../snapshot/name.ts'
import type { StoredSnapshot } from '../snapshot/backup-store.ts'
import { TRAILER_BYTES } from '../snapshot/verify.ts'
import { deltaChain, gapError } from './deltas.ts'
import { chainEnd, fallbackFits, fullCandidates } from './restore.ts'

/** Something wrong with one stored object that a restore would trip over. */
export interface ObjectProblem {
  /** Object key. */
  readonly object: string
  /** The error code a restore would fail with. */
  readonly code: 'SNAPSHOT_CORRUPT' | 'COMPRESSION_UNSUPPORTED' | 'SNAPSHOT_NOT_FOUND'
  readonly problem: string
}

/** A default restore's outcome (`steward restore` with no point-in-time or failure flags). */
export interface RestorePrediction {
  /** The full snapshot it starts from (null: the store has none). */
  readonly full: StoredSnapshot | null
  /** The deltas it applies, in order (up to the one it would fail on). */
  readonly deltas: readonly StoredSnapshot[]
  /** The revision it reaches when it succeeds; null when it fails. */
  readonly reachesRevision: number | null
  /** Where it fails, and what `--allow-partial` / `--fallback-to-older-full` would do instead. */
  readonly failure: {
    readonly object: string
    readonly code: ObjectProblem['code']
    readonly problem: string
    /** Revision `--allow-partial` reaches (null: the full snapshot itself fails, nothing to keep). */
    readonly allowPartialRevision: number | null
    /** Full snapshot `--fallback-to-older-full` would use (when the newest full fails). */
    readonly fallbackFull: string | null
  } | null
  /** Every problem found, per object, in store order (including objects a restore would not read). */
  readonly problems: readonly ObjectProblem[]
}

const READABLE_SUFFIXES: readonly string[] = COMPRESSION_SUFFIXES

/** A problem visible from an object's name and size alone, or undefined. */
export function objectProblem(s: StoredSnapshot): ObjectProblem | undefined {
  if (s.isChunk) return undefined
  if (!READABLE_SUFFIXES.includes(s.compressionSuffix)) {
    return { object: s.key, code: 'COMPRESSION_UNSUPPORTED', problem: `unreadable compression suffix '${s.compressionSuffix}' (steward reads ${COMPRESSION_SUFFIXES.map((x) => `'${x}'`).join(', ')})` }
  }
  if (s.sizeBytes === 0) return { object: s.key, code: 'SNAPSHOT_CORRUPT', problem: 'zero-byte object' }
  if (s.kind === 'Full' && s.compressionSuffix === '' && s.sizeBytes % 512 !== TRAILER_BYTES) {
    return { object: s.key, code: 'SNAPSHOT_CORRUPT', problem: `truncated: ${s.sizeBytes} bytes (an uncompressed full snapshot is a multiple of 512 plus 32)` }
  }
  return undefined
}

/**
 * Predicts a default restore of `all` (sorted as `BackupStore.list()` returns it).
 * Never throws: a store without a full snapshot gives `full: null`.
 */
export function predictRestore(all: readonly StoredSnapshot[]): RestorePrediction {
  const problems: ObjectProblem[] = []
  const byKey = new Map<string, ObjectProblem>()
  for (const s of all) {
    const problem = objectProblem(s)
    if (problem) byKey.set(s.key, problem)
  }
  let candidates: StoredSnapshot[]
  try {
    candidates = fullCandidates(all, {}, undefined)
  } catch {
    candidates = []
  }
  const full = candidates[0]
  // Gaps are checked after the full snapshot a default restore uses; an older full snapshot
  // whose deltas were collected is not a problem (a newer full covers those revisions).
  const gapProblems = new Map<string, ObjectProblem>()
  const newestGap = full ? deltaChain(all, full.lastRevision, full.name).gap : undefined
  if (newestGap) gapProblems.set(newestGap.before.key, { object: newestGap.before.key, code: 'SNAPSHOT_NOT_FOUND', problem: gapError(newestGap).reason })
  for (const s of all) {
    const problem = byKey.get(s.key) ?? gapProblems.get(s.key)
    if (problem) problems.push(problem)
  }
  if (!full) return { full: null, deltas: [], reachesRevision: null, failure: null, problems }

  const wanted = chainEnd(all, full)
  const fullProblem = byKey.get(full.key)
  if (fullProblem) {
    const fallback = candidates.slice(1).find((older) => !byKey.has(older.key) && fallbackFits(all, older, wanted))
    return { full, deltas: [], reachesRevision: null, failure: { ...fullProblem, allowPartialRevision: null, fallbackFull: fallback?.name ?? null }, problems }
  }
  const chain = deltaChain(all, full.lastRevision, full.name)
  const deltas: StoredSnapshot[] = []
  let reached = full.lastRevision
  for (const delta of chain.deltas) {
    const problem = byKey.get(delta.key)
    if (problem) return { full, deltas, reachesRevision: null, failure: { ...problem, allowPartialRevision: reached, fallbackFull: null }, problems }
    deltas.push(delta)
    reached = delta.lastRevision
  }
  if (chain.gap) {
    const problem = gapProblems.get(chain.gap.before.key)!
    return { full, deltas, reachesRevision: null, failure: { ...problem, allowPartialRevision: reached, fallbackFull: null }, problems }
  }
  return { full, deltas, reachesRevision: reached, failure: null, problems }
}
