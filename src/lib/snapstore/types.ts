/**
 * The snapstore seam: a small object-store interface that every backend driver
 * (Local, S3, GCS, ABS) implements in one file under `drivers/`. The rest of the toolkit
 * only talks to this interface and checks {@link SnapstoreCapabilities}, never a driver's name.
 *
 * Keys are store-relative, `/`-separated, and never contain `..` segments, a leading `/`
 * or empty segments. They already include the store prefix (e.g. `etcd-main/v2/Full-…`).
 */
import type { Readable } from 'node:stream'

/**
 * Driver ids, spelled as etcd-backup-restore's `--storage-provider` values. `ECS` (Dell EMC ECS)
 * and `OCS` (OpenShift Container Storage) are S3 variants served by `drivers/s3.ts`.
 */
export const SNAPSTORE_DRIVERS = ['Local', 'S3', 'GCS', 'ABS', 'ECS', 'OCS'] as const
export type SnapstoreDriverId = (typeof SNAPSTORE_DRIVERS)[number]

/** What a listing or head returns for one object. */
export interface ObjectInfo {
  /** Store-relative key. */
  readonly key: string
  /** Object size in bytes. */
  readonly sizeBytes: number
  /** Last modification time as the backend reports it; `new Date(0)` when the backend reports none. */
  readonly lastModified: Date
}

/** Declared differences between backends; the core checks these, never the driver id. */
export interface SnapstoreCapabilities {
  /** `put` streams a body of unknown length without spooling it whole to disk or memory. */
  readonly streamingUpload: boolean
  /** Objects are plain files on this machine, and `localPath` returns their path. */
  readonly localFiles: boolean
}

/** Options every operation accepts. */
export interface OperationOptions {
  /** Aborts the operation; a put aborted mid-way leaves no visible object. */
  readonly signal?: AbortSignal
}

/** Options of `put`. */
export interface PutOptions extends OperationOptions {
  /** Size in bytes when known in advance (lets drivers pick part sizes); `undefined` when streaming. */
  readonly sizeBytes?: number
  /**
   * Bytes of buffers that other stages of the caller's pipeline hold at most (a parallel
   * compressor's blocks). Multipart drivers keep that much less in part buffers, so the whole
   * pipeline stays within their `parts in flight × part size` (5 × 5 MiB by default): they
   * send `ceil(bytes / part size)` fewer parts at once, never fewer than 2. [0]
   */
  readonly heldElsewhereBytes?: number
}

export interface Snapstore {
  /** Driver id. */
  readonly driver: SnapstoreDriverId
  /** Human-readable location for messages, e.g. `file:///var/backups/etcd` or `s3://bucket`. */
  readonly location: string
  readonly capabilities: SnapstoreCapabilities
  /**
   * Stores `body` under `key`. Atomic: until the returned promise resolves, no listing, head or
   * get shows the object; on failure or abort nothing is left that a listing shows.
   * @throws StewardError `STORE_FAILED`, `STORE_NOT_FOUND`, `ABORTED`
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<ObjectInfo>
  /** A stream of the object's bytes, or `null` when it does not exist. @throws StewardError `STORE_FAILED` */
  get(key: string, options?: OperationOptions): Promise<Readable | null>
  /** The object's info, or `null` when it does not exist. @throws StewardError `STORE_FAILED` */
  head(key: string, options?: OperationOptions): Promise<ObjectInfo | null>
  /**
   * Every object whose key starts with `prefix` (`''` lists everything), in no particular order.
   * Throws rather than ending early: a listing that fails part-way never looks complete.
   * @throws StewardError `STORE_FAILED`, `STORE_NOT_FOUND`
   */
  list(prefix: string, options?: OperationOptions): AsyncIterable<ObjectInfo>
  /** Deletes the object; deleting a missing key is not an error. @throws StewardError `STORE_FAILED` */
  delete(key: string, options?: OperationOptions): Promise<void>
  /** For drivers with `capabilities.localFiles`: the object's absolute file path. */
  localPath?(key: string): string
  /**
   * Optional cheap check that a `put` of `key` can succeed (the directory exists or can be
   * created, and takes a file), so a store that cannot take the object fails before expensive
   * work such as opening etcd's snapshot stream. Leaves nothing that a listing shows.
   * @throws StewardError `STORE_FAILED`, `STORE_NOT_FOUND`
   */
  prepareWrite?(key: string, options?: OperationOptions): Promise<void>
  /**
   * Optional: leftovers of uploads that never finished (a killed writer) under `prefix`, which
   * {@link list} never shows (Local: hidden `.partial-*` files). Each can be removed with
   * {@link delete}. Drivers whose unfinished uploads are invisible objects omit it.
   * @throws StewardError `STORE_FAILED`, `STORE_NOT_FOUND`
   */
  listPartials?(prefix: string, options?: OperationOptions): AsyncIterable<ObjectInfo>
  /** Releases clients and sockets. Calling it twice is harmless. */
  dispose?(): Promise<void>
}

/** A driver module's default export: builds a store from its validated options. */
export type SnapstoreFactory<Options> = (options: Options) => Snapstore
