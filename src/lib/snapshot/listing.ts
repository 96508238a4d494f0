/** What `steward snapshot list` reports: every snapshot, and the set a restore would use. */
import type { BackupStore, StoredSnapshot } from './backup-store.ts'
import { latestSet } from './name.ts'
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
}

export interface StoreListing {
  readonly location: string
  readonly snapshots: readonly ListedSnapshot[]
  /** The latest set (etcd-backup-restore's rule): base full snapshot and the deltas after it. */
  readonly restoreSet: {
    readonly full: string | null
    readonly deltas: readonly string[]
    /** Revision a restore of this set reaches (last delta, else the full snapshot). */
    readonly reachesRevision: number | null
    /** Creation time of the newest snapshot in the set. */
    readonly reachesTime: string | null
  }
  /** Unfinished uploads of killed snapshots (never restored from); `stale` ones the next snapshot removes. */
  readonly partials: readonly PartialUpload[]
}

const POLICY_BY_SUFFIX: Record<string, string> = { '': 'none', '.gz': 'gzip', '.zlib': 'zlib', '.Z': 'lzw', '.zst': 'zstd' }

/** Lists the store. @throws StewardError `STORE_*` */
export async function describeStore(store: BackupStore): Promise<StoreListing> {
  const all = await store.list()
  const set = latestSet(all)
  const inSet = new Set([set.full?.key, ...set.deltas.map((d) => d.key)].filter(Boolean))
  const newest = set.deltas.at(-1) ?? set.full
  const partials = await listPartialUploads(store)
  return {
    partials,
    location: store.location,
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
    })),
    restoreSet: {
      full: set.full?.name ?? null,
      deltas: set.deltas.map((d) => d.name),
      reachesRevision: newest?.lastRevision ?? null,
      reachesTime: newest?.createdOn.toISOString() ?? null,
    },
  }
}

/** A plain-text table of the listing, for terminals. */
export function renderListing(listing: StoreListing): string {
  if (listing.snapshots.length === 0) return [`No snapshots in ${listing.location}.`, ...renderPartials(listing.partials)].join('\n')
  const header = ['KIND', 'START', 'LAST', 'CREATED (UTC)', 'SIZE', 'COMPRESSION', 'FINAL', 'RESTORE', 'NAME']
  const rows = listing.snapshots.map((s) => [
    s.isChunk ? `${s.kind}(chunk)` : s.kind,
    String(s.startRevision),
    String(s.lastRevision),
    s.createdOn.replace('T', ' ').replace('.000Z', ''),
    String(s.sizeBytes),
    s.compression,
    s.isFinal ? 'yes' : '',
    s.inRestoreSet ? '*' : '',
    s.name,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  const set = listing.restoreSet
  const summary = set.full
    ? `Restore would use ${set.full}${set.deltas.length ? ` + ${set.deltas.length} delta(s)` : ''}, reaching revision ${set.reachesRevision} (${set.reachesTime}).`
    : 'No full snapshot: nothing to restore from.'
  return [`Store: ${listing.location}`, line(header), ...rows.map(line), '', summary, ...renderPartials(listing.partials)].join('\n')
}

/** The short extra section about unfinished uploads (none: no lines). */
function renderPartials(partials: readonly PartialUpload[]): string[] {
  if (partials.length === 0) return []
  return [
    '',
    `Unfinished uploads of killed snapshots (not snapshots; the next snapshot removes those older than ${PARTIAL_MAX_AGE_SECONDS / 3600}h):`,
    ...partials.map((p) => `  ${p.key}  ${p.sizeBytes} bytes  last written ${p.lastModified}${p.stale ? '  [stale]' : ''}`),
  ]
}
