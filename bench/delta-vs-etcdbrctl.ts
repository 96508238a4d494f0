/**
 * Benchmark for issue 13 (item 1): `steward restore` of a full snapshot plus 300,000 single-key
 * delta revisions, side by side in one run with the real etcd-backup-restore
 * (`/work/shared/tools/etcdbrctl`, see its README) restoring the same store, and the plain-client
 * ceiling (an etcd3 client writing the same operation mix with 64 puts in flight to an etcd with
 * the temporary etcd's flags). Writes the "delta-vs-etcdbrctl" section of docs/benchmarks.md.
 *
 *   npm run build && node bench/delta-vs-etcdbrctl.ts [--keys 200000] [--value-bytes 1024]
 *     [--revisions 300000] [--delta-period 5s] [--rounds 3] [--etcdbrctl PATH] [--keep] [--work DIR]
 *     [--no-ceiling] [--with-etcd-apply]
 *
 *   --keys         keys of the full snapshot (values of --value-bytes, "mixed": a third random,
 *                  a third JSON-like text, a third half random and half zeros)
 *   --revisions    single-key writes after the full snapshot, 64 in flight: 30 % new keys,
 *                  50 % overwrites, 20 % deletes of live keys (one revision each)
 *   --delta-period `steward snapshot --watch --delta-snapshot-period` (gzip)
 *   --rounds       rounds; within a round steward and etcdbrctl alternate who goes first
 *   --work DIR     reuse the store built by an earlier run with --keep (skips step 1)
 *   --no-ceiling   skip the plain-client ceiling (it bounds only the temporary-etcd replay)
 *   --with-etcd-apply  also time `steward restore --delta-apply etcd` (the temporary-etcd replay) each round
 *
 * 1. Source etcd (fsync off) filled with --keys keys (64 in flight); `steward snapshot` stores
 *    a gzip full snapshot (Local store); `steward snapshot --watch` cuts deltas while the
 *    revisions are written, then is stopped with SIGTERM (a `--kind delta` catches up if needed).
 *    The source's revision and a SHA-256 of every key's key, value, create_revision,
 *    mod_revision and version are recorded.
 * 2. Per round: `steward restore --no-deltas` (reference for the full part, and the base of the
 *    ceiling run); the ceiling; then `steward restore` (the bin, as users launch it) and
 *    `etcdbrctl restore` in alternating order. Each result is started in a real etcd and must
 *    have the source's revision and hash. Wall and peak RSS (VmHWM) of each process; steward's
 *    children (etcdutl; the temporary etcd of the lean step, or of --delta-apply etcd) are found in
 *    /proc by its work dir; the restored db file sizes are recorded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Etcd3 } from 'etcd3'
import { BackupStore } from '../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../src/lib/snapstore/drivers/local.ts'
import { TEMP_ETCD_DEFAULTS, TEMP_ETCD_SNAPSHOT_COUNT } from '../src/lib/restore/temp-etcd.ts'
import { STEWARD_BIN } from '../test/harness/cli.ts'
import { testClient } from '../test/harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../test/harness/etcd.ts'
import { trackProcess } from '../test/harness/processes.ts'
import { ownEtcdPids, pollPeakRss, watchEtcdByCmdline } from './delta-procs.ts'
import { machine, measure, median, mib, writeSection, type Measurement } from './measure.ts'
import { prng } from '../test/harness/prng.ts'

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '200000' },
    'value-bytes': { type: 'string', default: '1024' },
    revisions: { type: 'string', default: '300000' },
    'delta-period': { type: 'string', default: '5s' },
    rounds: { type: 'string', default: '3' },
    etcdbrctl: { type: 'string', default: '/work/shared/tools/etcdbrctl' },
    keep: { type: 'boolean', default: false },
    'no-ceiling': { type: 'boolean', default: false },
    'with-etcd-apply': { type: 'boolean', default: false },
    work: { type: 'string' },
  },
})
const KEYS = Number(values.keys)
const VALUE_BYTES = Number(values['value-bytes'])
const REVISIONS = Number(values.revisions)
const ROUNDS = Number(values.rounds)
const ETCDBRCTL = values.etcdbrctl
const IN_FLIGHT = 64
const LIMITS = TEMP_ETCD_DEFAULTS
const TEMP_ETCD_ARGS = ['--unsafe-no-fsync', `--max-request-bytes=${LIMITS.maxRequestBytes}`, `--max-txn-ops=${LIMITS.maxTxnOps}`, '--auto-compaction-retention=0', `--snapshot-count=${TEMP_ETCD_SNAPSHOT_COUNT}`, '--log-level=warn']
const CEILING = !values['no-ceiling']
const WITH_ETCD_APPLY = values['with-etcd-apply']
const commandLine = `npm run build && node bench/delta-vs-etcdbrctl.ts --keys ${KEYS} --value-bytes ${VALUE_BYTES} --revisions ${REVISIONS} --delta-period ${values['delta-period']} --rounds ${ROUNDS}${CEILING ? '' : ' --no-ceiling'}${WITH_ETCD_APPLY ? ' --with-etcd-apply' : ''}`

const POOL = randomBytes(8 * 1024 * 1024)
const TEXT = Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { labels: { app: 'bench', tier: 'backend' }, annotations: { note: 'x'.repeat(200) } }, spec: { containers: [{ name: 'main', image: 'registry.example/app:1.2.3', args: ['--serve', '--port=8080'] }] } }).repeat(8))

const log = (message: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`)
const quiet = (): NodeJS.ProcessEnv => ({ ...process.env, NO_COLOR: '1', STEWARD_LOG_LEVEL: 'warn' })

const work = values.work ?? (await mkdtemp(join(tmpdir(), 'steward-vs-etcdbr-')))
const CONTAINER = 'store'
const PREFIX = 'etcd-main'
const storeFlags = ['--storage-provider', 'Local', '--store-container', join(work, CONTAINER), '--store-prefix', PREFIX]
const loadSamples: number[] = []
const loadTimer = setInterval(() => loadSamples.push(loadavg()[0]!), 5000).unref()

interface SourceInfo {
  revision: number
  keys: number
  hash: string
  dbSizeBytes: number
  fullStoredBytes: number
  deltas: number
  deltaStoredBytes: number
  writeSeconds: number
  builtAt: string
}

interface Round {
  stewardFull: Measurement
  /** NaN with --no-ceiling. */
  ceilingSeconds: number
  /** `steward restore` (default: --delta-apply direct). */
  steward: Measurement
  /** Peak RSS of the etcdutl that steward ran (restoring the merged file; twice with the lean step). */
  etcdutlPeakBytes: number
  /** Peak RSS of the temporary etcd of the direct apply's lean step (compaction + defragmentation); 0 when it did not run. */
  leanEtcdPeakBytes: number
  /** Size of `member/snap/db` of each restore, in bytes. */
  dbBytes: { steward: number; etcdbr: number; stewardEtcd?: number }
  /** With --with-etcd-apply: `steward restore --delta-apply etcd` and its temporary etcd's peak. */
  stewardEtcd?: Measurement
  tempEtcdPeakBytes: number
  etcdbr: Measurement
  stewardFirst: boolean
}

