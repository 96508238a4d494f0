/**
 * Benchmarks for issue 10 (defragmentation). Writes the "defrag" section of docs/benchmarks.md.
 *
 * (a) `steward defrag` (as users launch it: the bin, default flags) vs `etcdctl defrag` on one
 *     member holding ≥ 256 MiB of which half the keys were deleted and compacted away; each
 *     run on a freshly filled member, the two tools alternating which goes first.
 * (b) On a 3-member cluster under a steady write load (one writer per member, each putting a
 *     small value every 20 ms to its own member), the longest gap between successful writes
 *     across all writers while `steward defrag --cluster`, `steward defrag --cluster
 *     --move-leader` and `etcdctl defrag --cluster` run, each on a freshly filled cluster.
 *
 *   npm run build && node bench/defrag.ts [--size-mib 256] [--rounds 3] [--gap-size-mib 128] [--gap-rounds 2]
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import type { Etcd3 } from 'etcd3'
import { findEtcdTool } from '../src/lib/etcd/binaries.ts'
import { EtcdClient } from '../src/lib/etcd/client.ts'
import { STEWARD_BIN } from '../test/harness/cli.ts'
import { startEtcdCluster, type EtcdCluster } from '../test/harness/etcd.ts'
import { machine, measure, median, mib, writeSection, type Measurement } from './measure.ts'

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '256' }, rounds: { type: 'string', default: '3' }, 'gap-size-mib': { type: 'string', default: '128' }, 'gap-rounds': { type: 'string', default: '2' } } })
const sizeMiB = Number(values['size-mib'])
const rounds = Number(values.rounds)
const gapSizeMiB = Number(values['gap-size-mib'])
const gapRounds = Number(values['gap-rounds'])
const QUOTA = 8 * 1024 * 1024 * 1024
const VALUE_BYTES = 8 * 1024
const env = { ...process.env, STEWARD_LOG_LEVEL: 'warn', ETCDCTL_API: '3' }

async function etcdOf(endpoint: string, callSeconds = 30): Promise<{ etcd: Etcd3; close(): void }> {
  const wrapper = await EtcdClient.create({ endpoints: [endpoint], insecureSkipTlsVerify: false, connectionTimeoutSeconds: callSeconds, snapshotTimeoutSeconds: 60, defragTimeoutSeconds: 600 })
  return { etcd: wrapper.clientFor(endpoint), close: () => wrapper.close() }
}

/** Writes `mebibytes` of 8 KiB random values, deletes every second key, compacts physically. Resolves the db size. */
async function fragment(cluster: EtcdCluster, mebibytes: number): Promise<{ dbBytes: number; inUseBytes: number }> {
  const { etcd, close } = await etcdOf(cluster.endpoints[0]!)
  try {
    const count = Math.ceil((mebibytes * 1048576) / VALUE_BYTES)
    let next = 0
    const worker = async () => {
      while (next < count) {
        const i = next++
        await etcd.put(`/bench/${String(i).padStart(8, '0')}`).value(randomBytes(VALUE_BYTES)).exec()
      }
    }
    await Promise.all(Array.from({ length: 32 }, worker))
    next = 0
    const deleter = async () => {
      while (next < count) {
        const i = next
        next += 2
        await etcd.delete().key(`/bench/${String(i).padStart(8, '0')}`).exec()
      }
    }
    await Promise.all(Array.from({ length: 32 }, deleter))
    const status = await etcd.maintenance.status()
    await etcd.kv.compact({ revision: status.header.revision, physical: true })
    const after = await etcd.maintenance.status()
    return { dbBytes: Number(after.dbSize), inUseBytes: Number(after.dbSizeInUse) }
  } finally {
    close()
  }
}

async function dbSize(endpoint: string): Promise<number> {
  const { etcd, close } = await etcdOf(endpoint)
  try {
    return Number((await etcd.maintenance.status()).dbSize)
  } finally {
    close()
  }
}

// --- (a) wall time on one member ---

