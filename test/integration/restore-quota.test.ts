/**
 * The temporary etcd that replays deltas stays within its quota: when its database passes 80 %
 * of `--embedded-etcd-quota-bytes`, steward compacts and defragments. Here the deltas rewrite one
 * large value many times, so the replayed history alone is several times the quota; without
 * that step etcd would refuse writes with "database space exceeded".
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resolveEtcdConnection } from '../../src/lib/config/resolve.ts'
import { takeDeltaSnapshot } from '../../src/lib/delta/snapshotter.ts'
import { EtcdClient } from '../../src/lib/etcd/client.ts'
import { RESTORE_MEMBER_DEFAULTS } from '../../src/lib/restore/etcdutl.ts'
import { restoreFullSnapshot } from '../../src/lib/restore/restore.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { takeFullSnapshot } from '../../src/lib/snapshot/full.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { dumpEtcd, dumpHash, testClient } from '../harness/data.ts'
import { withEtcdCluster } from '../harness/etcd.ts'

const test = suite('delta restore keeps the temporary etcd within its quota (real etcd)')

const QUOTA_BYTES = 16 * 1024 * 1024
const VALUE_BYTES = 512 * 1024

test('history 4x the quota replays without NOSPACE and matches the source', async () => {
  const work = await mkdtemp(join(tmpdir(), 'steward-quota-'))
  try {
    await withEtcdCluster({ members: 1 }, async (cluster) => {
      const endpoint = cluster.endpoints[0]!
      const store = new BackupStore(localSnapstore({ root: join(work, 'store') }), 'etcd-main')
      const etcd = await EtcdClient.create(resolveEtcdConnection({ endpoints: cluster.endpoints }, {}))
      const client = testClient(endpoint)
      try {
        await client.put('/big/value').value(Buffer.alloc(VALUE_BYTES, 1))
        await takeFullSnapshot(etcd, store, { compression: 'gzip' })
        // 8 deltas x 16 rewrites x 512 KiB = 64 MiB of history, 4x the 16 MiB quota.
        for (let delta = 0; delta < 8; delta++) {
          for (let i = 0; i < 16; i++) await client.put('/big/value').value(Buffer.alloc(VALUE_BYTES, (delta * 16 + i) % 251))
          const result = await takeDeltaSnapshot(etcd, store, { compression: 'gzip', memoryLimitBytes: 64 * 1024 * 1024 })
          assert.is(result.outcome, 'stored')
        }
      } finally {
        client.close()
        etcd.close()
      }
      const source = await dumpEtcd(endpoint)
      const dataDir = join(work, 'restored')
      const restored = await restoreFullSnapshot(store, { dataDir, force: false, member: RESTORE_MEMBER_DEFAULTS, deltaApply: 'etcd', limits: { quotaBackendBytes: QUOTA_BYTES } })
      assert.is(restored.deltasApplied, 8)
      assert.is(restored.revision, source.revision)
      await withEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default' }, async (copy) => {
        assert.is(dumpHash(await dumpEtcd(copy.endpoints[0]!)), dumpHash(source))
      })
    })
  } finally {
    await rm(work, { recursive: true, force: true })
  }
})

test.run()
