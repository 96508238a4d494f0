/** Restores a store with steward's restore and checks the result against an etcd dump. */
import * as assert from 'uvu/assert'
import { restoreFullSnapshot } from '../../src/lib/restore/restore.ts'
import type { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { dumpEtcd, dumpHash, type EtcdDump } from './data.ts'
import { startEtcdCluster } from './etcd.ts'

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
