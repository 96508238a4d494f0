/**
 * The direct apply's compacted history (docs/restore.md, "Compacted history") on a real etcd:
 * with 10 or more applied deltas the restored history is compacted at etcd-backup-restore's
 * point (the last revision of the last 10th applied delta), the same point `--delta-apply etcd`
 * compacts at; keys, values, create/mod revisions, versions and the revision stay the source's;
 * the database is smaller than the full-history one, raises no alarm and takes writes. Fewer
 * than 10 deltas (or a point in time ending on the 10th) compact nothing; `keepDeltaHistory`
 * keeps everything; a 3-member target keeps the real config's member and cluster IDs; a chain
 * whose last revision is the compaction point and deletes a key keeps its revision.
 */
import { cp, mkdir, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Etcd3 } from 'etcd3'
import { resolveEtcdConnection } from '../../src/lib/config/resolve.ts'
import { takeDeltaSnapshot } from '../../src/lib/delta/snapshotter.ts'
import { findEtcdTool } from '../../src/lib/etcd/binaries.ts'
import { EtcdClient } from '../../src/lib/etcd/client.ts'
import { RESTORE_MEMBER_DEFAULTS } from '../../src/lib/restore/etcdutl.ts'
import { restoreFullSnapshot, type RestoreOptions } from '../../src/lib/restore/restore.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { takeFullSnapshot } from '../../src/lib/snapshot/full.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { resolveServeOptions } from '../../src/lib/serve/resolve.ts'
import { runSteward } from '../harness/cli.ts'
import { testClient } from '../harness/data.ts'
import { withEtcdCluster } from '../harness/etcd.ts'
import { onRestored } from '../harness/restore-check.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const test = suite('direct delta apply: history compacted as etcd-backup-restore does (real etcd)')

const DELTAS = 23

interface Source {
  dir: string
  /** Full snapshot + 23 deltas. */
  store: BackupStore
  /** Full snapshot + the first 20 deltas (the 20th ends with a delete). */
  store20: BackupStore
  baseRevision: number
  deltaEnds: number[]
  /** Revision → every key at it (the source is never compacted). */
  at: Map<number, string[]>
}

let source: Source | undefined

/** Every key with value, create/mod revision and version, at `revision` (or the latest), and the header revision. */
async function kvs(client: Etcd3, revision?: number): Promise<string[]> {
  const response = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), ...(revision ? { revision } : {}) })
  return [`revision ${revision ?? response.header.revision}`, ...response.kvs.map((kv) => `${Buffer.from(kv.key).toString()}=${Buffer.from(kv.value).toString('hex')} c${kv.create_revision} m${kv.mod_revision} v${kv.version}`)]
}

async function buildSource(): Promise<Source> {
  const dir = await makeTempDir('steward-lean-')
  const root = join(dir, 'store')
  const store = new BackupStore(localSnapstore({ root }), 'etcd-main')
  return withEtcdCluster({ members: 1 }, async (cluster) => {
    const etcd = await EtcdClient.create(resolveEtcdConnection({ endpoints: cluster.endpoints }, {}))
    const client = testClient(cluster.endpoints[0]!)
    try {
      for (let i = 0; i < 50; i++) await client.put(`/k/${i}`).value(`base-${i}`)
      const baseRevision = Number((await client.kv.range({ key: Buffer.from('/k/0') })).header.revision)
      await takeFullSnapshot(etcd, store, { compression: 'gzip' })
      const deltaEnds: number[] = []
      let store20: BackupStore | undefined
      for (let d = 0; d < DELTAS; d++) {
        for (let i = 0; i < 12; i++) {
          const key = `/k/${(d * 7 + i * 3) % 60}`
          if (i % 4 === 3) await client.delete().key(key)
          else await client.put(key).value(Buffer.alloc(i === 5 ? 5000 : 20, `${d}-${i}`))
        }
        await client.delete().key(`/k/${d % 50}`)
        await client.put(`/k/${d % 50}`).value(`again-${d}`)
        // The 20th delta (the compaction point) ends with a delete.
        if (d === 19) await client.delete().key('/k/55').then(() => client.put('/k/55').value('x')).then(() => client.delete().key('/k/55'))
        assert.is((await takeDeltaSnapshot(etcd, store, { compression: 'gzip', memoryLimitBytes: 16 * 1024 * 1024 })).outcome, 'stored')
        deltaEnds.push(Number((await client.kv.range({ key: Buffer.from('/k/0') })).header.revision))
        if (d === 19) {
          await cp(root, join(dir, 'store20'), { recursive: true })
          store20 = new BackupStore(localSnapstore({ root: join(dir, 'store20') }), 'etcd-main')
        }
      }
      const at = new Map<number, string[]>()
      for (const r of [baseRevision + 1, deltaEnds[9]!, deltaEnds[18]!, deltaEnds[19]! - 1, deltaEnds[19]!, deltaEnds[19]! + 1, deltaEnds[21]!, deltaEnds.at(-1)!]) at.set(r, await kvs(client, r))
      return { dir, store, store20: store20!, baseRevision, deltaEnds, at }
    } finally {
      client.close()
      etcd.close()
    }
  })
}

