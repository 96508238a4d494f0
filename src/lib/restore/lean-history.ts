/**
 * The lean step of the direct delta apply (docs/restore.md, "Compacted history"): the merged
 * database holds every revision of the delta chain, where etcd-backup-restore's restore (and
 * `--delta-apply etcd`) compacts at the last revision of every 10th applied delta. This step
 * gives the merged database that same history, with etcd's own compaction and defragmentation:
 *
 * 1. `etcdutl snapshot restore` of the merged file into a staging dir in the work dir, as a
 *    one-member cluster (a temporary etcd must start alone; the real member config of a
 *    multi-member target would wait for its peers);
 * 2. a temporary etcd (`temp-etcd.ts`) on it: check its revision, compact physically at the
 *    compaction point, disarm any alarm it raised, check the revision again, stop;
 * 3. defragment: the compacted database is rewritten without its freed pages by steward's
 *    streaming bbolt copy (`src/lib/bbolt/repack.ts`) into `<workDir>/lean.db`, with a SHA-256
 *    trailer. etcd's own defragmentation would map the database and its copy at once (about
 *    1.1 GiB of resident pages on the benchmark, docs/benchmarks.md); the copy holds the same
 *    records, as etcd's does, and etcdutl checks the trailer and opens it next;
 * 4. the caller then restores `lean.db` with the real member config (`etcdutl` rewrites
 *    membership and IDs from that config), so the final data dir is exactly what etcdutl makes
 *    of the compacted database.
 */
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { repackBbolt } from '../bbolt/repack.ts'
import { appendSha256Trailer } from '../bbolt/writer.ts'
import { ALARM_NAMES } from '../etcd/wire/messages.ts'
import { StewardError, messageOf } from '../errors.ts'
import { etcdutlRestore, type RestoreMemberConfig } from './etcdutl.ts'
import { startTempEtcd, type TempEtcdLimits } from './temp-etcd.ts'

export interface LeanHistoryOptions {
  /** The merged bbolt file (with its SHA-256 trailer). */
  readonly mergedPath: string
  /** Work dir: the staging data dir goes to `<workDir>/lean`, the temporary etcd's pid and log here. */
  readonly workDir: string
  /** One-member config for the staging restore (the real member's name). */
  readonly stagingMember: RestoreMemberConfig
  /** Revision to compact at (etcd-backup-restore's last compaction point). */
  readonly compactRevision: number
  /** The store revision the merged file holds; checked before and after (a revoked lease would add one). */
  readonly revision: number
  /** Limits of the temporary etcd; its quota is raised to fit the merged database when needed. */
  readonly limits: TempEtcdLimits
  readonly signal?: AbortSignal | undefined
}

export interface LeanHistoryResult {
  /** The compacted, defragmented database (`<workDir>/lean.db`), with a SHA-256 trailer. */
  readonly dbPath: string
  /** Size of the restored merged database before compaction, in bytes. */
  readonly sizeBeforeBytes: number
  /** Size after compaction and defragmentation (without the trailer), in bytes. */
  readonly sizeAfterBytes: number
  /** Alarms the temporary etcd had raised, disarmed before it stopped (normally none). */
  readonly disarmed: readonly string[]
  /** Process id of the temporary etcd (for measurements). */
  readonly tempEtcdPid: number
}

/** Headroom above the database size for the temporary etcd's quota: compaction writes to it. */
const QUOTA_HEADROOM_BYTES = 1024 ** 3

/**
 * Compacts the merged database with a temporary etcd and defragments it (see the module comment).
 * @throws StewardError `TOOL_FAILED` (etcdutl or etcd failed, or etcd's revision moved: a lease
 *   from the full snapshot expired while it ran), `SNAPSHOT_CORRUPT` (etcdutl found the merged
 *   file's trailer wrong), `DATA_DIR_INVALID` (the compacted file unreadable), `ABORTED`
 */
export async function compactMergedHistory(options: LeanHistoryOptions): Promise<LeanHistoryResult> {
  const stage = join(options.workDir, 'lean')
  await etcdutlRestore(options.mergedPath, stage, options.stagingMember, false, options.signal, options.mergedPath)
  const dbPath = join(stage, 'member', 'snap', 'db')
  const sizeBeforeBytes = (await stat(dbPath)).size
  const limits = { ...options.limits, quotaBackendBytes: Math.max(options.limits.quotaBackendBytes, sizeBeforeBytes + QUOTA_HEADROOM_BYTES) }
  const etcd = await startTempEtcd({ dataDir: stage, name: options.stagingMember.name, workDir: options.workDir, limits, signal: options.signal })
  const disarmed: string[] = []
  try {
    const call = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
      try {
        return await run()
      } catch (error) {
        if (options.signal?.aborted) throw new StewardError('ABORTED', 'restore', 'restore aborted')
        throw new StewardError('TOOL_FAILED', 'restore', `compacting the restored history: ${what} failed: ${messageOf(error)}`, { cause: error })
      }
    }
    const checkRevision = async (when: string) => {
      const live = await call('reading the revision', () => etcd.client.revision())
      if (live !== options.revision) {
        throw new StewardError('TOOL_FAILED', 'restore', `the temporary etcd that compacts the restored history is at revision ${live} ${when}, the restored data holds ${options.revision} (a lease from the full snapshot expired and was revoked?)`, {
          details: { expected: options.revision, actual: live },
          hints: ['retry the restore, or pass --keep-delta-history to skip the compaction'],
        })
      }
    }
    await checkRevision('at start')
    await call(`compaction at revision ${options.compactRevision}`, () => etcd.client.compact(options.compactRevision, true))
    for (const alarm of await call('listing alarms', () => etcd.client.alarms())) {
      await call('disarming an alarm', () => etcd.client.disarm(alarm))
      disarmed.push(ALARM_NAMES[alarm.alarm] ?? `alarm ${alarm.alarm}`)
    }
    await checkRevision('after compacting')
  } finally {
    await etcd.stop()
  }
  const leanPath = join(options.workDir, 'lean.db')
  const { sizeBytes } = await repackBbolt(dbPath, leanPath, options.signal)
  await rm(stage, { recursive: true, force: true })
  await appendSha256Trailer(leanPath, options.signal)
  return { dbPath: leanPath, sizeBeforeBytes, sizeAfterBytes: sizeBytes, disarmed, tempEtcdPid: etcd.pid }
}