let source: EtcdCluster | undefined
let watcher: ChildProcess | undefined
try {
  const info = existsSync(join(work, 'source.json')) ? (JSON.parse(await readFile(join(work, 'source.json'), 'utf8')) as SourceInfo) : await buildStore()
  log(`store: revision ${info.revision}, ${info.keys} keys, ${info.deltas} deltas, hash ${info.hash.slice(0, 12)}…`)
  const rounds: Round[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    rounds.push(await runRound(round, info))
    const r = rounds.at(-1)!
    log(`round ${round}: steward ${r.steward.wallSeconds.toFixed(1)} s (${mib(r.steward.peakRssBytes)} MiB + etcdutl ${mib(r.etcdutlPeakBytes)} MiB)${r.stewardEtcd ? `, steward --delta-apply etcd ${r.stewardEtcd.wallSeconds.toFixed(1)} s (${mib(r.stewardEtcd.peakRssBytes)} MiB + temp etcd ${mib(r.tempEtcdPeakBytes)} MiB)` : ''}, etcdbrctl ${r.etcdbr.wallSeconds.toFixed(1)} s (${mib(r.etcdbr.peakRssBytes)} MiB), ratio ${(r.steward.wallSeconds / r.etcdbr.wallSeconds).toFixed(2)}; --no-deltas ${r.stewardFull.wallSeconds.toFixed(1)} s; ceiling ${Math.round(REVISIONS / r.ceilingSeconds)} puts/s`)
  }
  await report(info, rounds)
} finally {
  clearInterval(loadTimer)
  if (watcher && watcher.exitCode === null && watcher.signalCode === null) watcher.kill('SIGKILL')
  await source?.stop()
  if (values.keep || values.work) log(`kept ${work}`)
  else await rm(work, { recursive: true, force: true })
  const leaked = ownEtcdPids(work)
  if (leaked.length > 0) console.error(`warning: etcd processes of this run are still running: ${leaked.join(', ')}`)
}