const wall: Record<'etcdctl' | 'steward', Measurement[]> = { etcdctl: [], steward: [] }
let dbInfo = { dbBytes: 0, inUseBytes: 0, afterBytes: 0 }
for (let round = 1; round <= rounds; round++) {
  const order: ('etcdctl' | 'steward')[] = round % 2 ? ['etcdctl', 'steward'] : ['steward', 'etcdctl']
  for (const tool of order) {
    const cluster = await startEtcdCluster({ members: 1, quotaBackendBytes: QUOTA })
    try {
      const endpoint = cluster.endpoints[0]!
      const sizes = await fragment(cluster, sizeMiB)
      const m = tool === 'etcdctl'
        ? await measure(findEtcdTool('etcdctl'), ['defrag', '--endpoints', endpoint, '--command-timeout', '600s'], env)
        : await measure(STEWARD_BIN, ['defrag', '--endpoints', endpoint, '--command-timeout', '600s'], env)
      wall[tool].push(m)
      dbInfo = { ...sizes, afterBytes: await dbSize(endpoint) }
      console.log(`(a) round ${round} ${tool}: ${m.wallSeconds.toFixed(2)} s (db ${mib(sizes.dbBytes)} MiB, in use ${mib(sizes.inUseBytes)} MiB → ${mib(dbInfo.afterBytes)} MiB)`)
    } finally {
      await cluster.stop()
    }
  }
}
const perRound = wall.steward.map((m, i) => m.wallSeconds / wall.etcdctl[i]!.wallSeconds)

// --- (b) longest write gap on 3 members ---

interface GapRun {
  label: string
  gapsMs: number[]
  keepaliveGapsMs: number[]
  leaderDefragMs: number[]
}
const runs: GapRun[] = [
  { label: 'etcdctl defrag --cluster', gapsMs: [], keepaliveGapsMs: [], leaderDefragMs: [] },
  { label: 'steward defrag --cluster', gapsMs: [], keepaliveGapsMs: [], leaderDefragMs: [] },
  { label: 'steward defrag --cluster --move-leader', gapsMs: [], keepaliveGapsMs: [], leaderDefragMs: [] },
]
const commandOf = (label: string, endpoints: string[]): [string, string[]] => {
  if (label.startsWith('etcdctl')) return [findEtcdTool('etcdctl'), ['defrag', '--cluster', '--endpoints', endpoints[0]!, '--command-timeout', '600s']]
  return [STEWARD_BIN, ['defrag', '--cluster', '--endpoints', endpoints[0]!, '--command-timeout', '600s', ...(label.includes('move-leader') ? ['--move-leader'] : [])]]
}

/** Runs a command to completion without blocking the event loop. @throws Error when it fails */
function runAsync(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr.slice(-2000)}`))))
  })
}

/** How long the member that led when the run started took to defragment, from its own log (ms). */
function firstLeaderDefragMs(cluster: EtcdCluster, leaderIndex: number): number {
  let start: number | undefined
  let took = 0
  for (const line of cluster.memberLog(leaderIndex).split('\n')) {
    if (!line.startsWith('{')) continue
    let parsed: { ts?: string; msg?: string }
    try {
      parsed = JSON.parse(line) as { ts?: string; msg?: string }
    } catch {
      continue
    }
    if (parsed.msg === 'defragmenting') start = Date.parse(parsed.ts ?? '')
    if (parsed.msg === 'finished defragmenting directory' && start !== undefined) took = Date.parse(parsed.ts ?? '') - start
  }
  return took
}

async function leaderIndex(cluster: EtcdCluster): Promise<number> {
  const { etcd, close } = await etcdOf(cluster.endpoints[0]!)
  try {
    const s = await etcd.maintenance.status()
    const members = (await etcd.cluster.memberList({})).members
    const url = members.find((m) => String(m.ID) === String(s.leader))?.clientURLs[0]
    return cluster.endpoints.indexOf(url ?? '')
  } finally {
    close()
  }
}

for (let round = 1; round <= gapRounds; round++) {
  for (const run of runs) {
    const cluster = await startEtcdCluster({ members: 3, quotaBackendBytes: QUOTA })
    try {
      await fragment(cluster, gapSizeMiB)
      // Flush the fill's dirty pages now, not during the measured window.
      spawnSync('sync')
      const writers = await Promise.all(cluster.endpoints.map((e) => etcdOf(e, 60)))
      const successes: number[] = []
      let stop = false
      const loops = writers.map(async ({ etcd }, w) => {
        for (let i = 0; !stop; i++) {
          try {
            await etcd.put(`/load/${w}`).value(String(i)).exec()
            successes.push(performance.now())
          } catch {
            // a failed write is a gap, nothing else
          }
          await new Promise((r) => setTimeout(r, 20))
        }
      })
      // Lease keep-alives: served by the leader only (followers forward them), and the leader
      // answers one only once it has applied everything committed.
      const leases = await Promise.all(writers.map(async ({ etcd }) => {
        const lease = etcd.lease(120, { autoKeepAlive: false })
        await lease.grant()
        return lease
      }))
      const keepalives: number[] = []
      const keepaliveLoops = leases.map(async (lease) => {
        while (!stop) {
          try {
            await lease.keepaliveOnce()
            keepalives.push(performance.now())
          } catch {
            // a failed keep-alive is a gap
          }
          await new Promise((r) => setTimeout(r, 50))
        }
      })
      await new Promise((r) => setTimeout(r, 1000))
      const leader = await leaderIndex(cluster)
      const started = performance.now()
      const [command, args] = commandOf(run.label, cluster.endpoints)
      // Not measure(): its synchronous `sync` would block this process's writers.
      await runAsync(command, args)
      const ended = performance.now()
      await new Promise((r) => setTimeout(r, 1000))
      stop = true
      await Promise.all([...loops, ...keepaliveLoops])
      for (const w of writers) w.close()
      const longestGap = (times: number[]) => {
        const inWindow = times.filter((t) => t >= started - 500).sort((a, b) => a - b)
        let gap = 0
        for (let i = 1; i < inWindow.length && inWindow[i - 1]! <= ended; i++) gap = Math.max(gap, inWindow[i]! - inWindow[i - 1]!)
        return gap
      }
      const gap = longestGap(successes)
      run.gapsMs.push(gap)
      run.keepaliveGapsMs.push(longestGap(keepalives))
      run.leaderDefragMs.push(firstLeaderDefragMs(cluster, leader))
      console.log(`(b) round ${round} ${run.label}: longest write gap ${gap.toFixed(0)} ms; longest lease keep-alive gap ${run.keepaliveGapsMs.at(-1)?.toFixed(0)} ms; defragmentation of the member that led at the start ${run.leaderDefragMs.at(-1)} ms`)
    } finally {
      await cluster.stop()
    }
  }
}

const body = `## Defragmentation (\`bench/defrag.ts\`)

