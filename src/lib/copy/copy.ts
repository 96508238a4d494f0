/**
 * `steward copy-backups`: copies backups from a source store to a destination store (etcd-druid's
 * copy-backups Job, etcd-backup-restore's `copy`; docs/copy-backups.md).
 *
 * - Backups are a full snapshot and the deltas after it (deltas before the first full snapshot
 *   and chunk objects are not copied). The newest `maxBackupsToCopy` (-1 = all) whose full
 *   snapshot is younger than `maxBackupAgeDays` (-1 = any age) are selected.
 * - Objects are copied byte for byte (compressed as stored), streamed from one driver to the
 *   other without temp files, by `parallel` workers. The destination name drops `.final`, so the
 *   copy does not look like a final snapshot of the destination's own cluster.
 * - Resumable: an object whose name (without `.final`) exists in the destination with the same
 *   size is skipped, so re-running after an interruption copies only what is missing. Uploads are
 *   atomic, so an interrupted object is never half there.
 * - Optionally waits for a final full snapshot in the source first (among its 4 newest full
 *   snapshots), polling every 15 s, up to a timeout (0 = forever); on timeout it copies anyway.
 */
import { setTimeout as sleepFor } from 'node:timers/promises'
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import type { BackupStore, StoredSnapshot } from '../snapshot/backup-store.ts'

/** Seconds between checks for a final full snapshot (etcd-backup-restore's). */
export const FINAL_SNAPSHOT_POLL_SECONDS = 15

export interface CopyDeps {
  readonly source: BackupStore
  readonly destination: BackupStore
  /** @default () => new Date() */
  readonly now?: () => Date
  /** Waits `ms` (rejects when `signal` aborts). Injected so tests need no real waiting. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  /** Called after each object. */
  readonly onObject?: (object: CopiedObject, done: number, total: number) => void
  /** Called with progress messages (waiting for a final snapshot). */
  readonly onMessage?: (message: string) => void
}

export interface CopyOptions {
  /** Newest backups to copy; -1 = all. */
  readonly maxBackupsToCopy?: number
  /** Only backups whose full snapshot is younger than this many days; -1 = any age. */
  readonly maxBackupAgeDays?: number
  /** Objects copied at once. @default 10 */
  readonly parallel?: number
  /** Wait for a final full snapshot in the source before copying. */
  readonly waitForFinalSnapshot?: boolean
  /** Give up waiting after this many seconds and copy anyway; 0 = wait forever. */
  readonly waitForFinalSnapshotTimeoutSeconds?: number
}

export interface CopiedObject {
  readonly name: string
  readonly sourceKey: string
  readonly destinationKey: string
  readonly sizeBytes: number
  /** `copied`; `skipped` (already in the destination, same size); `replaced` (there with another size); `failed`. */
  readonly result: 'copied' | 'skipped' | 'replaced' | 'failed'
  readonly error?: string
}

export interface CopyResult {
  readonly source: string
  readonly destination: string
  /** Full snapshots of the backups selected, newest first. */
  readonly backups: readonly string[]
  readonly objects: readonly CopiedObject[]
  readonly counts: { readonly copied: number; readonly skipped: number; readonly replaced: number; readonly failed: number }
  readonly copiedBytes: number
  /** Whether a final full snapshot was found (only with `waitForFinalSnapshot`). */
  readonly finalSnapshotFound?: boolean
  readonly durationSeconds: number
}

/**
 * Copies the selected backups.
 * @throws StewardError with the store's code, the message starting `source store <location>:`
 *   or `destination store <location>:` (wrong credentials, missing bucket, failed listing);
 *   `STORE_FAILED` when objects failed to copy (after every other object was tried; a re-run
 *   copies only what is missing); `ABORTED`; `CONFIG_INVALID` (options)
 */
