/**
 * Snapshot names and object keys exactly as etcd-backup-restore v2 writes and reads them
 * (research notes `etcd-backup-restore.md` §2.1–§2.4):
 *
 *   <prefix>/v2/<Kind>-<start:%08d>-<last:%08d>-<unixSeconds><compressionSuffix>[.final]
 *
 * and the legacy v1 layout `<prefix>/v1/Backup-<unix>/<name>` (read only).
 */

/** `Full` snapshots hold a whole database; `Incr` (delta) snapshots hold watch events. */
export type SnapshotKind = 'Full' | 'Incr'

/** Compression suffixes etcd-backup-restore writes, plus steward's `.zst`. `''` is uncompressed. */
export const COMPRESSION_SUFFIXES = ['', '.gz', '.zlib', '.Z', '.zst'] as const
export type CompressionSuffix = (typeof COMPRESSION_SUFFIXES)[number]

/** Everything a snapshot's object key says about it. */
export interface SnapshotRef {
  readonly kind: SnapshotKind
  /** First revision the snapshot covers; always 0 for full snapshots. */
  readonly startRevision: number
  /** Last revision the snapshot covers (for a full snapshot: etcd's revision read just before it was taken). */
  readonly lastRevision: number
  /** Creation time, whole seconds (the name holds unix seconds). */
  readonly createdOn: Date
  /** As written in the name, e.g. `.gz`; may be a suffix steward cannot decode (checked on read). */
  readonly compressionSuffix: string
  /** Marked `.final` (taken before a migration, hibernation or deletion). */
  readonly isFinal: boolean
  /** A part object under a snapshot key (GCS/Swift chunked uploads), never a snapshot itself. */
  readonly isChunk: boolean
  /** `v1` or `v2` layout. */
  readonly layout: 'v1' | 'v2'
  /** Store-relative key of the object, e.g. `etcd-main/v2/Full-00000000-00000022-1795373610.gz`. */
  readonly key: string
  /** The snapshot's name: the last path segment(s) after the layout folder (and the v1 backup dir). */
  readonly name: string
}

/** Zero-pads a revision to at least 8 digits (wider numbers stay whole, as Go's `%08d`). */
export function pad8(revision: number): string {
  return String(revision).padStart(8, '0')
}

/**
 * Formats a snapshot name (§2.1).
 * @param createdOn whole seconds are used; sub-second precision is dropped.
 */
export function formatSnapshotName(input: {
  kind: SnapshotKind
  startRevision: number
  lastRevision: number
  createdOn: Date
  compressionSuffix: CompressionSuffix
  isFinal?: boolean
}): string {
  const unix = Math.floor(input.createdOn.getTime() / 1000)
  const start = input.kind === 'Full' ? 0 : input.startRevision
  return `${input.kind}-${pad8(start)}-${pad8(input.lastRevision)}-${unix}${input.compressionSuffix}${input.isFinal ? '.final' : ''}`
}

/** The v2 key for a name under a store prefix (`''` prefix gives `v2/<name>`). */
export function v2Key(storePrefix: string, name: string): string {
  const prefix = trimSlashes(storePrefix)
  return prefix ? `${prefix}/v2/${name}` : `v2/${name}`
}

/**
 * Parses an object key into a {@link SnapshotRef} following §2.3, or returns `null` for a key
 * that is not a snapshot (etcd-backup-restore skips those with a warning).
 */
export function parseSnapshotKey(key: string): SnapshotRef | null {
  let at = key.lastIndexOf('v1/')
  let layout: 'v1' | 'v2' = 'v1'
  if (at === -1) {
    at = key.lastIndexOf('v2/')
    layout = 'v2'
  }
  if (at === -1) return null
  const tokens = key.slice(at + 3).split('/')
  if (tokens.length < 1 || tokens.length > 3) return null
  let name: string
  let isChunk: boolean
  if (layout === 'v1') {
    if (tokens.length < 2) return null
    name = tokens.slice(1).join('/')
    isChunk = tokens.length === 3
  } else {
    if (tokens.length > 2) return null
    name = tokens.join('/')
    isChunk = tokens.length === 2
  }
  const parts = name.split('-')
  if (parts.length !== 4) return null
  const [kindToken, startToken, lastToken, tail] = parts as [string, string, string, string]
  if (kindToken !== 'Full' && kindToken !== 'Incr') return null
  const startRevision = parseDecimal(startToken)
  const lastRevision = parseDecimal(lastToken)
  if (startRevision === null || lastRevision === null || startRevision > lastRevision) return null
  const pieces = (tail.split('/')[0] ?? '').split('.')
  const unix = parseDecimal(pieces[0] ?? '')
  if (unix === null) return null
  let compressionSuffix = ''
  let isFinal = false
  if (pieces.length >= 2) {
    if (pieces[1] !== 'final') compressionSuffix = `.${pieces[1]}`
    if (pieces[pieces.length - 1] === 'final') isFinal = true
  }
  return {
    kind: kindToken,
    startRevision,
    lastRevision,
    createdOn: new Date(unix * 1000),
    compressionSuffix,
    isFinal,
    isChunk,
    layout,
    key,
    name,
  }
}

/** Sort order of §2.4: by last revision, then non-chunk before chunk, then creation time. */
export function compareSnapshots(a: SnapshotRef, b: SnapshotRef): number {
  if (a.lastRevision !== b.lastRevision) return a.lastRevision - b.lastRevision
  if (a.isChunk !== b.isChunk) return a.isChunk ? 1 : -1
  if (a.isChunk) return 0
  return a.createdOn.getTime() - b.createdOn.getTime()
}

/** The set a restore uses (§2.5): the newest full snapshot and every later delta, oldest first. */
export interface SnapshotSet {
  readonly full: SnapshotRef | null
  readonly deltas: readonly SnapshotRef[]
}

/** Picks the latest set from a list sorted by {@link compareSnapshots} (§2.5). */
export function latestSet(sorted: readonly SnapshotRef[]): SnapshotSet {
  const deltas: SnapshotRef[] = []
  for (let i = sorted.length - 1; i >= 0; i--) {
    const ref = sorted[i]!
    if (ref.isChunk) continue
    if (ref.kind === 'Full') return { full: ref, deltas: deltas.reverse() }
    deltas.push(ref)
  }
  return { full: null, deltas: deltas.reverse() }
}

function parseDecimal(token: string): number | null {
  if (!/^\d+$/.test(token)) return null
  const value = Number(token)
  return Number.isSafeInteger(value) ? value : null
}

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '')
}
