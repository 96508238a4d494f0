/**
 * `steward restore`: restores the latest full snapshot (or a named one) from a store into a
 * data directory, with etcd's own restore logic, then checks the result. Deltas after the full
 * snapshot are applied by `deltas.ts` when present.
 *
 * Flow: pick the snapshot → stream it from the store, decompressing and verifying the SHA-256
 * trailer into a temp file in a hidden work dir beside the target (skipped for an uncompressed
 * object the store holds as a local file: that file is verified in place) → `etcdutl snapshot
 * restore` into the work dir → read the restored database's revision → rename into place.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { StewardError } from '../errors.ts'
import type { BackupStore, StoredSnapshot } from '../snapshot/backup-store.ts'
import { ByteCounter, FullSnapshotVerifier } from '../snapshot/verify.ts'
import { readBboltRevision } from '../validate/bbolt.ts'
import { assertReplaceable, makeWorkDir, swapIntoPlace } from './data-dir.ts'
import { etcdutlRestore, type RestoreMemberConfig } from './etcdutl.ts'

export interface RestoreOptions {
  /** Target data directory. */
  readonly dataDir: string
  /** Replace a non-empty `dataDir`. */
  readonly force: boolean
  readonly member: RestoreMemberConfig
  /** Restore this snapshot (name or key) instead of the latest full snapshot. */
  readonly snapshot?: string | undefined
  /** Skip the SHA-256 comparison (etcd's `--skip-hash-check`). */
  readonly skipHashCheck?: boolean
  /** Called with (bytes processed, total stored bytes or undefined). */
  readonly onProgress?: (bytes: number, totalBytes: number | undefined) => void
  readonly signal?: AbortSignal
}

export interface RestoreResult {
  readonly dataDir: string
  /** Name of the full snapshot restored. */
  readonly snapshot: string
  /** Revision in the snapshot's name. */
  readonly snapshotRevision: number
  /** Revision of the restored database (≥ the name's; the content may be newer). */
  readonly revision: number
  /** Restored database size in bytes. */
  readonly dbSizeBytes: number
  /** Deltas found after the full snapshot (applied by the delta restore; 0 here). */
  readonly deltasApplied: number
  readonly durationSeconds: number
}

/**
 * @throws StewardError `DATA_DIR_EXISTS` (before any download), `SNAPSHOT_NOT_FOUND`,
 *   `SNAPSHOT_CORRUPT`, `SNAPSHOT_NOT_BBOLT`, `COMPRESSION_UNSUPPORTED`, `STORE_*`, `TOOL_FAILED`;
 *   on any failure the target is untouched and the work dir removed.
 */
export async function restoreFullSnapshot(store: BackupStore, options: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now()
  await assertReplaceable(options.dataDir, options.force)
  const full = await pickFullSnapshot(store, options.snapshot)
  const work = await makeWorkDir(options.dataDir)
  try {
    const snapshotFile = await materialize(store, full, work, options)
    const restored = join(work, 'data')
    await etcdutlRestore(snapshotFile, restored, options.member, true, options.signal)
    const db = join(restored, 'member', 'snap', 'db')
    const info = await readBboltRevision(db)
    if (info.revision < full.lastRevision) {
      throw new StewardError('SNAPSHOT_CORRUPT', 'restore', `${full.name} restored to revision ${info.revision}, below the ${full.lastRevision} in its name`, {
        details: { snapshot: full.key, revision: info.revision },
      })
    }
    const dbSizeBytes = (await stat(db)).size
    await swapIntoPlace(restored, options.dataDir, options.force)
    return {
      dataDir: options.dataDir,
      snapshot: full.name,
      snapshotRevision: full.lastRevision,
      revision: info.revision,
      dbSizeBytes,
      deltasApplied: 0,
      durationSeconds: (performance.now() - started) / 1000,
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/**
 * The full snapshot to restore: the one named (by name or key), else the latest set's base.
 * @throws StewardError `SNAPSHOT_NOT_FOUND`
 */
export async function pickFullSnapshot(store: BackupStore, wanted?: string): Promise<StoredSnapshot> {
  const all = await store.list()
  if (wanted) {
    const found = all.find((s) => !s.isChunk && (s.name === wanted || s.key === wanted))
    if (!found) {
      throw new StewardError('SNAPSHOT_NOT_FOUND', 'restore', `snapshot ${wanted} is not in ${store.location}`, {
        hints: ['list what is there with: steward snapshot list'],
      })
    }
    if (found.kind !== 'Full') throw new StewardError('SNAPSHOT_NOT_FOUND', 'restore', `${wanted} is a delta snapshot; name a full snapshot`)
    return found
  }
  const full = all.filter((s) => !s.isChunk && s.kind === 'Full').at(-1)
  if (!full) {
    throw new StewardError('SNAPSHOT_NOT_FOUND', 'restore', `no full snapshot in ${store.location}`, {
      hints: ['check --store and --store-prefix', 'take one with: steward snapshot'],
      details: { objects: all.length },
    })
  }
  return full
}

/** Verified, decompressed snapshot as a file: the store's own file when possible, else a copy in `work`. */
async function materialize(store: BackupStore, full: StoredSnapshot, work: string, options: RestoreOptions): Promise<string> {
  const verifier = new FullSnapshotVerifier({ source: full.key, ...(options.skipHashCheck ? { skipHashCheck: true } : {}) })
  const total = full.compressionSuffix === '' ? full.sizeBytes : undefined
  const counter = new ByteCounter((bytes) => options.onProgress?.(bytes, total))
  const signalOption = options.signal ? { signal: options.signal } : {}
  if (store.snapstore.capabilities.localFiles && store.snapstore.localPath && full.compressionSuffix === '') {
    // Verify the store's own file in place; etcdutl then reads it directly (no copy).
    const path = store.snapstore.localPath(full.key)
    await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), counter, verifier, discard(), signalOption)
    return path
  }
  const target = join(work, 'snapshot.db')
  const decompressed = await store.open(full, options.signal)
  await pipeline(decompressed, counter, verifier, createWriteStream(target, { mode: 0o600 }), signalOption)
  return target
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() })
}