export async function copyBackups(deps: CopyDeps, options: CopyOptions = {}, signal?: AbortSignal): Promise<CopyResult> {
  const started = performance.now()
  const now = deps.now ?? (() => new Date())
  const sleep = deps.sleep ?? ((ms: number, s?: AbortSignal) => sleepFor(ms, undefined, s ? { signal: s } : {}))
  const parallel = options.parallel ?? 10
  if (!(parallel >= 1)) throw new StewardError('CONFIG_INVALID', 'copy', `--max-parallel-copy-operations must be at least 1, got ${parallel}`)

  let finalSnapshotFound: boolean | undefined
  if (options.waitForFinalSnapshot) {
    finalSnapshotFound = await waitForFinal(deps, options.waitForFinalSnapshotTimeoutSeconds ?? 0, sleep, signal)
  }
  const listed = await side('source', deps.source, () => deps.source.list())
  const backups = selectBackups(listed, now(), options.maxBackupsToCopy ?? -1, options.maxBackupAgeDays ?? -1)
  const present = new Map<string, number>()
  for (const object of await listDestination(deps.destination)) {
    if (!object.isChunk) present.set(withoutFinal(destinationKey(deps.destination, object)), object.sizeBytes)
  }

  const todo = backups.flatMap((b) => b.objects)
  const results: CopiedObject[] = []
  let next = 0
  const worker = async () => {
    for (let i = next++; i < todo.length; i = next++) {
      if (signal?.aborted) throw new StewardError('ABORTED', 'copy', 'copy aborted; objects copied so far are complete, a re-run copies the rest', { cause: signal.reason })
      const object = todo[i]!
      const target = withoutFinal(destinationKey(deps.destination, object))
      const base = { name: object.name.replace(/\.final$/, ''), sourceKey: object.key, destinationKey: target, sizeBytes: object.sizeBytes }
      const existing = present.get(target)
      let done: CopiedObject
      if (existing === object.sizeBytes) {
        done = { ...base, result: 'skipped' }
      } else {
        try {
          await copyObject(deps, object, target, signal)
          done = { ...base, result: existing === undefined ? 'copied' : 'replaced' }
        } catch (error) {
          if (isStewardError(error, 'ABORTED') || signal?.aborted) throw error
          done = { ...base, result: 'failed', error: messageOf(error).replace(/^\[steward\] \[[^\]]*\] /, '') }
        }
      }
      results.push(done)
      deps.onObject?.(done, results.length, todo.length)
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, Math.max(1, todo.length)) }, worker))

  const order = new Map(todo.map((o, i) => [o.key, i]))
  const objects = results.sort((a, b) => order.get(a.sourceKey)! - order.get(b.sourceKey)!)
  const count = (r: CopiedObject['result']) => objects.filter((o) => o.result === r).length
  const result: CopyResult = {
    source: deps.source.location,
    destination: deps.destination.location,
    backups: backups.map((b) => b.full.name),
    objects,
    counts: { copied: count('copied'), skipped: count('skipped'), replaced: count('replaced'), failed: count('failed') },
    copiedBytes: objects.filter((o) => o.result === 'copied' || o.result === 'replaced').reduce((sum, o) => sum + o.sizeBytes, 0),
    ...(finalSnapshotFound === undefined ? {} : { finalSnapshotFound }),
    durationSeconds: (performance.now() - started) / 1000,
  }
  const failed = objects.filter((o) => o.result === 'failed')
  if (failed.length > 0) {
    throw new StewardError('STORE_FAILED', 'copy', `${failed.length} of ${objects.length} objects could not be copied from ${result.source} to ${result.destination}: ${failed.slice(0, 3).map((o) => `${o.name} (${o.error})`).join('; ')}`, {
      details: { failed: failed.map((o) => ({ name: o.name, error: o.error })), counts: result.counts },
      hints: ['run the copy again: objects already copied are skipped'],
    })
  }
  return result
}

/** The destination's objects; a Local destination directory that does not exist yet is empty (the first write creates it). */
async function listDestination(destination: BackupStore): Promise<StoredSnapshot[]> {
  try {
    return await side('destination', destination, () => destination.list())
  } catch (error) {
    if (isStewardError(error, 'STORE_NOT_FOUND') && destination.snapstore.capabilities.localFiles) return []
    throw error
  }
}

/** A backup: a full snapshot and the deltas after it. */
export interface SelectedBackup {
  readonly full: StoredSnapshot
  /** The full snapshot, then its deltas, oldest first. */
  readonly objects: readonly StoredSnapshot[]
}

/**
 * Groups a sorted listing into backups and selects the newest `maxBackups` (-1 = all) whose full
 * snapshot was created within `maxAgeDays` days before `now` (-1 = any age). Returned newest first.
 */
