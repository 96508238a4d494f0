/**
 * Opt-in compatibility check (not part of `npm test`): the real etcdbrctl
 * (../shared/tools/etcdbrctl) and steward's planner must keep the same objects.
 *
 * Writes a Local store with a generated timeline of full snapshots and deltas (names only
 * matter to garbage collection; bodies are placeholders), runs `etcdbrctl snapshot` against a
 * real etcd with a short --garbage-collection-period until its first GC cycle has deleted, then
 * plans the same listing (plus the full snapshot etcdbrctl took at start) with steward at the
 * same time and compares the kept sets.
 *
 *   node scripts/compat-gc.ts [--policy Exponential|LimitBased] [--max-backups 7] [--retention 0s]
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { parseDuration } from '../src/lib/config/duration.ts'
import { planGarbageCollection, type GcPolicy } from '../src/lib/gc/plan.ts'
import { compareSnapshots, formatSnapshotName, parseSnapshotKey } from '../src/lib/snapshot/name.ts'
import { startEtcdCluster } from '../test/harness/etcd.ts'
import { makeTempDir, removeDir } from '../test/harness/tmp.ts'

const ETCDBRCTL = fileURLToPath(new URL('../../../shared/tools/etcdbrctl', import.meta.url))
const { values } = parseArgs({ options: { policy: { type: 'string', default: 'Exponential' }, 'max-backups': { type: 'string', default: '7' }, retention: { type: 'string', default: '0s' } } })
const policy = values.policy as GcPolicy
if (!existsSync(ETCDBRCTL)) throw new Error(`etcdbrctl not found at ${ETCDBRCTL}`)

const home = await makeTempDir('steward-compat-gc-')
const cluster = await startEtcdCluster({ members: 1 })
try {
  const v2 = join(home, 'store', 'etcd-main', 'v2')
  await mkdir(v2, { recursive: true })
  const now = Date.now()
  const HOUR = 3_600_000
  // Fulls every 6 h for 50 days, every 20 min for the last 30 h; two deltas after each full.
  const times = new Set<number>()
  for (let t = now - 50 * 24 * HOUR; t < now - 30 * HOUR; t += 6 * HOUR) times.add(Math.floor(t / 1000))
  for (let t = now - 30 * HOUR; t < now - 60_000; t += HOUR / 3) times.add(Math.floor(t / 1000))
  let revision = 1
  for (const unix of [...times].sort((a, b) => a - b)) {
    await writeFile(join(v2, formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision: (revision += 3), createdOn: new Date(unix * 1000), compressionSuffix: '' })), 'placeholder')
    for (let d = 1; d <= 2; d++) {
      const start = revision + 1
      await writeFile(join(v2, formatSnapshotName({ kind: 'Incr', startRevision: start, lastRevision: (revision += 2), createdOn: new Date((unix + d * 30) * 1000), compressionSuffix: '' })), 'placeholder')
    }
  }
  // etcd's own revision must be beyond the store's, so etcdbrctl's new full snapshot sorts last.
  const { Etcd3 } = await import('etcd3')
  const client = new Etcd3({ hosts: cluster.endpoints[0]! })
  for (let i = 0; i <= revision; i += 500) await Promise.all(Array.from({ length: 500 }, (_, j) => client.put(`k${(i + j) % 100}`).value('v')))
  client.close()
  const before = new Set(await readdir(v2))

  const child = spawn(ETCDBRCTL, [
    'snapshot', '--storage-provider', 'Local', '--store-container', 'store', '--store-prefix', 'etcd-main', '--endpoints', cluster.endpoints[0]!,
    '--schedule', '0 0 1 1 *', '--delta-snapshot-period', '1h', '--garbage-collection-period', '3s', '--garbage-collection-policy', policy,
    '--max-backups', values['max-backups']!, '--delta-snapshot-retention-period', values.retention!, '--defragmentation-schedule', '0 0 1 1 *',
    '--snapstore-temp-directory', join(home, 'tmp'),
  ], { env: { ...process.env, HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr.on('data', (d: Buffer) => (log += d.toString()))
  const deadline = Date.now() + 60_000
  let after: string[] = []
  let gcAt = 0
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    after = await readdir(v2)
    // A GC cycle has run once objects are gone and the count has settled for a second.
    if (after.filter((n) => before.has(n)).length < before.size) {
      await new Promise((resolve) => setTimeout(resolve, 4000))
      gcAt = Date.now()
      after = await readdir(v2)
      break
    }
    if (Date.now() > deadline) throw new Error(`etcdbrctl deleted nothing within 60 s:\n${log.slice(-3000)}`)
  }
  child.kill('SIGTERM')
  await new Promise((resolve) => child.on('close', resolve))

  const added = after.filter((n) => !before.has(n))
  const listing = [...before, ...added]
    .map((name) => ({ ...parseSnapshotKey(`etcd-main/v2/${name}`)!, sizeBytes: 1 }))
    .sort(compareSnapshots)
  const plan = planGarbageCollection(listing, new Date(gcAt), { policy, maxBackups: Number(values['max-backups']), deltaRetentionSeconds: parseDuration(values.retention!, '--retention') })
  const stewardKeeps = new Set(plan.decisions.filter((d) => d.action === 'keep').map((d) => d.object.name))
  const etcdbrctlKeeps = new Set(after)
  const onlyEtcdbrctl = [...etcdbrctlKeeps].filter((n) => !stewardKeeps.has(n))
  const onlySteward = [...stewardKeeps].filter((n) => !etcdbrctlKeeps.has(n))
  console.log(`${policy}: ${listing.length} objects (etcdbrctl added ${added.join(', ')}); etcdbrctl kept ${etcdbrctlKeeps.size}, steward would keep ${stewardKeeps.size}`)
  if (onlyEtcdbrctl.length || onlySteward.length) {
    console.log('kept only by etcdbrctl:', onlyEtcdbrctl)
    console.log('kept only by steward:', onlySteward.map((n) => `${n} (${plan.decisions.find((d) => d.object.name === n)?.rule})`))
    process.exitCode = 1
  } else {
    console.log('same kept set')
  }
} finally {
  await cluster.stop()
  await removeDir(home)
}
