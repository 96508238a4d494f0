/**
 * `Local` driver: objects are files under a root directory (etcd-backup-restore's Local
 * provider keeps them under `$HOME/<container>`; see `resolve.ts` for how the root is chosen).
 *
 * Writes are atomic: the body goes to a hidden temp file (`.partial-<random>-<name>`) in the
 * same directory, is fsynced, then renamed into place, and the directory is fsynced. A killed
 * process leaves at most a hidden `.partial-*` file, which is never listed as an object.
 */
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, open, opendir, rename, rm, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fsyncPath } from '../../fsync.ts'
import { StewardError } from '../../errors.ts'
import { osError } from '../../os-errors.ts'
import type { StoreConfig } from '../config.ts'
import { assertSafeKey } from '../keys.ts'
import type { ObjectInfo, OperationOptions, PutOptions, Snapstore, SnapstoreFactory } from '../types.ts'

const DRIVER = 'Local'
const COMPONENT = 'snapstore:Local'
/** Prefix of in-progress uploads; such files are skipped by `list`. */
export const PARTIAL_PREFIX = '.partial-'
/** Bytes buffered before a write applies backpressure (fewer, larger writes). */
const WRITE_BUFFER_BYTES = 4 * 1024 * 1024

export interface LocalSnapstoreOptions {
  /** Absolute directory that holds the objects (the "container"). */
  readonly root: string
  /** Create `root` on first write when missing. @default true */
  readonly createRoot?: boolean
}

const localSnapstore: SnapstoreFactory<LocalSnapstoreOptions> = (input) => {
  const options = Object.freeze({ createRoot: true, ...input })
  if (!options.root) {
    throw new StewardError('CONFIG_INVALID', COMPONENT, 'the Local store needs a root directory', {
      hints: ['pass --store file:///path/to/backups or --store-container <dir>'],
    })
  }
  const root = options.root
  const pathOf = (key: string) => join(root, ...assertSafeKey(DRIVER, key).split('/'))

  const store: Snapstore = {
    driver: DRIVER,
    location: `file://${root}`,
    capabilities: { streamingUpload: true, localFiles: true },

    async put(key: string, body: Readable, op: PutOptions = {}): Promise<ObjectInfo> {
      const target = pathOf(key)
      const dir = dirname(target)
      await makeDir(root, dir, options.createRoot)
      const temp = join(dir, `${PARTIAL_PREFIX}${randomBytes(6).toString('hex')}-${key.split('/').pop()}`)
      try {
        const out = createWriteStream(temp, { mode: 0o600, flags: 'wx', highWaterMark: WRITE_BUFFER_BYTES })
        await pipeline(body, out, op.signal ? { signal: op.signal } : {})
        await fsyncPath(temp)
        await rename(temp, target)
        await fsyncPath(dir)
      } catch (error) {
        await rm(temp, { force: true })
        throw wrap(error, `could not write ${key} to ${dir}`)
      }
      try {
        const info = await stat(target)
        return { key, sizeBytes: info.size, lastModified: info.mtime }
      } catch (error) {
        throw wrap(error, `could not stat ${key} after writing it`)
      }
    },

    async prepareWrite(key: string): Promise<void> {
      const dir = dirname(pathOf(key))
      await makeDir(root, dir, options.createRoot)
      // A probe file proves the directory takes files (catches EACCES, EROFS, a full disk's inodes).
      const probe = join(dir, `${PARTIAL_PREFIX}probe-${randomBytes(6).toString('hex')}`)
      try {
        const handle = await open(probe, 'wx', 0o600)
        await handle.close()
      } catch (error) {
        throw wrap(error, `cannot write into ${dir}`)
      } finally {
        await rm(probe, { force: true }).catch(() => undefined)
      }
    },

    async get(key: string): Promise<Readable | null> {
      const path = pathOf(key)
      try {
        const handle = await open(path, 'r')
        return handle.createReadStream({ autoClose: true })
      } catch (error) {
        if (code(error) === 'ENOENT' || code(error) === 'EISDIR') return null
        throw wrap(error, `could not read ${key}`)
      }
    },

    async head(key: string): Promise<ObjectInfo | null> {
      try {
        const info = await stat(pathOf(key))
        return info.isFile() ? { key, sizeBytes: info.size, lastModified: info.mtime } : null
      } catch (error) {
        if (code(error) === 'ENOENT' || code(error) === 'ENOTDIR') return null
        throw wrap(error, `could not stat ${key}`)
      }
    },

    async *list(prefix: string, op: OperationOptions = {}): AsyncIterable<ObjectInfo> {
      await assertRoot(root)
      yield* walk(root, root, prefix, op.signal)
    },

    async *listPartials(prefix: string, op: OperationOptions = {}): AsyncIterable<ObjectInfo> {
      await assertRoot(root)
      yield* walk(root, root, prefix, op.signal, true)
    },

    async delete(key: string): Promise<void> {
      try {
        await rm(pathOf(key), { force: true })
      } catch (error) {
        throw wrap(error, `could not delete ${key}`)
      }
    },

    localPath(key: string): string {
      return pathOf(key)
    },
  }
  return store
}

