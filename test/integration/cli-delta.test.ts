/**
 * The delta workflow as an operator runs it, through the built CLI against real etcd:
 * full snapshot, writes, deltas (one-shot and --watch stopped by SIGTERM), restore of the whole
 * chain and point-in-time restores that match the source read at that revision.
 */
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runSteward, startSteward } from '../harness/cli.ts'
import { dumpEtcd, dumpHash, testClient, writeSampleData, type EtcdDump } from '../harness/data.ts'
import { startEtcdCluster, withEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'

interface Context {
  cluster: EtcdCluster
  work: string
}

const test = suite<Context>('delta workflow through the CLI (real etcd)', {} as Context)

test.before(async (ctx) => {
  ctx.cluster = await startEtcdCluster({ members: 1 })
  ctx.work = await mkdtemp(join(tmpdir(), 'steward-cli-delta-'))
})

test.after(async (ctx) => {
  await ctx.cluster?.stop()
  if (ctx.work) await rm(ctx.work, { recursive: true, force: true })
})

/** The source's key space as of `revision` (etcd keeps history until compaction). */
async function dumpAt(endpoint: string, revision: number): Promise<EtcdDump> {
  const client = testClient(endpoint)
  try {
    const response = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), revision })
    return { revision, kvs: response.kvs.map((kv) => ({ key: Buffer.from(kv.key).toString('base64'), value: Buffer.from(kv.value).toString('base64') })) }
  } finally {
    client.close()
  }
}

async function restoredDump(work: string, store: string, name: string, extra: string[] = []): Promise<EtcdDump & { result: Record<string, unknown> }> {
  const dataDir = join(work, name)
  const restore = await runSteward(['restore', '--store', store, '--data-dir', dataDir, '--json', ...extra])
  assert.is(restore.code, 0, restore.stderr + restore.stdout)
  const dump = await withEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default' }, (copy) => dumpEtcd(copy.endpoints[0]!))
  return { ...dump, result: restore.json as Record<string, unknown> }
}

test('full + one-shot deltas restore to the source; --to-revision matches the source at that revision', async ({ cluster, work }) => {
  const endpoint = cluster.endpoints[0]!
  const store = `file://${join(work, 'store-oneshot')}`
  await writeSampleData(endpoint, { keys: 300, prefix: '/a/' })
  assert.is((await runSteward(['snapshot', '-e', endpoint, '--store', store])).code, 0)
  const midRevision = await writeSampleData(endpoint, { keys: 200, prefix: '/b/' })
  const first = await runSteward(['snapshot', '-e', endpoint, '--store', store, '--kind', 'delta', '--json'])
  assert.is(first.code, 0, first.stderr)
  await writeSampleData(endpoint, { keys: 200, prefix: '/a/' })
  assert.is((await runSteward(['snapshot', '-e', endpoint, '--store', store, '--kind', 'delta'])).code, 0)
  const source = await dumpEtcd(endpoint)

  const listing = await runSteward(['snapshot', 'list', '--store', store, '--json'])
  const set = (listing.json as { restoreSet: { deltas: string[]; reachesRevision: number } }).restoreSet
  assert.is(set.deltas.length, 2)
  assert.is(set.reachesRevision, source.revision)

  const whole = await restoredDump(work, store, 'r-whole')
  assert.is(whole.revision, source.revision)
  assert.is(dumpHash(whole), dumpHash(source))

  const pointInTime = await restoredDump(work, store, 'r-mid', ['--to-revision', String(midRevision)])
  assert.is(pointInTime.result['revision'], midRevision)
  assert.is(dumpHash(pointInTime), dumpHash(await dumpAt(endpoint, midRevision)))
})

test('--watch stores deltas until SIGTERM, flushing the pending one; the chain restores to the source', async ({ cluster, work }) => {
  const endpoint = cluster.endpoints[0]!
  const storeDir = join(work, 'store-watch')
  const store = `file://${storeDir}`
  const child = startSteward(['snapshot', '-e', endpoint, '--store', store, '--watch', '--delta-snapshot-period', '1h', '--delta-snapshot-memory-limit', '20000'])
  let output = ''
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)))
  // Wait (bounded) for the initial full snapshot, then write while deltas are cut by size.
  const deadline = Date.now() + 30_000
  while (!/Stored full snapshot/.test(output) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  assert.match(output, 'Stored full snapshot')
  await writeSampleData(endpoint, { keys: 400, prefix: '/w/' })
  const source = await dumpEtcd(endpoint)
  // The period is an hour, so only the size limit or SIGTERM can store the last events.
  child.kill('SIGTERM')
  assert.is(await exited, 0, output)
  assert.match(output, 'Stopped:')
  const names = (await readdir(join(storeDir, 'v2'))).sort()
  assert.ok(names.filter((n) => n.startsWith('Incr-')).length >= 2, `several deltas expected, got ${names.join(', ')}`)
  const restored = await restoredDump(work, store, 'r-watch')
  assert.is(restored.revision, source.revision)
  assert.is(dumpHash(restored), dumpHash(source))
})

test('SIGTERM during a restore (--delta-apply etcd): exit 130 (ABORTED), temporary etcd stopped, work dir removed, target not created', async ({ cluster, work }) => {
  const endpoint = cluster.endpoints[0]!
  const storeDir = join(work, 'store-sigterm')
  const store = `file://${storeDir}`
  assert.is((await runSteward(['snapshot', '-e', endpoint, '--store', store])).code, 0)
  await writeSampleData(endpoint, { keys: 20_000, prefix: '/sig/' })
  assert.is((await runSteward(['snapshot', '-e', endpoint, '--store', store, '--kind', 'delta', '--delta-snapshot-memory-limit', String(64 * 1024 * 1024)])).code, 0)
  const target = join(work, 'r-sigterm')
  const child = startSteward(['restore', '--store', store, '--data-dir', target, '--delta-apply', 'etcd'])
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  // Wait (bounded) until the temporary etcd runs, i.e. deltas are being applied.
  let pidFile: string | undefined
  const deadline = Date.now() + 30_000
  while (!pidFile && Date.now() < deadline) {
    const workDir = (await readdir(work)).find((n) => n.startsWith('.r-sigterm.steward-restore-'))
    if (workDir && (await readdir(join(work, workDir)).catch(() => [] as string[])).includes('etcd.pid')) pidFile = join(work, workDir, 'etcd.pid')
    else await new Promise((r) => setTimeout(r, 10))
  }
  assert.ok(pidFile, 'the temporary etcd started')
  const etcdPid = Number((await readFile(pidFile, 'utf8')).trim())
  // pid 0 would signal our own process group below and make the check meaningless.
  assert.ok(Number.isInteger(etcdPid) && etcdPid > 0, `etcd.pid holds a pid (${etcdPid})`)
  child.kill('SIGTERM')
  assert.is(await exited, 130)
  assert.equal((await readdir(work)).filter((n) => n.includes('steward-restore')), [])
  assert.not.ok(await stat(target).catch(() => null), 'target not created')
  let alive = true
  try {
    process.kill(etcdPid, 0)
  } catch {
    alive = false
  }
  assert.not.ok(alive, `temporary etcd ${etcdPid} stopped`)
})

test.run()
