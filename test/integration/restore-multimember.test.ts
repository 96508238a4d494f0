/**
 * Restoring one member of a 3-member cluster from a store with deltas, both ways: the direct
 * apply merges the deltas into the database file and restores it once with the real membership;
 * the temporary-etcd replay works in a one-member staging dir (a temporary etcd of a 3-member
 * data dir could never reach quorum), then restores the replayed database with the real
 * membership. The result is checked
 * by starting etcd on it with --force-new-cluster (the other two members do not exist here) and
 * comparing every key, value and the revision with the fixture's expected.json.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { restoreFullSnapshot } from '../../src/lib/restore/restore.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { dumpEtcd } from '../harness/data.ts'
import { withEtcdCluster } from '../harness/etcd.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const test = suite('restore of a member of a 3-member cluster, with deltas (real etcd)')
const SET = new URL('../../fixtures/etcdbr-v2/gzip/', import.meta.url)

for (const deltaApply of ['direct', 'etcd'] as const) {
  test(`member etcd-1 of three (--delta-apply ${deltaApply}): deltas applied, membership of three, data as expected.json`, async () => {
    const expected = JSON.parse(await readFile(new URL('expected.json', SET), 'utf8')) as { revision: number; kvs: { key: string; value: string }[] }
    const dir = await makeTempDir(`steward-restore-3m-${deltaApply}-`)
    try {
      const dataDir = join(dir, 'etcd-1.etcd')
      const member = {
        name: 'etcd-1',
        initialCluster: 'etcd-0=http://127.0.0.1:12380,etcd-1=http://127.0.0.1:22380,etcd-2=http://127.0.0.1:32380',
        initialClusterToken: 'etcd-main',
        initialAdvertisePeerUrls: ['http://127.0.0.1:22380'],
      }
      const store = new BackupStore(localSnapstore({ root: SET.pathname }), 'etcd-main')
      const result = await restoreFullSnapshot(store, { dataDir, force: false, member, deltaApply })
      assert.is(result.deltasApplied, 4)
      assert.is(result.revision, expected.revision)
      const dump = await withEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'etcd-1', extraArgs: ['--force-new-cluster'] }, async (cluster) => {
        const members = await cluster.etcdctl(['member', 'list', '-w', 'json'])
        assert.is((JSON.parse(members) as { members: unknown[] }).members.length, 1, '--force-new-cluster leaves this member alone')
        return dumpEtcd(cluster.endpoints[0]!)
      })
      assert.is(dump.revision, expected.revision)
      assert.equal(dump.kvs, expected.kvs)
    } finally {
      await removeDir(dir)
    }
  })
}

test.run()
