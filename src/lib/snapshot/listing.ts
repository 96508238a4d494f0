/**
 * What `steward snapshot list` reports: every snapshot, the problems a restore would trip over
 * (per object), and what a default restore would really do — the set, the revision it reaches,
 * or where it fails — predicted by the restore's own selection (`restore/plan.ts`).
 */
import { formatBytes, plural } from '../format.ts'
import { predictRestore, type ObjectProblem } from '../restore/plan.ts'
import type { BackupStore, StoredSnapshot } from './backup-store.ts'
import { PARTIAL_MAX_AGE_SECONDS, listPartialUploads, type PartialUpload } from './partials.ts'

/** One row of the listing. */
export interface ListedSnapshot {
  readonly name: string
  readonly key: string
  readonly kind: 'Full' | 'Incr'
  readonly startRevision: number
  readonly lastRevision: number
  /** ISO-8601 creation time (whole seconds, from the name). */
  readonly createdOn: string
  /** Stored size in bytes. */
  readonly sizeBytes: number
  /** Compression policy read from the suffix (`gzip`, `zlib`, `lzw`, `zstd`, `none`), or the raw suffix when unknown. */
  readonly compression: string
  readonly isFinal: boolean
  readonly isChunk: boolean
  readonly layout: 'v1' | 'v2'
  /** Part of the set a restore uses. */
  readonly inRestoreSet: boolean
  /** What is wrong with this object (see `problems`), or null. */
  readonly problem: string | null
}

export interface StoreListing {
  readonly location: string
  readonly snapshots: readonly ListedSnapshot[]
  /** What a default `steward restore` would do (restore's own selection, see restore/plan.ts). */
  readonly restoreSet: {
    /** Full snapshot it starts from. */
    readonly full: string | null
    /** Deltas it applies in order (up to the one it would fail on). */
    readonly deltas: readonly string[]
    /** Revision it reaches; null when it would fail (see `failure`). */
    readonly reachesRevision: number | null
    /** Creation time of the newest snapshot it applies. */
    readonly reachesTime: string | null
    /** Where it would fail, and what --allow-partial / --fallback-to-older-full would reach instead. */
    readonly failure: {
      readonly object: string
      readonly code: string
      readonly problem: string
      readonly allowPartialRevision: number | null
      readonly fallbackFull: string | null
    } | null
  }
  /** Unfinished uploads of killed snapshots (never restored from); `stale` ones the next snapshot removes. */
  readonly partials: readonly PartialUpload[]
  /** Every problem found from names and sizes, per object (gaps, zero-byte objects, unreadable suffixes). */
  readonly problems: readonly ObjectProblem[]
}

const POLICY_BY_SUFFIX: Record<string, string> = { '': 'none', '.gz': 'gzip', '.zlib': 'zlib', '.Z': 'lzw', '.zst': 'zstd' }

/** Lists the store. @throws StewardError `STORE_*` */
export async function describeStore(store: BackupStore): Promise<StoreListing> {
  return listingOf(store.location, await store.list(), await listPartialUploads(store))
}

/** The listing of `all` (sorted as `BackupStore.list()` returns it) at `location`, with the store's unfinished uploads. */
export function listingOf(location: string, all: readonly StoredSnapshot[], partials: readonly PartialUpload[] = []): StoreListing {
  const plan = predictRestore(all)
  const inSet = new Set([plan.full?.key, ...plan.deltas.map((d) => d.key)].filter(Boolean))
  const problemOf = new Map(plan.problems.map((p) => [p.object, p.problem]))
  const newest = plan.deltas.at(-1) ?? plan.full
  return {
    partials,
    location,
    snapshots: all.map((s: StoredSnapshot) => ({
      name: s.name,
      key: s.key,
      kind: s.kind,
      startRevision: s.startRevision,
      lastRevision: s.lastRevision,
      createdOn: s.createdOn.toISOString(),
      sizeBytes: s.sizeBytes,
      compression: POLICY_BY_SUFFIX[s.compressionSuffix] ?? s.compressionSuffix,
      isFinal: s.isFinal,
      isChunk: s.isChunk,
      layout: s.layout,
      inRestoreSet: inSet.has(s.key),
      problem: problemOf.get(s.key) ?? null,
    })),
    restoreSet: {
      full: plan.full?.name ?? null,
      deltas: plan.deltas.map((d) => d.name),
      reachesRevision: plan.reachesRevision,
      reachesTime: newest?.createdOn.toISOString() ?? null,
      failure: plan.failure,
    },
    problems: plan.problems,
  }
}

/** A plain-text table of the listing, for terminals: sizes in binary units, times in UTC. */
export function renderListing(listing: StoreListing): string {
  if (listing.snapshots.length === 0) return [`No snapshots in ${listing.location}.`, ...renderPartials(listing.partials)].join('\n')
  const header = ['KIND', 'START', 'LAST', 'CREATED (UTC)', 'SIZE', 'COMPRESSION', 'FINAL', 'RESTORE', 'NAME']
  const rows = listing.snapshots.map((s) => [
    s.isChunk ? `${s.kind}(chunk)` : s.kind,
    String(s.startRevision),
    String(s.lastRevision),
    utc(s.createdOn),
    formatBytes(s.sizeBytes),
    s.compression,
    s.isFinal ? 'yes' : '',
    s.inRestoreSet ? '*' : s.problem ? '!' : '',
    s.name,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
  const nameOf = new Map(listing.snapshots.map((s) => [s.key, s.name]))
  const problems = listing.problems.length
    ? ['', `Problems (${listing.problems.length}):`, ...listing.problems.map((p) => `  ! ${nameOf.get(p.object) ?? p.object}: ${p.problem} [${p.code}]`)]
    : []
  return [`Store: ${listing.location}`, line(header), ...rows.map(line), ...problems, '', restoreSummary(listing, nameOf), ...renderPartials(listing.partials)].join('\n')
}

function restoreSummary(listing: StoreListing, nameOf: ReadonlyMap<string, string>): string {
  const set = listing.restoreSet
  if (!set.full) return 'No full snapshot: nothing to restore from.'
  const using = `${set.full}${set.deltas.length ? ` + ${plural(set.deltas.length, 'delta')}` : ''}`
  if (!set.failure) return `Restore would use ${using}, reaching revision ${set.reachesRevision} (newest snapshot applied: ${utc(set.reachesTime!)} UTC).`
  const failure = set.failure
  const lines = [`Restore would FAIL at ${nameOf.get(failure.object) ?? failure.object}: ${failure.problem} [${failure.code}].`]
  if (failure.allowPartialRevision !== null) lines.push(`  With --allow-partial it would use ${using} and stop at revision ${failure.allowPartialRevision}.`)
  else if (failure.fallbackFull) lines.push(`  With --fallback-to-older-full it would start from ${failure.fallbackFull} instead.`)
  else lines.push('  No older full snapshot with a continuous delta chain can stand in; --snapshot names another full snapshot.')
  return lines.join('\n')
}

/** The short extra section about unfinished uploads (none: no lines). */
function renderPartials(partials: readonly PartialUpload[]): string[] {
  if (partials.length === 0) return []
  return [
    '',
    `Unfinished uploads of killed snapshots (not snapshots; the next snapshot removes those older than ${PARTIAL_MAX_AGE_SECONDS / 3600}h):`,
    ...partials.map((p) => `  ${p.key}  ${formatBytes(p.sizeBytes)}  last written ${p.lastModified}${p.stale ? '  [stale]' : ''}`),
  ]
}

/** `2026-11-22 18:54:06` from an ISO time. */
function utc(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d{3}Z$/, '')
}
