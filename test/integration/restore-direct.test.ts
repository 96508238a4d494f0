/**
 * The direct delta apply (docs/restore.md, "Applying deltas") on random histories written to a
 * real etcd: puts of new keys, overwrites, deletes, re-creations, multi-op transactions, prefix
 * deletes, keys with leases, a lease revoke, values larger than a bbolt page. Full snapshot and
 * deltas are taken by steward; the restore must give the source's revision and, for every key,
 * its value, create_revision, mod_revision and version, at the end and at revisions between
 * (history is kept, not compacted); the restored data dir must start with real etcd, take
 * writes, compact, defragment and start again. Also: a member of a 3-member cluster, a point
 * in time inside a delta, --allow-partial with a corrupt delta, and the same result as the
 * temporary-etcd replay (`deltaApply: 'etcd'`).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Etcd3 } from 'etcd3'
import { resolveEtcdConnection } from '../../src/lib/config/resolve.ts'
import { takeDeltaSnapshot } from '../../src/lib/delta/snapshotter.ts'
import { EtcdClient } from '../../src/lib/etcd/client.ts'
import { isStewardError } from '../../src/lib/errors.ts'
import { RESTORE_MEMBER_DEFAULTS } from '../../src/lib/restore/etcdutl.ts'
import { restoreFullSnapshot, type RestoreOptions } from '../../src/lib/restore/restore.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { takeFullSnapshot } from '../../src/lib/snapshot/full.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { dumpEtcd, testClient } from '../harness/data.ts'
import { withEtcdCluster } from '../harness/etcd.ts'
import { assertRestoresTo, onRestored } from '../harness/restore-check.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'
import { prng } from '../harness/prng.ts'

const test = suite('direct delta apply: random histories restored exactly (real etcd)')

interface State {
  revision: number
  kvs: string[]
}

/** Every key with value, create/mod revision and version, at `revision` (or the latest). */
async function state(client: Etcd3, revision?: number): Promise<State> {
  const response = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), ...(revision ? { revision } : {}) })
  return {
    revision: revision ?? Number(response.header.revision),
    kvs: response.kvs.map((kv) => `${Buffer.from(kv.key).toString('hex')}=${Buffer.from(kv.value).toString('hex')} c${kv.create_revision} m${kv.mod_revision} v${kv.version}`),
  }
}

/** A value: mostly short text, sometimes larger than a 4 KiB bbolt page. */
function valueOf(random: () => number, label: string): Buffer {
  if (random() < 0.08) return Buffer.alloc(5000 + Math.floor(random() * 20000), label)
  return Buffer.from(`${label}-${Math.floor(random() * 1e6)}`)
}

/** `revisions` (about) sequential writes of every kind the direct apply must reproduce. */
async function writeHistory(client: Etcd3, revisions: number, seed: number, leaseId: string): Promise<void> {
  const random = prng(seed)
  const live = new Set<string>()
  for (const kv of (await client.kv.range({ key: Buffer.from('/d/k/'), range_end: Buffer.from('/d/k0') })).kvs) live.add(Buffer.from(kv.key).toString())
  let next = Number(seed) * 100000
  const any = () => [...live][Math.floor(random() * live.size)]!
  for (let written = 0; written < revisions; written++) {
    const r = random()
    if (r < 0.3 || live.size < 10) {
      const key = `/d/k/${next++}`
      await client.put(key).value(valueOf(random, 'new'))
      live.add(key)
    } else if (r < 0.55) {
      await client.put(any()).value(valueOf(random, 'over'))
    } else if (r < 0.7) {
      const key = any()
      await client.delete().key(key)
      live.delete(key)
    } else if (r < 0.82) {
      const keys = new Set<string>()
      while (keys.size < 3) keys.add(random() < 0.5 ? `/d/k/${next++}` : any())
      const plan = [...keys].map((key) => ({ key, remove: live.has(key) && random() < 0.4 }))
      await client.kv.txn({
        compare: [],
        success: plan.map(({ key, remove }) => (remove ? { request_delete_range: { key: Buffer.from(key) } } : { request_put: { key: Buffer.from(key), value: valueOf(random, 'txn') } })),
        failure: [],
      })
      for (const { key, remove } of plan) {
        if (remove) live.delete(key)
        else live.add(key)
      }
    } else if (r < 0.88) {
      const group = `/d/group-${seed}-${written}/`
      for (const part of ['a', 'b', 'c']) await client.put(`${group}${part}`).value(part)
      written += 3
      await client.delete().prefix(group)
    } else if (r < 0.96) {
      // A key attached to a lease (restored without it, docs/restore.md "Leases").
      await client.kv.put({ key: Buffer.from(`/d/leased/${next++}`), value: valueOf(random, 'leased'), lease: leaseId })
    } else {
      // A lease revoked: one revision deleting every key attached to it.
      const lease = client.lease(3600, { autoKeepAlive: false })
      const id = await lease.grant()
      for (const part of ['x', 'y']) await client.kv.put({ key: Buffer.from(`/d/revoked-${seed}-${written}/${part}`), value: Buffer.from(part), lease: id })
      written += 2
      await lease.revoke()
    }
  }
}

