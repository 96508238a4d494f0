/**
 * Safe replacement of a data directory: work happens in a hidden directory beside the target
 * (same filesystem, so the final step is a rename), and an existing target is only replaced
 * with an explicit `force`.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { StewardError, messageOf } from '../errors.ts'
import { processesUsing } from '../validate/in-use.ts'

/** Whether `dir` exists and holds at least one entry. */
export async function isNonEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return true
    throw error
  }
}

/**
 * Fails with `DATA_DIR_LOCKED` when a process (a running etcd) has its database open, and with
 * `DATA_DIR_EXISTS` when `dataDir` holds anything and `force` is off.
 * @throws StewardError `DATA_DIR_LOCKED`, `DATA_DIR_EXISTS`
 */
export async function assertReplaceable(dataDir: string, force: boolean): Promise<void> {
  const users = await processesUsing(join(dataDir, 'member', 'snap', 'db'))
  if (users.length > 0) {
    throw new StewardError('DATA_DIR_LOCKED', 'restore', `data directory ${dataDir} is in use by pid ${users.map((u) => u.pid).join(', ')}; nothing was changed`, {
      details: { dataDir, pids: users.map((u) => u.pid) },
      hints: ['stop the etcd that runs on it first; --force never replaces a data dir in use'],
    })
  }
  if (!force && (await isNonEmptyDir(dataDir))) {
    throw new StewardError('DATA_DIR_EXISTS', 'restore', `data directory ${dataDir} already exists and is not empty; nothing was changed`, {
      details: { dataDir },
      hints: ['pass --force to replace it (it is removed only after the restore succeeded)', 'or pick another --data-dir'],
    })
  }
}

/** A hidden work directory beside `dataDir`: `.<name>.steward-restore-<random>`. */
export async function makeWorkDir(dataDir: string): Promise<string> {
  const target = resolve(dataDir)
  const parent = dirname(target)
  await mkdir(parent, { recursive: true })
  const work = join(parent, `.${basename(target)}.steward-restore-${randomBytes(4).toString('hex')}`)
  await mkdir(work, { mode: 0o700 })
  return work
}

/**
 * Moves `restored` into place as `dataDir`. An existing `dataDir` (only with `force`) is first
 * renamed aside and removed after the swap, so a crash leaves either the old or the new dir.
 */
export async function swapIntoPlace(restored: string, dataDir: string, force: boolean): Promise<void> {
  const target = resolve(dataDir)
  await assertReplaceable(target, force)
  let aside: string | undefined
  try {
    await stat(target)
    aside = `${target}.steward-old-${randomBytes(4).toString('hex')}`
    await rename(target, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new StewardError('DATA_DIR_INVALID', 'restore', `cannot move ${target} aside: ${messageOf(error)}`, { cause: error })
    }
  }
  try {
    await rename(restored, target)
  } catch (error) {
    if (aside) await rename(aside, target).catch(() => undefined)
    throw new StewardError('DATA_DIR_INVALID', 'restore', `cannot move the restored data into ${target}: ${messageOf(error)}`, { cause: error })
  }
  if (aside) await rm(aside, { recursive: true, force: true })
}
