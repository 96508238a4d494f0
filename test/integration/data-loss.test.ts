/**
 * Issue 8, item 1 and the data-dir half of item 2, through the built CLI: no `restore` can
 * destroy data, and every data-dir fault is a stable exit code with no stack trace. Restores
 * read etcdbrctl's fixture store (no etcd needed; etcdutl is real).
 */
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runSteward } from '../harness/cli.ts'
import { expectCliError as expectError } from '../harness/cli-errors.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'
import { canMountTmpfs, withTmpfs } from '../harness/tmpfs.ts'

const FIXTURE_STORE = new URL('../../fixtures/etcdbr-v2/none/etcd-main', import.meta.url).pathname
const FIXTURE_GZIP_STORE = new URL('../../fixtures/etcdbr-v2/gzip/etcd-main', import.meta.url).pathname

interface Context {
  work: string
}
const test = suite<Context>('restore never destroys data; data-dir faults are stable codes (CLI)', {} as Context)

test.before(async (ctx) => {
  ctx.work = await makeTempDir('steward-data-loss-')
})
test.after(async (ctx) => {
  if (ctx.work) await removeDir(ctx.work)
})

/** A directory with files in it, to prove nothing there was touched. */
async function populated(dir: string): Promise<string[]> {
  await mkdir(join(dir, 'sub'), { recursive: true })
  await writeFile(join(dir, 'precious.txt'), 'keep me')
  await writeFile(join(dir, 'sub', 'more.txt'), 'me too')
  return (await readdir(dir)).sort()
}

async function intact(dir: string, before: string[]): Promise<void> {
  assert.equal((await readdir(dir)).sort(), before, `${dir} is untouched`)
  assert.is(await readFile(join(dir, 'precious.txt'), 'utf8'), 'keep me')
}

test('data loss: restore --data-dir "" --force → CONFIG_INVALID (2); the working directory is untouched', async ({ work }) => {
  const cwd = join(work, 'cwd-empty-flag')
  const before = await populated(cwd)
  const result = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', '', '--force', '--json'], { cwd })
  expectError(result, 'CONFIG_INVALID', /--data-dir is empty/)
  await intact(cwd, before)
})

test('data loss: restore.dataDir: "" in the config file → CONFIG_INVALID (2) naming the file key; cwd untouched', async ({ work }) => {
  const cwd = join(work, 'cwd-empty-config')
  await populated(cwd)
  await writeFile(join(cwd, '.stewardrc.yaml'), 'restore:\n  dataDir: ""\n')
  const before = (await readdir(cwd)).sort()
  const result = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--force', '--json'], { cwd })
  expectError(result, 'CONFIG_INVALID', /restore\.dataDir in .*\.stewardrc\.yaml is empty/)
  await intact(cwd, before)
})

test('data loss: restore --data-dir . --force → DATA_DIR_PROTECTED (34); the working directory is untouched', async ({ work }) => {
  const cwd = join(work, 'cwd-dot')
  const before = await populated(cwd)
  const result = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', '.', '--force', '--json'], { cwd })
  expectError(result, 'DATA_DIR_PROTECTED', /working directory/)
  await intact(cwd, before)
})

test('data loss: --force into a directory that holds the store → DATA_DIR_PROTECTED (34); the backups survive', async ({ work }) => {
  const holder = join(work, 'holder')
  const store = join(holder, 'backups')
  await cp(FIXTURE_STORE, store, { recursive: true })
  const backups = (await readdir(join(store, 'v2'))).sort()
  const result = await runSteward(['restore', '--store', `file://${store}`, '--data-dir', holder, '--force', '--json'])
  expectError(result, 'DATA_DIR_PROTECTED', /contains the backup store/)
  assert.equal((await readdir(join(store, 'v2'))).sort(), backups)
  const same = await runSteward(['restore', '--store', `file://${store}`, '--data-dir', store, '--force', '--json'])
  expectError(same, 'DATA_DIR_PROTECTED', /is the backup store/)
  assert.equal((await readdir(join(store, 'v2'))).sort(), backups)
})