interface Source {
  dir: string
  store: BackupStore
  final: State
  /** Revision → source state at it. */
  at: Map<number, State>
  baseRevision: number
  deltaEnds: number[]
  baseLeased: { key: string; lease: string }
}

let source: Source | undefined

/** One source cluster, its full snapshot and three deltas (built once for the suite). */
async function buildSource(): Promise<Source> {
  const dir = await makeTempDir('steward-direct-')
  const store = new BackupStore(localSnapstore({ root: join(dir, 'store') }), 'etcd-main')
  return withEtcdCluster({ members: 1 }, async (cluster) => {
    const etcd = await EtcdClient.create(resolveEtcdConnection({ endpoints: cluster.endpoints }, {}))
    const client = testClient(cluster.endpoints[0]!)
    try {
      const lease = client.lease(3600, { autoKeepAlive: false })
      const leaseId = await lease.grant()
      lease.release()
      for (let i = 0; i < 300; i++) await client.put(`/d/k/${i}`).value(i % 50 === 0 ? Buffer.alloc(9000, i) : Buffer.from(`base-${i}`))
      await client.kv.put({ key: Buffer.from('/d/base-leased'), value: Buffer.from('L'), lease: leaseId })
      const baseRevision = (await state(client)).revision
      await takeFullSnapshot(etcd, store, { compression: 'gzip' })
      const deltaEnds: number[] = []
      for (let delta = 0; delta < 3; delta++) {
        await writeHistory(client, 400, 3 + delta, leaseId)
        assert.is((await takeDeltaSnapshot(etcd, store, { compression: 'gzip', memoryLimitBytes: 64 * 1024 * 1024 })).outcome, 'stored')
        deltaEnds.push((await state(client)).revision)
      }
      const final = await state(client)
      const at = new Map<number, State>()
      const wanted = [baseRevision, baseRevision + 1, deltaEnds[0]!, deltaEnds[0]! + 1, Math.floor((deltaEnds[0]! + deltaEnds[1]!) / 2), deltaEnds[1]!, final.revision - 1]
      for (const r of wanted) at.set(r, await state(client, r))
      return { dir, store, final, at, baseRevision, deltaEnds, baseLeased: { key: '/d/base-leased', lease: String(leaseId) } }
    } finally {
      client.close()
      etcd.close()
    }
  })
}

function options(dataDir: string, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return { dataDir, force: false, member: RESTORE_MEMBER_DEFAULTS, ...extra }
}


test.before(async () => {
  source = await buildSource()
})

test.after(async () => {
  if (source) await removeDir(source.dir)
})

test('full + 3 deltas: revision, every key (value, create/mod revision, version) and the history between deltas match the source', async () => {
  const src = source!
  const dataDir = join(src.dir, 'direct.etcd')
  const result = await restoreFullSnapshot(src.store, options(dataDir))
  assert.equal([result.revision, result.deltasApplied, result.end], [src.final.revision, 3, 'complete'])
  let written: State | undefined
  await onRestored(dataDir, async (client) => {
    assert.equal(await state(client), src.final)
    for (const [revision, expected] of src.at) assert.equal(await state(client, revision), expected, `state at revision ${revision}`)
    // Keys from deltas come without their lease; the full snapshot's keep theirs.
    const leased = await client.kv.range({ key: Buffer.from('/d/leased/'), range_end: Buffer.from('/d/leased0') })
    assert.ok(leased.kvs.length > 0, 'the history put keys with a lease')
    assert.ok(leased.kvs.every((kv) => String(kv.lease) === '0'), 'delta keys are restored without their lease')
    const base = await client.kv.range({ key: Buffer.from(src.baseLeased.key) })
    assert.is(String(base.kvs[0]!.lease), src.baseLeased.lease)
    // The database takes writes, compaction and defragmentation, and opens again.
    for (let i = 0; i < 300; i++) await (i % 3 === 2 ? client.delete().key(`/d/k/${i}`) : client.put(`/after/${i}`).value(Buffer.alloc(i % 7 === 0 ? 6000 : 10, i)))
    const latest = await state(client)
    assert.ok(latest.revision >= src.final.revision + 200, `revision ${latest.revision} after 200 puts on ${src.final.revision}`)
    await client.kv.compact({ revision: String(latest.revision - 10), physical: true })
    await client.maintenance.defragment({})
    return latest
  }).then((latest) => (written = latest))
  await onRestored(dataDir, async (client) => {
    assert.equal(await state(client), written)
    assert.is((await client.kv.range({ key: Buffer.from('/after/'), range_end: Buffer.from('/after0') })).kvs.length, 200)
  })
})

