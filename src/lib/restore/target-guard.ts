/**
 * What a restore may replace. A restore renames its result over `--data-dir`, so a wrong value
 * there must never cost data: an empty value is a configuration error, some directories are
 * never replaced (`/`, home directories, the working directory, anything holding the backup
 * store or steward's own files), and `--force` replaces only an empty directory or an etcd data
 * directory. Rules and exit codes: docs/commands.md ("Exit codes").
 */
import { readdir, realpath, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path'
import { findPackageRoot } from '../etcd/binaries.ts'
import { StewardError } from '../errors.ts'

/** What sits at a restore target today. */
export type TargetKind = 'missing' | 'empty' | 'etcd-data-dir' | 'other-dir' | 'not-a-directory'

/** Directories whose contents a restore must never replace, with why (for the message). */
export interface ProtectedPaths {
  /** Root directory of a Local backup store, when the store is local. */
  readonly storeRoot?: string | undefined
  /** The process's working directory [process.cwd()]. */
  readonly cwd?: string
  /** $HOME [os.homedir()]. */
  readonly home?: string
  /** Steward's install directory (its package root) [found from this module]. */
  readonly installDir?: string | null
}

/**
 * Checks a `--data-dir` value before anything else: empty or blank is `CONFIG_INVALID`, because
 * `path.resolve('')` is the working directory.
 * @param source how the user gave it, for the message ("--data-dir", "restore.dataDir in <file>")
 * @throws StewardError `CONFIG_INVALID`
 */
export function assertDataDirValue(value: string, source = '--data-dir'): string {
  if (value.trim() === '') {
    throw new StewardError('CONFIG_INVALID', 'restore', `${source} is empty; an empty data dir would mean the working directory, which steward never replaces`, {
      details: { source },
      hints: ['give the etcd data directory to restore into, e.g. --data-dir /var/etcd/data/new.etcd', 'leave it unset for the default default.etcd'],
    })
  }
  return value
}

/**
 * What is at `target`: missing (also when a parent is a file: nothing there to replace), an
 * empty dir, an etcd data dir (`member/` with `snap/` or `wal/`), another dir, or a non-directory.
 */
export async function classifyTarget(target: string): Promise<TargetKind> {
  try {
    if (!(await stat(target)).isDirectory()) return 'not-a-directory'
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing'
    throw error
  }
  const entries = await readdir(target)
  if (entries.length === 0) return 'empty'
  if (entries.includes('member')) {
    const member = await readdir(resolve(target, 'member')).catch(() => [] as string[])
    if (member.includes('snap') || member.includes('wal')) return 'etcd-data-dir'
  }
  return 'other-dir'
}

/** Whether `inner` is `outer` or below it (lexically, both absolute). */
function isSameOrBelow(inner: string, outer: string): boolean {
  const rel = relative(outer, inner)
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))
}

/** `path` and, when it exists, its real path (symlinks resolved). */
async function spellings(path: string): Promise<string[]> {
  const absolute = resolve(path)
  const real = await realpath(absolute).catch(() => undefined)
  return real && real !== absolute ? [absolute, real] : [absolute]
}

/**
 * Why `target` is a directory no restore may replace, or `undefined` when it may be. Protected:
 * `/`, `/home`, `/root`, any `/home/<user>`, `$HOME`, and any directory that is or contains the
 * working directory, steward's install directory or the Local store's root. Symlinks are
 * resolved on both sides.
 */
export async function protectedReason(target: string, paths: ProtectedPaths = {}): Promise<string | undefined> {
  const targets = await spellings(target)
  const home = paths.home ?? process.env['HOME'] ?? homedir()
  const cwd = paths.cwd ?? currentDirectory()
  const anchors: { path: string; what: string }[] = [
    ...(cwd ? [{ path: cwd, what: 'the working directory' }] : []),
    { path: '/root', what: 'a home directory' },
    ...(home ? [{ path: home, what: 'a home directory ($HOME)' }] : []),
  ]
  const installDir = paths.installDir === undefined ? findPackageRoot() : paths.installDir
  if (installDir) anchors.push({ path: installDir, what: "steward's install directory" })
  if (paths.storeRoot) anchors.push({ path: paths.storeRoot, what: 'the backup store' })
  for (const t of targets) {
    if (t === '/') return 'it is the root directory /'
    if (t === '/home' || dirname(t) === '/home') return 'it is a home directory (/home or /home/<user>)'
    for (const anchor of anchors) {
      for (const a of await spellings(anchor.path)) {
        if (isSameOrBelow(a, t)) return a === t ? `it is ${anchor.what}` : `it contains ${anchor.what} (${a})`
      }
    }
  }
  return undefined
}

/** The working directory, or undefined when it was deleted (process.cwd() then throws ENOENT). */
function currentDirectory(): string | undefined {
  try {
    return process.cwd()
  } catch {
    return undefined
  }
}

/**
 * The checks a restore makes before it touches `dataDir` (at the start, and again right before
 * the final rename): refuses protected directories, and with `force` anything non-empty that is
 * not an etcd data dir. Without `force`, a non-empty target is left to the caller
 * (`DATA_DIR_EXISTS`).
 * @returns what is at the target now
 * @throws StewardError `DATA_DIR_PROTECTED`
 */
export async function assertSafeTarget(dataDir: string, force: boolean, paths: ProtectedPaths = {}): Promise<TargetKind> {
  const target = resolve(assertDataDirValue(dataDir))
  const why = await protectedReason(target, paths)
  if (why) {
    throw new StewardError('DATA_DIR_PROTECTED', 'restore', `refusing to restore into ${target}: ${why}; steward never replaces it, --force or not; nothing was changed`, {
      details: { dataDir: target, reason: why },
      hints: ['pick a dedicated directory for the data dir, e.g. --data-dir /var/etcd/data/new.etcd'],
    })
  }
  const kind = await classifyTarget(target)
  if (force && (kind === 'other-dir' || kind === 'not-a-directory')) {
    const what = kind === 'other-dir' ? 'a non-empty directory that is not an etcd data directory (no member/snap or member/wal)' : 'not a directory'
    throw new StewardError('DATA_DIR_PROTECTED', 'restore', `refusing to replace ${target}: it is ${what}; --force replaces only an empty directory or an etcd data directory; nothing was changed`, {
      details: { dataDir: target, kind },
      hints: ['check --data-dir; move that content away yourself if it really is to be replaced'],
    })
  }
  return kind
}
