/**
 * Operating-system errors (Node's errno-bearing `ErrnoException`s from `node:fs`) as
 * {@link StewardError}s: one place that knows what ENOSPC, EACCES, EROFS… mean for an operator.
 * Callers pick the code (the store's `STORE_FAILED`, the data dir's `DATA_DIR_WRITE_FAILED`) —
 * they know which side failed; this module only words the cause and the hint.
 */
import { StewardError, isStewardError, messageOf, type ErrorCode } from './errors.ts'

/** errno codes this module words; anything else keeps Node's message. */
const ERRNO_TEXT: Readonly<Record<string, { reason: string; hint: string }>> = {
  ENOSPC: { reason: 'no space left on device', hint: 'free space on that filesystem or use a larger volume' },
  EDQUOT: { reason: 'disk quota exceeded', hint: 'raise the quota or free space' },
  EACCES: { reason: 'permission denied', hint: 'check the owner and mode of the directory (steward needs to create files in it)' },
  EPERM: { reason: 'operation not permitted', hint: 'check the owner, mode and attributes (chattr) of the directory' },
  EROFS: { reason: 'read-only file system', hint: 'mount the volume read-write or pick a directory on a writable one' },
  ENOTDIR: { reason: 'a part of the path is a file, not a directory', hint: 'point at a directory' },
  EISDIR: { reason: 'a directory is where a file was expected', hint: 'remove or rename that directory' },
  EEXIST: { reason: 'something already exists at that path', hint: 'remove it or pick another path' },
  EIO: { reason: 'input/output error', hint: 'the disk or network filesystem failed; check the kernel log (dmesg)' },
  ENOENT: { reason: 'no such file or directory', hint: 'check the path' },
  EMFILE: { reason: 'too many open files', hint: 'raise the open-files limit (ulimit -n)' },
  ENAMETOOLONG: { reason: 'file name too long', hint: 'use a shorter path' },
  ELOOP: { reason: 'too many symbolic links', hint: 'check the path for a symlink loop' },
  EBUSY: { reason: 'device or resource busy', hint: 'another process or a mount uses it' },
}

/** The errno code of a Node error (`ENOSPC`, …), or undefined. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined
}

/**
 * Wraps `error` in a {@link StewardError} with `code`, saying what was being done (`doing`, e.g.
 * "writing the snapshot to /backups/v2/Full-…") and, for a known errno, what it means and a hint.
 * StewardErrors pass through unchanged; an `ABORT_ERR` becomes `ABORTED`.
 */
export function osError(error: unknown, code: ErrorCode, component: string, doing: string): StewardError {
  if (isStewardError(error)) return error
  const errno = errnoOf(error)
  if (errno === 'ABORT_ERR' || (error as { name?: string } | undefined)?.name === 'AbortError') {
    return new StewardError('ABORTED', component, `${doing}: aborted`, { cause: error })
  }
  const known = errno ? ERRNO_TEXT[errno] : undefined
  const path = (error as NodeJS.ErrnoException | undefined)?.path
  const where = path ? ` (${path})` : ''
  const reason = known ? `${known.reason} [${errno}]${where}` : messageOf(error)
  return new StewardError(code, component, `${doing}: ${reason}`, {
    cause: error,
    hints: known ? [known.hint] : [],
    details: { ...(errno ? { errno } : {}), ...(path ? { path } : {}) },
  })
}