test('the harness check (restore-check.ts) agrees, and the temporary-etcd replay gives the same data', async () => {
  const src = source!
  const viaEtcd = join(src.dir, 'via-etcd.etcd')
  const replayed = await restoreFullSnapshot(src.store, options(viaEtcd, { deltaApply: 'etcd' }))
  assert.is(replayed.revision, src.final.revision)
  const dump = await withEtcdCluster({ members: 1, dataDirs: [viaEtcd], name: RESTORE_MEMBER_DEFAULTS.name }, async (cluster) => {
    const client = testClient(cluster.endpoints[0]!)
    try {
      assert.equal(await state(client), src.final)
    } finally {
      client.close()
    }
    return dumpEtcd(cluster.endpoints[0]!)
  })
  await assertRestoresTo(src.store, join(src.dir, 'harness.etcd'), dump)
})

test('a member of a 3-member cluster: real membership, data as the source', async () => {
  const src = source!
  const dataDir = join(src.dir, 'etcd-1.etcd')
  const member = {
    name: 'etcd-1',
    initialCluster: 'etcd-0=http://127.0.0.1:12380,etcd-1=http://127.0.0.1:22380,etcd-2=http://127.0.0.1:32380',
    initialClusterToken: 'etcd-direct',
    initialAdvertisePeerUrls: ['http://127.0.0.1:22380'],
  }
  const result = await restoreFullSnapshot(src.store, { dataDir, force: false, member })
  assert.is(result.revision, src.final.revision)
  const names = await withEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'etcd-1', extraArgs: ['--force-new-cluster'] }, async (cluster) => {
    const client = testClient(cluster.endpoints[0]!)
    try {
      assert.equal(await state(client), src.final)
    } finally {
      client.close()
    }
    return (JSON.parse(await cluster.etcdctl(['member', 'list', '-w', 'json'])) as { members: { name: string }[] }).members.map((m) => m.name)
  })
  assert.equal(names, ['etcd-1'])
})

test('point in time inside a delta: exactly the source as of that revision', async () => {
  const src = source!
  const target = Math.floor((src.deltaEnds[0]! + src.deltaEnds[1]!) / 2)
  const dataDir = join(src.dir, 'pit.etcd')
  const result = await restoreFullSnapshot(src.store, options(dataDir, { toRevision: target }))
  assert.equal([result.revision, result.end, result.deltasApplied], [target, 'to-revision', 2])
  await onRestored(dataDir, async (client) => {
    assert.equal(await state(client), src.at.get(target))
    assert.equal(await state(client, src.deltaEnds[0]!), src.at.get(src.deltaEnds[0]!))
  })
})

test('--allow-partial with a corrupt second delta: the first delta applied, nothing of the second', async () => {
  const src = source!
  const v2 = join(src.dir, 'store', 'etcd-main', 'v2')
  const deltas = (await readdir(v2)).filter((n) => n.startsWith('Incr-')).sort()
  const victim = join(v2, deltas[1]!)
  const original = await readFile(victim)
  const damaged = Buffer.from(original)
  damaged[Math.floor(damaged.length / 2)] = damaged[Math.floor(damaged.length / 2)]! ^ 0xff
  await writeFile(victim, damaged)
  try {
    let strict: unknown
    await restoreFullSnapshot(src.store, options(join(src.dir, 'strict.etcd'))).catch((error: unknown) => (strict = error))
    assert.match(String(strict), /SNAPSHOT_CORRUPT|corrupt|gzip|SHA-256|invalid/i)
    const dataDir = join(src.dir, 'partial.etcd')
    const result = await restoreFullSnapshot(src.store, options(dataDir, { allowPartial: true }))
    assert.equal([result.revision, result.end, result.deltasApplied], [src.deltaEnds[0], 'partial', 1])
    assert.ok(result.failure?.object.includes(deltas[1]!), JSON.stringify(result.failure))
    assert.ok(result.warnings.some((w) => w.startsWith('PARTIAL RESTORE')))
    await onRestored(dataDir, async (client) => {
      assert.equal(await state(client), src.at.get(src.deltaEnds[0]!))
    })
  } finally {
    await writeFile(victim, original)
  }
})

test('aborted after the first delta: ABORTED, work dir (merged.db, spooled deltas) removed, target not created', async () => {
  const src = source!
  const parent = join(src.dir, 'aborted')
  const dataDir = join(parent, 'data.etcd')
  const controller = new AbortController()
  let error: unknown
  await restoreFullSnapshot(src.store, options(dataDir, { signal: controller.signal, onDelta: () => controller.abort() })).catch((e: unknown) => (error = e))
  assert.ok(isStewardError(error, 'ABORTED'), String(error))
  assert.equal(await readdir(parent).catch(() => []), [])
})

test.run()
