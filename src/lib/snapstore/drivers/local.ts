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
import { StewardError, isStewardError, messageOf } from '../../errors.ts'
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
      if (!options.createRoot) await assertRoot(root)
      await mkdir(dir, { recursive: true, mode: 0o700 })
      const temp = join(dir, `${PARTIAL_PREFIX}${randomBytes(6).toString('hex')}-${key.split('/').pop()}`)
      try {
        const out = createWriteStream(temp, { mode: 0o600, flags: 'wx', highWaterMark: WRITE_BUFFER_BYTES })
        await pipeline(body, out, op.signal ? { signal: op.signal } : {})
        await fsyncPath(temp)
        await rename(temp, target)
        await fsyncPath(dir)
      } catch (error) {
        await rm(temp, { force: true })
        throw wrap(error, `could not write ${key}`)
      }
      const info = await stat(target)
      return { key, sizeBytes: info.size, lastModified: info.mtime }
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

async function* walk(root: string, dir: string, prefix: string, signal?: AbortSignal): AsyncIterable<ObjectInfo> {
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
    if (entry.name.startsWith(PARTIAL_PREFIX)) continue
    const path = join(dir, entry.name)
    const key = relative(root, path).split(sep).join('/')
    if (entry.isDir) {
      // Only descend where keys below can still match the prefix.
      if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix) || prefix === '') yield* walk(root, path, prefix, signal)
    } else if (entry.isFile && key.startsWith(prefix)) {
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

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}

function wrap(error: unknown, message: string): StewardError {
  if (isStewardError(error)) return error
  if (code(error) === 'ABORT_ERR') return new StewardError('ABORTED', COMPONENT, `${message}: aborted`, { cause: error })
  return new StewardError('STORE_FAILED', COMPONENT, `${message}: ${messageOf(error)}`, { cause: error })
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