export default localSnapstore

// --- internal helpers ---

/** Objects under `dir` whose key starts with `prefix`; with `partials`, only the hidden `.partial-*` files instead. */
async function* walk(root: string, dir: string, prefix: string, signal?: AbortSignal, partials = false): AsyncIterable<ObjectInfo> {
  let handle
  try {
    handle = await opendir(dir)
  } catch (error) {
    if (dir !== root && code(error) === 'ENOENT') return // removed while listing
    throw wrap(error, `could not list ${dir}`)
  }
  const entries: { name: string; isDir: boolean; isFile: boolean }[] = []
  try {
    for await (const entry of handle) entries.push({ name: entry.name, isDir: entry.isDirectory(), isFile: entry.isFile() })
  } catch (error) {
    throw wrap(error, `listing ${dir} failed part-way`)
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const entry of entries) {
    if (signal?.aborted) throw new StewardError('ABORTED', COMPONENT, 'listing aborted')
    const isPartial = entry.name.startsWith(PARTIAL_PREFIX)
    if (isPartial && !(partials && entry.isFile)) continue
    const path = join(dir, entry.name)
    const key = relative(root, path).split(sep).join('/')
    if (entry.isDir) {
      // Only descend where keys below can still match the prefix.
      if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix) || prefix === '') yield* walk(root, path, prefix, signal, partials)
    } else if (entry.isFile && isPartial === partials && key.startsWith(prefix)) {
      try {
        const info = await stat(path)
        yield { key, sizeBytes: info.size, lastModified: info.mtime }
      } catch (error) {
        if (code(error) !== 'ENOENT') throw wrap(error, `could not stat ${key}`)
      }
    }
  }
}

async function assertRoot(root: string): Promise<void> {
  try {
    const info = await stat(root)
    if (info.isDirectory()) return
  } catch (error) {
    if (code(error) !== 'ENOENT') throw wrap(error, `could not open ${root}`)
  }
  throw new StewardError('STORE_NOT_FOUND', COMPONENT, `backup directory ${root} does not exist`, {
    hints: ['check --store / --store-container, or take a snapshot first to create it'],
    details: { root },
  })
}

/** Creates `dir` (and `root` when `createRoot`), as the store's errors. */
async function makeDir(root: string, dir: string, createRoot: boolean): Promise<void> {
  if (!createRoot) await assertRoot(root)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
  } catch (error) {
    if (code(error) === 'ENOTDIR' || code(error) === 'EEXIST') {
      // A file sits where the store's directory (or one above it) should be.
      throw new StewardError('STORE_NOT_FOUND', COMPONENT, `the backup directory ${dir} cannot be created: a file, not a directory, sits at that path or above it`, {
        cause: error,
        hints: ['point --store (file://…) or --store-container at a directory'],
        details: { root, errno: code(error) },
      })
    }
    throw wrap(error, `cannot create the backup directory ${dir}`)
  }
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}

function wrap(error: unknown, message: string): StewardError {
  return osError(error, 'STORE_FAILED', COMPONENT, message)
}

/**
 * Builds the Local store for a {@link StoreConfig}: the container is the directory; a relative
 * container is joined to `$HOME` (etcd-backup-restore's rule), an empty one is `default.bkp`.
 */
export function fromStoreConfig(config: StoreConfig, env: NodeJS.ProcessEnv): Snapstore {
  const container = config.container || 'default.bkp'
  const root = isAbsolute(container) ? container : resolve(env['HOME'] ?? homedir(), container)
  return localSnapstore({ root })
}
