/**
 * Credential rotation (research notes §4.9): etcd-backup-restore re-creates its store client
 * when a credential file's modification time moved on, so a rotated key (a Kubernetes Secret
 * mounted as files, updated in place) takes effect without a restart. {@link rotatingSnapstore}
 * does the same for any driver: before each operation it takes a fingerprint of the credential
 * files (path, size and modification time of each file, or of each file in a credential
 * directory) and, when it changed, opens a fresh store through the driver's own
 * `fromStoreConfig` and sends the following operations there.
 *
 * Operations already running finish on the store they started on; replaced stores are
 * disposed together with the wrapper. A fingerprint costs a few `stat` calls, nothing next to
 * a request to an object store.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Snapstore } from './types.ts'

/**
 * A fingerprint of `paths` (files or directories; a missing one counts as missing): changes
 * whenever a file is added, removed, resized or modified.
 */
export async function credentialFingerprint(paths: readonly string[]): Promise<string> {
  const parts: string[] = []
  for (const path of paths) {
    const info = await stat(path).catch(() => null)
    if (!info) {
      parts.push(`${path}:missing`)
    } else if (info.isDirectory()) {
      const names = (await readdir(path).catch(() => [] as string[])).sort()
      for (const name of names) {
        const entry = await stat(join(path, name)).catch(() => null)
        parts.push(`${path}/${name}:${entry ? `${entry.size}:${entry.mtimeMs}` : 'missing'}`)
      }
    } else {
      parts.push(`${path}:${info.size}:${info.mtimeMs}`)
    }
  }
  return parts.join('\n')
}

/**
 * Wraps the store `first` (opened from the credentials `paths` held when `fingerprint` was
 * taken) so that a change of those files re-opens it with `reopen`.
 * @param reopen opens the store again, reading the credential files anew; its errors
 *   (`CONFIG_INVALID` for a half-written file) fail the operation that noticed the change, and
 *   the next operation tries again
 */
export function rotatingSnapstore(first: Snapstore, paths: readonly string[], fingerprint: string, reopen: () => Promise<Snapstore>): Snapstore {
  let current = first
  let seen = fingerprint
  const retired: Snapstore[] = []
  let pending: Promise<Snapstore> | undefined

  /** The store to use now, re-opened first when the credential files changed. */
  const storeNow = async (): Promise<Snapstore> => {
    if (pending) return pending
    const now = await credentialFingerprint(paths)
    if (now === seen) return current
    pending = reopen().then(
      (fresh) => {
        retired.push(current)
        current = fresh
        seen = now
        pending = undefined
        return fresh
      },
      (error: unknown) => {
        pending = undefined
        throw error
      },
    )
    return pending
  }

  const wrapper: Snapstore = {
    driver: first.driver,
    location: first.location,
    capabilities: first.capabilities,
    put: async (key, body, options) => (await storeNow()).put(key, body, options),
    get: async (key, options) => (await storeNow()).get(key, options),
    head: async (key, options) => (await storeNow()).head(key, options),
    async *list(prefix, options) {
      yield* (await storeNow()).list(prefix, options)
    },
    delete: async (key, options) => (await storeNow()).delete(key, options),
    async dispose() {
      const all = [...retired.splice(0), current]
      await Promise.all(all.map((store) => store.dispose?.()))
    },
  }
  if (first.localPath) wrapper.localPath = (key) => current.localPath!(key)
  if (first.listPartials) {
    wrapper.listPartials = async function* (prefix, options) {
      yield* (await storeNow()).listPartials!(prefix, options)
    }
  }
  if (first.prepareWrite) wrapper.prepareWrite = async (key, options) => (await storeNow()).prepareWrite?.(key, options)
  return wrapper
}
