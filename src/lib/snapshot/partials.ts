/**
 * Unfinished uploads a killed snapshot left in the store (Local: hidden `.partial-*` files, see
 * `snapstore/drivers/local.ts`). They are never listed as snapshots, so nothing restores from
 * them, but they hold space: `steward snapshot` removes those older than
 * {@link PARTIAL_MAX_AGE_SECONDS} (a running upload's file is younger, as it is being written),
 * and `steward snapshot list` shows them all.
 */
import { isStewardError } from '../errors.ts'
import type { BackupStore } from './backup-store.ts'

/** Age after which an unfinished upload is abandoned for sure: 1 hour. */
export const PARTIAL_MAX_AGE_SECONDS = 3600

/** One unfinished upload. */
export interface PartialUpload {
  readonly key: string
  /** Bytes written before the writer stopped. */
  readonly sizeBytes: number
  /** ISO-8601 time of its last write. */
  readonly lastModified: string
  /** Seconds since its last write. */
  readonly ageSeconds: number
  /** Older than {@link PARTIAL_MAX_AGE_SECONDS}: the next `steward snapshot` removes it. */
  readonly stale: boolean
}

/**
 * The unfinished uploads under the store's prefix, oldest first; `[]` for stores whose driver
 * has none to show (cloud multipart uploads are not objects).
 * @throws StewardError `STORE_FAILED`, `STORE_NOT_FOUND`
 */
export async function listPartialUploads(store: BackupStore, now: Date = new Date()): Promise<PartialUpload[]> {
  const lister = store.snapstore.listPartials
  if (!lister) return []
  const found: PartialUpload[] = []
  for await (const info of lister.call(store.snapstore, store.prefix ? `${store.prefix}/` : '')) {
    const ageSeconds = Math.max(0, Math.floor((now.getTime() - info.lastModified.getTime()) / 1000))
    found.push({ key: info.key, sizeBytes: info.sizeBytes, lastModified: info.lastModified.toISOString(), ageSeconds, stale: ageSeconds > PARTIAL_MAX_AGE_SECONDS })
  }
  return found.sort((a, b) => b.ageSeconds - a.ageSeconds)
}

/**
 * Deletes the unfinished uploads older than {@link PARTIAL_MAX_AGE_SECONDS}.
 * @param onRemoved called with a sentence per removed object (for the log)
 * @returns the removed uploads (none for a store that does not exist yet)
 * @throws StewardError `STORE_FAILED`
 */
export async function removeStalePartialUploads(store: BackupStore, onRemoved?: (message: string) => void, now: Date = new Date()): Promise<PartialUpload[]> {
  let found: PartialUpload[]
  try {
    found = await listPartialUploads(store, now)
  } catch (error) {
    // A store not created yet (the first snapshot into a new Local directory) has nothing to clean up.
    if (isStewardError(error, 'STORE_NOT_FOUND')) return []
    throw error
  }
  const stale = found.filter((p) => p.stale)
  for (const partial of stale) {
    await store.snapstore.delete(partial.key)
    onRemoved?.(`removed ${partial.key}, an unfinished upload of a killed snapshot (${partial.sizeBytes} bytes, last written ${partial.lastModified})`)
  }
  return stale
}