/** Step 1: the source, its full snapshot and deltas, and its recorded state. */
async function buildStore(): Promise<SourceInfo> {
  source = await startEtcdCluster({ members: 1, quotaBackendBytes: LIMITS.quotaBackendBytes, extraArgs: ['--unsafe-no-fsync'] })
  const endpoint = source.endpoints[0]!
  log(`filling the source with ${KEYS} keys of ${VALUE_BYTES} bytes…`)
  await fill(endpoint)
  const client = testClient(endpoint)
  const dbSizeBytes = Number((await client.maintenance.status()).dbSize)
  client.close()
  await measure(STEWARD_BIN, ['snapshot', '--endpoints', endpoint, ...storeFlags, '--compression', 'gzip'], quiet())
  watcher = spawn(STEWARD_BIN, ['snapshot', '--watch', '--endpoints', endpoint, ...storeFlags, '--compression', 'gzip', '--delta-snapshot-period', values['delta-period'], '--delta-snapshot-memory-limit', String(1024 ** 3)], { env: quiet(), stdio: ['ignore', 'ignore', 'pipe'] })
  trackProcess(watcher)
  let watcherErr = ''
  watcher.stderr?.on('data', (d: Buffer) => (watcherErr = (watcherErr + d.toString()).slice(-4000)))
  const exited = new Promise<number | string>((resolve) => watcher!.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  await new Promise((resolve) => setTimeout(resolve, 2000))
  log(`writing ${REVISIONS} single-key revisions, ${IN_FLIGHT} in flight, while steward snapshot --watch cuts deltas every ${values['delta-period']}…`)
  const started = performance.now()
  await writeRevisions(endpoint, REVISIONS, 0x5eed)
  const writeSeconds = (performance.now() - started) / 1000
  log(`  ${REVISIONS} revisions in ${writeSeconds.toFixed(1)} s`)
  await new Promise((resolve) => setTimeout(resolve, 7000))
  watcher.kill('SIGTERM')
  const code = await exited
  if (code !== 0) throw new Error(`steward snapshot --watch ended with ${code}: ${watcherErr}`)
  watcher = undefined
  await measure(STEWARD_BIN, ['snapshot', '--kind', 'delta', '--endpoints', endpoint, ...storeFlags, '--compression', 'gzip'], quiet())
  const state = await stateHash(endpoint)
  await source.stop()
  source = undefined
  const listing = await new BackupStore(localSnapstore({ root: join(work, CONTAINER) }), PREFIX).list()
  const fulls = listing.filter((s) => s.kind === 'Full' && !s.isChunk)
  const deltas = listing.filter((s) => s.kind === 'Incr' && !s.isChunk)
  const info: SourceInfo = {
    revision: state.revision,
    keys: state.keys,
    hash: state.hash,
    dbSizeBytes,
    fullStoredBytes: fulls.reduce((sum, s) => sum + s.sizeBytes, 0),
    deltas: deltas.length,
    deltaStoredBytes: deltas.reduce((sum, s) => sum + s.sizeBytes, 0),
    writeSeconds,
    builtAt: new Date().toISOString(),
  }
  const last = Math.max(...deltas.map((d) => d.lastRevision))
  if (fulls.length !== 1 || last !== state.revision) throw new Error(`store: ${fulls.length} full snapshots, deltas up to ${last}, source at ${state.revision}`)
  await writeFile(join(work, 'source.json'), JSON.stringify(info))
  return info
}

/** A "mixed" value: random, JSON-like text, or half random half zeros (by `random`). */
function mixedValue(random: () => number): Buffer {
  const kind = random()
  const at = Math.floor(random() * (POOL.length - VALUE_BYTES))
  if (kind < 1 / 3) return POOL.subarray(at, at + VALUE_BYTES)
  if (kind < 2 / 3) {
    const from = Math.floor(random() * (TEXT.length - VALUE_BYTES))
    return TEXT.subarray(from, from + VALUE_BYTES)
  }
  const value = Buffer.alloc(VALUE_BYTES)
  POOL.copy(value, 0, at, at + VALUE_BYTES / 2)
  return value
}

function keyName(i: number): string {
  return `/registry/pods/ns-${String(i % 97).padStart(2, '0')}/pod-${String(i).padStart(9, '0')}`
}

async function fill(endpoint: string): Promise<void> {
  const client = testClient(endpoint)
  try {
    let next = 0
    const random = prng(1)
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < KEYS) await client.put(keyName(next++)).value(mixedValue(random))
      }),
    )
  } finally {
    client.close()
  }
}

