/**
 * Snapshot-level view of a snapstore under one store prefix: lists and sorts snapshots by
 * etcd-backup-restore's rules, picks the latest set, names new objects, and opens objects
 * decompressed. Knows nothing about any particular backend.
 */
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { PassThrough } from 'node:stream'
import { createDecompressor } from '../compression/index.ts'
import { StewardError } from '../errors.ts'
import { errnoOf, osError } from '../os-errors.ts'
import type { Snapstore } from '../snapstore/types.ts'
import { compareSnapshots, latestSet, parseSnapshotKey, v2Key, type SnapshotRef, type SnapshotSet } from './name.ts'

/** A listed snapshot: its name's facts plus the object's size. */
export interface StoredSnapshot extends SnapshotRef {
  /** Stored (possibly compressed) size in bytes. */
  readonly sizeBytes: number
  /** When the store last wrote the object, as the listing reports it (`new Date(0)`: not reported). */
  readonly lastModified?: Date
}

export class BackupStore {
  readonly snapstore: Snapstore
  /** Store prefix without `/v2` (`''` = container root). */
  readonly prefix: string

  constructor(snapstore: Snapstore, prefix: string) {
    this.snapstore = snapstore
    this.prefix = prefix.replace(/^\/+|\/+$/g, '')
  }

  /** Human-readable location, e.g. `file:///backups (prefix etcd-main)`. */
  get location(): string {
    return this.prefix ? `${this.snapstore.location} (prefix ${this.prefix})` : this.snapstore.location
  }

  /**
   * Every snapshot under the prefix (v1 and v2 layouts, chunks included), sorted by §2.4.
   * Lists `<prefix>/` with the slash, so sibling prefixes (`etcd-main-old/`) never leak in.
   * @throws StewardError `STORE_NOT_FOUND`, `STORE_FAILED`
   */
  async list(): Promise<StoredSnapshot[]> {
    const snapshots: StoredSnapshot[] = []
    for await (const info of this.snapstore.list(this.prefix ? `${this.prefix}/` : '')) {
      const ref = parseSnapshotKey(info.key)
      if (ref) snapshots.push({ ...ref, sizeBytes: info.sizeBytes, lastModified: info.lastModified })
    }
    return snapshots.sort(compareSnapshots)
  }

  /** The latest set (§2.5) of the current listing. */
  async latestSet(): Promise<SnapshotSet & { readonly all: readonly StoredSnapshot[] }> {
    const all = await this.list()
    return { ...latestSet(all), all }
  }

  /** Key a new snapshot named `name` is written to (`<prefix>/v2/<name>`). */
  keyFor(name: string): string {
    return v2Key(this.prefix, name)
  }

  /**
   * The snapshot's content, decompressed by its suffix.
   * @throws StewardError `SNAPSHOT_NOT_FOUND` (object vanished), `COMPRESSION_UNSUPPORTED`, `STORE_FAILED`;
   *   the stream itself fails with `SNAPSHOT_CORRUPT` on undecodable data.
   */
  async open(ref: SnapshotRef, signal?: AbortSignal): Promise<Readable> {
    const decompressor = createDecompressor(ref.compressionSuffix)
    const raw = await this.snapstore.get(ref.key, signal ? { signal } : {})
    if (!raw) {
      throw new StewardError('SNAPSHOT_NOT_FOUND', 'backup-store', `snapshot ${ref.key} is listed but could not be read (deleted meanwhile?)`, {
        details: { key: ref.key },
      })
    }
    const out = new PassThrough({ highWaterMark: 1024 * 1024 })
    // A read error of the object itself (EIO on a Local store's disk) is the store's failure.
    pipeline(raw, decompressor, out, signal ? { signal } : {}).catch((error: unknown) => out.destroy(errnoOf(error) ? osError(error, 'STORE_FAILED', 'backup-store', `reading ${ref.key}`) : (error as Error)))
    return out
  }
}
