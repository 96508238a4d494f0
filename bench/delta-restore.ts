/**
 * Benchmark for issue "delta restore": `steward restore` of one full snapshot plus many delta
 * snapshots, at two delta volumes 5× apart, side by side with a plain etcd3 client applying the
 * same events (one transaction per revision, sequentially) to an etcd with the temporary etcd's
 * settings. Writes the "delta-restore" section of docs/benchmarks.md.
 *
 *   npm run build && node bench/delta-restore.ts [--db-mib 256] [--events 300000]
 *     [--delta-limit-mib 10] [--rounds 1] [--keep]
 *
 *   --db-mib           fill the source until its dbSize reaches this many MiB
 *   --events           watch events to write after the full snapshot
 *   --delta-limit-mib  --delta-snapshot-memory-limit of the watching steward (etcd-backup-restore's default: 10)
 *   --rounds           repeat the restores and baselines; medians (RSS: maxima) are reported
 *   --keep             keep the temp dir with the backup store (restored data dirs are removed as the run goes)
 *
 * 1. Backup set, written the real way: a source etcd (fsync off) is filled to --db-mib of
 *    dbSize; `steward snapshot` stores a full snapshot (Local store, gzip); then
 *    `steward snapshot --watch --delta-snapshot-memory-limit <--delta-limit-mib>` runs while
 *    --events watch events are written (puts of 100–1000-byte values, overwrites, deletes,
 *    2–8-op txns) and is stopped with SIGTERM, which stores the pending delta (a one-shot
 *    `--kind delta` catches up if the watch was behind). The source's final revision and a
 *    hash of every key-value are recorded.
 * 2. The deltas are decoded with src/lib/delta/decode.ts into revision groups in memory (not
 *    timed) for the baseline; the "1/5" volume is the prefix of revisions holding ≤ 1/5 of the
 *    events, restored with `--to-revision`.
 * 3. Per round and volume: `steward restore --no-deltas` (base for the baseline, and the
 *    timing the delta phase is derived from), `steward restore` (with deltas) while /proc is
 *    scanned for the temporary etcd it starts (VmHWM polled), then the baseline on the base.
 *    Delta-phase rate = events / (wall with deltas − wall with --no-deltas).
 * 4. Correctness: etcd is started on the full-volume restore; revision and key-value hash
 *    must equal the source's. The 1/5 restore's bbolt revision must equal its --to-revision.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { noop } from 'cockatiel'
import { Etcd3 } from 'etcd3'
import { findEtcdTool } from '../src/lib/etcd/binaries.ts'
import { TEMP_ETCD_DEFAULTS, TEMP_ETCD_SNAPSHOT_COUNT } from '../src/lib/restore/temp-etcd.ts'
import { BackupStore, type StoredSnapshot } from '../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../src/lib/snapstore/drivers/local.ts'
import { readBboltRevision } from '../src/lib/validate/bbolt.ts'
import { STEWARD_BIN } from '../test/harness/cli.ts'
import { startEtcdCluster, type EtcdCluster } from '../test/harness/etcd.ts'
import { trackProcess, trackTempDir, untrackTempDir } from '../test/harness/processes.ts'
import { ownEtcdPids, pollPeakRss, watchEtcdByCmdline } from './delta-procs.ts'
import { currentRevision, decodeDeltas, fillBase, hashKeyspace, writeEvents, type RevisionGroup } from './delta-workload.ts'
import { machine, measure, median, mib, writeSection, type Measurement } from './measure.ts'

const { values } = parseArgs({
  options: {
    'db-mib': { type: 'string', default: '256' },
    events: { type: 'string', default: '300000' },
    'delta-limit-mib': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
  },
})
const dbMiB = positive('db-mib')
const targetEvents = Math.floor(positive('events'))
const deltaLimitBytes = Math.floor(positive('delta-limit-mib') * 1048576)
const rounds = Math.floor(positive('rounds'))
const keep = values.keep
const commandLine = `npm run build && node bench/delta-restore.ts --db-mib ${values['db-mib']} --events ${values.events} --delta-limit-mib ${values['delta-limit-mib']} --rounds ${values.rounds}${keep ? ' --keep' : ''}`
/** etcd-backup-restore's figures quoted in the issue (263 MiB database + 300k delta events). */
const ETCDBR = { dbMiB: 263, events: 300_000, wallSeconds: 64, peakRssMiB: 870 }
/** steward's own peak RSS target, MiB. */
const RSS_TARGET_MIB = 150
/** Peak RSS difference between the volumes still counted as "not growing", MiB (measurement noise). */
const RSS_GROWTH_MIB = 10
const RATIO_TARGET = 0.9
const LIMITS = TEMP_ETCD_DEFAULTS
/** The temporary etcd's flags (src/lib/restore/temp-etcd.ts), for the baseline etcd. */
const TEMP_ETCD_ARGS = ['--unsafe-no-fsync', `--max-request-bytes=${LIMITS.maxRequestBytes}`, `--max-txn-ops=${LIMITS.maxTxnOps}`, '--auto-compaction-retention=0', `--snapshot-count=${TEMP_ETCD_SNAPSHOT_COUNT}`, '--log-level=warn']

