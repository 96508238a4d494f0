/**
 * Full snapshot → list → restore → etcd on the restored dir, against real etcd 3.5, for every
 * compression; the restored cluster must return exactly the source's key-values and revision.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { CompressionPolicy } from '../../src/lib/compression/index.ts'
import { EtcdClient } from '../../src/lib/etcd/client.ts'
import { resolveEtcdConnection } from '../../src/lib/config/resolve.ts'
import { RESTORE_MEMBER_DEFAULTS } from '../../src/lib/restore/etcdutl.ts'
import { restoreFullSnapshot } from '../../src/lib/restore/restore.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { takeFullSnapshot } from '../../src/lib/snapshot/full.ts'
import { describeStore } from '../../src/lib/snapshot/listing.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { validateDataDir } from '../../src/lib/validate/validate.ts'
import { dumpEtcd, dumpHash, writeSampleData } from '../harness/data.ts'
import { startEtcdCluster, withEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'

interface Context {
  cluster: EtcdCluster
  work: string
}

const test = suite<Context>('snapshot → restore round trip (real etcd)', {} as Context)

test.before(async (ctx) => {
  ctx.cluster = await startEtcdCluster({ members: 1 })
  ctx.work = await mkdtemp(join(tmpdir(), 'steward-roundtrip-'))
  await writeSampleData(ctx.cluster.endpoints[0]!, { keys: 2000, valueBytes: 200 })
})

test.after(async (ctx) => {
  await ctx.cluster?.stop()
  if (ctx.work) await rm(ctx.work, { recursive: true, force: true })
})

const policies: CompressionPolicy[] = ['gzip', 'zlib', 'lzw', 'zstd', 'none']
for (const compression of policies) {
  test(`${compression}: restored etcd returns the same key-values and revision`, async ({ cluster, work }) => {
    const source = await dumpEtcd(cluster.endpoints[0]!)
    const store = new BackupStore(localSnapstore({ root: join(work, `store-${compression}`) }), 'etcd-main')
    const etcd = await EtcdClient.create(resolveEtcdConnection({ endpoints: cluster.endpoints }, {}))
    const snapshot = await takeFullSnapshot(etcd, store, { compression }).finally(() => etcd.close())
    assert.is(snapshot.revision, source.revision)
    assert.match(snapshot.key, new RegExp(`^etcd-main/v2/Full-00000000-${String(source.revision).padStart(8, '0')}-\\d+${{ gzip: '\\.gz', zlib: '\\.zlib', lzw: '\\.Z', zstd: '\\.zst', none: '' }[compression]}$`))

    const listing = await describeStore(store)
    assert.is(listing.snapshots.length, 1)
    assert.is(listing.restoreSet.full, snapshot.name)
    assert.is(listing.restoreSet.reachesRevision, source.revision)

    const dataDir = join(work, `restored-${compression}`)
    const restored = await restoreFullSnapshot(store, { dataDir, force: false, member: RESTORE_MEMBER_DEFAULTS })
    assert.is(restored.revision, source.revision)
    assert.ok((await validateDataDir(dataDir, store)).valid)

    await withEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default' }, async (copy) => {
      const after = await dumpEtcd(copy.endpoints[0]!)
      assert.is(after.revision, source.revision)
      assert.is(after.kvs.length, source.kvs.length)
      assert.is(dumpHash(after), dumpHash(source))
    })
  })
}

test('a snapshot through an auth-enabled etcd carries the token (etcd3 snapshot auth bug worked around)', async ({ work }) => {
  await withEtcdCluster({ members: 1, auth: { rootPassword: 'secret-pw' } }, async (cluster) => {
    const store = new BackupStore(localSnapstore({ root: join(work, 'store-auth') }), '')
    const etcd = await EtcdClient.create(resolveEtcdConnection({ endpoints: cluster.endpoints, 'etcd-username': 'root', 'etcd-password': 'secret-pw' }, {}))
    const result = await takeFullSnapshot(etcd, store, { compression: 'gzip' }).finally(() => etcd.close())
    assert.ok(result.dbSizeBytes > 0)
    assert.is((await store.list()).length, 1)
  })
})

test('a 3-member cluster: snapshot from the endpoints, restore, same data', async ({ work }) => {
  await withEtcdCluster({ members: 3 }, async (cluster) => {
    await writeSampleData(cluster.endpoints[1]!, { keys: 300 })
    const source = await dumpEtcd(cluster.endpoints[2]!)
    const store = new BackupStore(localSnapstore({ root: join(work, 'store-3m') }), 'etcd-3')
    const etcd = await EtcdClient.create(resolveEtcdConnection({ endpoints: cluster.endpoints }, {}))
    await takeFullSnapshot(etcd, store, { compression: 'gzip' }).finally(() => etcd.close())
    const dataDir = join(work, 'restored-3m')
    await restoreFullSnapshot(store, { dataDir, force: false, member: RESTORE_MEMBER_DEFAULTS })
    await withEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default' }, async (copy) => {
      assert.is(dumpHash(await dumpEtcd(copy.endpoints[0]!)), dumpHash(source))
    })
  })
})

test.run()
