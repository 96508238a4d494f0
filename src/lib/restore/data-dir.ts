/**
 * Safe replacement of a data directory: work happens in a hidden directory beside the target
 * (same filesystem, so the final step is a rename), and an existing target is only replaced
 * with an explicit `force`.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { fsyncPath } from '../fsync.ts'
import { StewardError } from '../errors.ts'
import { osError } from '../os-errors.ts'
import { processesUsing } from '../validate/in-use.ts'
import { assertSafeTarget, type ProtectedPaths, type TargetKind } from './target-guard.ts'

/**
 * Fails with `DATA_DIR_PROTECTED` for a directory no restore may replace (see
 * {@link assertSafeTarget}: `/`, home and working directories, the store's or steward's own
 * directory, and with `force` a non-empty directory that is not an etcd data dir), with
 * `DATA_DIR_LOCKED` when a process (a running etcd) has its database open, and with
 * `DATA_DIR_EXISTS` when `dataDir` holds anything and `force` is off.
 * @returns what is at the target now (`etcd-data-dir` or `empty` is what `force` replaces)
 * @throws StewardError `CONFIG_INVALID` (empty `dataDir`), `DATA_DIR_PROTECTED`, `DATA_DIR_LOCKED`, `DATA_DIR_EXISTS`
 */
export async function assertReplaceable(dataDir: string, force: boolean, paths: ProtectedPaths = {}): Promise<TargetKind> {
  const kind = await assertSafeTarget(dataDir, force, paths)
  const users = await processesUsing(join(dataDir, 'member', 'snap', 'db'))
  if (users.length > 0) {
    throw new StewardError('DATA_DIR_LOCKED', 'restore', `data directory ${dataDir} is in use by pid ${users.map((u) => u.pid).join(', ')}; nothing was changed`, {
      details: { dataDir, pids: users.map((u) => u.pid) },
      hints: ['stop the etcd that runs on it first; --force never replaces a data dir in use'],
    })
  }
  if (!force && kind !== 'missing' && kind !== 'empty') {
    throw new StewardError('DATA_DIR_EXISTS', 'restore', `data directory ${dataDir} already exists and is not empty; nothing was changed`, {
      details: { dataDir },
      hints: ['pass --force to replace it (it is removed only after the restore succeeded)', 'or pick another --data-dir'],
    })
  }
  return kind
}

/**
 * A hidden work directory beside `dataDir`: `.<name>.steward-restore-<random>`. Beside, so the
 * final step is a rename on one filesystem; a `dataDir` that is itself a mount point (a volume's
 * root) cannot be renamed into, so it is refused before any work.
 * @throws StewardError `CONFIG_INVALID` when `dataDir` is a mount point
 */
export async function makeWorkDir(dataDir: string): Promise<string> {
  const target = resolve(dataDir)
  const parent = dirname(target)
  try {
    await mkdir(parent, { recursive: true })
  } catch (error) {
    throw osError(error, 'DATA_DIR_WRITE_FAILED', 'restore', `cannot create ${parent}, the parent of --data-dir`)
  }
  await assertNotMountPoint(target, parent)
  const work = join(parent, `.${basename(target)}.steward-restore-${randomBytes(4).toString('hex')}`)
  try {
    await mkdir(work, { mode: 0o700 })
  } catch (error) {
    throw osError(error, 'DATA_DIR_WRITE_FAILED', 'restore', `cannot create the work dir ${work} beside --data-dir (steward restores there, then renames into place)`)
  }
  return work
}

/**
 * Makes `restored` durable, then moves it into place as `dataDir`. An existing `dataDir` (only
 * with `force`) is first renamed aside to `<dataDir>.steward-old-<random>` and removed after
 * the swap; a crash between the two renames leaves the old data there, under that name, and no
 * `dataDir` — the next restore moves it back first ({@link recoverInterruptedSwap}). The temporary etcd that replays deltas runs without fsync, so every file of the
 * restored tree and the directories are fsynced first, and the parent after the rename.
 */
export async function swapIntoPlace(restored: string, dataDir: string, force: boolean, paths: ProtectedPaths = {}): Promise<TargetKind> {
  const target = resolve(dataDir)
  const kind = await assertReplaceable(target, force, paths)
  try {
    await syncTree(restored)
  } catch (error) {
    throw osError(error, 'DATA_DIR_WRITE_FAILED', 'restore', `cannot make the restored data durable in ${restored}`)
  }
  let aside: string | undefined
  try {
    await stat(target)
    aside = `${target}.steward-old-${randomBytes(4).toString('hex')}`
    await rename(target, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw osError(error, 'DATA_DIR_WRITE_FAILED', 'restore', `cannot move ${target} aside`)
    }
  }
  try {
    await rename(restored, target)
  } catch (error) {
    if (aside) await rename(aside, target).catch(() => undefined)
    throw osError(error, 'DATA_DIR_WRITE_FAILED', 'restore', `cannot move the restored data into ${target}`)
  }
  await fsyncPath(dirname(target)).catch((error: unknown) => {
    throw osError(error, 'DATA_DIR_WRITE_FAILED', 'restore', `cannot make the rename into ${target} durable`)
  })
  if (aside) await rm(aside, { recursive: true, force: true })
  return kind
}

/** fsyncs every file and directory under `dir` (the tree of one data dir: a handful of files). */
async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) await syncTree(path)
    else if (entry.isFile()) await fsyncPath(path)
  }
  await fsyncPath(dir)
}

async function assertNotMountPoint(target: string, parent: string): Promise<void> {
  const [own, above] = await Promise.all([stat(target).catch(() => null), stat(parent)])
  if (own && own.dev !== above.dev) {
    throw new StewardError('CONFIG_INVALID', 'restore', `--data-dir ${target} is a mount point; steward restores beside the target and renames the result into place, which a mount point does not allow`, {
      details: { dataDir: target },
      hints: [`use a directory inside the volume, e.g. --data-dir ${join(target, 'new.etcd')} (etcd-druid's layout)`],
    })
  }
}

/**
 * Undoes a swap that a crash interrupted between its two renames (see {@link swapIntoPlace}):
 * when `dataDir` is missing and exactly one `<dataDir>.steward-old-*` sits beside it, that is the
 * previous data dir, and it is renamed back. Leftovers next to an existing `dataDir` (a crash
 * after the swap, before the old copy was removed) are only reported: deleting data is left to
 * the operator.
 * @returns warnings for the result
 */
export async function recoverInterruptedSwap(dataDir: string): Promise<string[]> {
  const target = resolve(dataDir)
  const parent = dirname(target)
  const prefix = `${basename(target)}.steward-old-`
  const leftovers = (await readdir(parent).catch(() => [] as string[])).filter((name) => name.startsWith(prefix)).map((name) => join(parent, name))
  if (leftovers.length === 0) return []
  const targetExists = (await stat(target).catch(() => null)) !== null
  if (!targetExists && leftovers.length === 1) {
    await rename(leftovers[0]!, target)
    return [`RECOVERED: an earlier restore was interrupted while swapping data dirs; the previous data dir ${leftovers[0]} was moved back to ${target}`]
  }
  return [`left over from an interrupted restore (not removed): ${leftovers.join(', ')}`]
}

