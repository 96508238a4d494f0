/**
 * `steward validate`: checks a data directory the way an operator needs before starting etcd
 * (the sanity checks of etcd-backup-restore's initializer, research notes §7.2): the directory
 * exists, has `member/snap` and `member/wal` with at least one WAL file, its bbolt database is
 * readable, and — when a store is given — its revision is not older than the newest backup.
 *
 * Unlike etcd-backup-restore, no embedded etcd is started to replay the WAL when the database
 * lags the backup; after a clean stop etcd's database is current, so a lag means data loss.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { StewardError, isStewardError, messageOf, type ErrorCode } from '../errors.ts'
import { osError } from '../os-errors.ts'
import type { BackupStore } from '../snapshot/backup-store.ts'
import { readBboltRevision } from './bbolt.ts'
import { processesUsing } from './in-use.ts'

/** etcd-backup-restore's data-dir status names, for operators who know them. */
export type DataDirStatus =
  | 'Valid'
  | 'DataDirectoryNotExist'
  | 'DataDirectoryInvStruct'
  | 'DataDirectoryCorrupt'
  | 'RevisionConsistencyError'
  /** steward's: a running process (etcd) has the database open (etcd-backup-restore: FailToOpenBoltDBError). */
  | 'DataDirectoryLocked'

export interface ValidationCheck {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export interface ValidationResult {
  readonly dataDir: string
  readonly valid: boolean
  readonly status: DataDirStatus
  /** Store revision of the database, when it could be read. */
  readonly revision: number | null
  /** Last revision of the newest backup (last delta, else full), when a store was checked. */
  readonly latestBackupRevision: number | null
  readonly checks: readonly ValidationCheck[]
  /** Why the data dir is not valid; `null` when valid. */
  readonly failure: { readonly code: ErrorCode; readonly message: string } | null
}

/**
 * Validates `dataDir`. Never throws for a bad data dir (the result says why); throws only when
 * the store cannot be read (`STORE_*`).
 */
export async function validateDataDir(dataDir: string, store?: BackupStore): Promise<ValidationResult> {
  const checks: ValidationCheck[] = []
  const result = (status: DataDirStatus, revision: number | null, latest: number | null, failure: StewardError | null): ValidationResult => ({
    dataDir,
    valid: failure === null,
    status,
    revision,
    latestBackupRevision: latest,
    checks,
    failure: failure ? { code: failure.code, message: failure.reason } : null,
  })

  if (!(await isDir(dataDir))) {
    checks.push({ name: 'exists', ok: false, detail: `${dataDir} does not exist or is not a directory` })
    return result('DataDirectoryNotExist', null, null, new StewardError('DATA_DIR_INVALID', 'validate', `${dataDir} does not exist`))
  }
  checks.push({ name: 'exists', ok: true, detail: dataDir })

  for (const sub of ['member', 'member/snap', 'member/wal']) {
    if (!(await isDir(join(dataDir, sub)))) {
      checks.push({ name: 'structure', ok: false, detail: `${sub}/ is missing` })
      return result('DataDirectoryInvStruct', null, null, new StewardError('DATA_DIR_INVALID', 'validate', `${dataDir} has no ${sub}/ directory: not an etcd data dir`))
    }
  }
  const walDir = join(dataDir, 'member', 'wal')
  const wals = (await readdir(walDir).catch((error: unknown) => {
    throw osError(error, 'DATA_DIR_INVALID', 'validate', `cannot read ${walDir}`)
  })).filter((n) => n.endsWith('.wal'))
  if (wals.length === 0) {
    checks.push({ name: 'structure', ok: false, detail: 'member/wal/ holds no .wal file' })
    return result('DataDirectoryInvStruct', null, null, new StewardError('DATA_DIR_INVALID', 'validate', `${dataDir}/member/wal holds no WAL file`))
  }
  checks.push({ name: 'structure', ok: true, detail: `member/snap and member/wal present, ${wals.length} WAL file(s)` })

  const users = await processesUsing(join(dataDir, 'member', 'snap', 'db'))
  if (users.length > 0) {
    const who = users.map((u) => `pid ${u.pid} (${u.command.slice(0, 80)})`).join(', ')
    checks.push({ name: 'not in use', ok: false, detail: `member/snap/db is open in ${who}` })
    return result('DataDirectoryLocked', null, null, new StewardError('DATA_DIR_LOCKED', 'validate', `${dataDir} is in use by ${who}; stop that etcd first`))
  }
  checks.push({ name: 'not in use', ok: true, detail: 'no process has member/snap/db open' })

  let revision: number
  try {
    revision = (await readBboltRevision(join(dataDir, 'member', 'snap', 'db'))).revision
    checks.push({ name: 'database', ok: true, detail: `member/snap/db readable, revision ${revision}` })
  } catch (error) {
    const detail = isStewardError(error) ? error.reason : messageOf(error)
    checks.push({ name: 'database', ok: false, detail })
    return result('DataDirectoryCorrupt', null, null, new StewardError('DATA_DIR_INVALID', 'validate', `database unreadable: ${detail}`, { cause: error }))
  }

  if (!store) return result('Valid', revision, null, null)
  const set = await store.latestSet()
  const latest = set.deltas.at(-1)?.lastRevision ?? set.full?.lastRevision ?? null
  if (latest === null) {
    checks.push({ name: 'revision', ok: true, detail: `no backup in ${store.location} to compare with` })
    return result('Valid', revision, null, null)
  }
  if (revision < latest) {
    checks.push({ name: 'revision', ok: false, detail: `database revision ${revision} < newest backup revision ${latest}` })
    return result('RevisionConsistencyError', revision, latest, new StewardError('DATA_DIR_BEHIND', 'validate', `database revision ${revision} is older than the newest backup (revision ${latest}); restore from the backup instead of starting etcd on it`))
  }
  checks.push({ name: 'revision', ok: true, detail: `database revision ${revision} ≥ newest backup revision ${latest}` })
  return result('Valid', revision, latest, null)
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}
