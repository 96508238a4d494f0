/** Restores a store with steward's restore and checks the result against an etcd dump. */
import type { Etcd3 } from 'etcd3'
import * as assert from 'uvu/assert'
import { RESTORE_MEMBER_DEFAULTS } from '../../src/lib/restore/etcdutl.ts'
import { restoreFullSnapshot } from '../../src/lib/restore/restore.ts'
import type { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { dumpEtcd, dumpHash, testClient, type EtcdDump } from './data.ts'
import { startEtcdCluster, withEtcdCluster, type EtcdCluster } from './etcd.ts'

/**
 * Restores the newest set of `store` into `dataDir` (a single default member), asserts the
 * revision equals `expected`'s, starts etcd on it and asserts the same key-values (dump hash).
 */
export async function assertRestoresTo(store: BackupStore, dataDir: string, expected: EtcdDump): Promise<void> {
  const result = await restoreFullSnapshot(store, { dataDir, force: false, member: { name: 'default', initialCluster: 'default=http://127.0.0.1:2380', initialClusterToken: 'etcd-cluster', initialAdvertisePeerUrls: ['http://127.0.0.1:2380'] } })
  assert.is(result.revision, expected.revision)
  const copy = await startEtcdCluster({ members: 1, dataDirs: [dataDir] })
  try {
    assert.is(dumpHash(await dumpEtcd(copy.endpoints[0]!)), dumpHash(expected))
  } finally {
    await copy.stop()
  }
}

/** Starts etcd on a restored `dataDir` (one member named `name`) and runs `fn` with a client and the cluster; always torn down. */
export async function onRestored<T>(dataDir: string, fn: (client: Etcd3, cluster: EtcdCluster) => Promise<T>, name = RESTORE_MEMBER_DEFAULTS.name, extraArgs: string[] = []): Promise<T> {
  return withEtcdCluster({ members: 1, dataDirs: [dataDir], name, extraArgs }, async (cluster) => {
    const client = testClient(cluster.endpoints[0]!)
    try {
      return await fn(client, cluster)
    } finally {
      client.close()
    }
  })
}