function options(dataDir: string, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return { dataDir, force: false, member: RESTORE_MEMBER_DEFAULTS, ...extra }
}


/** The compaction revision etcd reports: the lowest revision in `[from, to]` a read at still succeeds (0: none fails). */
async function compactedAt(client: Etcd3, from: number, to: number): Promise<number> {
  const readable = (revision: number) => client.kv.range({ key: Buffer.from('/k/0'), revision }).then(() => true, (error: unknown) => {
    if (!/required revision has been compacted/.test(String(error))) throw error
    return false
  })
  if (await readable(from)) return 0
  let [lo, hi] = [from, to] // readable(lo) is false, readable(hi) must be true
  assert.ok(await readable(hi), `revision ${hi} must be readable`)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (await readable(mid)) hi = mid
    else lo = mid
  }
  return hi
}

const dbSize = async (dataDir: string) => (await stat(join(dataDir, 'member', 'snap', 'db'))).size

test.before(async () => {
  source = await buildSource()
})

test.after(async () => {
  if (source) await removeDir(source.dir)
})

test('23 deltas: compacted at the 20th delta\'s last revision, as --delta-apply etcd; data and later history as the source; smaller; no alarm; takes writes', async () => {
  const src = source!
  const point = src.deltaEnds[19]!
  const lean = join(src.dir, 'lean.etcd')
  const full = join(src.dir, 'full.etcd')
  const viaEtcd = join(src.dir, 'via-etcd.etcd')
  const result = await restoreFullSnapshot(src.store, options(lean))
  assert.equal([result.revision, result.deltasApplied, result.compactedRevision], [src.deltaEnds.at(-1), DELTAS, point])
  const kept = await restoreFullSnapshot(src.store, options(full, { keepDeltaHistory: true }))
  assert.is(kept.compactedRevision, undefined)
  await restoreFullSnapshot(src.store, options(viaEtcd, { deltaApply: 'etcd' }))
  assert.ok(await dbSize(lean) < await dbSize(full), `compacted db ${await dbSize(lean)} bytes, full-history db ${await dbSize(full)} bytes`)
  const etcdPoint = await onRestored(viaEtcd, (client) => compactedAt(client, src.baseRevision, src.deltaEnds.at(-1)!))
  assert.is(etcdPoint, point, 'the etcd replay compacts at the same revision')
  await onRestored(lean, async (client, cluster) => {
    assert.is(await compactedAt(client, src.baseRevision, src.deltaEnds.at(-1)!), point)
    for (const [revision, expected] of src.at) if (revision >= point) assert.equal(await kvs(client, revision), expected, `state at revision ${revision}`)
    assert.equal(await kvs(client), src.at.get(src.deltaEnds.at(-1)!))
    assert.is((await cluster.etcdctl(['alarm', 'list'])).trim(), '')
    for (let i = 0; i < 50; i++) await client.put(`/after/${i}`).value(Buffer.alloc(100, i))
    assert.is(Number((await client.kv.range({ key: Buffer.from('/after/0') })).header.revision), src.deltaEnds.at(-1)! + 50)
  })
})

test('keepDeltaHistory: nothing compacted, history below the point readable', async () => {
  const src = source!
  const dataDir = join(src.dir, 'keep.etcd')
  const result = await restoreFullSnapshot(src.store, options(dataDir, { keepDeltaHistory: true }))
  assert.is(result.compactedRevision, undefined)
  await onRestored(dataDir, async (client) => {
    assert.is(await compactedAt(client, src.baseRevision, src.deltaEnds.at(-1)!), 0)
    for (const [revision, expected] of src.at) assert.equal(await kvs(client, revision), expected, `state at revision ${revision}`)
  })
})

test('the compaction fails (the temporary etcd does not start): the full history is kept with a warning, the restore still succeeds', async () => {
  const src = source!
  const dataDir = join(src.dir, 'lean-failed.etcd')
  // etcdutl is the real one; `etcd` exits at once, so only the lean step's temporary etcd fails.
  const bin = join(src.dir, 'broken-etcd-bin')
  await mkdir(bin, { recursive: true })
  await symlink(findEtcdTool('etcdutl'), join(bin, 'etcdutl'))
  await writeFile(join(bin, 'etcd'), '#!/bin/sh\necho "etcd: refusing to start (test)" >&2\nexit 3\n', { mode: 0o755 })
  const before = process.env['STEWARD_ETCD_BIN_DIR']
  process.env['STEWARD_ETCD_BIN_DIR'] = bin
  let result
  try {
    result = await restoreFullSnapshot(src.store, options(dataDir))
  } finally {
    if (before === undefined) delete process.env['STEWARD_ETCD_BIN_DIR']
    else process.env['STEWARD_ETCD_BIN_DIR'] = before
  }
  assert.is(result.compactedRevision, undefined)
  assert.is(result.revision, src.deltaEnds.at(-1))
  assert.ok(result.warnings.some((w) => w.startsWith('HISTORY KEPT:') && w.includes('refusing to start')), result.warnings.join('\n'))
  await onRestored(dataDir, async (client) => {
    assert.is(await compactedAt(client, src.baseRevision, src.deltaEnds.at(-1)!), 0)
    for (const [revision, expected] of src.at) assert.equal(await kvs(client, revision), expected, `state at revision ${revision}`)
  })
})

