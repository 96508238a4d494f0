/**
 * The Local store under real OS faults: a full filesystem (tmpfs), a read-only one, a file
 * where the store directory should be. Each is a stable StewardError code, never a raw errno
 * error (exit 1), and leaves nothing behind.
 */
import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError, type ErrorCode } from '../../../src/lib/errors.ts'
import localSnapstore, { PARTIAL_PREFIX } from '../../../src/lib/snapstore/drivers/local.ts'
import { BackupStore } from '../../../src/lib/snapshot/backup-store.ts'
import { listPartialUploads, removeStalePartialUploads } from '../../../src/lib/snapshot/partials.ts'
import { makeTempDir, removeDir } from '../../harness/tmp.ts'
import { canMountTmpfs, withTmpfs } from '../../harness/tmpfs.ts'

const test = suite<{ dir: string }>('Local store OS faults', { dir: '' })
test.before.each(async (ctx) => {
  ctx.dir = await makeTempDir('steward-local-faults-')
})
test.after.each(async (ctx) => {
  await removeDir(ctx.dir)
})

async function rejects(promise: Promise<unknown>, code: ErrorCode, mentions: RegExp): Promise<void> {
  try {
    await promise
  } catch (error) {
    assert.ok(isStewardError(error, code), `expected ${code}, got ${String(error)}`)
    assert.match((error as Error).message, mentions)
    return
  }
  assert.unreachable(`expected ${code}`)
}

test('store path is a regular file → STORE_NOT_FOUND from prepareWrite and put (no ENOTDIR stack)', async ({ dir }) => {
  await writeFile(join(dir, 'store'), 'not a directory')
  const store = localSnapstore({ root: join(dir, 'store') })
  await rejects(store.prepareWrite!('p/v2/Full-00000000-00000001-1700000000'), 'STORE_NOT_FOUND', /is a file|a file, not a directory/)
  await rejects(store.put('p/v2/Full-00000000-00000001-1700000000', Readable.from([Buffer.from('x')])), 'STORE_NOT_FOUND', /a file, not a directory/)
})

test('ENOSPC on the store (2 MiB tmpfs) → STORE_FAILED naming the cause; no partial file is left', async () => {
  if (!(await canMountTmpfs())) {
    console.log('  (not run: mounting a tmpfs needs root here; os-errors.test.ts covers the ENOSPC mapping via /dev/full)')
    return
  }
  await withTmpfs(2 * 1024 * 1024, async (root) => {
    const store = localSnapstore({ root })
    const key = 'p/v2/Full-00000000-00000001-1700000000'
    await store.prepareWrite!(key)
    const body = Readable.from((function* () {
      for (let i = 0; i < 64; i++) yield Buffer.alloc(64 * 1024, i)
    })())
    await rejects(store.put(key, body), 'STORE_FAILED', /no space left on device \[ENOSPC\]/)
    assert.equal(await readdir(join(root, 'p', 'v2')), [], 'the partial file is removed')
  })
})

test('read-only store (EROFS) → STORE_FAILED from prepareWrite, before any upload', async () => {
  if (!(await canMountTmpfs())) {
    console.log('  (not run: mounting a tmpfs needs root here)')
    return
  }
  await withTmpfs(64 * 1024, async (root) => {
    const store = localSnapstore({ root })
    await rejects(store.prepareWrite!('Full-00000000-00000001-1700000000'), 'STORE_FAILED', /read-only file system \[EROFS\]/)
  }, { readOnly: true })
})

test('unfinished uploads: listPartials shows .partial-* files that list hides; only those older than 1 h are removed', async ({ dir }) => {
  await mkdir(join(dir, 'p', 'v2'), { recursive: true })
  const old = join(dir, 'p', 'v2', `${PARTIAL_PREFIX}aaaa-Full-00000000-00000001-1700000000`)
  const fresh = join(dir, 'p', 'v2', `${PARTIAL_PREFIX}bbbb-Full-00000000-00000002-1700000001`)
  await writeFile(old, 'half')
  await writeFile(fresh, 'being written')
  const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000)
  await utimes(old, twoHoursAgo, twoHoursAgo)
  const backups = new BackupStore(localSnapstore({ root: dir }), 'p')
  assert.equal(await backups.list(), [])
  const partials = await listPartialUploads(backups)
  assert.equal(partials.map((p) => [p.key.split('/').pop(), p.stale]), [[`${PARTIAL_PREFIX}aaaa-Full-00000000-00000001-1700000000`, true], [`${PARTIAL_PREFIX}bbbb-Full-00000000-00000002-1700000001`, false]])
  const logged: string[] = []
  const removed = await removeStalePartialUploads(backups, (m) => logged.push(m))
  assert.is(removed.length, 1)
  assert.match(logged[0]!, /removed p\/v2\/\.partial-aaaa-.* unfinished upload/)
  assert.equal(await readdir(join(dir, 'p', 'v2')), [`${PARTIAL_PREFIX}bbbb-Full-00000000-00000002-1700000001`])
  await rm(fresh)
})

test('removeStalePartialUploads on a Local store whose directory does not exist yet: nothing to remove, no error (first snapshot)', async ({ dir }) => {
  const backups = new BackupStore(localSnapstore({ root: join(dir, 'not-yet') }), 'p')
  await rejects(listPartialUploads(backups), 'STORE_NOT_FOUND', /does not exist/)
  const logged: string[] = []
  assert.equal(await removeStalePartialUploads(backups, (m) => logged.push(m)), [])
  assert.equal(logged, [])
})

test.run()