/**
 * `count` single-key writes with 64 writers; writer w owns the keys ≡ w (mod 64), so each
 * knows which of its keys exist: 30 % puts of new keys, 50 % overwrites of live keys, 20 %
 * deletes of live keys. Same seed, same mix.
 */
async function writeRevisions(endpoint: string, count: number, seed: number): Promise<void> {
  const client: Etcd3 = testClient(endpoint)
  let reserved = 0
  try {
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, w) => {
        const random = prng(seed + w)
        const live: number[] = []
        for (let i = w; i < KEYS; i += IN_FLIGHT) live.push(i)
        let fresh = KEYS + w
        while (reserved < count) {
          reserved++
          const r = random()
          if (r < 0.3 || live.length === 0) {
            await client.put(keyName(fresh)).value(mixedValue(random))
            live.push(fresh)
            fresh += IN_FLIGHT
          } else if (r < 0.8) {
            await client.put(keyName(live[Math.floor(random() * live.length)]!)).value(mixedValue(random))
          } else {
            const at = Math.floor(random() * live.length)
            const key = live[at]!
            live[at] = live.at(-1)!
            live.pop()
            await client.delete().key(keyName(key))
          }
        }
      }),
    )
  } finally {
    client.close()
  }
}

/** SHA-256 over every key's key, value, create_revision, mod_revision and version (key order), at one revision. */
async function stateHash(endpoint: string): Promise<{ revision: number; keys: number; hash: string }> {
  const client = testClient(endpoint)
  try {
    const head = await client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true })
    const revision = Number(head.header.revision)
    const hash = createHash('sha256')
    let from = Buffer.from([0])
    let keys = 0
    for (;;) {
      const page = await client.kv.range({ key: from, range_end: Buffer.from([0]), limit: 2000, revision })
      for (const kv of page.kvs) {
        hash.update(`${kv.key.length}:${kv.value.length}:${kv.create_revision}:${kv.mod_revision}:${kv.version}:`).update(kv.key).update(kv.value)
      }
      keys += page.kvs.length
      const last = page.kvs.at(-1)
      if (!page.more || !last) break
      from = Buffer.concat([last.key, Buffer.from([0])])
    }
    return { revision, keys, hash: hash.digest('hex') }
  } finally {
    client.close()
  }
}

async function verify(dataDir: string, info: SourceInfo, who: string): Promise<void> {
  const cluster = await startEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default', initialCluster: 'default=http://localhost:2380' }).catch(() => startEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default' }))
  try {
    const state = await stateHash(cluster.endpoints[0]!)
    if (state.revision !== info.revision || state.hash !== info.hash || state.keys !== info.keys) {
      throw new Error(`${who}'s restore is at revision ${state.revision} with ${state.keys} keys, hash ${state.hash}; the source: ${info.revision}, ${info.keys}, ${info.hash}`)
    }
  } finally {
    await cluster.stop()
  }
}