test('fewer than 10 deltas, or a point in time ending on the 10th: nothing compacted; inside the 11th: compacted at the 10th', async () => {
  const src = source!
  for (const [toRevision, expected] of [[src.deltaEnds[8]!, undefined], [src.deltaEnds[9]!, undefined], [src.deltaEnds[10]! - 1, src.deltaEnds[9]!]] as const) {
    const dataDir = join(src.dir, `pit-${toRevision}.etcd`)
    const result = await restoreFullSnapshot(src.store, options(dataDir, { toRevision }))
    assert.equal([result.revision, result.compactedRevision], [toRevision, expected], `--to-revision ${toRevision}`)
    await onRestored(dataDir, async (client) => {
      assert.is(await compactedAt(client, src.baseRevision + 1, toRevision), expected ?? 0)
      if (src.at.has(toRevision)) assert.equal(await kvs(client), src.at.get(toRevision))
    })
  }
})

test('the chain ends on the compaction point with a delete: revision kept, the next write gets the one after', async () => {
  const src = source!
  const dataDir = join(src.dir, 'end20.etcd')
  const point = src.deltaEnds[19]!
  const result = await restoreFullSnapshot(src.store20, options(dataDir))
  assert.equal([result.revision, result.compactedRevision, result.deltasApplied], [point, point, 20])
  await onRestored(dataDir, async (client) => {
    assert.equal(await kvs(client), src.at.get(point))
    await client.put('/after').value('1')
    assert.is(Number((await client.kv.range({ key: Buffer.from('/after') })).kvs[0]!.mod_revision), point + 1)
  })
})

test('a member of a 3-member cluster: compacted, member and cluster IDs of the real config', async () => {
  const src = source!
  const member = {
    name: 'etcd-1',
    initialCluster: 'etcd-0=http://127.0.0.1:12380,etcd-1=http://127.0.0.1:22380,etcd-2=http://127.0.0.1:32380',
    initialClusterToken: 'etcd-lean',
    initialAdvertisePeerUrls: ['http://127.0.0.1:22380'],
  }
  const ids = async (dataDir: string, keep: boolean) => {
    const result = await restoreFullSnapshot(src.store, { dataDir, force: false, member, keepDeltaHistory: keep })
    assert.is(result.compactedRevision, keep ? undefined : src.deltaEnds[19])
    return onRestored(dataDir, async (client, cluster) => {
      assert.equal(await kvs(client), src.at.get(src.deltaEnds.at(-1)!))
      assert.is(await compactedAt(client, src.baseRevision, src.deltaEnds.at(-1)!), keep ? 0 : src.deltaEnds[19])
      const list = JSON.parse(await cluster.etcdctl(['member', 'list', '-w', 'json'])) as { header: { cluster_id: unknown }; members: { ID: unknown; name: string }[] }
      return { cluster: String(list.header.cluster_id), members: list.members.map((m) => `${m.name} ${String(m.ID)}`) }
    }, 'etcd-1', ['--force-new-cluster'])
  }
  const lean = await ids(join(src.dir, 'm-lean.etcd'), false)
  const full = await ids(join(src.dir, 'm-full.etcd'), true)
  assert.equal(lean, full)
  assert.is(lean.members.length, 1)
})

test('CLI: `steward restore --json` reports compactedRevision; --keep-delta-history (and =false) as the flag says; serve and bootstrap resolve it', async () => {
  const src = source!
  const run = async (label: string, extra: string[]) => {
    const result = await runSteward(['restore', '--store', `file://${join(src.dir, 'store')}`, '--store-prefix', 'etcd-main', '--data-dir', join(src.dir, `cli-${label}.etcd`), '--json', ...extra])
    assert.is(result.code, 0, result.stderr)
    return (result.json as { compactedRevision?: number }).compactedRevision
  }
  assert.is(await run('default', []), src.deltaEnds[19])
  assert.is(await run('keep', ['--keep-delta-history']), undefined)
  assert.is(await run('keep-false', ['--keep-delta-history=false']), src.deltaEnds[19])
  const serve = (flags: Record<string, unknown>) => resolveServeOptions({ 'storage-provider': 'Local', 'store-container': join(src.dir, 'store'), 'data-dir': join(src.dir, 'serve.etcd'), ...flags }, {}, {}).keepDeltaHistory
  assert.equal([serve({}), serve({ 'keep-delta-history': true })], [false, true])
})

test.run()
