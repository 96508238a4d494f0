/**
 * Restores each etcdbr-v2 fixture set (written by the real etcd-backup-restore) with steward's
 * library, starts a real etcd on the result and compares every key, value and the revision
 * with the set's expected.json (fixtures/etcdbr-v2/README.md).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Etcd3 } from 'etcd3'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { restoreFullSnapshot } from '../../src/lib/restore/restore.ts'
import { RESTORE_MEMBER_DEFAULTS } from '../../src/lib/restore/etcdutl.ts'
import { startEtcdCluster } from '../harness/etcd.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'etcdbr-v2')

export interface Dump {
  revision: number
  kvs: { key: string; value: string }[]
}

/** Every key/value (base64, etcd's key order) and the header revision of a data dir, read from a real etcd started on it. */
export async function dumpDataDir(dataDir: string, name = RESTORE_MEMBER_DEFAULTS.name): Promise<Dump & { modRevisions: Map<string, number> }> {
  const cluster = await startEtcdCluster({ members: 1, dataDirs: [dataDir], name })
  const client = new Etcd3({ hosts: cluster.endpoints[0]! })
  try {
    const response = await client.getAll().exec()
    const modRevisions = new Map<string, number>()
    const kvs = response.kvs.map((kv) => {
      const key = Buffer.from(kv.key).toString('base64')
      modRevisions.set(key, Number(kv.mod_revision))
      return { key, value: Buffer.from(kv.value).toString('base64') }
    })
    return { revision: Number(response.header.revision), kvs, modRevisions }
  } finally {
    client.close()
    await cluster.stop()
  }
}

/** A BackupStore over a fixture set (or a copy of one): Local root = the set dir, prefix etcd-main. */
export function fixtureStore(setDir: string): BackupStore {
  return new BackupStore(localSnapstore({ root: setDir }), 'etcd-main')
}

export function fixtureDir(set: string): string {
  return join(FIXTURES, set)
}

const test = suite('restore of etcd-backup-restore fixture sets (real etcd)')

for (const set of ['gzip', 'zlib', 'lzw', 'none', 'final']) {
  test(`${set}: restore matches expected.json exactly`, async () => {
    const dir = await makeTempDir('steward-restore-fixture-')
    try {
      const dataDir = join(dir, 'restored.etcd')
      const result = await restoreFullSnapshot(fixtureStore(fixtureDir(set)), { dataDir, force: false, member: RESTORE_MEMBER_DEFAULTS })
      const expected = JSON.parse(await readFile(join(fixtureDir(set), 'expected.json'), 'utf8')) as Dump
      assert.is(result.revision, 105)
      assert.is(result.end, 'complete')
      assert.equal(result.warnings, [])
      if (set === 'final') {
        assert.is(result.deltasApplied, 0)
        assert.match(result.snapshot, /^Full-00000000-00000105-\d+\.gz\.final$/)
      } else {
        assert.is(result.deltasApplied, 4)
        assert.is(result.eventsApplied, 10 + 7 + 8 + 63)
      }
      const dump = await dumpDataDir(dataDir)
      assert.is(dump.revision, expected.revision)
      assert.equal(dump.kvs, expected.kvs)
      // Revisions are aligned with the source: the txn at 38 and the re-created key at 39.
      assert.is(dump.modRevisions.get(Buffer.from('txn/a').toString('base64')), 38)
      assert.is(dump.modRevisions.get(Buffer.from('recreate/me').toString('base64')), 39)
    } finally {
      await removeDir(dir)
    }
  })
}

test.run()
