/**
 * `steward compact`, etcd-druid's compaction Job (docs/compact.md): folds the latest set (newest
 * full snapshot + its deltas) into one new full snapshot, so the next restore replays no deltas.
 *
 *   restore the latest set into `dataDir` (steward's restore, temporary etcd for deltas)
 *   → start a temporary etcd on it → compact at its revision R (physical) → defragment
 *   → stream a full snapshot into the same store as `Full-00000000-<R>-<now><suffix>[.final]`
 *     (suffix of the newest object of the set, `.final` when the base was final)
 *   → stop etcd, remove `dataDir`.
 *
 * The upload is atomic (the snapstore contract): when it fails, no new full snapshot is listed
 * and the old set is untouched. The old set stays until garbage collection removes it.
 */
import { mkdir, rm } from 'node:fs/promises'
import { policyForSuffix, type CompressionPolicy } from '../compression/index.ts'
import { StewardError, messageOf } from '../errors.ts'
import { ETCD_CONNECTION_DEFAULTS } from '../etcd/config.ts'
import { EtcdClient } from '../etcd/client.ts'
import type { MemberClient } from '../etcd/wire/member-client.ts'
import { GRPC_DEADLINE_EXCEEDED, GrpcStatusError } from '../etcd/wire/status.ts'
import { RESTORE_MEMBER_DEFAULTS } from '../restore/etcdutl.ts'
import { restoreFullSnapshot } from '../restore/restore.ts'
import { TEMP_ETCD_DEFAULTS, startTempEtcd, type TempEtcdLimits } from '../restore/temp-etcd.ts'
import type { BackupStore } from '../snapshot/backup-store.ts'
import { takeFullSnapshot } from '../snapshot/full.ts'

export interface CompactDeps {
  readonly store: BackupStore
  /** Clock for the new snapshot's name. @default () => new Date() */
  readonly now?: () => Date
  /** Progress of the restore download and the snapshot upload, in bytes. */
  readonly onProgress?: (phase: 'restore' | 'snapshot', bytes: number, totalBytes?: number) => void
}

export interface CompactOptions {
  /** Working data directory (druid: `/var/etcd/data/compaction.etcd`); must not hold data; removed afterwards. */
  readonly dataDir: string
  /** Defragment after compacting (etcd-backup-restore `--defragment`, default true). */
  readonly defragment?: boolean
  /**
   * Deadline of the temporary etcd's defragmentation, seconds (`--etcd-defrag-timeout`).
   * @default {@link DEFAULT_COMPACT_DEFRAG_TIMEOUT_SECONDS}
   */
  readonly defragTimeoutSeconds?: number
  /** Deadline of the snapshot stream from the temporary etcd, seconds. @default 1800 */
  readonly snapshotTimeoutSeconds?: number
  /** Limits of the temporary etcd (`--embedded-etcd-quota-bytes`, …). */
  readonly limits?: Partial<TempEtcdLimits>
  /** Skip the SHA-256 check of the base full snapshot. */
  readonly skipHashCheck?: boolean
}

/** Default `--etcd-defrag-timeout` of `compact`, seconds: etcd-backup-restore's compactor default (8m). */
export const DEFAULT_COMPACT_DEFRAG_TIMEOUT_SECONDS = 8 * 60

export interface CompactResult {
  /** Name of the compacted full snapshot uploaded. */
  readonly snapshot: string
  readonly key: string
  /** Its revision (the latest set's last revision). */
  readonly revision: number
  /** The set it replaces. */
  readonly base: string
  readonly deltasFolded: number
  readonly compression: CompressionPolicy
  readonly isFinal: boolean
  /** Database bytes before and after compaction + defragmentation. */
  readonly dbSizeBeforeBytes: number
  readonly dbSizeAfterBytes: number
  readonly storedSizeBytes: number
  readonly warnings: readonly string[]
  readonly durationSeconds: number
}

/**
 * Compacts the latest set of `deps.store` into one full snapshot.
 * @throws StewardError `SNAPSHOT_NOT_FOUND` (no full snapshot: "no base snapshot found", or a
 *   gap in the deltas), `SNAPSHOT_CORRUPT` naming the object, `DATA_DIR_EXISTS` (`dataDir` holds
 *   data), `TOOL_FAILED` (etcd/etcdutl), `DEFRAG_FAILED` (the defragmentation failed or outlasted
 *   `defragTimeoutSeconds`), `STORE_*` (upload failed: nothing new is listed), `ABORTED`
 */