export function selectBackups(sorted: readonly StoredSnapshot[], now: Date, maxBackups: number, maxAgeDays: number): SelectedBackup[] {
  const backups: { full: StoredSnapshot; objects: StoredSnapshot[] }[] = []
  for (const object of sorted) {
    if (object.isChunk) continue
    if (object.kind === 'Full') backups.push({ full: object, objects: [object] })
    else backups.at(-1)?.objects.push(object)
  }
  const oldest = maxAgeDays < 0 ? -Infinity : now.getTime() - maxAgeDays * 86_400_000
  const fresh = backups.reverse().filter((b) => b.full.createdOn.getTime() >= oldest)
  return maxBackups < 0 ? fresh : fresh.slice(0, maxBackups)
}

async function waitForFinal(deps: CopyDeps, timeoutSeconds: number, sleep: (ms: number, signal?: AbortSignal) => Promise<void>, signal: AbortSignal | undefined): Promise<boolean> {
  const started = (deps.now ?? (() => new Date()))().getTime()
  for (;;) {
    const listed = await side('source', deps.source, () => deps.source.list())
    const fulls = listed.filter((o) => !o.isChunk && o.kind === 'Full').slice(-4)
    if (fulls.some((f) => f.isFinal)) return true
    const waited = ((deps.now ?? (() => new Date()))().getTime() - started) / 1000
    if (timeoutSeconds > 0 && waited >= timeoutSeconds) {
      deps.onMessage?.(`no final full snapshot in ${deps.source.location} after ${Math.round(waited)}s; copying what is there`)
      return false
    }
    deps.onMessage?.(`waiting for a final full snapshot in ${deps.source.location}`)
    try {
      await sleep(timeoutSeconds > 0 ? Math.min(FINAL_SNAPSHOT_POLL_SECONDS, timeoutSeconds - waited) * 1000 : FINAL_SNAPSHOT_POLL_SECONDS * 1000, signal)
    } catch (error) {
      throw new StewardError('ABORTED', 'copy', 'copy aborted while waiting for a final full snapshot', { cause: error })
    }
  }
}

async function copyObject(deps: CopyDeps, object: StoredSnapshot, target: string, signal: AbortSignal | undefined): Promise<void> {
  const op = signal ? { signal } : {}
  const body = await side('source', deps.source, () => deps.source.snapstore.get(object.key, op))
  if (!body) throw new StewardError('SNAPSHOT_NOT_FOUND', 'copy', `${object.key} vanished from the source store while copying`)
  // A failed upload may leave the download unread; release its connection.
  const info = await side('destination', deps.destination, () => deps.destination.snapstore.put(target, body, { ...op, sizeBytes: object.sizeBytes })).catch((error: unknown) => {
    body.destroy()
    throw error
  })
  if (info.sizeBytes !== object.sizeBytes) {
    throw new StewardError('STORE_FAILED', 'copy', `${target}: stored ${info.sizeBytes} bytes, the source object has ${object.sizeBytes}`)
  }
}

/** The destination key of a source object: same layout folder (v1 keeps its backup dir), destination prefix. */
function destinationKey(destination: BackupStore, object: StoredSnapshot): string {
  const folder = `${object.layout}/`
  const relative = object.key.slice(object.key.lastIndexOf(folder))
  return destination.prefix ? `${destination.prefix}/${relative}` : relative
}

function withoutFinal(key: string): string {
  return key.replace(/\.final$/, '')
}

/** Runs a store call and names the side (source or destination) and its location in any store error. */
async function side<T>(which: 'source' | 'destination', store: BackupStore, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (isStewardError(error) && error.code !== 'ABORTED' && !error.reason.startsWith(`${which} store`)) {
      // Drivers name the primary store's credential variables; the source reads SOURCE_-prefixed ones.
      const hints = which === 'source' ? error.hints.map((h) => h.replace(/(?<![A-Z_])((?:AWS|AZURE|GOOGLE|OPENSHIFT)_APPLICATION_CREDENTIALS)/g, 'SOURCE_$1')) : error.hints
      throw new StewardError(error.code, 'copy', `${which} store ${store.location}: ${error.reason}`, { cause: error, hints, details: { ...error.context, store: which } })
    }
    throw error
  }
}
