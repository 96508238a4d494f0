/**
 * `steward restore`: restores the latest full snapshot (or a named one) from a store into a
 * data directory, with etcd's own restore logic, plus the deltas after it, up to a point in
 * time when asked (docs/restore.md).
 *
 * Flow: pick the snapshot → stream it from the store, decompressing and verifying the SHA-256
 * trailer into a temp file in a hidden work dir beside the target (skipped for an uncompressed
 * object the store holds as a local file: that file is verified in place) → then, by
 * `deltaApply`:
 *  - `direct` (default): read the snapshot's revision → merge the snapshot and the deltas (one
 *    at a time, streamed) into a new bbolt file (`direct-apply.ts`) → with 10 or more applied
 *    deltas, compact that history at etcd-backup-restore's point with a temporary etcd on a
 *    staging restore of it (`lean-history.ts`; not with `keepDeltaHistory`) → `etcdutl snapshot
 *    restore` of the result into the work dir → check its revision and compaction;
 *  - `etcd`: `etcdutl snapshot restore` into the work dir → read its revision → replay the
 *    deltas through a temporary etcd (`deltas.ts`);
 * → rename into place. The target is touched only by that final rename.
 */
import { createWriteStream } from 'node:fs'
import { rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { StewardError, isStewardError } from '../errors.ts'
import { errnoOf, osError } from '../os-errors.ts'
import { rfc3339ToNanos } from '../delta/apply.ts'
import type { BackupStore, StoredSnapshot } from '../snapshot/backup-store.ts'
import { ByteCounter, FullSnapshotVerifier, TRAILER_BYTES, verifySnapshotFile } from '../snapshot/verify.ts'
import { readBboltRevision } from '../validate/bbolt.ts'
import { assertReplaceable, makeWorkDir, recoverInterruptedSwap, swapIntoPlace } from './data-dir.ts'
import { LeanSchedule, applyDeltaChain, applyDeltaChainTo, deltaChain, gapError, type DeltaChainOptions, type DeltaChainResult, type DeltaSink } from './deltas.ts'
import { compactMergedHistory } from './lean-history.ts'
import { openDirectMerge } from './direct-apply.ts'
import { etcdutlRestore, type RestoreMemberConfig } from './etcdutl.ts'
import { assertDataDirValue, assertSafeTarget, type ProtectedPaths, type TargetKind } from './target-guard.ts'
import { TEMP_ETCD_DEFAULTS, cleanupStaleWorkDirs, type TempEtcdLimits } from './temp-etcd.ts'

export interface RestoreOptions {
  /** Target data directory. */
  readonly dataDir: string
  /** Replace a non-empty `dataDir`. */
  readonly force: boolean
  readonly member: RestoreMemberConfig
  /** Restore this snapshot (name or key) instead of the latest full snapshot; deltas are then applied only with `toRevision`/`toTime`. */
  readonly snapshot?: string | undefined
  /** Skip the SHA-256 comparison of the full snapshot (etcd's `--skip-hash-check`). */
  readonly skipHashCheck?: boolean
  /** Apply the deltas after the full snapshot [true]. */
  readonly applyDeltas?: boolean
  /** Point in time: stop after this revision. */
  readonly toRevision?: number | undefined
  /** Point in time: RFC 3339; stop before the first revision whose events were recorded after it. */
  readonly toTime?: string | undefined
  /** Restore up to the last good revision when a delta is corrupt, missing or leaves a gap. */
  readonly allowPartial?: boolean
  /** When the newest full snapshot is corrupt, use an older one whose delta chain is continuous. */
  readonly fallbackToOlderFull?: boolean
  /**
   * How deltas are applied [`direct`]: `direct` merges them into a copy of the full snapshot's
   * bbolt file that etcdutl then restores; `etcd` replays them through a temporary etcd
   * (docs/restore.md, "Applying deltas").
   */
  readonly deltaApply?: DeltaApplyMode
  /**
   * Direct apply: keep every revision of the delta chain instead of compacting at
   * etcd-backup-restore's point (the last revision of the last 10th applied delta) [false]
   * (docs/restore.md, "Compacted history"). The `etcd` apply always compacts.
   */
  readonly keepDeltaHistory?: boolean
  /** Limits of the temporary etcd that replays deltas (`deltaApply: 'etcd'`). */
  readonly limits?: Partial<TempEtcdLimits>
  /** Called with (bytes processed, total stored bytes or undefined) while the full snapshot downloads. */
  readonly onProgress?: (bytes: number, totalBytes: number | undefined) => void
  /** Called after each applied delta. */
  readonly onDelta?: (delta: StoredSnapshot, revision: number) => void
  /** Called with each thing cleaned up from a killed earlier restore (orphan etcd, work dir), for the log. */
  readonly onCleanup?: (message: string) => void
  /** Delta replay: transactions per wave [32] (docs/restore.md, "Applying deltas"). */
  readonly txnsInFlight?: number
  /** Test seam of the delta replay: see {@link DeltaChainOptions.commitThrough}. */
  readonly commitThrough?: DeltaChainOptions['commitThrough']
  readonly signal?: AbortSignal
}

/** How a restore applies deltas (see {@link RestoreOptions.deltaApply}). */
export type DeltaApplyMode = 'direct' | 'etcd'

export interface RestoreResult {
  readonly dataDir: string
  /** Name of the full snapshot restored. */
  readonly snapshot: string
  /** Revision in the snapshot's name. */
  readonly snapshotRevision: number
  /** Revision the restored data dir reached (after deltas). */
  readonly revision: number
  /** `time` of the last applied delta event (undefined without deltas). */
  readonly reachedTime: string | undefined
  /** Why the restore ended where it did. */
  readonly end: 'complete' | 'to-revision' | 'to-time' | 'partial'
  /** Restored database size in bytes (before deltas). */
  readonly dbSizeBytes: number
  readonly deltasApplied: number
  readonly eventsApplied: number
  /**
   * Revision the restored history was compacted at (etcd-backup-restore's point: the last
   * revision of the last 10th applied delta); absent when nothing was compacted.
   */
  readonly compactedRevision?: number
  /** Things the user must know: fallback to an older full snapshot, partial restore, a replaced data dir. */
  readonly warnings: readonly string[]
  /** What `--force` replaced at `dataDir`: `etcd-data-dir` or `empty`; absent when nothing was there. */
  readonly replaced?: 'etcd-data-dir' | 'empty'
  /** Work dirs (and orphan temporary etcds) of killed earlier restores that were removed first. */
  readonly cleaned: readonly string[]
  /** With `end: 'partial'`: the object that stopped the restore. */
  readonly failure?: { readonly object: string; readonly code: string; readonly message: string }
  readonly durationSeconds: number
}

/**
 * Restores the latest full snapshot plus the deltas after it (or a point in time) into
 * `options.dataDir`. Everything happens in a hidden work dir beside the target; the target is
 * touched only by the final rename, and only when it is replaceable (target-guard.ts: never
 * `/`, a home or working directory, one holding the store or steward; with `force` only an
 * empty or etcd data dir). Work dirs (and orphan etcds) of killed earlier runs are cleaned up
 * first and reported through `onCleanup` and `cleaned`.
 * @throws StewardError `CONFIG_INVALID` (empty `dataDir`), `DATA_DIR_PROTECTED`, `DATA_DIR_EXISTS`,
 *   `DATA_DIR_LOCKED` (all before any download), `DATA_DIR_WRITE_FAILED` (the work dir or target
 *   cannot be written: ENOSPC, EROFS, EACCES…), `SNAPSHOT_NOT_FOUND` (no fitting
 *   full snapshot, delta chain gap), `SNAPSHOT_CORRUPT` (naming the object), `SNAPSHOT_NOT_BBOLT`,
 *   `COMPRESSION_UNSUPPORTED`, `STORE_*`, `CONFIG_INVALID`, `TOOL_FAILED`, `ABORTED`; on any
 *   failure the target is untouched and the work dir removed.
 */
export async function restoreFullSnapshot(store: BackupStore, options: RestoreOptions): Promise<RestoreResult> {
  try {
    return await restoreInto(store, options)
  } catch (error) {
    // The boundary where the cause is known: store drivers and etcd wrap their own failures, so
    // an OS error left here came from the data dir's side (the work dir beside it).
    if (!isStewardError(error) && errnoOf(error)) throw osError(error, 'DATA_DIR_WRITE_FAILED', 'restore', `restoring into ${resolve(options.dataDir)} failed`)
    throw error
  }
}

/** The Local store's root directory (a restore must never replace a directory holding it). */
export function localStoreRoot(store: BackupStore): string | undefined {
  const { snapstore } = store
  return snapstore.capabilities.localFiles && snapstore.localPath ? dirname(snapstore.localPath('probe')) : undefined
}

async function restoreInto(store: BackupStore, options: RestoreOptions): Promise<RestoreResult> {
  const started = performance.now()
  assertDataDirValue(options.dataDir)
  checkRestoreRequest(options)
  const toTimeNanos = options.toTime === undefined ? undefined : rfc3339ToNanos(options.toTime)
  const paths: ProtectedPaths = { storeRoot: localStoreRoot(store) }
  await assertSafeTarget(options.dataDir, false, paths)
  const recovered = await recoverInterruptedSwap(options.dataDir)
  await assertReplaceable(options.dataDir, options.force, paths)
  const cleaned = await cleanupStaleWorkDirs(options.dataDir, options.onCleanup)
  const all = await store.list()
  const candidates = fullCandidates(all, options, toTimeNanos)
  const pointInTime = options.toRevision !== undefined || toTimeNanos !== undefined
  const withDeltas = (options.applyDeltas ?? true) && (options.snapshot === undefined || pointInTime)
  const multiMember = options.member.initialCluster.split(',').length > 1
  const direct = withDeltas && (options.deltaApply ?? 'direct') === 'direct'
  const work = await makeWorkDir(options.dataDir)
  const warnings: string[] = [...recovered]
  try {
    await writeFile(join(work, 'owner.pid'), `${process.pid}\n`).catch((error: unknown) => {
      throw osError(error, 'DATA_DIR_WRITE_FAILED', 'restore', `cannot write in the work dir ${work}`)
    })
    const restored = join(work, 'data')
    const wanted = candidates[0] ? chainEnd(all, candidates[0], options.toRevision) : 0
    let base: { full: StoredSnapshot; revision: number; dbSizeBytes: number; snapshotPath?: string } | undefined
    let firstFailure: StewardError | undefined
    for (const [index, full] of candidates.entries()) {
      if (index > 0 && (!options.fallbackToOlderFull || !withDeltas)) break
      if (index > 0 && !fallbackFits(all, full, wanted, options.toRevision)) continue
      try {
        if (direct) base = { full, ...(await prepareSnapshotFile(store, full, work, options)) }
        else {
          const stage = withDeltas && multiMember ? join(work, 'stage') : restored
          const member = stage === restored ? options.member : singleMember(options.member)
          base = { full, ...(await restoreBase(store, full, work, stage, member, options)) }
        }
        if (index > 0) warnings.push(`FALLBACK: restored the older full snapshot ${full.name} because ${candidates[0]!.name} failed; deltas after it are applied`)
        break
      } catch (error) {
        if (!options.fallbackToOlderFull || !isStewardError(error, 'SNAPSHOT_CORRUPT', 'SNAPSHOT_NOT_BBOLT', 'SNAPSHOT_NOT_FOUND', 'COMPRESSION_UNSUPPORTED') || index === candidates.length - 1) throw error
        firstFailure ??= error
        warnings.push(`full snapshot ${full.name} is unusable: ${error.reason}`)
        await rm(join(work, 'stage'), { recursive: true, force: true })
        await rm(join(work, 'snapshot.db'), { force: true })
        await rm(restored, { recursive: true, force: true })
      }
    }
    if (!base) {
      // The newest full snapshot's own failure is what the operator must see, not the lack of a fallback.
      if (firstFailure) throw new StewardError(firstFailure.code, 'restore', `${firstFailure.reason}; and no older full snapshot has a continuous delta chain up to revision ${wanted}`, { cause: firstFailure, details: { ...firstFailure.context, warnings } })
      throw new StewardError('SNAPSHOT_NOT_FOUND', 'restore', `no older full snapshot has a continuous delta chain up to revision ${wanted}`, { details: { warnings } })
    }
    if (options.toRevision !== undefined && base.revision > options.toRevision) {
      throw new StewardError('SNAPSHOT_NOT_FOUND', 'restore', `${base.full.name} holds revision ${base.revision}, after --to-revision ${options.toRevision}, and no older full snapshot fits`)
    }
    let outcome: MergeOutcome = { deltasApplied: 0, eventsApplied: 0, revision: base.revision, lastEventTime: undefined, end: 'complete' }
    if (direct) outcome = await mergeDeltas(store, all, { ...base, snapshotPath: base.snapshotPath! }, work, restored, toTimeNanos, warnings, options)
    else if (withDeltas) outcome = await replayDeltas(store, all, base, work, restored, multiMember, toTimeNanos, warnings, options)
    const replaced: TargetKind = await swapIntoPlace(restored, options.dataDir, options.force, paths)
    if (replaced === 'etcd-data-dir') warnings.push(`REPLACED: --force replaced the existing etcd data directory ${resolve(options.dataDir)}`)
    return {
      dataDir: options.dataDir,
      snapshot: base.full.name,
      snapshotRevision: base.full.lastRevision,
      revision: outcome.revision,
      reachedTime: outcome.lastEventTime,
      end: outcome.end,
      dbSizeBytes: base.dbSizeBytes,
      deltasApplied: outcome.deltasApplied,
      eventsApplied: outcome.eventsApplied,
      ...(outcome.compactedRevision !== undefined ? { compactedRevision: outcome.compactedRevision } : {}),
      warnings,
      ...(replaced === 'etcd-data-dir' || replaced === 'empty' ? { replaced } : {}),
      cleaned,
      ...(outcome.failure ? { failure: outcome.failure } : {}),
      durationSeconds: (performance.now() - started) / 1000,
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** The revision the delta chain after `full` reaches by name (up to `toRevision`), ignoring gaps' far side. */
export function chainEnd(all: readonly StoredSnapshot[], full: StoredSnapshot, toRevision?: number): number {
  return deltaChain(all, full.lastRevision, full.name, toRevision).deltas.at(-1)?.lastRevision ?? full.lastRevision
}

/**
 * Whether `--fallback-to-older-full` may use the older full snapshot `full` in place of a failed
 * newer one: its delta chain has no gap and reaches `wanted` (what the newer one would have reached).
 */
export function fallbackFits(all: readonly StoredSnapshot[], full: StoredSnapshot, wanted: number, toRevision?: number): boolean {
  return !deltaChain(all, full.lastRevision, full.name, toRevision).gap && chainEnd(all, full, toRevision) >= wanted
}

/**
 * Rejects options that contradict each other, before anything is touched: a point in time with
 * `applyDeltas: false` (the full snapshot alone cannot reach it), a fallback or partial restore
 * with nothing it could apply to.
 * @throws StewardError `CONFIG_INVALID` naming both flags
 */
export function checkRestoreRequest(options: Pick<RestoreOptions, 'applyDeltas' | 'toRevision' | 'toTime' | 'allowPartial' | 'fallbackToOlderFull' | 'snapshot'>): void {
  const conflict = (a: string, b: string, why: string, hint: string): StewardError =>
    new StewardError('CONFIG_INVALID', 'restore', `${a} conflicts with ${b}: ${why}`, { hints: [hint], details: { flags: [a, b] } })
  if (options.applyDeltas === false) {
    if (options.toRevision !== undefined) throw conflict('--no-deltas', `--to-revision ${options.toRevision}`, 'a point in time needs the deltas after the full snapshot', 'drop --no-deltas, or --to-revision to restore the full snapshot as it is')
    if (options.toTime !== undefined) throw conflict('--no-deltas', `--to-time ${options.toTime}`, 'a point in time needs the deltas after the full snapshot', 'drop --no-deltas, or --to-time to restore the full snapshot as it is')
    if (options.allowPartial) throw conflict('--no-deltas', '--allow-partial', '--allow-partial is about deltas and none are applied', 'drop one of them')
  }
  if (options.snapshot !== undefined && options.fallbackToOlderFull) throw conflict(`--snapshot ${options.snapshot}`, '--fallback-to-older-full', 'a named snapshot has no fallback', 'drop one of them')
}

/**
 * Full snapshots a restore may start from, newest first: the named one; else those at or before
 * `toRevision` (by name) and created at least 1 s before `toTime` (names hold whole seconds).
 * @throws StewardError `SNAPSHOT_NOT_FOUND` when none fits
 */
export function fullCandidates(all: readonly StoredSnapshot[], options: Pick<RestoreOptions, 'snapshot' | 'toRevision'>, toTimeNanos: bigint | undefined, location = 'the store'): StoredSnapshot[] {
  const wanted = options.snapshot
  if (wanted) {
    const found = all.find((s) => !s.isChunk && (s.name === wanted || s.key === wanted))
    if (!found) {
      throw new StewardError('SNAPSHOT_NOT_FOUND', 'restore', `snapshot ${wanted} is not in ${location}`, {
        hints: ['list what is there with: steward snapshot list'],
      })
    }
    if (found.kind !== 'Full') throw new StewardError('SNAPSHOT_NOT_FOUND', 'restore', `${wanted} is a delta snapshot; name a full snapshot`)
    return [found]
  }
  const fulls = all.filter((s) => !s.isChunk && s.kind === 'Full')
  const fitting = fulls.filter(
    (s) =>
      (options.toRevision === undefined || s.lastRevision <= options.toRevision) &&
      (toTimeNanos === undefined || BigInt(s.createdOn.getTime() + 1000) * 1_000_000n <= toTimeNanos),
  )
  if (fitting.length === 0) {
    const limit = options.toRevision !== undefined || toTimeNanos !== undefined ? ' at or before the requested point in time' : ''
    throw new StewardError('SNAPSHOT_NOT_FOUND', 'restore', `no full snapshot${limit} in ${location}`, {
      hints: ['check --store and --store-prefix', 'list what is there with: steward snapshot list'],
      details: { objects: all.length, fullSnapshots: fulls.length },
    })
  }
  return fitting.reverse()
}

/** Member config for the staging restore of a multi-member target: a one-member cluster. */
function singleMember(member: RestoreMemberConfig): RestoreMemberConfig {
  return { ...member, initialCluster: `${member.name}=http://127.0.0.1:2380`, initialAdvertisePeerUrls: ['http://127.0.0.1:2380'] }
}

/** What helps when a full snapshot is unusable: the restore flags that avoid it. */
export const CORRUPT_FULL_HINTS = [
  'pass --fallback-to-older-full to restore an older full snapshot whose delta chain reaches as far',
  'or name another full snapshot with --snapshot <name> (see steward snapshot list)',
  'or stop before this snapshot with --to-revision <revision> (an older full snapshot is used)',
] as const

/** A corrupt full snapshot's error, naming its object key and the flags that help. */
function namingFullSnapshot(error: unknown, full: StoredSnapshot): unknown {
  if (!isStewardError(error, 'SNAPSHOT_CORRUPT', 'SNAPSHOT_NOT_BBOLT')) return error
  const reason = error.reason.includes(full.key) ? error.reason : `full snapshot ${full.key}: ${error.reason}`
  return new StewardError(error.code, error.component, reason, { cause: error, details: { ...error.context, snapshot: full.key }, hints: [...CORRUPT_FULL_HINTS] })
}

/** Full snapshot → verified file → `etcdutl snapshot restore` into `target`. */
async function restoreBase(store: BackupStore, full: StoredSnapshot, work: string, target: string, member: RestoreMemberConfig, options: RestoreOptions): Promise<{ revision: number; dbSizeBytes: number }> {
  try {
    return await restoreBaseOnce(store, full, work, target, member, options)
  } catch (error) {
    throw namingFullSnapshot(error, full)
  }
}

async function restoreBaseOnce(store: BackupStore, full: StoredSnapshot, work: string, target: string, member: RestoreMemberConfig, options: RestoreOptions): Promise<{ revision: number; dbSizeBytes: number }> {
  const snapshot = await materialize(store, full, work, options)
  if (snapshot.hashChecked) await etcdutlRestore(snapshot.path, target, member, true, options.signal, full.key)
  else await restoreWhileVerifying(snapshot.path, target, member, full.key, options.signal)
  if (snapshot.path.startsWith(work)) await rm(snapshot.path, { force: true })
  const db = join(target, 'member', 'snap', 'db')
  const info = await readBboltRevision(db)
  if (info.revision < full.lastRevision) {
    throw new StewardError('SNAPSHOT_CORRUPT', 'restore', `${full.name} restored to revision ${info.revision}, below the ${full.lastRevision} in its name`, {
      details: { snapshot: full.key, revision: info.revision },
    })
  }
  return { revision: info.revision, dbSizeBytes: (await stat(db)).size }
}

/**
 * `etcdutl snapshot restore --skip-hash-check` into `target` while steward checks the file's
 * SHA-256 trailer in parallel: the two passes over the data overlap instead of running one
 * after the other inside etcdutl (on two cores this takes the hash off the restore's wall
 * time). `target` is inside the work dir, so nothing is in place yet; when the check fails,
 * etcdutl is stopped and the check's `SNAPSHOT_CORRUPT` is thrown.
 */
async function restoreWhileVerifying(path: string, target: string, member: RestoreMemberConfig, source: string, signal: AbortSignal | undefined): Promise<void> {
  const stopEtcdutl = new AbortController()
  const etcdutlSignal = signal ? AbortSignal.any([signal, stopEtcdutl.signal]) : stopEtcdutl.signal
  const restoring = etcdutlRestore(path, target, member, true, etcdutlSignal, source)
  restoring.catch(() => undefined)
  try {
    await verifySnapshotFile(path, source, signal)
  } catch (error) {
    stopEtcdutl.abort()
    await restoring.catch(() => undefined)
    throw error
  }
  await restoring
}

/** Applies the delta chain after the base (staging dir for multi-member targets, then re-restored with the real membership). */
async function replayDeltas(store: BackupStore, all: readonly StoredSnapshot[], base: { full: StoredSnapshot; revision: number }, work: string, restored: string, multiMember: boolean, toTimeNanos: bigint | undefined, warnings: string[], options: RestoreOptions): Promise<DeltaChainResult> {
  const plan = deltaChain(all, base.revision, base.full.name, options.toRevision)
  if (plan.gap && !options.allowPartial) throw gapError(plan.gap)
  const stage = multiMember ? join(work, 'stage') : restored
  let outcome: DeltaChainResult = { deltasApplied: 0, eventsApplied: 0, revision: base.revision, lastEventTime: undefined, end: 'complete' }
  if (plan.deltas.length > 0) {
    outcome = await applyDeltaChain(store, plan.deltas, {
      dataDir: stage,
      memberName: options.member.name,
      workDir: work,
      limits: { ...TEMP_ETCD_DEFAULTS, ...options.limits },
      toRevision: options.toRevision,
      toTimeNanos,
      allowPartial: options.allowPartial ?? false,
      signal: options.signal,
      ...(options.onDelta ? { onDelta: options.onDelta } : {}),
      ...(options.txnsInFlight !== undefined ? { txnsInFlight: options.txnsInFlight } : {}),
      ...(options.commitThrough ? { commitThrough: options.commitThrough } : {}),
    })
  }
  outcome = chainOutcome(outcome, plan, toTimeNanos, warnings, options)
  if (multiMember) await etcdutlRestore(join(stage, 'member', 'snap', 'db'), restored, options.member, true, options.signal)
  return outcome
}

/**
 * The end of a delta chain as the result reports it (a gap after the last delta makes it
 * partial), with the warnings the operator must see (partial restore, a point in time beyond
 * the newest backup).
 */
function chainOutcome(applied: DeltaChainResult, plan: ReturnType<typeof deltaChain>, toTimeNanos: bigint | undefined, warnings: string[], options: RestoreOptions): DeltaChainResult {
  let outcome = applied
  if (plan.gap && outcome.end === 'complete') outcome = { ...outcome, end: 'partial', failure: { object: plan.gap.before.key, code: 'SNAPSHOT_NOT_FOUND', message: gapError(plan.gap).reason } }
  if (outcome.failure) warnings.push(`PARTIAL RESTORE: stopped at revision ${outcome.revision} because of ${outcome.failure.object}: ${outcome.failure.message}`)
  if (options.toRevision !== undefined && outcome.end === 'complete' && outcome.revision < options.toRevision) {
    warnings.push(`--to-revision ${options.toRevision} is beyond the newest backup; restored up to revision ${outcome.revision}`)
  }
  if (options.toTime !== undefined && toTimeNanos !== undefined && outcome.end === 'complete') {
    const future = toTimeNanos > BigInt(Date.now()) * 1_000_000n ? ' (in the future)' : ''
    const last = outcome.lastEventTime ? `, last event at ${outcome.lastEventTime}` : ''
    warnings.push(`--to-time ${options.toTime}${future} is beyond the newest backup; restored up to revision ${outcome.revision}${last}`)
  }
  return outcome
}

/**
 * Direct apply, step 1: the full snapshot as a verified bbolt file (`snapshot.db` in the work
 * dir, or the Local store's file in place, its trailer checked here) and its revision.
 * @throws StewardError `SNAPSHOT_CORRUPT` (naming the object, also when its revision is below
 *   the one in its name), `SNAPSHOT_NOT_BBOLT`, `STORE_*`, `ABORTED`
 */
async function prepareSnapshotFile(store: BackupStore, full: StoredSnapshot, work: string, options: RestoreOptions): Promise<{ revision: number; dbSizeBytes: number; snapshotPath: string }> {
  try {
    const snapshot = await materialize(store, full, work, options)
    if (!snapshot.hashChecked) await verifySnapshotFile(snapshot.path, full.key, options.signal)
    const info = await readBboltRevision(snapshot.path).catch((error: unknown) => {
      throw isStewardError(error, 'DATA_DIR_INVALID') ? new StewardError('SNAPSHOT_CORRUPT', 'snapshot', `${full.key} is not a readable etcd database: ${error.reason}`, { cause: error }) : error
    })
    if (info.revision < full.lastRevision) {
      throw new StewardError('SNAPSHOT_CORRUPT', 'restore', `${full.name} holds revision ${info.revision}, below the ${full.lastRevision} in its name`, {
        details: { snapshot: full.key, revision: info.revision },
      })
    }
    const size = (await stat(snapshot.path)).size
    return { revision: info.revision, dbSizeBytes: size % 512 === TRAILER_BYTES ? size - TRAILER_BYTES : size, snapshotPath: snapshot.path }
  } catch (error) {
    throw namingFullSnapshot(error, full)
  }
}

/**
 * Direct apply, step 2 (docs/restore.md, "Applying deltas"): merges the snapshot file and the
 * delta chain after it into `merged.db` in the work dir (`direct-apply.ts`); after 10 or more
 * applied deltas compacts and defragments its history where etcd-backup-restore would (`lean-history.ts`,
 * docs/restore.md "Compacted history") unless `keepDeltaHistory`; restores the result with
 * `etcdutl snapshot restore` and the real member config (its SHA-256 trailer checked by
 * etcdutl), and checks that the restored database holds the last applied revision. Without
 * deltas to apply, the snapshot file itself is restored.
 * @throws StewardError as {@link restoreFullSnapshot}; `TOOL_FAILED` when the restored revision differs
 */
async function mergeDeltas(store: BackupStore, all: readonly StoredSnapshot[], base: { full: StoredSnapshot; revision: number; snapshotPath: string }, work: string, restored: string, toTimeNanos: bigint | undefined, warnings: string[], options: RestoreOptions): Promise<MergeOutcome> {
  const plan = deltaChain(all, base.revision, base.full.name, options.toRevision)
  if (plan.gap && !options.allowPartial) throw gapError(plan.gap)
  let outcome: MergeOutcome = { deltasApplied: 0, eventsApplied: 0, revision: base.revision, lastEventTime: undefined, end: 'complete' }
  let restoreFrom = base.snapshotPath
  let source = base.full.key
  if (plan.deltas.length > 0) {
    const mergedPath = join(work, 'merged.db')
    const merge = await openDirectMerge(base.snapshotPath, mergedPath, base.full.key, options.signal).catch((error: unknown) => {
      throw namingFullSnapshot(error, base.full)
    })
    const lean = new LeanSchedule(10, options.toRevision)
    const sink: DeltaSink = {
      ...merge.sink,
      afterDelta: async (delta, applied) => {
        await merge.sink.afterDelta(delta, applied)
        lean.afterDelta(applied)
      },
    }
    try {
      outcome = await applyDeltaChainTo(sink, store, plan.deltas, {
        workDir: work,
        toRevision: options.toRevision,
        toTimeNanos,
        allowPartial: options.allowPartial ?? false,
        signal: options.signal,
        ...(options.onDelta ? { onDelta: options.onDelta } : {}),
      })
    } catch (error) {
      await merge.abandon()
      throw error
    }
    await merge.finish()
    if (base.snapshotPath.startsWith(work)) await rm(base.snapshotPath, { force: true })
    restoreFrom = mergedPath
    source = `${mergedPath} (${base.full.name} + ${outcome.deltasApplied} deltas)`
    // etcd-backup-restore's history (docs/restore.md, "Compacted history"): compacted at its last point.
    if (lean.lastPoint !== undefined && !options.keepDeltaHistory) {
      const compacted = await compactMergedHistory({
        mergedPath,
        workDir: work,
        stagingMember: singleMember(options.member),
        compactRevision: lean.lastPoint,
        revision: outcome.revision,
        limits: { ...TEMP_ETCD_DEFAULTS, ...options.limits },
        signal: options.signal,
      }).catch(async (error: unknown) => {
        // Compacting only trims history; the merged file already holds every revision exactly.
        // A failure here (a lease of the full snapshot revoked while the temporary etcd ran, etcd
        // not starting) must not cost the restore: keep the full history and say so.
        if (!isStewardError(error, 'TOOL_FAILED')) throw error
        await rm(join(work, 'lean'), { recursive: true, force: true })
        await rm(join(work, 'lean.db'), { force: true })
        warnings.push(`HISTORY KEPT: compacting the restored history at revision ${lean.lastPoint} failed (${error.reason}); the data dir holds every revision of the deltas, so its database is larger than etcd-backup-restore's. Compact it once etcd runs (etcdctl compact ${lean.lastPoint}, then defragment) if it nears the quota`)
        return undefined
      })
      if (compacted) {
        await rm(mergedPath, { force: true })
        for (const alarm of compacted.disarmed) warnings.push(`the temporary etcd that compacted the restored history raised a ${alarm} alarm; it was disarmed`)
        restoreFrom = compacted.dbPath
        source = `${compacted.dbPath} (${base.full.name} + ${outcome.deltasApplied} deltas, compacted at revision ${lean.lastPoint})`
        outcome = { ...outcome, compactedRevision: lean.lastPoint }
      }
    }
  }
  await etcdutlRestore(restoreFrom, restored, options.member, restoreFrom === base.snapshotPath, options.signal, source)
  if (restoreFrom !== base.snapshotPath) await rm(restoreFrom, { force: true })
  const reached = await readBboltRevision(join(restored, 'member', 'snap', 'db'))
  // A full snapshot of a compacted etcd carries its own compaction; only the lean step's is checked.
  if (reached.revision !== outcome.revision || (outcome.compactedRevision !== undefined && reached.compactedRevision !== outcome.compactedRevision)) {
    throw new StewardError('TOOL_FAILED', 'restore', `the restored database is at revision ${reached.revision} (compacted at ${reached.compactedRevision}), the deltas applied reach ${outcome.revision} (compacted at ${outcome.compactedRevision ?? 'none'})`, {
      details: { expected: outcome.revision, actual: reached.revision, expectedCompaction: outcome.compactedRevision ?? 0, actualCompaction: reached.compactedRevision },
    })
  }
  return { ...chainOutcome(outcome, plan, toTimeNanos, warnings, options), ...(outcome.compactedRevision !== undefined ? { compactedRevision: outcome.compactedRevision } : {}) }
}

/** A delta chain's end, and where the direct apply compacted its history (none when absent). */
type MergeOutcome = DeltaChainResult & { readonly compactedRevision?: number }

/** A restorable snapshot file, and whether its SHA-256 trailer was already checked. */
interface SnapshotFile {
  readonly path: string
  readonly hashChecked: boolean
}

/**
 * The snapshot as a file etcdutl can read. An uncompressed object that the store keeps as a
 * local file is used in place: its length and bbolt header are checked here, and its SHA-256
 * trailer while etcdutl restores it (see {@link restoreWhileVerifying}). Anything else is
 * streamed, decompressed and verified into a file in `work`.
 */
async function materialize(store: BackupStore, full: StoredSnapshot, work: string, options: RestoreOptions): Promise<SnapshotFile> {
  const total = full.compressionSuffix === '' ? full.sizeBytes : undefined
  const signalOption = options.signal ? { signal: options.signal } : {}
  if (store.snapstore.capabilities.localFiles && store.snapstore.localPath && full.compressionSuffix === '') {
    const path = store.snapstore.localPath(full.key)
    await checkShape(path, full)
    options.onProgress?.(full.sizeBytes, total)
    return { path, hashChecked: Boolean(options.skipHashCheck) }
  }
  const verifier = new FullSnapshotVerifier({ source: full.key, ...(options.skipHashCheck ? { skipHashCheck: true } : {}) })
  const counter = new ByteCounter((bytes) => options.onProgress?.(bytes, total))
  const target = join(work, 'snapshot.db')
  const decompressed = await store.open(full, options.signal)
  const file = createWriteStream(target, { mode: 0o600, highWaterMark: 4 * 1024 * 1024 })
  let writeFailure: unknown
  file.once('error', (error) => (writeFailure = error))
  try {
    await pipeline(decompressed, counter, verifier, file, signalOption)
  } catch (error) {
    // A failed write (ENOSPC, EIO…) in the work dir is the data dir's side, not a bad snapshot.
    if (writeFailure !== undefined) throw osError(writeFailure, 'DATA_DIR_WRITE_FAILED', 'restore', `cannot write the snapshot into the work dir ${work}`)
    throw error
  }
  return { path: target, hashChecked: true }
}

/** Length and bbolt checks of a snapshot file, with the same errors as the streaming verifier. */
async function checkShape(path: string, full: StoredSnapshot): Promise<void> {
  const size = (await stat(path)).size
  if (size % 512 !== TRAILER_BYTES) {
    throw new StewardError('SNAPSHOT_CORRUPT', 'snapshot', `${full.key} is truncated or has no SHA-256 trailer (${size} bytes; a full snapshot is a multiple of 512 plus 32)`, {
      details: { source: full.key, sizeBytes: size },
    })
  }
  try {
    await readBboltRevision(path)
  } catch (error) {
    if (isStewardError(error, 'SNAPSHOT_NOT_BBOLT')) {
      throw new StewardError('SNAPSHOT_NOT_BBOLT', 'snapshot', `${full.key} is not a bbolt database (no bbolt meta page at its start)`, { details: { source: full.key } })
    }
    throw new StewardError('SNAPSHOT_CORRUPT', 'snapshot', `${full.key} is not a readable etcd database: ${isStewardError(error) ? error.reason : String(error)}`, { cause: error })
  }
}
