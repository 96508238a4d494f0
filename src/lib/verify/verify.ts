/**
 * `steward verify`: proves from the store alone (no etcd running) that its newest revision can
 * be restored, and names every object that cannot be used.
 *
 * 1. Every snapshot object is read whole: a full snapshot through the SHA-256 trailer and bbolt
 *    checks of `snapshot/verify.ts`; a delta through the hash check and event decoder of
 *    `delta/decode.ts`, and its events must lie within the revisions its name claims.
 * 2. The latest set (newest full snapshot and the deltas after it, docs/backup-layout.md) must be
 *    a chain: each delta starts at the previous object's last revision + 1 — no gap, no overlap.
 * 3. With `trialRestore`, the set is restored into a temporary directory with steward's restore
 *    and the revision reached must equal the chain's last revision.
 *
 * The store is restorable when the newest full snapshot and every delta of the chain are good,
 * the chain is continuous, and the trial restore (when asked) reached its revision. Damaged
 * objects outside the latest set are reported but do not make the store unrestorable.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { readDeltaEvents, spoolDelta } from '../delta/decode.ts'
import { StewardError, isStewardError, messageOf, type ErrorCode } from '../errors.ts'
import { RESTORE_MEMBER_DEFAULTS } from '../restore/etcdutl.ts'
import { restoreFullSnapshot } from '../restore/restore.ts'
import type { TempEtcdLimits } from '../restore/temp-etcd.ts'
import type { BackupStore, StoredSnapshot } from '../snapshot/backup-store.ts'
import { latestSet, type SnapshotRef } from '../snapshot/name.ts'
import { FullSnapshotVerifier } from '../snapshot/verify.ts'

export interface VerifyDeps {
  readonly store: BackupStore
  /** Parent of the temporary directory (delta spool files, trial restore). @default os.tmpdir() */
  readonly tempDir?: string
  /** Called after each object is checked (progress, logs). */
  readonly onObject?: (check: ObjectCheck, done: number, total: number) => void
}

export interface VerifyOptions {
  /** Restore the latest set into a temporary directory and compare its revision. */
  readonly trialRestore?: boolean
  /** Check only the objects of the latest set (faster on large stores). */
  readonly latestOnly?: boolean
  /** Objects checked at once. @default 4 */
  readonly parallel?: number
  /** Limits of the temporary etcd used by the trial restore. */
  readonly limits?: Partial<TempEtcdLimits>
}

/** The verdict on one object. */
export interface ObjectCheck {
  readonly key: string
  readonly name: string
  readonly kind: 'Full' | 'Incr'
  readonly startRevision: number
  readonly lastRevision: number
  readonly sizeBytes: number
  /** Part of the latest set. */
  readonly inLatestSet: boolean
  /** `ok`; `bad` (unusable, see `problem`); `warning` (not a snapshot itself: leftover chunk); `unchecked` (`latestOnly`). */
  readonly status: 'ok' | 'bad' | 'warning' | 'unchecked'
  readonly problem?: string
  /** The StewardError code of the problem. */
  readonly code?: ErrorCode | undefined
  /** Full snapshot: database bytes (without trailer). */
  readonly dbSizeBytes?: number
  /** Delta: events it holds, and their revisions. */
  readonly events?: number
}

/** A break in the latest set's chain. */
export interface ChainProblem {
  /** Object name where the chain breaks (the delta after the gap, or the overlapping delta). */
  readonly object: string
  readonly kind: 'gap' | 'overlap' | 'no-full'
  readonly problem: string
}

export interface VerifyReport {
  readonly location: string
  readonly objects: readonly ObjectCheck[]
  readonly latestSet: {
    readonly full: string | null
    readonly deltas: readonly string[]
    /** Revision the chain reaches by its names. */
    readonly reachesRevision: number | null
    readonly problems: readonly ChainProblem[]
  }
  readonly trialRestore?: { readonly revision: number; readonly expected: number; readonly ok: boolean; readonly deltasApplied: number; readonly durationSeconds: number; readonly problem?: string }
  /** The newest revision can be restored. */
  readonly restorable: boolean
  /** Objects that cannot be used (anywhere in the store), by name. */
  readonly badObjects: readonly string[]
  readonly durationSeconds: number
  /** One line for CI logs. */
  readonly summary: string
}

/**
 * Verifies a store. Never writes to it.
 * @throws StewardError `STORE_*` (listing or reading failed: the verdict would be unknown, so it
 *   is an error, not a report), `ABORTED`
 */
