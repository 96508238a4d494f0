/**
 * Delta replay with many transactions in flight, against a real temporary etcd, with the
 * transactions deliberately sent out of order (the `commitThrough` seam holds each one and
 * releases them in a random order): the restore must still give the source's revision and,
 * for every key, the same value, create_revision, mod_revision and version — at the end and
 * at intermediate revisions. The history has what makes ordering hard: deletes right after
 * creation, re-creations, multi-op transactions and prefix deletes.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { Etcd3 } from 'etcd3'
import { resolveEtcdConnection } from '../../src/lib/config/resolve.ts'
import type { CommitResult } from '../../src/lib/delta/apply.ts'
import { takeDeltaSnapshot } from '../../src/lib/delta/snapshotter.ts'
import { EtcdClient } from '../../src/lib/etcd/client.ts'
import { RESTORE_MEMBER_DEFAULTS } from '../../src/lib/restore/etcdutl.ts'
import { restoreFullSnapshot, type RestoreOptions } from '../../src/lib/restore/restore.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { takeFullSnapshot } from '../../src/lib/snapshot/full.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { testClient } from '../harness/data.ts'
import { withEtcdCluster } from '../harness/etcd.ts'
import { prng } from '../harness/prng.ts'

const test = suite('delta restore with reordered transactions (real etcd)')

/** Every key with value, create/mod revision and version, at `revision` (or the latest). */
async function state(client: Etcd3, revision?: number): Promise<{ revision: number; kvs: string[] }> {
  const response = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), ...(revision ? { revision } : {}) })
  return {
    revision: revision ?? Number(response.header.revision),
    kvs: response.kvs.map((kv) => `${Buffer.from(kv.key).toString('hex')}=${Buffer.from(kv.value).toString('hex')} c${kv.create_revision} m${kv.mod_revision} v${kv.version}`),
  }
}

/** `revisions` sequential writes: new keys, overwrites, deletes (also of keys just created), re-creations, txns, prefix deletes. */
async function writeHistory(client: Etcd3, revisions: number, seed: number): Promise<void> {
  const random = prng(seed)
  const live = new Set<string>()
  const recent: string[] = []
  let next = 0
  const any = () => [...live][Math.floor(random() * live.size)]!
  for (let written = 0; written < revisions; written++) {
    const r = random()
    if (r < 0.3 || live.size < 10) {
      const key = `/reorder/k/${next++}`
      await client.put(key).value(`new-${written}`)
      live.add(key)
      recent.push(key)
    } else if (r < 0.5) {
      await client.put(any()).value(`over-${written}`)
    } else if (r < 0.62) {
      const key = any()
      await client.delete().key(key)
      live.delete(key)
    } else if (r < 0.75 && recent.length > 0) {
      // Delete a key created a few revisions ago, or create again one deleted a few revisions ago.
      const key = recent.splice(Math.floor(random() * recent.length), 1)[0]!
      if (live.has(key)) {
        await client.delete().key(key)
        live.delete(key)
      } else {
        await client.put(key).value(`again-${written}`)
        live.add(key)
      }
      recent.push(key)
    } else if (r < 0.88) {
      const keys = new Set<string>()
      while (keys.size < 3) keys.add(random() < 0.5 ? `/reorder/k/${next++}` : any())
      const plan = [...keys].map((key) => ({ key, remove: live.has(key) && random() < 0.4 }))
      const ops = plan.map(({ key, remove }) => (remove ? client.delete().key(key) : client.put(key).value(`txn-${written}`)))
      await client.if('/reorder/none', 'Version', '==', 0).then(...ops).commit()
      for (const { key, remove } of plan) {
        if (remove) live.delete(key)
        else live.add(key)
      }
    } else {
      // A prefix delete of a small group created together: one revision, several delete events.
      const group = `/reorder/group-${written}/`
      await client.put(`${group}a`).value('1')
      await client.put(`${group}b`).value('2')
      written += 2
      await client.delete().prefix(group)
    }
    if (recent.length > 6) recent.shift()
  }
}

test('transactions sent in a random order still restore exact revisions, versions and create/mod revisions', async () => {
  const work = await mkdtemp(join(tmpdir(), 'steward-reorder-'))
  try {
    await withEtcdCluster({ members: 1 }, async (cluster) => {
      const endpoint = cluster.endpoints[0]!
      const store = new BackupStore(localSnapstore({ root: join(work, 'store') }), 'etcd-main')
      const etcd = await EtcdClient.create(resolveEtcdConnection({ endpoints: cluster.endpoints }, {}))
      const client = testClient(endpoint)
      let baseRevision = 0
      try {
        for (let i = 0; i < 20; i++) await client.put(`/reorder/base/${i}`).value(`b${i}`)
        baseRevision = (await state(client)).revision
        await takeFullSnapshot(etcd, store, { compression: 'gzip' })
        for (let delta = 0; delta < 3; delta++) {
          await writeHistory(client, 700, 11 + delta)
          assert.is((await takeDeltaSnapshot(etcd, store, { compression: 'gzip', memoryLimitBytes: 64 * 1024 * 1024 })).outcome, 'stored')
        }
        const source = await state(client)
        const checkpoints = [baseRevision + 1, baseRevision + 2, Math.floor((baseRevision + source.revision) / 2), source.revision - 1]
        const sourceAt = await Promise.all(checkpoints.map((r) => state(client, r)))

        // The seam holds every transaction and sends a random held one whenever 8 are held
        // (or at the next turn of the event loop), so etcd receives them out of order.
        const random = prng(42)
        const held: (() => void)[] = []
        let sent = 0
        let outOfOrder = 0
        let lastRevision = 0
        let compareFailed = 0
        let flushing = false
        const release = () => {
          while (held.length > 0 && (held.length >= 8 || flushing)) held.splice(Math.floor(random() * held.length), 1)[0]!()
          flushing = false
        }
        const commitThrough: RestoreOptions['commitThrough'] = (group, guard, send) =>
          new Promise<CommitResult>((resolve, reject) => {
            held.push(() => {
              const revision = group[0]!.modRevision
              if (revision < lastRevision) outOfOrder++
              lastRevision = revision
              sent++
              send(group, guard).then((answer) => {
                if (!answer.succeeded) compareFailed++
                resolve(answer)
              }, reject)
            })
            release()
            setImmediate(() => {
              flushing = true
              release()
            })
          })
        const dataDir = join(work, 'restored')
        const restored = await restoreFullSnapshot(store, { dataDir, force: false, member: RESTORE_MEMBER_DEFAULTS, commitThrough, txnsInFlight: 64, deltaApply: 'etcd' })
        assert.is(restored.deltasApplied, 3)
        assert.is(restored.revision, source.revision)
        assert.ok(outOfOrder > 50, `the seam sent ${outOfOrder} of ${sent} transactions out of order`)
        assert.ok(compareFailed > 0, `${compareFailed} transactions arrived before their predecessor and were refused by their compare`)
        await withEtcdCluster({ members: 1, dataDirs: [dataDir], name: RESTORE_MEMBER_DEFAULTS.name }, async (copy) => {
          const copyClient = testClient(copy.endpoints[0]!)
          try {
            const result = await state(copyClient)
            assert.is(result.revision, source.revision)
            assert.equal(result.kvs, source.kvs)
            for (const [i, r] of checkpoints.entries()) assert.equal(await state(copyClient, r), sourceAt[i], `state at revision ${r}`)
          } finally {
            copyClient.close()
          }
        })
      } finally {
        client.close()
        etcd.close()
      }
    })
  } finally {
    await rm(work, { recursive: true, force: true })
  }
})

test.run()