- Command: \`npm run build && node bench/defrag.ts --size-mib ${sizeMiB} --rounds ${rounds} --gap-size-mib ${gapSizeMiB} --gap-rounds ${gapRounds}\`
- Machine: ${machine()}
- Date: ${new Date().toISOString()}

**(a) One member, \`steward defrag --endpoints E\` (default flags: health check, status, lock, compaction, defragment, status) vs \`etcdctl defrag --endpoints E\`.**
Data: etcd 3.5.16, ${sizeMiB} MiB of 8 KiB random values written, every second key deleted, compacted physically: database ${mib(dbInfo.dbBytes)} MiB, ${mib(dbInfo.inUseBytes)} MiB in use, ${mib(dbInfo.afterBytes)} MiB after defragmentation. Each run on a freshly filled member; the two tools alternate which goes first; ratio = median of per-round ratios.

| run | median wall (s) | ratio to etcdctl (each round) | peak RSS (MiB) |
|---|---|---|---|
| etcdctl defrag | ${median(wall.etcdctl.map((m) => m.wallSeconds)).toFixed(2)} | | ${mib(Math.max(...wall.etcdctl.map((m) => m.peakRssBytes)))} |
| steward defrag | ${median(wall.steward.map((m) => m.wallSeconds)).toFixed(2)} | ${median(perRound).toFixed(2)} (${perRound.map((r) => r.toFixed(2)).join(', ')}) | ${mib(Math.max(...wall.steward.map((m) => m.peakRssBytes)))} |

Target (issue 10): ratio ≤ 1.1.

**(b) Longest gap between successful writes, 3 members under load.** Each member ${gapSizeMiB} MiB written, half deleted, compacted; one writer per member puts a small value every 20 ms to its own member; the gap is the longest time between two successful writes of any writer while the tool runs. Beside them, each member's client sends a keep-alive for its own lease every 50 ms; etcd serves keep-alives on the leader only, after it has applied everything committed, so they show what a leader's defragmentation does to every client's leases. The last column is how long the member that led when the run started took to defragment (from its own log): with \`--move-leader\` it no longer leads by then. ${gapRounds} round(s), each tool on a freshly filled cluster.

| run | longest write gap (ms, each round) | longest lease keep-alive gap (ms, each round) | defragmentation of the initial leader (ms, each round) |
|---|---|---|---|
${runs.map((r) => `| ${r.label} | ${r.gapsMs.map((g) => g.toFixed(0)).join(', ')} | ${r.keepaliveGapsMs.map((g) => g.toFixed(0)).join(', ')} | ${r.leaderDefragMs.join(', ')} |`).join('\n')}

Target (issue 10): with \`--move-leader\`, no gap longer than 1 s whatever the leader's own defragmentation takes.`

await writeSection('defrag', body)
console.log(body)