export async function verifyStore(deps: VerifyDeps, options: VerifyOptions = {}, signal?: AbortSignal): Promise<VerifyReport> {
  const started = performance.now()
  const all = await deps.store.list()
  const set = latestSet(all)
  const inSet = new Set([set.full, ...set.deltas].filter((s): s is StoredSnapshot => s !== null).map((s) => s.key))
  const work = await mkdtemp(join(deps.tempDir ?? tmpdir(), 'steward-verify-'))
  try {
    const checks: ObjectCheck[] = []
    let done = 0
    let next = 0
    const worker = async () => {
      for (let i = next++; i < all.length; i = next++) {
        checkAborted(signal)
        const ref = all[i]!
        checks[i] = await checkObject(deps.store, ref, inSet.has(ref.key), work, i, options.latestOnly ?? false, signal)
        deps.onObject?.(checks[i]!, ++done, all.length)
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, options.parallel ?? 4) }, worker))

    const problems = chainProblems(set.full, set.deltas)
    const reachesRevision = (set.deltas.at(-1) ?? set.full)?.lastRevision ?? null
    const setBad = checks.filter((c) => c.inLatestSet && c.status === 'bad')
    let restorable = set.full !== null && problems.length === 0 && setBad.length === 0
    let trial: VerifyReport['trialRestore']
    if (options.trialRestore && restorable && reachesRevision !== null) {
      trial = await trialRestore(deps.store, join(work, 'restore'), reachesRevision, options.limits, signal)
      restorable = trial.ok
    }
    const badObjects = checks.filter((c) => c.status === 'bad').map((c) => c.name)
    const durationSeconds = (performance.now() - started) / 1000
    const report = {
      location: deps.store.location,
      objects: checks,
      latestSet: { full: set.full?.name ?? null, deltas: set.deltas.map((d) => d.name), reachesRevision, problems },
      ...(trial ? { trialRestore: trial } : {}),
      restorable,
      badObjects,
      durationSeconds,
    }
    return { ...report, summary: summarize(report, setBad, trial) }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

async function checkObject(store: BackupStore, ref: StoredSnapshot, inLatestSet: boolean, work: string, index: number, latestOnly: boolean, signal: AbortSignal | undefined): Promise<ObjectCheck> {
  const base = { key: ref.key, name: ref.name, kind: ref.kind, startRevision: ref.startRevision, lastRevision: ref.lastRevision, sizeBytes: ref.sizeBytes, inLatestSet }
  if (ref.isChunk) return { ...base, status: 'warning', problem: 'part of a chunked upload, not a snapshot (steward gc removes leftovers)' }
  if (latestOnly && !inLatestSet) return { ...base, status: 'unchecked' }
  if (ref.sizeBytes === 0) return { ...base, status: 'bad', code: 'SNAPSHOT_CORRUPT', problem: 'zero-byte object (a failed upload)' }
  try {
    if (ref.kind === 'Full') {
      const verifier = new FullSnapshotVerifier({ source: ref.key })
      await pipeline(await store.open(ref, signal), verifier, discard(), signal ? { signal } : {})
      return { ...base, status: 'ok', dbSizeBytes: verifier.digest?.dbSizeBytes ?? 0 }
    }
    const path = join(work, `delta-${index}`)
    try {
      const jsonBytes = await spoolDelta(await store.open(ref, signal), path, ref.key, signal)
      let events = 0
      let first = 0
      let last = 0
      for await (const event of readDeltaEvents(path, jsonBytes, ref.key)) {
        if (events++ === 0) first = event.modRevision
        if (event.modRevision < last) return { ...base, status: 'bad', code: 'SNAPSHOT_CORRUPT', problem: `event revisions go backwards (${event.modRevision} after ${last})`, events }
        last = event.modRevision
      }
      if (events > 0 && (first < ref.startRevision || last !== ref.lastRevision)) {
        return { ...base, status: 'bad', code: 'SNAPSHOT_CORRUPT', problem: `holds revisions ${first}..${last}, but its name says ${ref.startRevision}..${ref.lastRevision}`, events }
      }
      return { ...base, status: 'ok', events }
    } finally {
      await rm(path, { force: true })
    }
  } catch (error) {
    if (isStewardError(error, 'SNAPSHOT_CORRUPT', 'SNAPSHOT_NOT_BBOLT', 'COMPRESSION_UNSUPPORTED', 'SNAPSHOT_NOT_FOUND')) {
      return { ...base, status: 'bad', code: error.code, problem: error.reason.replace(`${ref.key} `, '').replace(`delta snapshot ${ref.key}: `, '') }
    }
    if (signal?.aborted) throw new StewardError('ABORTED', 'verify', 'verify aborted', { cause: signal.reason })
    if (isStewardError(error)) throw error
    // Decompression errors of a damaged object surface as plain stream errors.
    return { ...base, status: 'bad', code: 'SNAPSHOT_CORRUPT', problem: messageOf(error) }
  }
}

