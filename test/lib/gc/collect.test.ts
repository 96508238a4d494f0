/** The gc operation against a real Local store, and with a store whose listing or deletions fail. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { utimes } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { collectGarbage } from '../../../src/lib/gc/collect.ts'
import { StewardError } from '../../../src/lib/errors.ts'
import { BackupStore } from '../../../src/lib/snapshot/backup-store.ts'
import { formatSnapshotName } from '../../../src/lib/snapshot/name.ts'
import localSnapstore from '../../../src/lib/snapstore/drivers/local.ts'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'
import { makeTempDir, removeDir } from '../../harness/tmp.ts'

const test = suite('gc operation (list → plan → delete)')
const NOW = new Date('2026-03-10T12:00:00Z')
let root = ''

test.before.each(async () => {
  root = await makeTempDir('steward-gc-')
})
test.after.each(async () => {
  await removeDir(root)
})

/** Five daily backups (full + 2 deltas each) plus a leftover chunk and a zero-byte delta. */
async function seed(snapstore: Snapstore): Promise<string[]> {
  const names: string[] = []
  let revision = 1
  for (let day = 5; day >= 1; day--) {
    const at = new Date(NOW.getTime() - day * 86_400_000)
    names.push(formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision: (revision += 10), createdOn: at, compressionSuffix: '' }))
    for (let i = 1; i <= 2; i++) {
      const start = revision + 1
      names.push(formatSnapshotName({ kind: 'Incr', startRevision: start, lastRevision: (revision += 3), createdOn: new Date(at.getTime() + i * 60_000), compressionSuffix: '' }))
    }
  }
  for (const name of names) await snapstore.put(`etcd/v2/${name}`, Readable.from([Buffer.from('x')]))
  // A part of an old chunked upload that never completed (Local cannot hold a file and a directory of one name).
  const chunked = formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision: 5, createdOn: new Date(NOW.getTime() - 6 * 86_400_000), compressionSuffix: '' })
  await snapstore.put(`etcd/v2/${chunked}/0000000001`, Readable.from([Buffer.from('part')]))
  const zero = formatSnapshotName({ kind: 'Incr', startRevision: 900, lastRevision: 901, createdOn: new Date(NOW.getTime() - 3 * 86_400_000), compressionSuffix: '' })
  await snapstore.put(`etcd/v2/${zero}`, Readable.from([]))
  // The leftovers were last written when their names say (gc ages them by the store's time).
  await writtenAt(snapstore, `etcd/v2/${chunked}/0000000001`, new Date(NOW.getTime() - 6 * 86_400_000))
  await writtenAt(snapstore, `etcd/v2/${zero}`, new Date(NOW.getTime() - 3 * 86_400_000))
  return names
}

/** Sets a Local object's last-modified time. */
const writtenAt = (snapstore: Snapstore, key: string, at: Date) => utimes(snapstore.localPath!(key), at, at)

const remaining = async (store: BackupStore) => (await store.list()).map((s) => s.key.slice('etcd/v2/'.length))

test('dry run deletes nothing and reports every object; a real run deletes exactly the planned ones', async () => {
  const snapstore = localSnapstore({ root })
  const names = await seed(snapstore)
  const store = new BackupStore(snapstore, 'etcd')
  const before = await remaining(store)
  const options = { policy: 'LimitBased' as const, maxBackups: 2, deltaRetentionSeconds: 0 }
  const dry = await collectGarbage({ store, now: () => NOW }, { ...options, dryRun: true })
  assert.equal(await remaining(store), before)
  assert.is(dry.objects.length, before.length)
  const planned = dry.objects.filter((o) => o.result === 'planned').map((o) => o.key)
  // Kept: the two newest fulls and the deltas after the newest.
  assert.equal(dry.objects.filter((o) => o.result === 'kept').map((o) => o.name), [names[9], names[12], names[13], names[14]])
  const real = await collectGarbage({ store, now: () => NOW }, options)
  assert.equal(real.objects.filter((o) => o.result === 'deleted').map((o) => o.key).sort(), planned.sort())
  assert.equal(await remaining(store), [names[9], names[12], names[13], names[14]])
  assert.is(real.counts.failed, 0)
})

test('a listing that fails part-way deletes nothing', async () => {
  const snapstore = localSnapstore({ root })
  await seed(snapstore)
  const deleted: string[] = []
  const broken: Snapstore = {
    ...snapstore,
    async *list(prefix: string) {
      let n = 0
      for await (const info of snapstore.list(prefix)) {
        if (++n === 6) throw new StewardError('STORE_FAILED', 'test', 'listing page 2 failed')
        yield info
      }
    },
    async delete(key: string) {
      deleted.push(key)
    },
  }
  try {
    await collectGarbage({ store: new BackupStore(broken, 'etcd'), now: () => NOW }, { policy: 'LimitBased', maxBackups: 1, deltaRetentionSeconds: 0 })
    assert.unreachable('should fail')
  } catch (error) {
    assert.instance(error, StewardError)
    assert.is((error as StewardError).code, 'STORE_FAILED')
  }
  assert.equal(deleted, [])
})