async function runRound(round: number, info: SourceInfo): Promise<Round> {
  const dir = join(work, `round-${round}`)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  try {
    const base = join(dir, 'base.etcd')
    const stewardFull = await measure(STEWARD_BIN, ['restore', ...storeFlags, '--data-dir', base, '--no-deltas'], quiet())
    const ceilingSeconds = CEILING ? await ceiling(base) : Number.NaN
    await rm(base, { recursive: true, force: true })
    const stewardFirst = round % 2 === 1
    let steward: Measurement | undefined
    let stewardEtcd: Measurement | undefined
    let tempEtcdPeakBytes = 0
    let etcdutlPeakBytes = 0
    let leanEtcdPeakBytes = 0
    const dbBytes: Round['dbBytes'] = { steward: 0, etcdbr: 0 }
    let etcdbr: Measurement | undefined
    const tools = stewardFirst ? ['steward', 'etcdbrctl'] : ['etcdbrctl', 'steward']
    if (WITH_ETCD_APPLY) tools.push('steward-etcd')
    for (const tool of tools) {
      const target = join(dir, `${tool}.etcd`)
      if (tool === 'steward') {
        const etcdutl = watchEtcdByCmdline(join(dir, '.steward.etcd.steward-restore-'), 'etcdutl')
        const lean = watchEtcdByCmdline(join(dir, '.steward.etcd.steward-restore-'))
        steward = await measure(STEWARD_BIN, ['restore', ...storeFlags, '--data-dir', target], quiet()).finally(() => {
          etcdutlPeakBytes = etcdutl.stop().peakRssBytes
          leanEtcdPeakBytes = lean.stop().peakRssBytes
        })
      } else if (tool === 'steward-etcd') {
        const temp = watchEtcdByCmdline(join(dir, '.steward-etcd.etcd.steward-restore-'))
        stewardEtcd = await measure(STEWARD_BIN, ['restore', ...storeFlags, '--data-dir', target, '--delta-apply', 'etcd'], quiet()).finally(() => (tempEtcdPeakBytes = temp.stop().peakRssBytes))
      } else {
        await mkdir(join(dir, 'etcdbr-tmp'), { recursive: true })
        // Local store: etcdbrctl reads $HOME/<container>/<prefix>/v2/.
        etcdbr = await measure(ETCDBRCTL, ['restore', '--storage-provider', 'Local', '--store-container', CONTAINER, '--store-prefix', PREFIX, '--data-dir', target, '--restoration-temp-snapshots-dir', join(dir, 'etcdbr-restore.tmp'), '--snapstore-temp-directory', join(dir, 'etcdbr-tmp')], { ...process.env, HOME: work })
      }
      const size = (await stat(join(target, 'member', 'snap', 'db'))).size
      if (tool === 'steward') dbBytes.steward = size
      else if (tool === 'steward-etcd') dbBytes.stewardEtcd = size
      else dbBytes.etcdbr = size
      await verify(target, info, tool)
      await rm(target, { recursive: true, force: true })
    }
    return { stewardFull, ceilingSeconds, steward: steward!, etcdutlPeakBytes, leanEtcdPeakBytes, dbBytes, ...(stewardEtcd ? { stewardEtcd } : {}), tempEtcdPeakBytes, etcdbr: etcdbr!, stewardFirst }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The plain-client ceiling: the same write mix, 64 in flight, to an etcd with the temporary etcd's flags on `dataDir`. */
async function ceiling(dataDir: string): Promise<number> {
  const cluster = await startEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default', quotaBackendBytes: LIMITS.quotaBackendBytes, extraArgs: TEMP_ETCD_ARGS })
  const rss = pollPeakRss(cluster.members[0]!.pid)
  try {
    const started = performance.now()
    await writeRevisions(cluster.endpoints[0]!, REVISIONS, 0x5eed)
    return (performance.now() - started) / 1000
  } finally {
    rss.stop()
    await cluster.stop()
  }
}

async function report(info: SourceInfo, rounds: readonly Round[]): Promise<void> {
  const med = (pick: (r: Round) => number) => median(rounds.map(pick))
  const ratios = rounds.map((r) => r.steward.wallSeconds / r.etcdbr.wallSeconds)
  const stewardPeak = Math.max(...rounds.map((r) => r.steward.peakRssBytes))
  const etcdutlPeak = Math.max(...rounds.map((r) => r.etcdutlPeakBytes))
  const etcdbrPeak = Math.max(...rounds.map((r) => r.etcdbr.peakRssBytes))
  const etcdbrLowest = Math.min(...rounds.map((r) => r.etcdbr.peakRssBytes))
  const leanPeak = Math.max(...rounds.map((r) => r.leanEtcdPeakBytes))
  const largestChild = Math.max(...rounds.map((r) => Math.max(r.steward.peakRssBytes, r.etcdutlPeakBytes, r.leanEtcdPeakBytes)))
  const ratio = median(ratios)
  const yes = (ok: boolean) => (ok ? '**met**' : '**not met**')
  const load = loadSamples.length > 0 ? `${median(loadSamples).toFixed(1)} median (${Math.min(...loadSamples).toFixed(1)}–${Math.max(...loadSamples).toFixed(1)})` : 'n/a'
  const withEtcd = rounds.every((r) => r.stewardEtcd)
  const ceilingCell = (r: Round) => (Number.isNaN(r.ceilingSeconds) ? '–' : String(Math.round(REVISIONS / r.ceilingSeconds)))
  const etcdCells = (r: Round) => (withEtcd ? ` ${r.stewardEtcd!.wallSeconds.toFixed(1)} | ${mib(r.stewardEtcd!.peakRssBytes)} | ${mib(r.tempEtcdPeakBytes)} |` : '')
  const body = `## Delta restore side by side with etcdbrctl (\`bench/delta-vs-etcdbrctl.ts\`)

- Command: \`${commandLine}\`
- Data: ${info.keys - 0} keys at the end; full snapshot of ${KEYS} keys × ${VALUE_BYTES} B "mixed" values (⅓ random, ⅓ JSON-like text, ⅓ half random/half zeros), dbSize ${mib(info.dbSizeBytes)} MiB, stored ${mib(info.fullStoredBytes)} MiB (gzip); then ${REVISIONS} single-key revisions written with ${IN_FLIGHT} in flight (30 % new keys, 50 % overwrites, 20 % deletes) in ${info.writeSeconds.toFixed(1)} s while \`steward snapshot --watch --delta-snapshot-period ${values['delta-period']} --compression gzip\` cut ${info.deltas} deltas (${mib(info.deltaStoredBytes)} MiB stored). Source at the end: revision ${info.revision}. Store built ${info.builtAt}.
- Correctness: every restore below (steward's${withEtcd ? ' in both modes' : ''} and etcdbrctl's, every round) was started in etcd and had the source's revision and the same SHA-256 over every key's key, value, create_revision, mod_revision and version.
- Tools: steward launched as \`bin/run.js restore --storage-provider Local …\` (default \`--delta-apply direct\`: the deltas merged into a new bbolt file; with 10 or more deltas its history compacted at etcdbrctl's point and defragmented by a temporary etcd on a staging restore (the "lean step"); restored by etcdutl)${withEtcd ? '; `--delta-apply etcd` = the temporary-etcd replay (waves of up to 32 guarded transactions)' : ''}; etcdbrctl = \`${ETCDBRCTL}\` (v0.42.0 + fsync-off patch, see /work/shared/tools/README.md), \`HOME=… etcdbrctl restore --storage-provider Local --store-container … --store-prefix … --data-dir … --restoration-temp-snapshots-dir … --snapstore-temp-directory …\`.
${CEILING ? `- Ceiling (bounds only the temporary-etcd replay): an etcd3 client writing the same mix (${REVISIONS} single puts/deletes, ${IN_FLIGHT} in flight) to an etcd with the temporary etcd's flags (\`${TEMP_ETCD_ARGS.join(' ')}\`) on steward's \`--no-deltas\` restore.\n` : ''}- Machine: ${machine()}; shared with other sessions' work: 1-minute load average during the run ${load}.
- Date: ${new Date().toISOString()}
- ${rounds.length} rounds; within a round steward and etcdbrctl ran back to back, steward first in odd rounds${withEtcd ? ', then `--delta-apply etcd`' : ''}. Peak RSS = each process's VmHWM (maximum over rounds); steward's children (etcdutl, the temporary etcds) found in /proc by its work dir and measured separately (steward's own figure excludes them). db = size of the restored \`member/snap/db\` file (etcd 3.5 compares this file size with \`--quota-backend-bytes\`).

| round | order | steward wall (s) | etcdbrctl wall (s) | ratio | steward RSS (MiB) | its etcdutl RSS (MiB) | its lean-step temp etcd RSS (MiB) | etcdbrctl RSS (MiB) | steward db (MiB) | etcdbrctl db (MiB) | steward \`--no-deltas\` (s) |${withEtcd ? ' `--delta-apply etcd` wall (s) | its steward RSS (MiB) | its temp etcd RSS (MiB) |' : ''} ceiling (puts/s) |
|---|---|---|---|---|---|---|---|---|---|---|---|${withEtcd ? '---|---|---|' : ''}---|
${rounds.map((r, i) => `| ${i + 1} | ${r.stewardFirst ? 'steward first' : 'etcdbrctl first'} | ${r.steward.wallSeconds.toFixed(1)} | ${r.etcdbr.wallSeconds.toFixed(1)} | ${(r.steward.wallSeconds / r.etcdbr.wallSeconds).toFixed(2)} | ${mib(r.steward.peakRssBytes)} | ${mib(r.etcdutlPeakBytes)} | ${mib(r.leanEtcdPeakBytes)} | ${mib(r.etcdbr.peakRssBytes)} | ${mib(r.dbBytes.steward)} | ${mib(r.dbBytes.etcdbr)} | ${r.stewardFull.wallSeconds.toFixed(1)} |${etcdCells(r)} ${ceilingCell(r)} |`).join('\n')}
| **median** | | **${med((r) => r.steward.wallSeconds).toFixed(1)}** | **${med((r) => r.etcdbr.wallSeconds).toFixed(1)}** | **${ratio.toFixed(2)}** | ${mib(stewardPeak)} (max) | ${mib(etcdutlPeak)} (max) | ${mib(leanPeak)} (max) | ${mib(etcdbrPeak)} (max) | ${mib(Math.max(...rounds.map((r) => r.dbBytes.steward)))} (max) | ${mib(Math.max(...rounds.map((r) => r.dbBytes.etcdbr)))} (max) | ${med((r) => r.stewardFull.wallSeconds).toFixed(1)} |${withEtcd ? ` ${med((r) => r.stewardEtcd!.wallSeconds).toFixed(1)} | ${mib(Math.max(...rounds.map((r) => r.stewardEtcd!.peakRssBytes)))} (max) | ${mib(Math.max(...rounds.map((r) => r.tempEtcdPeakBytes)))} (max) |` : ''} ${CEILING ? Math.round(REVISIONS / med((r) => r.ceilingSeconds)) : '–'} |

Delta phase (wall − steward's \`--no-deltas\` wall, median): ${med((r) => r.steward.wallSeconds - r.stewardFull.wallSeconds).toFixed(1)} s = ${Math.round(REVISIONS / med((r) => r.steward.wallSeconds - r.stewardFull.wallSeconds))} revisions/s${withEtcd ? `; with \`--delta-apply etcd\`: ${med((r) => r.stewardEtcd!.wallSeconds - r.stewardFull.wallSeconds).toFixed(1)} s = ${Math.round(REVISIONS / med((r) => r.stewardEtcd!.wallSeconds - r.stewardFull.wallSeconds))} revisions/s` : ''}.

Targets (issue 13):
- steward ≤ 1.0 × etcdbrctl's wall: median ratio ${ratio.toFixed(2)} (rounds: ${ratios.map((x) => x.toFixed(2)).join(', ')}): ${yes(ratio <= 1)}
- steward's own peak RSS ≤ 150 MiB: ${mib(stewardPeak)} MiB: ${yes(stewardPeak <= 150 * 1048576)}
- steward and its children below etcdbrctl's peak (they run one after the other, so the largest one counts): ${mib(largestChild)} MiB vs ${mib(etcdbrLowest)} MiB (etcdbrctl's lowest): ${yes(largestChild < etcdbrLowest)}`
  await writeSection('delta-vs-etcdbrctl', body)
  console.log(body)
}
