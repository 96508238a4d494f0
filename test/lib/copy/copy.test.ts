/** copy-backups between real Local stores: selection, resume after an interruption, `.final`, waiting for a final snapshot. */
import { cp, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { copyBackups, selectBackups } from '../../../src/lib/copy/copy.ts'
import { StewardError, isStewardError } from '../../../src/lib/errors.ts'
import { BackupStore, type StoredSnapshot } from '../../../src/lib/snapshot/backup-store.ts'
import { formatSnapshotName, parseSnapshotKey } from '../../../src/lib/snapshot/name.ts'
import localSnapstore from '../../../src/lib/snapstore/drivers/local.ts'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'
import { makeTempDir, removeDir } from '../../harness/tmp.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'etcdbr-v2')
const test = suite('copy-backups (Local → Local)')
let tmp = ''

test.before.each(async () => {
  tmp = await makeTempDir('steward-copy-')
})
test.after.each(async () => {
  await removeDir(tmp)
})

async function fixtureSource(set: string): Promise<BackupStore> {
  await cp(join(FIXTURES, set), join(tmp, 'src'), { recursive: true })
  return new BackupStore(localSnapstore({ root: join(tmp, 'src') }), 'etcd-main')
}

/** A destination whose puts are counted per key, and which can be made to fail on the n-th put. */
function countingDestination(failOnPut?: number): { store: BackupStore; puts: Map<string, number> } {
  const local = localSnapstore({ root: join(tmp, 'dst') })
  const puts = new Map<string, number>()
  let n = 0
  const snapstore: Snapstore = {
    ...local,
    async put(key, body, options) {
      if (++n === failOnPut) {
        body.destroy()
        throw new StewardError('STORE_FAILED', 'test', 'connection reset')
      }
      puts.set(key, (puts.get(key) ?? 0) + 1)
      return local.put(key, body, options)
    },
  }
  return { store: new BackupStore(snapstore, 'copy'), puts }
}

test('copies every backup byte for byte, drops .final, and a second run copies nothing', async () => {
  const source = await fixtureSource('final')
  const { store: destination, puts } = countingDestination()
  const result = await copyBackups({ source, destination }, { parallel: 3 })
  assert.equal(result.backups, ['Full-00000000-00000105-1795373660.gz.final', 'Full-00000000-00000022-1795373656.gz'])
  assert.equal(result.counts, { copied: 6, skipped: 0, replaced: 0, failed: 0 })
  const copied = (await readdir(join(tmp, 'dst', 'copy', 'v2'))).sort()
  assert.equal(copied, (await readdir(join(tmp, 'src', 'etcd-main', 'v2'))).map((n) => n.replace(/\.final$/, '')).sort())
  const again = await copyBackups({ source, destination }, {})
  assert.equal(again.counts, { copied: 0, skipped: 6, replaced: 0, failed: 0 })
  assert.ok([...puts.values()].every((count) => count === 1))
})

test('an interrupted copy fails naming what failed; the re-run copies the rest and nothing twice', async () => {
  const source = await fixtureSource('gzip')
  const first = countingDestination(3)
  try {
    await copyBackups({ source, destination: first.store }, { parallel: 1 })
    assert.unreachable('the third upload fails')
  } catch (error) {
    assert.ok(isStewardError(error, 'STORE_FAILED'), String(error))
    assert.match((error as StewardError).message, /1 of 5 objects could not be copied .*connection reset/)
  }
  const afterFirst = new Set(first.puts.keys())
  assert.is(afterFirst.size, 4)
  const second = countingDestination()
  const result = await copyBackups({ source, destination: second.store }, { parallel: 4 })
  assert.equal(result.counts, { copied: 1, skipped: 4, replaced: 0, failed: 0 })
  const [again] = [...second.puts.keys()]
  assert.not.ok(afterFirst.has(again!)) // only the object the first run missed
})

test('an object present with another size is replaced', async () => {
  const source = await fixtureSource('gzip')
  const { store: destination } = countingDestination()
  const name = (await source.list())[1]!.name
  await destination.snapstore.put(`copy/v2/${name}`, Readable.from([Buffer.from('stale')]))
  const result = await copyBackups({ source, destination }, {})
  assert.equal(result.counts, { copied: 4, skipped: 0, replaced: 1, failed: 0 })
})

const ref = (kind: 'Full' | 'Incr', last: number, createdOn: Date, extra = ''): StoredSnapshot => ({
  ...parseSnapshotKey(`p/v2/${formatSnapshotName({ kind, startRevision: kind === 'Full' ? 0 : last - 1, lastRevision: last, createdOn, compressionSuffix: '' })}${extra}`)!,
  sizeBytes: 1,
})

test('selection: newest first, --max-backups-to-copy, --max-backup-age (days), orphan deltas and chunks dropped', () => {
  const now = new Date('2026-03-10T12:00:00Z')
  const day = (n: number) => new Date(now.getTime() - n * 86_400_000)
  const list = [ref('Incr', 2, day(9)), ref('Full', 10, day(8)), ref('Incr', 12, day(8)), ref('Full', 20, day(5)), ref('Full', 30, day(2), '/0000000001'), ref('Full', 40, day(1)), ref('Incr', 42, day(1))]
  const names = (maxBackups: number, maxAge: number) => selectBackups(list, now, maxBackups, maxAge).map((b) => [b.full.lastRevision, b.objects.length])
  assert.equal(names(-1, -1), [[40, 2], [20, 1], [10, 2]])
  assert.equal(names(2, -1), [[40, 2], [20, 1]])
  assert.equal(names(-1, 6), [[40, 2], [20, 1]])
  assert.equal(names(1, 6), [[40, 2]])
})

test('--wait-for-final-snapshot polls until a final full snapshot appears; with a timeout it copies anyway', async () => {
  const source = await fixtureSource('gzip')
  const { store: destination } = countingDestination()
  const sleeps: number[] = []
  let clock = Date.parse('2026-12-01T00:00:00Z')
  const result = await copyBackups(
    {
      source,
      destination,
      now: () => new Date(clock),
      sleep: async (ms) => {
        sleeps.push(ms)
        clock += ms
        // The source cluster takes its final snapshot during the second wait.
        if (sleeps.length === 2) await source.snapstore.put('etcd-main/v2/Full-00000000-00000105-1795373700.gz.final', Readable.from([Buffer.from('final')]))
      },
    },
    { waitForFinalSnapshot: true },
  )
  assert.equal(sleeps, [15_000, 15_000])
  assert.is(result.finalSnapshotFound, true)
  assert.ok(result.objects.some((o) => o.name === 'Full-00000000-00000105-1795373700.gz'))

  const other = await makeTempDir('steward-copy-timeout-')
  try {
    await cp(join(FIXTURES, 'gzip'), other, { recursive: true })
    const waits: number[] = []
    const timedOut = await copyBackups(
      { source: new BackupStore(localSnapstore({ root: other }), 'etcd-main'), destination, now: () => new Date(clock), sleep: async (ms) => { waits.push(ms); clock += ms } },
      { waitForFinalSnapshot: true, waitForFinalSnapshotTimeoutSeconds: 40 },
    )
    assert.equal(waits, [15_000, 15_000, 10_000])
    assert.is(timedOut.finalSnapshotFound, false)
  } finally {
    await removeDir(other)
  }
})

test.run()