/** Continuity of the latest set by names: each delta starts right after the previous object. */
export function chainProblems(full: SnapshotRef | null, deltas: readonly SnapshotRef[]): ChainProblem[] {
  if (!full) return [{ object: deltas[0]?.name ?? '(none)', kind: 'no-full', problem: 'no full snapshot in the store: nothing to restore from' }]
  const problems: ChainProblem[] = []
  let previous: SnapshotRef = full
  for (const delta of deltas) {
    const expected = previous.lastRevision + 1
    if (delta.startRevision > expected) {
      problems.push({ object: delta.name, kind: 'gap', problem: `revisions ${expected}..${delta.startRevision - 1} are missing between ${previous.name} and ${delta.name}` })
    } else if (delta.startRevision < expected) {
      problems.push({ object: delta.name, kind: 'overlap', problem: `starts at revision ${delta.startRevision}, inside ${previous.name} (up to ${previous.lastRevision}); two writers?` })
    }
    if (delta.lastRevision >= previous.lastRevision) previous = delta
  }
  return problems
}

async function trialRestore(store: BackupStore, dataDir: string, expected: number, limits: Partial<TempEtcdLimits> | undefined, signal: AbortSignal | undefined): Promise<NonNullable<VerifyReport['trialRestore']>> {
  const started = performance.now()
  try {
    const result = await restoreFullSnapshot(store, { dataDir, force: false, member: RESTORE_MEMBER_DEFAULTS, ...(limits ? { limits } : {}), ...(signal ? { signal } : {}) })
    const ok = result.revision === expected && result.end === 'complete'
    return {
      revision: result.revision,
      expected,
      ok,
      deltasApplied: result.deltasApplied,
      durationSeconds: (performance.now() - started) / 1000,
      ...(ok ? {} : { problem: `the restore reached revision ${result.revision}, the chain's names say ${expected}` }),
    }
  } catch (error) {
    if (isStewardError(error, 'ABORTED', 'STORE_FAILED', 'STORE_NOT_FOUND')) throw error
    return { revision: 0, expected, ok: false, deltasApplied: 0, durationSeconds: (performance.now() - started) / 1000, problem: messageOf(error).replace(/^\[steward\] \[[^\]]*\] /, '') }
  }
}

function summarize(report: Omit<VerifyReport, 'summary'>, setBad: readonly ObjectCheck[], trial: VerifyReport['trialRestore']): string {
  const set = report.latestSet
  const checked = report.objects.filter((o) => o.status !== 'unchecked').length
  const tail = `${checked} objects checked, ${report.badObjects.length} bad, ${report.durationSeconds.toFixed(1)}s`
  if (report.restorable) {
    const deltas = set.deltas.length ? ` + ${set.deltas.length} delta(s)` : ''
    const trialText = trial ? `, trial restore reached it` : ''
    return `verify OK: revision ${set.reachesRevision} restorable from ${set.full}${deltas}${trialText} (${tail})`
  }
  const why = [
    ...setBad.map((o) => `${o.name}: ${o.problem}`),
    ...set.problems.map((p) => `${p.object}: ${p.kind}`),
    ...(trial && !trial.ok ? [`trial restore: ${trial.problem}`] : []),
  ]
  return `verify FAILED: revision ${set.reachesRevision ?? '-'} not restorable: ${why.join('; ')} (${tail})`
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() })
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new StewardError('ABORTED', 'verify', 'verify aborted', { cause: signal.reason })
}

/** A plain-text table: one row per object, chain problems, then the summary line. */
export function renderVerifyReport(report: VerifyReport): string {
  const header = ['STATUS', 'KIND', 'START', 'LAST', 'SET', 'NAME', 'PROBLEM']
  const rows = report.objects.map((o) => [o.status.toUpperCase(), o.kind, String(o.startRevision), String(o.lastRevision), o.inLatestSet ? '*' : '', o.name, o.problem ?? ''])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()
  const chain = report.latestSet.problems.map((p) => `chain ${p.kind}: ${p.problem}`)
  const trial = report.trialRestore ? [`trial restore: ${report.trialRestore.ok ? `reached revision ${report.trialRestore.revision}` : report.trialRestore.problem} (${report.trialRestore.durationSeconds.toFixed(1)}s)`] : []
  return [`Store: ${report.location}`, ...(rows.length ? [line(header), ...rows.map(line)] : ['(no snapshots)']), ...chain, ...trial, '', report.summary].join('\n')
}
