/**
 * Benchmark for issues 8 (memory however steward is started) and 13 (parallel compression,
 * snapshot at etcdctl's speed) on a ≥ 1 GiB database built once by bench/big-db.ts and reused.
 * In every round, side by side on the same etcd member, alternating the order of each pair:
 *
 * - `etcdctl snapshot save` vs `steward snapshot --compression none`, steward launched as a
 *   program (`bin/run.js`, its shebang flags) and as `node bin/run.js` (Node's defaults);
 * - `steward snapshot --compression gzip` (parallel blocks, both launch styles) vs the serial
 *   baseline `etcdctl snapshot save` then `gzip -6`, and vs etcdbrctl's full snapshot with gzip
 *   (etcdbrctl has no one-shot mode: `etcdbrctl snapshot` with an empty store takes a full
 *   snapshot at start; it is timed from start to its "Successfully saved full snapshot" line,
 *   then stopped);
 * - `steward restore` of the uncompressed and the gzip snapshot (both launch styles) vs
 *   `etcdutl snapshot restore` of etcdctl's file.
 *
 * Writes the "snapshot-compress" section of docs/benchmarks.md.
 *
 *   npm run build && node bench/snapshot-compress.ts [--size-mib 1100] [--rounds 3] [--etcdbrctl PATH]
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { findEtcdTool } from '../src/lib/etcd/binaries.ts'
import { STEWARD_BIN } from '../test/harness/cli.ts'
import { openBigDb } from './big-db.ts'
import { machine, measure, median, mib, writeSection, type Measurement } from './measure.ts'

const REPO = resolve(import.meta.dirname, '..')
const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1100' },
    rounds: { type: 'string', default: '3' },
    etcdbrctl: { type: 'string' },
    work: { type: 'string', default: '/tmp/bench-data/work' },
  },
})
const sizeMiB = Number(values['size-mib'])
const rounds = Number(values.rounds)
const etcdbrctl = [values.etcdbrctl, join(REPO, '..', 'shared', 'tools', 'etcdbrctl'), join(REPO, '..', '..', 'shared', 'tools', 'etcdbrctl')].find((p) => p && existsSync(p))
const work = values.work!
await rm(work, { recursive: true, force: true })
await mkdir(work, { recursive: true })
const cluster = await openBigDb(sizeMiB)
const endpoint = cluster.endpoints[0]!
const quiet = { ...process.env, STEWARD_LOG_LEVEL: 'warn' }
const NODE = process.execPath

type Key =
  | 'etcdctl'
  | 'noneBin'
  | 'noneNode'
  | 'gzipBin'
  | 'gzipNode'
  | 'serial'
  | 'etcdbrctl'
  | 'etcdutlRestore'
  | 'restoreNoneBin'
  | 'restoreNoneNode'
  | 'restoreGzipBin'
  | 'restoreGzipNode'
const results = new Map<Key, Measurement[]>()
const record = (key: Key, m: Measurement) => results.set(key, [...(results.get(key) ?? []), m])

/** etcdbrctl's full snapshot: start `etcdbrctl snapshot` on an empty Local store, stop it once the full snapshot is saved. */
async function etcdbrctlFull(home: string): Promise<Measurement> {
  await mkdir(join(home, 'tmp'), { recursive: true })
  spawnSync('sync')
  const started = performance.now()
  const child = spawn(
    etcdbrctl!,
    ['snapshot', '--endpoints', endpoint, '--storage-provider', 'Local', '--store-container', 'cont', '--store-prefix', 'etcd-main', '--delta-snapshot-period', '0', '--schedule', '0 0 1 1 *', '--garbage-collection-period', '0', '--snapstore-temp-directory', join(home, 'tmp')],
    { env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let peakKiB = 0
  const poll = setInterval(() => {
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      if (match) peakKiB = Math.max(peakKiB, Number(match[1]))
    } catch {
      // exited
    }
  }, 10)
  let log = ''
  const wallSeconds = await new Promise<number>((resolveWall, reject) => {
    const onData = (d: Buffer) => {
      log += d.toString()
      if (log.includes('Successfully saved full snapshot')) resolveWall((performance.now() - started) / 1000)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('close', (code) => reject(new Error(`etcdbrctl exited (${code}) before saving a full snapshot: ${log.slice(-2000)}`)))
  })
  clearInterval(poll)
  child.kill('SIGTERM')
  await new Promise((r) => child.once('close', r))
  return { wallSeconds, peakRssBytes: peakKiB * 1024 }
}

/** Runs the pairs in order on odd rounds and reversed on even rounds. */
async function alternate(round: number, runs: [Key, () => Promise<Measurement>][]): Promise<void> {
  for (const [key, run] of round % 2 ? runs : [...runs].reverse()) record(key, await run())
}

let dbBytes = 0
let gzipBytes = 0
let serialGzipBytes = 0
let etcdbrctlBytes = 0
const load: string[] = []
try {
  for (let round = 1; round <= rounds; round++) {
    const dir = join(work, `round-${round}`)
    await mkdir(dir, { recursive: true })
    const db = join(dir, 'etcdctl.db')
    const steward = (launch: 'bin' | 'node', args: string[]) => (launch === 'bin' ? measure(STEWARD_BIN, args, quiet) : measure(NODE, [STEWARD_BIN, ...args], quiet))
    const snap = (store: string, compression: string) => ['snapshot', '--endpoints', endpoint, '--store', `file://${join(dir, store)}`, '--compression', compression]
    load.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!)
    await alternate(round, [
      ['etcdctl', () => measure(findEtcdTool('etcdctl'), ['snapshot', 'save', db, '--endpoints', endpoint], { ...process.env, ETCDCTL_API: '3' })],
      ['noneBin', () => steward('bin', snap('none-bin', 'none'))],
      ['noneNode', () => steward('node', snap('none-node', 'none'))],
    ])
    dbBytes = (await stat(db)).size
    await alternate(round, [
      ['gzipBin', () => steward('bin', snap('gzip-bin', 'gzip'))],
      [
        'serial',
        async () => {
          const save = await measure(findEtcdTool('etcdctl'), ['snapshot', 'save', join(dir, 'serial.db'), '--endpoints', endpoint], { ...process.env, ETCDCTL_API: '3' })
          const gz = await measure('sh', ['-c', `gzip -6 -c '${join(dir, 'serial.db')}' > '${join(dir, 'serial.db.gz')}'`])
          serialGzipBytes = (await stat(join(dir, 'serial.db.gz'))).size
          await rm(join(dir, 'serial.db'))
          await rm(join(dir, 'serial.db.gz'))
          return { wallSeconds: save.wallSeconds + gz.wallSeconds, peakRssBytes: Math.max(save.peakRssBytes, gz.peakRssBytes) }
        },
      ],
      ...(etcdbrctl ? ([['etcdbrctl', () => etcdbrctlFull(join(dir, 'etcdbrctl-home'))]] as [Key, () => Promise<Measurement>][]) : []),
      ['gzipNode', () => steward('node', snap('gzip-node', 'gzip'))],
    ])
    const gzDir = join(dir, 'gzip-bin', 'v2')
    gzipBytes = (await stat(join(gzDir, (await readdir(gzDir))[0]!))).size
    if (etcdbrctl) {
      const ebrDir = join(dir, 'etcdbrctl-home', 'cont', 'etcd-main', 'v2')
      const ebrName = (await readdir(ebrDir)).find((n) => n.startsWith('Full-'))
      if (ebrName) etcdbrctlBytes = (await stat(join(ebrDir, ebrName))).size
      await rm(join(dir, 'etcdbrctl-home'), { recursive: true, force: true })
    }
    const restore = (store: string, target: string) => ['restore', '--store', `file://${join(dir, store)}`, '--data-dir', join(dir, target)]
    await alternate(round, [
      ['etcdutlRestore', () => measure(findEtcdTool('etcdutl'), ['snapshot', 'restore', db, '--data-dir', join(dir, 'etcdutl.etcd')])],
      ['restoreNoneBin', () => steward('bin', restore('none-bin', 'r-none-bin.etcd'))],
      ['restoreNoneNode', () => steward('node', restore('none-node', 'r-none-node.etcd'))],
      ['restoreGzipBin', () => steward('bin', restore('gzip-bin', 'r-gzip-bin.etcd'))],
      ['restoreGzipNode', () => steward('node', restore('gzip-node', 'r-gzip-node.etcd'))],
    ])
    await rm(dir, { recursive: true, force: true })
    console.log(`round ${round}/${rounds} done`)
  }

  const walls = (key: Key) => (results.get(key) ?? []).map((m) => m.wallSeconds)
  const ratio = (key: Key, base: Key) => {
    const a = walls(key)
    const b = walls(base)
    if (a.length === 0 || b.length === 0) return ''
    const per = a.map((w, i) => w / b[i]!)
    return `${median(per).toFixed(2)} (${per.map((r) => r.toFixed(2)).join(', ')})`
  }
  const row = (label: string, key: Key, base?: Key) => {
    const ms = results.get(key) ?? []
    if (ms.length === 0) return `| ${label} | not run | | | |`
    return `| ${label} | ${median(walls(key)).toFixed(2)} | ${walls(key).map((w) => w.toFixed(2)).join(', ')} | ${base ? ratio(key, base) : ''} | ${mib(Math.max(...ms.map((m) => m.peakRssBytes)))} |`
  }
  const cpuLine = `${machine()}; load average (1 min) at the start of each round: ${load.join(', ')} (the machine is shared with other work)`
  const body = `## Snapshot and restore of a ≥ 1 GiB database, two launch styles, parallel gzip (\`bench/snapshot-compress.ts\`)

- Command: \`npm run build && node bench/snapshot-compress.ts --size-mib ${sizeMiB} --rounds ${rounds}\`
- Data: one etcd 3.5.16 member on a data dir built once by \`bench/big-db.ts\` (kept in /tmp/bench-data, outside the repo): ${Math.ceil((sizeMiB * 1048576) / 4096)} keys × 4 KiB "mixed" values (half text, half random); database ${mib(dbBytes)} MiB. Local store on the same disk.
- Stored sizes: steward gzip ${mib(gzipBytes)} MiB; serial \`gzip -6\` ${mib(serialGzipBytes)} MiB; etcdbrctl gzip ${etcdbrctl ? `${mib(etcdbrctlBytes)} MiB` : 'not run'}.
- Machine: ${cpuLine}
- Date: ${new Date().toISOString()}
- Method: every run is its own process; wall time includes start-up. In each round the runs of a group (etcdctl / steward none; steward gzip / serial / etcdbrctl; etcdutl / steward restores) go back to back, in reverse order on even rounds; ratios are per round, then the median. Peak RSS is each process's own VmHWM, maximum over rounds (steward's restore: steward only; its etcdutl child is the etcdutl row). "bin" = \`bin/run.js\` run as a program; "node" = \`node bin/run.js\` (since perf-misc the shebang passes no flags, so the two start alike). steward gzip uses the defaults: level 6, \`--compression-workers\` = available cores.
- etcdbrctl (${etcdbrctl ? 'v0.42.0 + #991, ../shared/tools' : 'not found'}): no one-shot snapshot mode, so \`etcdbrctl snapshot --delta-snapshot-period 0 --schedule '0 0 1 1 *'\` on an empty Local store (it takes a full snapshot at start), timed from start to its "Successfully saved full snapshot" line, then stopped. It saves the stream to a temp file, checks its SHA-256, then compresses that file into the store.
- Serial baseline: \`etcdctl snapshot save\` then \`gzip -6 -c\` of that file, the two wall times added.

| run | median wall (s) | rounds (s) | ratio: median of per-round ratios (each round) | peak RSS (MiB) |
|---|---|---|---|---|
${row('etcdctl snapshot save', 'etcdctl')}
${row('steward snapshot --compression none (bin)', 'noneBin', 'etcdctl')}
${row('steward snapshot --compression none (node bin/run.js)', 'noneNode', 'etcdctl')}
${row('serial: etcdctl snapshot save, then gzip -6', 'serial')}
${row('steward snapshot --compression gzip (bin), vs serial', 'gzipBin', 'serial')}
${row('steward snapshot --compression gzip (node bin/run.js), vs serial', 'gzipNode', 'serial')}
${row('etcdbrctl full snapshot, gzip, vs serial', 'etcdbrctl', 'serial')}
| steward gzip (bin) vs etcdbrctl | | | ${ratio('gzipBin', 'etcdbrctl')} | |
${row('etcdutl snapshot restore', 'etcdutlRestore')}
${row('steward restore, uncompressed (bin)', 'restoreNoneBin', 'etcdutlRestore')}
${row('steward restore, uncompressed (node bin/run.js)', 'restoreNoneNode', 'etcdutlRestore')}
${row('steward restore, gzip (bin)', 'restoreGzipBin', 'etcdutlRestore')}
${row('steward restore, gzip (node bin/run.js)', 'restoreGzipNode', 'etcdutlRestore')}

Targets: steward's peak RSS ≤ 150 MiB in every steward row (issue 8); \`--compression none\` ≤ 1.2 × etcdctl (issue 8) and ≤ 1.05 × (issue 13); gzip ≤ 0.6 × the serial baseline (issue 13).`
  await writeSection('snapshot-compress', body)
  console.log(body)
} finally {
  await cluster.stop({ keepDataDirs: true })
}