test('a delta that cannot be deleted keeps its full snapshot for the next run; other backups go on', async () => {
  const snapstore = localSnapstore({ root })
  const names = await seed(snapstore)
  const failing = `etcd/v2/${names[2]}` // second delta of the oldest backup
  const store = new BackupStore({ ...snapstore, async delete(key: string) {
    if (key === failing) throw new StewardError('STORE_FAILED', 'test', 'access denied')
    return snapstore.delete(key)
  } }, 'etcd')
  const result = await collectGarbage({ store, now: () => NOW }, { policy: 'LimitBased', maxBackups: 2, deltaRetentionSeconds: 0 })
  const by = (name: string) => result.objects.find((o) => o.name === name)!
  assert.is(by(names[2]!).result, 'failed')
  assert.match(by(names[2]!).error ?? '', /access denied/)
  assert.is(by(names[1]!).result, 'deleted') // newer delta of the same backup: deleted first (newest to oldest)
  assert.is(by(names[0]!).result, 'skipped') // its full snapshot waits
  assert.is(by(names[3]!).result, 'deleted') // the next backup is collected normally
  assert.equal([result.counts.failed, result.counts.skipped], [1, 1])
})

test('an aborted signal stops before anything is deleted', async () => {
  const snapstore = localSnapstore({ root })
  await seed(snapstore)
  const store = new BackupStore(snapstore, 'etcd')
  const before = await remaining(store)
  const controller = new AbortController()
  controller.abort()
  try {
    await collectGarbage({ store, now: () => NOW }, { policy: 'LimitBased', maxBackups: 1, deltaRetentionSeconds: 0 }, controller.signal)
    assert.unreachable('should abort')
  } catch (error) {
    assert.is((error as StewardError).code, 'ABORTED')
  }
  assert.equal(await remaining(store), before)
})

test('leftovers age by the store\'s last-modified time (Local), not by the time in their name', async () => {
  const snapstore = localSnapstore({ root })
  await seed(snapstore)
  const store = new BackupStore(snapstore, 'etcd')
  const oldName = (lastRevision: number) => formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision, createdOn: new Date(NOW.getTime() - 4 * 86_400_000), compressionSuffix: '' })
  const newName = (lastRevision: number) => formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision, createdOn: new Date(NOW.getTime() - 60_000), compressionSuffix: '' })
  // Old by name, written 10 minutes ago: a slow chunked upload still in progress, a zero-byte upload just begun.
  const slowChunk = `etcd/v2/${oldName(6)}/0000000002`
  const freshZero = `etcd/v2/${oldName(7)}.gz`
  // New by name, last written 2 hours ago.
  const staleChunk = `etcd/v2/${newName(8)}/0000000001`
  const staleZero = `etcd/v2/${newName(9)}.gz`
  await snapstore.put(slowChunk, Readable.from([Buffer.from('part')]))
  await snapstore.put(staleChunk, Readable.from([Buffer.from('part')]))
  for (const key of [freshZero, staleZero]) await snapstore.put(key, Readable.from([]))
  for (const key of [slowChunk, freshZero]) await writtenAt(snapstore, key, new Date(NOW.getTime() - 10 * 60_000))
  for (const key of [staleChunk, staleZero]) await writtenAt(snapstore, key, new Date(NOW.getTime() - 2 * 3_600_000))
  const result = await collectGarbage({ store, now: () => NOW }, { policy: 'LimitBased', maxBackups: 5, deltaRetentionSeconds: 86_400 * 30, dryRun: true })
  const by = (key: string) => result.objects.find((o) => o.key === key)!
  for (const key of [slowChunk, freshZero]) {
    assert.equal([by(key).result, by(key).rule], ['kept', 'leftover-grace'], key)
    assert.match(by(key).reason, /last written less than 1h ago/)
  }
  assert.equal([by(staleChunk).result, by(staleChunk).rule], ['planned', 'chunk-leftover'])
  assert.equal([by(staleZero).result, by(staleZero).rule], ['planned', 'zero-byte'])
})

test('a store that reports no last-modified time (epoch): leftovers age by the time in their name', async () => {
  const local = localSnapstore({ root })
  await seed(local)
  const young = `etcd/v2/${formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision: 6, createdOn: new Date(NOW.getTime() - 10 * 60_000), compressionSuffix: '' })}/0000000001`
  await local.put(young, Readable.from([Buffer.from('part')]))
  const silent: Snapstore = {
    ...local,
    list: async function* (prefix, o) {
      for await (const info of local.list(prefix, o)) yield { ...info, lastModified: new Date(0) }
    },
  }
  const result = await collectGarbage({ store: new BackupStore(silent, 'etcd'), now: () => NOW }, { policy: 'LimitBased', maxBackups: 5, deltaRetentionSeconds: 0, dryRun: true })
  const chunk = result.objects.find((o) => o.key === young)!
  assert.equal([chunk.result, chunk.rule], ['kept', 'leftover-grace'])
  assert.match(chunk.reason, /created less than 1h ago/)
  assert.ok(result.objects.some((o) => o.rule === 'chunk-leftover' && o.result === 'planned'), 'the old chunk (by name) goes')
})

test.run()