interface Volume {
  label: string
  /** `--to-revision`, or undefined for everything. */
  toRevision: number | undefined
  /** Revision the restore must reach. */
  revision: number
  groups: RevisionGroup[]
  events: number
  deltas: number
}

interface RoundResult {
  noDeltas: Measurement
  withDeltas: Measurement
  tempEtcdPeakBytes: number
  tempEtcdSeconds: number
  baselineSeconds: number
  baselineEtcdPeakBytes: number
}

const work = await mkdtemp(join(tmpdir(), 'steward-delta-bench-'))
if (!keep) trackTempDir(work)
const storeDir = join(work, 'store')
const storeUrl = `file://${storeDir}`
let source: EtcdCluster | undefined
let watcher: ChildProcess | undefined

try {
  // 1. Backup set.
  source = await startEtcdCluster({ members: 1, quotaBackendBytes: LIMITS.quotaBackendBytes, extraArgs: ['--unsafe-no-fsync'] })
  const endpoint = source.endpoints[0]!
  log(`filling the source etcd to a ${dbMiB} MiB database…`)
  const base = await fillBase(endpoint, dbMiB)
  log(`  ${base.keys} keys of 8 KiB, dbSize ${mib(base.dbSizeBytes)} MiB`)
  const fullSnapshot = await measure(STEWARD_BIN, ['snapshot', '--endpoints', endpoint, '--store', storeUrl, '--compression', 'gzip'], quiet())
  log(`  full snapshot stored in ${fullSnapshot.wallSeconds.toFixed(1)} s`)

  watcher = spawn(STEWARD_BIN, ['snapshot', '--watch', '--endpoints', endpoint, '--store', storeUrl, '--compression', 'gzip', '--delta-snapshot-memory-limit', String(deltaLimitBytes), '--delta-snapshot-period', '1h'], {
    env: quiet(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  trackProcess(watcher)
  const watcherRss = pollPeakRss(watcher.pid ?? -1)
  let watcherOut = ''
  watcher.stdout?.on('data', (d: Buffer) => (watcherOut += d.toString()))
  watcher.stderr?.on('data', (d: Buffer) => (watcherOut += d.toString()))
  const watcherExit = new Promise<number | string>((resolve) => watcher!.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  await sleep(1000)
  log(`writing ${targetEvents} events while steward snapshot --watch cuts deltas every ${mib(deltaLimitBytes)} MiB of JSON…`)
  const workload = await writeEvents(endpoint, { events: targetEvents, baseKeys: base.keys, onProgress: (n) => log(`  ${n} events`) })
  log(`  ${workload.events} events in ${workload.seconds.toFixed(1)} s (${workload.txns} txns, ${workload.deletes} deletes, ${workload.baseOverwrites} base overwrites)`)
  const sourceClient = new Etcd3({ hosts: endpoint })
  const finalRevision = await currentRevision(sourceClient).finally(() => sourceClient.close())
  await sleep(1500)
  watcher.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const exit = await Promise.race([watcherExit, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout (no exit 120 s after SIGTERM)'), 120_000)))])
  clearTimeout(timer)
  const watcherPeakBytes = watcherRss.stop()
  if (exit !== 0) throw new Error(`steward snapshot --watch ended with ${exit}:\n${watcherOut.slice(-3000)}`)
  watcher = undefined
  const store = new BackupStore(localSnapstore({ root: storeDir }), '')
  let listing = await store.list()
  let caughtUp = false
  if (lastRevisionOf(listing) < finalRevision) {
    log(`  the watch had stored up to ${lastRevisionOf(listing)} of ${finalRevision}; one-shot delta for the rest`)
    await measure(STEWARD_BIN, ['snapshot', '--kind', 'delta', '--endpoints', endpoint, '--store', storeUrl, '--compression', 'gzip', '--delta-snapshot-memory-limit', String(deltaLimitBytes)], quiet())
    listing = await store.list()
    caughtUp = true
  }
  const sourceState = await hashKeyspace(endpoint)
  if (sourceState.revision !== finalRevision) throw new Error(`source revision moved from ${finalRevision} to ${sourceState.revision}`)
  await source.stop()
  source = undefined

  // 2. Decode the deltas (untimed) and check the chain.
  const fulls = listing.filter((s) => s.kind === 'Full' && !s.isChunk)
  const deltas = listing.filter((s) => s.kind === 'Incr' && !s.isChunk)
  const full = fulls[0]
  if (fulls.length !== 1 || !full) throw new Error(`expected one full snapshot, found ${fulls.map((s) => s.name).join(', ') || 'none'}`)
  checkChain(full, deltas, finalRevision)
  log(`decoding ${deltas.length} deltas with src/lib/delta/decode.ts…`)
  const decoded = await decodeDeltas(store, deltas, full.lastRevision, join(work, 'decode.json'))
  checkGroups(decoded.groups, full.lastRevision, finalRevision)
  if (decoded.events !== workload.events) throw new Error(`the deltas hold ${decoded.events} events, the workload wrote ${workload.events}`)
  const fifth = fifthVolume(decoded.groups, decoded.events, deltas)
  const volumes: Volume[] = [
    { label: 'all deltas', toRevision: undefined, revision: finalRevision, groups: decoded.groups, events: decoded.events, deltas: deltas.length },
    fifth,
  ]
  log(`  ${decoded.events} events in ${decoded.groups.length} revisions; 1/5 volume: ${fifth.events} events up to revision ${fifth.revision}`)

  // 3. Restores and baselines.
  const results = new Map<string, RoundResult[]>(volumes.map((v) => [v.label, []]))
  let verified = ''
  for (let round = 1; round <= rounds; round++) {
    for (const volume of round % 2 ? volumes : [...volumes].reverse()) {
      const result = await runVolume(volume, round, full.lastRevision, sourceState)
      results.get(volume.label)!.push(result.round)
      if (result.verified) verified = result.verified
      log(`round ${round}/${rounds} ${volume.label}: restore ${result.round.withDeltas.wallSeconds.toFixed(2)} s (no deltas ${result.round.noDeltas.wallSeconds.toFixed(2)} s), baseline apply ${result.round.baselineSeconds.toFixed(2)} s`)
    }
  }

  // 4. Report.
  const summary = volumes.map((v) => summarize(v, results.get(v.label)!))
  const all = summary[0]!
  const small = summary[1]!
  const deltaStoredBytes = deltas.reduce((sum, d) => sum + d.sizeBytes, 0)
  const fullScale = dbMiB >= 256 && targetEvents >= ETCDBR.events
  const combinedMiB = (all.stewardPeak + all.tempEtcdPeak) / 1048576
  const yes = (ok: boolean) => (ok ? '**met**' : '**not met**')
  const body = `## Restore of a full snapshot plus deltas (\`bench/delta-restore.ts\`)

- Command: \`${commandLine}\`
- Data: one etcd ${etcdVersion()} source member (fsync off while writing); database ${mib(base.dbSizeBytes)} MiB dbSize (${base.keys} keys of 8 KiB random values), full snapshot ${mib(full.sizeBytes)} MiB stored (gzip, Local store)
- Deltas: ${deltas.length} objects cut by \`steward snapshot --watch --delta-snapshot-memory-limit ${deltaLimitBytes}\` and stopped with SIGTERM${caughtUp ? ' (plus one `--kind delta` catch-up)' : ''}; ${decoded.events} events in ${decoded.groups.length} revisions (${decoded.multiEventRevisions} multi-op txns, ${decoded.deleteEvents} deletes, ${workload.baseOverwrites} overwrites of snapshot keys); ${mib(decoded.jsonBytes)} MiB JSON, ${mib(deltaStoredBytes)} MiB stored (gzip); values 100–1000 random bytes. Writing took ${workload.seconds.toFixed(1)} s; the watching steward peaked at ${mib(watcherPeakBytes)} MiB RSS.
- Source after the workload: revision ${finalRevision}, ${sourceState.keys} keys, key-value SHA-256 ${sourceState.hash.slice(0, 16)}…
- Correctness: ${verified}
- Machine: ${machine()}
- Date: ${new Date().toISOString()}
- ${rounds === 1 ? 'One round' : `Median of ${rounds} rounds (volume order alternating)`}. Wall = whole \`steward restore\` (download, gunzip, verify, \`etcdutl snapshot restore\`, temporary etcd, deltas). Delta phase = wall − wall of \`steward restore --no-deltas\` on the same store (so it includes the temporary etcd's start and stop, delta download, decompression, hash checks, parsing, and the compaction + defragmentation every 10 deltas); apply rate = events / delta phase. Peak RSS is each process's own VmHWM (maximum over rounds): steward from measure(); the temporary etcd found by scanning /proc for an \`etcd\` whose command line holds the restore's work dir, polled every 10 ms.
- Baseline: a plain etcd3 client sends the same events, decoded beforehand with \`src/lib/delta/decode.ts\` and held in memory, one \`Txn\` per revision, sequentially, to an etcd with the temporary etcd's flags (\`${TEMP_ETCD_ARGS.join(' ')} --quota-backend-bytes=${LIMITS.quotaBackendBytes}\`) started on the same \`--no-deltas\` restore. Only the sending is timed.

| volume | deltas | events | wall (s) | steward peak RSS (MiB) | temp etcd peak RSS (MiB) | delta phase (s) | temp etcd alive (s) | apply rate (events/s) | baseline rate (events/s) | ratio | baseline etcd peak RSS (MiB) |
|---|---|---|---|---|---|---|---|---|---|---|---|
| full snapshot only (\`--no-deltas\`) | 0 | 0 | ${all.noDeltasWall.toFixed(2)} | ${mib(Math.max(all.noDeltasPeak, small.noDeltasPeak))} | – | – | – | – | – | – | – |
${summary.map((s) => `| ${s.volume.label}${s.volume.toRevision === undefined ? '' : ` (\`--to-revision ${s.volume.toRevision}\`)`} | ${s.volume.deltas} | ${s.volume.events} | ${s.wall.toFixed(2)} | ${mib(s.stewardPeak)} | ${mib(s.tempEtcdPeak)} | ${s.deltaPhase.toFixed(2)} | ${s.tempEtcdSeconds.toFixed(2)} | ${Math.round(s.rate)} | ${Math.round(s.baselineRate)} | ${s.ratio.toFixed(2)} | ${mib(s.baselineEtcdPeak)} |`).join('\n')}

Targets (issue "delta restore"):
- steward's own peak RSS ≤ ${RSS_TARGET_MIB} MiB and not growing with the delta volume (counted as growing when the larger volume peaks > ${RSS_GROWTH_MIB} MiB higher): ${mib(small.stewardPeak)} MiB at ${small.volume.events} events, ${mib(all.stewardPeak)} MiB at ${all.volume.events} events (${signed((all.stewardPeak - small.stewardPeak) / 1048576)} MiB for ${(all.volume.events / Math.max(1, small.volume.events)).toFixed(1)}× the events): ${yes(Math.max(all.stewardPeak, small.stewardPeak) <= RSS_TARGET_MIB * 1048576 && all.stewardPeak - small.stewardPeak <= RSS_GROWTH_MIB * 1048576)}
- apply rate ≥ ${RATIO_TARGET} × baseline: ratio ${all.ratio.toFixed(2)} (all deltas), ${small.ratio.toFixed(2)} (1/5): ${yes(all.ratio >= RATIO_TARGET && small.ratio >= RATIO_TARGET)}
- etcd-backup-restore restores a ${ETCDBR.dbMiB} MiB database plus ${ETCDBR.events / 1000}k delta events in about ${ETCDBR.wallSeconds} s at about ${ETCDBR.peakRssMiB} MiB peak RSS (figures quoted in the issue; etcdbrctl was **not run here**, it is not available on this machine); steward should take at most half: ≤ ${ETCDBR.wallSeconds / 2} s and ≤ ${ETCDBR.peakRssMiB / 2} MiB. etcdbrctl's figure includes its embedded etcd, so steward's side is steward + temporary etcd peaks (an upper bound of their combined peak): ${all.wall.toFixed(1)} s and ${combinedMiB.toFixed(1)} MiB: ${fullScale ? `${yes(all.wall <= ETCDBR.wallSeconds / 2)} (time), ${yes(combinedMiB <= ETCDBR.peakRssMiB / 2)} (memory)` : `not comparable: this run used ${dbMiB} MiB and ${targetEvents} events; run with the defaults (--db-mib 256 --events 300000)`}`
  await writeSection('delta-restore', body)
  console.log(body)
} finally {
  if (watcher && watcher.exitCode === null && watcher.signalCode === null) watcher.kill('SIGKILL')
  await source?.stop()
  if (keep) log(`kept ${work}`)
  else {
    await rm(work, { recursive: true, force: true })
    untrackTempDir(work)
  }
  const leaked = ownEtcdPids(work)
  if (leaked.length > 0) console.error(`warning: etcd processes of this run are still running: ${leaked.join(', ')}`)
}

/** One round of one volume: --no-deltas restore, restore with deltas (+ temp etcd RSS), checks, baseline. */
async function runVolume(volume: Volume, round: number, baseRevision: number, sourceState: { revision: number; hash: string }): Promise<{ round: RoundResult; verified?: string }> {
  const dir = join(work, `round-${round}-${volume.label.replace(/\W+/g, '-')}`)
  await mkdir(dir, { recursive: true })
  try {
    const baseDir = join(dir, 'base.etcd')
    const restoredDir = join(dir, 'restored.etcd')
    const noDeltas = await measure(STEWARD_BIN, ['restore', '--store', storeUrl, '--data-dir', baseDir, '--no-deltas'], quiet())
    const tempEtcd = watchEtcdByCmdline(join(dir, '.restored.etcd.steward-restore-'))
    const withDeltas = await measure(STEWARD_BIN, ['restore', '--store', storeUrl, '--data-dir', restoredDir, ...(volume.toRevision === undefined ? [] : ['--to-revision', String(volume.toRevision)])], quiet()).catch((error: unknown) => {
      tempEtcd.stop()
      throw error
    })
    const found = tempEtcd.stop()
    if (found.pids.length !== 1) throw new Error(`expected one temporary etcd during the restore, saw ${found.pids.length}`)
    const reached = (await readBboltRevision(join(restoredDir, 'member', 'snap', 'db'))).revision
    if (reached !== volume.revision) throw new Error(`${volume.label}: restored revision ${reached}, expected ${volume.revision}`)
    let verified: string | undefined
    if (volume.toRevision === undefined) {
      const restored = await startEtcdCluster({ members: 1, dataDirs: [restoredDir], name: 'default' })
      const state = await hashKeyspace(restored.endpoints[0]!).finally(() => restored.stop())
      if (state.revision !== sourceState.revision || state.hash !== sourceState.hash) {
        throw new Error(`restored etcd is at revision ${state.revision} with hash ${state.hash}; the source was at ${sourceState.revision} with ${sourceState.hash}`)
      }
      verified = `etcd started on the full restore is at the source's revision ${state.revision} with the same key-value SHA-256 (${state.keys} keys); the 1/5 restore's database is at its --to-revision`
    }
    await rm(restoredDir, { recursive: true, force: true })
    const baseReached = (await readBboltRevision(join(baseDir, 'member', 'snap', 'db'))).revision
    if (baseReached !== baseRevision) throw new Error(`--no-deltas restore is at revision ${baseReached}, expected ${baseRevision}`)
    const baseline = await applyBaseline(baseDir, volume.groups)
    return {
      round: { noDeltas, withDeltas, tempEtcdPeakBytes: found.peakRssBytes, tempEtcdSeconds: found.seenSeconds, baselineSeconds: baseline.seconds, baselineEtcdPeakBytes: baseline.peakRssBytes },
      ...(verified ? { verified } : {}),
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The baseline: etcd with the temporary etcd's flags on `dataDir`; one Txn per revision group, sequentially; only the loop is timed. */
async function applyBaseline(dataDir: string, groups: readonly RevisionGroup[]): Promise<{ seconds: number; peakRssBytes: number }> {
  const cluster = await startEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default', quotaBackendBytes: LIMITS.quotaBackendBytes, extraArgs: TEMP_ETCD_ARGS })
  const client = new Etcd3({
    hosts: cluster.endpoints[0]!,
    grpcOptions: { 'grpc.max_send_message_length': LIMITS.maxRequestBytes + 64 * 1024, 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
    faultHandling: { host: () => noop, global: noop },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 60_000 }),
  })
  const rss = pollPeakRss(cluster.members[0]!.pid)
  try {
    const start = await currentRevision(client)
    if (start !== groups[0]!.revision - 1) throw new Error(`baseline etcd is at revision ${start}, the events start at ${groups[0]!.revision}`)
    const started = performance.now()
    for (const group of groups) {
      const response = await client.kv.txn({ compare: [], success: group.ops, failure: [] })
      if (Number(response.header.revision) !== group.revision) throw new Error(`baseline: etcd assigned revision ${response.header.revision} to ${group.revision}`)
    }
    return { seconds: (performance.now() - started) / 1000, peakRssBytes: rss.stop() }
  } finally {
    rss.stop()
    client.close()
    await cluster.stop()
  }
}

function summarize(volume: Volume, rows: readonly RoundResult[]) {
  const wall = median(rows.map((r) => r.withDeltas.wallSeconds))
  const deltaPhase = median(rows.map((r) => r.withDeltas.wallSeconds - r.noDeltas.wallSeconds))
  const baselineSeconds = median(rows.map((r) => r.baselineSeconds))
  const rate = volume.events / deltaPhase
  const baselineRate = volume.events / baselineSeconds
  return {
    volume,
    wall,
    noDeltasWall: median(rows.map((r) => r.noDeltas.wallSeconds)),
    noDeltasPeak: Math.max(...rows.map((r) => r.noDeltas.peakRssBytes)),
    stewardPeak: Math.max(...rows.map((r) => r.withDeltas.peakRssBytes)),
    tempEtcdPeak: Math.max(...rows.map((r) => r.tempEtcdPeakBytes)),
    tempEtcdSeconds: median(rows.map((r) => r.tempEtcdSeconds)),
    baselineEtcdPeak: Math.max(...rows.map((r) => r.baselineEtcdPeakBytes)),
    deltaPhase,
    rate,
    baselineRate,
    ratio: rate / baselineRate,
  }
}

/** The largest prefix of revisions holding at most 1/5 of the events (so the volumes are ≥ 5× apart). */
function fifthVolume(groups: readonly RevisionGroup[], events: number, deltas: readonly StoredSnapshot[]): Volume {
  let count = 0
  let end = 0
  while (end < groups.length && count + groups[end]!.ops.length <= events / 5) count += groups[end++]!.ops.length
  const last = groups[end - 1]
  if (!last) throw new Error('too few events for a 1/5 volume')
  return {
    label: '1/5 of the events',
    toRevision: last.revision,
    revision: last.revision,
    groups: groups.slice(0, end),
    events: count,
    deltas: deltas.filter((d) => d.startRevision <= last.revision).length,
  }
}

/** Deltas continue the full snapshot without gaps and end at the source's final revision. */
function checkChain(full: StoredSnapshot, deltas: readonly StoredSnapshot[], finalRevision: number): void {
  let reached = full.lastRevision
  for (const delta of deltas) {
    if (delta.startRevision !== reached + 1) throw new Error(`${delta.name} starts at ${delta.startRevision}, expected ${reached + 1}`)
    reached = delta.lastRevision
  }
  if (reached !== finalRevision) throw new Error(`the deltas end at revision ${reached}, the source is at ${finalRevision}`)
  if (deltas.length < 2) throw new Error(`only ${deltas.length} delta(s); lower --delta-limit-mib`)
}

/** Every revision from base + 1 to the final one holds at least one event. */
function checkGroups(groups: readonly RevisionGroup[], baseRevision: number, finalRevision: number): void {
  for (const [i, group] of groups.entries()) {
    if (group.revision !== baseRevision + 1 + i) throw new Error(`revision ${group.revision} at position ${i}; expected ${baseRevision + 1 + i}`)
  }
  if (groups.at(-1)?.revision !== finalRevision) throw new Error(`decoded events end at ${groups.at(-1)?.revision}, the source is at ${finalRevision}`)
}

function lastRevisionOf(listing: readonly StoredSnapshot[]): number {
  return Math.max(0, ...listing.filter((s) => !s.isChunk).map((s) => s.lastRevision))
}

function positive(name: 'db-mib' | 'events' | 'delta-limit-mib' | 'rounds'): number {
  const value = Number(values[name])
  if (!(value > 0)) throw new Error(`--${name} must be a positive number, got ${values[name]}`)
  return value
}

function etcdVersion(): string {
  const out = execFileSync(findEtcdTool('etcd'), ['--version'], { encoding: 'utf8' })
  return /etcd Version: (\S+)/.exec(out)?.[1] ?? '(unknown version)'
}

function quiet(): NodeJS.ProcessEnv {
  return { ...process.env, STEWARD_LOG_LEVEL: 'warn' }
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(1)}`
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function log(message: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`)
}