export async function compactStore(deps: CompactDeps, options: CompactOptions, signal?: AbortSignal): Promise<CompactResult> {
  const started = performance.now()
  const { full, deltas } = await deps.store.latestSet()
  if (!full) {
    throw new StewardError('SNAPSHOT_NOT_FOUND', 'compact', `no base snapshot found in ${deps.store.location}: nothing to compact`, {
      hints: ['a full snapshot must exist; take one with: steward snapshot'],
    })
  }
  const newest = deltas.at(-1) ?? full
  const compression = policyForSuffix(newest.compressionSuffix)
  const limits: TempEtcdLimits = { ...TEMP_ETCD_DEFAULTS, ...options.limits }
  const warnings: string[] = []
  const work = `${options.dataDir.replace(/\/+$/, '')}.steward-compact`
  let removeDataDir = false
  try {
    const restored = await restoreFullSnapshot(deps.store, {
      dataDir: options.dataDir,
      force: false,
      member: RESTORE_MEMBER_DEFAULTS,
      skipHashCheck: options.skipHashCheck ?? false,
      limits,
      // Compacted at the newest revision below anyway: the restore's own lean step would be redundant.
      keepDeltaHistory: true,
      ...(deps.onProgress ? { onProgress: (bytes: number, total: number | undefined) => deps.onProgress?.('restore', bytes, total) } : {}),
      ...(signal ? { signal } : {}),
    })
    removeDataDir = true
    warnings.push(...restored.warnings)
    await rm(work, { recursive: true, force: true })
    await mkdir(work, { recursive: true, mode: 0o700 })
    const etcd = await startTempEtcd({ dataDir: options.dataDir, name: RESTORE_MEMBER_DEFAULTS.name, workDir: work, limits, signal })
    try {
      const revision = await etcd.client.revision()
      const before = await etcd.client.dbSize()
      await etcd.client.compact(revision, true).catch((error: unknown) => {
        if (!/required revision has been compacted|compacted/i.test(messageOf(error))) throw error
        warnings.push(`revision ${revision} was already compacted: ${messageOf(error)}`)
      })
      if (options.defragment ?? true) await defragmentTemporary(etcd.client, options.defragTimeoutSeconds ?? DEFAULT_COMPACT_DEFRAG_TIMEOUT_SECONDS)
      const after = await etcd.client.dbSize()
      const client = await EtcdClient.create({
        endpoints: [etcd.endpoint],
        insecureSkipTlsVerify: false,
        connectionTimeoutSeconds: ETCD_CONNECTION_DEFAULTS.connectionTimeoutSeconds,
        snapshotTimeoutSeconds: options.snapshotTimeoutSeconds ?? 30 * 60,
        defragTimeoutSeconds: ETCD_CONNECTION_DEFAULTS.defragTimeoutSeconds,
      })
      try {
        const snapshot = await takeFullSnapshot(client, deps.store, {
          compression,
          final: full.isFinal,
          reuseFinal: false,
          ...(deps.now ? { now: deps.now } : {}),
          ...(deps.onProgress ? { onProgress: (bytes: number) => deps.onProgress?.('snapshot', bytes, after.dbSizeBytes) } : {}),
          ...(signal ? { signal } : {}),
        })
        if (snapshot.revision !== newest.lastRevision) {
          warnings.push(`the compacted snapshot is at revision ${snapshot.revision}; the set's names end at ${newest.lastRevision}`)
        }
        return {
          snapshot: snapshot.name,
          key: snapshot.key,
          revision: snapshot.revision,
          base: full.name,
          deltasFolded: restored.deltasApplied,
          compression,
          isFinal: snapshot.isFinal,
          dbSizeBeforeBytes: before.dbSizeBytes,
          dbSizeAfterBytes: after.dbSizeBytes,
          storedSizeBytes: snapshot.storedSizeBytes,
          warnings,
          durationSeconds: (performance.now() - started) / 1000,
        }
      } finally {
        client.close()
      }
    } finally {
      await etcd.stop()
    }
  } finally {
    await rm(work, { recursive: true, force: true })
    if (removeDataDir) await rm(options.dataDir, { recursive: true, force: true })
  }
}

/**
 * Defragments the temporary etcd within `timeoutSeconds`.
 * @throws StewardError `DEFRAG_FAILED` naming the deadline when it passed first
 */
async function defragmentTemporary(client: MemberClient, timeoutSeconds: number): Promise<void> {
  try {
    await client.defragment(timeoutSeconds * 1000)
  } catch (error) {
    const deadline = error instanceof GrpcStatusError && error.code === GRPC_DEADLINE_EXCEEDED
    throw new StewardError('DEFRAG_FAILED', 'compact', deadline ? `defragmenting the temporary etcd took longer than --etcd-defrag-timeout (${timeoutSeconds}s)` : `defragmenting the temporary etcd failed: ${messageOf(error)}`, {
      cause: error,
      hints: deadline ? ['raise --etcd-defrag-timeout, or skip the step with --no-defragment'] : [],
    })
  }
}
