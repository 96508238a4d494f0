/**
 * etcd-backup-restore's Snapshot JSON, as `/snapshot/full`, `/snapshot/delta` and
 * `/snapshot/latest` answer it (docs/serve.md "Snapshot JSON"): field order and names exactly,
 * including the misspelled `immutabilityExpriyTime`, times in Go's RFC 3339 with trailing
 * fractional zeros trimmed.
 */
import type { SnapshotRef } from '../../../snapshot/name.ts'

export interface SnapshotJson {
  readonly createdOn: string
  readonly immutabilityExpriyTime: string
  readonly versionID: string | null
  readonly kind: 'Full' | 'Incr'
  readonly snapDir: string
  readonly snapName: string
  readonly prefix: string
  readonly compressionSuffix: string
  readonly startRevision: number
  readonly lastRevision: number
  readonly isChunk: boolean
  readonly isFinal: boolean
}

/** Go zero time, as `time.Time{}` marshals. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z'

/** RFC 3339 as Go's `time.Time` marshals UTC times: fractional seconds only when non-zero, trailing zeros trimmed. */
export function goTime(date: Date): string {
  return date.toISOString().replace(/\.(\d*?)0*Z$/, (_, digits: string) => (digits ? `.${digits}Z` : 'Z'))
}

/**
 * @param listed true for snapshots read from a listing (prefix `"<store prefix>/v2/"`), false
 *   for one this process just created (prefix `""`, as etcd-backup-restore)
 */
export function snapshotJson(ref: SnapshotRef, listed: boolean): SnapshotJson {
  const slash = ref.key.lastIndexOf('/')
  const folder = slash >= 0 ? ref.key.slice(0, slash + 1) : ''
  // v1 keys carry the backup dir: <prefix>/v1/Backup-<unix>/<name>; snapDir is that dir.
  const v1 = ref.layout === 'v1' ? /^(.*\/)?v1\/([^/]+)\/[^/]+$/.exec(ref.key) : null
  return {
    createdOn: goTime(ref.createdOn),
    immutabilityExpriyTime: GO_ZERO_TIME,
    versionID: null,
    kind: ref.kind,
    snapDir: v1 ? v1[2]! : '',
    snapName: ref.name.split('/').at(-1)!,
    prefix: listed ? (v1 ? `${v1[1] ?? ''}v1/` : folder) : '',
    compressionSuffix: ref.compressionSuffix,
    startRevision: ref.startRevision,
    lastRevision: ref.lastRevision,
    isChunk: ref.isChunk,
    isFinal: ref.isFinal,
  }
}