test('data loss: --force over a non-empty directory that is not an etcd data dir → DATA_DIR_PROTECTED (34); it is untouched', async ({ work }) => {
  const photos = join(work, 'photos')
  const before = await populated(photos)
  const result = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', photos, '--force', '--json'])
  expectError(result, 'DATA_DIR_PROTECTED', /not an etcd data directory/)
  await intact(photos, before)
})

test('data loss: --force over / and over $HOME → DATA_DIR_PROTECTED (34)', async () => {
  expectError(await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', '/', '--force', '--json']), 'DATA_DIR_PROTECTED', /root directory/)
  expectError(await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', process.env['HOME'] ?? '/root', '--force', '--json']), 'DATA_DIR_PROTECTED', /home directory/)
})

test('--force over an etcd data dir replaces it and says so (warning + "replaced" in --json)', async ({ work }) => {
  const target = join(work, 'replace.etcd')
  const first = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', target, '--no-deltas', '--json'])
  assert.is(first.code, 0, first.stderr)
  assert.is((first.json as { replaced?: string }).replaced, undefined)
  const again = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', target, '--force', '--no-deltas'])
  assert.is(again.code, 0, again.stderr)
  assert.match(again.stderr, /REPLACED: --force replaced the existing etcd data directory/)
  const json = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', target, '--force', '--no-deltas', '--json'])
  assert.is((json.json as { replaced?: string }).replaced, 'etcd-data-dir')
})

test('data-dir parent is a regular file → DATA_DIR_WRITE_FAILED (35), no stack trace', async ({ work }) => {
  await writeFile(join(work, 'a-file'), 'x')
  const result = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', join(work, 'a-file', 'sub', 'new.etcd'), '--json'])
  expectError(result, 'DATA_DIR_WRITE_FAILED', /parent of --data-dir.*\[ENOTDIR\]|\[EEXIST\]/)
})

test('data-dir parent on a read-only filesystem → DATA_DIR_WRITE_FAILED (35), nothing left behind', async () => {
  if (!(await canMountTmpfs())) return console.log('  (not run: mounting a tmpfs needs root here)')
  await withTmpfs(64 * 1024, async (ro) => {
    const result = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', join(ro, 'new.etcd'), '--json'])
    expectError(result, 'DATA_DIR_WRITE_FAILED', /read-only file system \[EROFS\]/)
    assert.equal(await readdir(ro), [])
  }, { readOnly: true })
})

test('ENOSPC on the data dir (tmpfs) → DATA_DIR_WRITE_FAILED (35), no work dir left; for a compressed snapshot and for etcdutl', async () => {
  if (!(await canMountTmpfs())) return console.log('  (not run: mounting a tmpfs needs root here)')
  // 8 KiB: too small for the decompressed 20 KiB snapshot file steward writes into the work dir.
  await withTmpfs(8 * 1024, async (small) => {
    const result = await runSteward(['restore', '--store', `file://${FIXTURE_GZIP_STORE}`, '--data-dir', join(small, 'new.etcd'), '--no-deltas', '--json'])
    expectError(result, 'DATA_DIR_WRITE_FAILED', /no space left on device \[ENOSPC\]/)
    assert.equal(await readdir(small), [])
  })
  // 2 MiB: the snapshot fits, etcd's 64 MiB WAL preallocation does not (etcdutl fails).
  await withTmpfs(2 * 1024 * 1024, async (small) => {
    const result = await runSteward(['restore', '--store', `file://${FIXTURE_STORE}`, '--data-dir', join(small, 'new.etcd'), '--no-deltas', '--json'])
    expectError(result, 'DATA_DIR_WRITE_FAILED', /no space left on device \[ENOSPC\]/)
    assert.equal(await readdir(small), [])
  })
})

test.run()
