/**
 * Full snapshots: etcd's `Maintenance.Snapshot` stream → trailer verification →
 * compression → the store, in constant memory whatever the database size.
 *
 * Naming follows etcd-backup-restore (§2.1, §9.2): the revision in the name is the header
 * revision of a read made just before the stream is opened, so the content may be a few
 * revisions newer than the name, never older; the first delta after it overlaps instead of
 * leaving a gap, and restore skips the overlap.
 */
import { pipeline } from 'node:stream/promises'
import { createSnapshotCompressor, snapshotCompressorHeldBytes, suffixForPolicy, type CompressionPolicy, type CompressionTuning } from '../compression/index.ts'
import { StewardError, isStewardError } from '../errors.ts'
import type { EtcdClient } from '../etcd/client.ts'
import type { BackupStore, StoredSnapshot } from './backup-store.ts'
import { formatSnapshotName, parseSnapshotKey } from './name.ts'
import { FullSnapshotVerifier } from './verify.ts'

export interface FullSnapshotOptions {
  readonly compression: CompressionPolicy
  /** Level and threads for compression (gzip and zlib compress on `workers` threads). */
  readonly tuning?: CompressionTuning
  /** Mark the snapshot `.final` (taken before migration, hibernation or deletion). */
  readonly final?: boolean
  /**
   * With `final`: return an existing final full snapshot at etcd's current revision instead of
   * storing a new one (etcd-backup-restore's rule for `/snapshot/full?final=true`). [true]
   * `steward compact` passes false: its snapshot must be a new, compacted object.
   */
  readonly reuseFinal?: boolean
  /** Called with the database bytes read from etcd so far. */
  readonly onProgress?: (dbBytes: number) => void
  readonly signal?: AbortSignal
  /** Clock, for tests. @default () => new Date() */
  readonly now?: () => Date
}

/** What `steward snapshot` reports. */
export interface FullSnapshotResult {
  readonly kind: 'Full'
  readonly name: string
  readonly key: string
  /** Revision in the name (etcd's revision just before the snapshot). */
  readonly revision: number
  /** Database size in bytes (without etcd's 32-byte trailer). */
  readonly dbSizeBytes: number
  /** Stored object size in bytes (after compression). */
  readonly storedSizeBytes: number
  readonly compression: CompressionPolicy
  /** SHA-256 of the database, hex, as verified against etcd's trailer. */
  readonly sha256: string
  readonly isFinal: boolean
  /** Endpoint the snapshot was streamed from. */
  readonly endpoint: string
  readonly durationSeconds: number
  /** True when a `.final` request found an identical final snapshot and stored nothing new. */
  readonly reusedExisting: boolean
}

/**
 * Takes a full snapshot of etcd into `store`.
 * @throws StewardError `ETCD_UNREACHABLE` / `ETCD_TLS` / `ETCD_AUTH` (etcd), `SNAPSHOT_CORRUPT` /
 *   `SNAPSHOT_NOT_BBOLT` (the stream failed verification; nothing is stored), `STORE_*`, `ABORTED`
 */
export async function takeFullSnapshot(etcd: EtcdClient, store: BackupStore, options: FullSnapshotOptions): Promise<FullSnapshotResult> {
  const started = performance.now()
  const now = options.now ?? (() => new Date())
  const { revision, endpoint } = await etcd.currentRevision()

  if (options.final && options.reuseFinal !== false) {
    const previous = (await store.list()).filter((s) => !s.isChunk).at(-1)
    if (previous && previous.kind === 'Full' && previous.isFinal && previous.lastRevision === revision) {
      return reuse(previous, endpoint, options.compression, (performance.now() - started) / 1000)
    }
  }

  const name = formatSnapshotName({
    kind: 'Full',
    startRevision: 0,
    lastRevision: revision,
    createdOn: now(),
    compressionSuffix: suffixForPolicy(options.compression),
    isFinal: options.final ?? false,
  })
  const key = store.keyFor(name)
  // A store that cannot take the object (a file where its directory should be, read-only) fails
  // here, before etcd starts streaming the database.
  await store.snapstore.prepareWrite?.(key, options.signal ? { signal: options.signal } : {})
  // A failed upload stops etcd's stream at once (the gRPC call is cancelled), instead of the
  // stream running on until --etcd-snapshot-timeout.
  const stopStream = new AbortController()
  const streamSignal = options.signal ? AbortSignal.any([options.signal, stopStream.signal]) : stopStream.signal
  const source = await etcd.snapshot(endpoint, streamSignal)
  // Counting (progress, garbage release) happens in the verifier, and `none` has no compression
  // stage: each stream stage costs per chunk, and a snapshot is about 100,000 chunks per GiB.
  const verifier = new FullSnapshotVerifier({ source: `the snapshot stream from ${endpoint}`, onBytes: options.onProgress ?? (() => undefined) })
  const compressor = options.compression === 'none' ? undefined : createSnapshotCompressor(options.compression, options.tuning)
  // One buffer budget for the pipeline: the compressor's blocks come out of the upload's part buffers.
  const heldElsewhereBytes = compressor ? snapshotCompressorHeldBytes(options.compression, options.tuning) : 0
  const upload = store.snapstore.put(key, compressor ?? verifier, { heldElsewhereBytes, ...(options.signal ? { signal: options.signal } : {}) })
  upload.catch(() => stopStream.abort())
  try {
    const [, info] = await Promise.all([
      compressor ? pipeline(source.stream, verifier, compressor, { signal: streamSignal }) : pipeline(source.stream, verifier, { signal: streamSignal }),
      upload,
    ])
    const digest = verifier.digest
    if (!digest) throw new StewardError('INTERNAL', 'snapshot', 'verification finished without a digest')
    return {
      kind: 'Full',
      name,
      key,
      revision,
      dbSizeBytes: digest.dbSizeBytes,
      storedSizeBytes: info.sizeBytes,
      compression: options.compression,
      sha256: digest.sha256,
      isFinal: options.final ?? false,
      endpoint,
      durationSeconds: (performance.now() - started) / 1000,
      reusedExisting: false,
    }
  } catch (error) {
    // The put is atomic, so a failed pipeline leaves nothing listed; make sure it settled.
    stopStream.abort()
    const uploadFailure: unknown = await upload.then(() => undefined, (failure: unknown) => failure)
    if (isStewardError(error)) throw error
    // A failed write destroys the compressor, so the stream side may report "premature close"
    // first; the store's error is the cause.
    if (isStewardError(uploadFailure)) throw uploadFailure
    if ((error as { name?: string }).name === 'AbortError') throw new StewardError('ABORTED', 'snapshot', 'snapshot aborted; nothing was stored', { cause: error })
    throw new StewardError('INTERNAL', 'snapshot', `snapshot failed: ${(error as Error).message}`, { cause: error })
  }
}

function reuse(previous: StoredSnapshot, endpoint: string, compression: CompressionPolicy, durationSeconds: number): FullSnapshotResult {
  const ref = parseSnapshotKey(previous.key)
  return {
    kind: 'Full',
    name: previous.name,
    key: previous.key,
    revision: previous.lastRevision,
    dbSizeBytes: 0,
    storedSizeBytes: previous.sizeBytes,
    compression,
    sha256: '',
    isFinal: ref?.isFinal ?? true,
    endpoint,
    durationSeconds,
    reusedExisting: true,
  }
}
