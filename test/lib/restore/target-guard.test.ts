/**
 * What a restore may replace (src/lib/restore/target-guard.ts, via data-dir.ts): each case a
 * data-loss path of issue 8, each checked against real directories.
 */
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { findPackageRoot } from '../../../src/lib/etcd/binaries.ts'
import { isStewardError, type ErrorCode } from '../../../src/lib/errors.ts'
import { assertReplaceable, swapIntoPlace } from '../../../src/lib/restore/data-dir.ts'
import { assertDataDirValue, assertSafeTarget, classifyTarget, protectedReason } from '../../../src/lib/restore/target-guard.ts'
import { makeTempDir, removeDir } from '../../harness/tmp.ts'

const test = suite<{ dir: string }>('restore target guards (data loss)', { dir: '' })

test.before.each(async (ctx) => {
  ctx.dir = await makeTempDir('steward-guard-')
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

async function etcdDirAt(path: string): Promise<void> {
  await mkdir(join(path, 'member', 'snap'), { recursive: true })
  await mkdir(join(path, 'member', 'wal'), { recursive: true })
  await writeFile(join(path, 'member', 'snap', 'db'), 'old db')
}

test('data loss: an empty --data-dir is CONFIG_INVALID (it would resolve to the working directory)', async () => {
  assert.throws(() => assertDataDirValue(''), (e: unknown) => isStewardError(e, 'CONFIG_INVALID') && /--data-dir is empty/.test((e as Error).message))
  assert.throws(() => assertDataDirValue('  ', 'restore.dataDir in steward.yaml'), /restore\.dataDir in steward\.yaml is empty/)
  await rejects(assertReplaceable('', true), 'CONFIG_INVALID', /empty/)
})

test('data loss: --force never replaces the working directory, nor a directory containing it', async ({ dir }) => {
  const cwd = join(dir, 'project', 'sub')
  await mkdir(cwd, { recursive: true })
  await writeFile(join(cwd, 'keep'), 'x')
  await rejects(assertSafeTarget(cwd, true, { cwd }), 'DATA_DIR_PROTECTED', /it is the working directory/)
  await rejects(assertSafeTarget(join(dir, 'project'), true, { cwd }), 'DATA_DIR_PROTECTED', /contains the working directory/)
  // The real one, with no paths given.
  await rejects(assertReplaceable(process.cwd(), true), 'DATA_DIR_PROTECTED', /working directory/)
  await rejects(assertReplaceable('.', true), 'DATA_DIR_PROTECTED', /working directory/)
})

test('data loss: --force never replaces /, /root, /home, /home/<user> or $HOME', async ({ dir }) => {
  await rejects(assertSafeTarget('/', true), 'DATA_DIR_PROTECTED', /root directory/)
  await rejects(assertSafeTarget('/root', true, { cwd: dir, installDir: null }), 'DATA_DIR_PROTECTED', /home directory/)
  await rejects(assertSafeTarget('/home', true, { cwd: dir, installDir: null }), 'DATA_DIR_PROTECTED', /home directory/)
  await rejects(assertSafeTarget('/home/someone', true, { cwd: dir, installDir: null }), 'DATA_DIR_PROTECTED', /home directory/)
  const home = join(dir, 'home-of-user')
  await mkdir(home)
  await rejects(assertSafeTarget(home, true, { cwd: join(dir, 'elsewhere'), home, installDir: null }), 'DATA_DIR_PROTECTED', /\$HOME/)
  await rejects(assertSafeTarget(homedir(), true), 'DATA_DIR_PROTECTED', /home directory/)
})

test('data loss: --force never replaces a directory holding the Local store (equal or above it)', async ({ dir }) => {
  const target = join(dir, 'data')
  const storeRoot = join(target, 'backups')
  await mkdir(join(storeRoot, 'v2'), { recursive: true })
  await writeFile(join(storeRoot, 'v2', 'Full-00000000-00000022-1795373644'), 'backup')
  await rejects(swapIntoPlace(join(dir, 'restored'), target, true, { storeRoot, cwd: '/nonexistent-cwd', installDir: null }), 'DATA_DIR_PROTECTED', /contains the backup store/)
  await rejects(assertReplaceable(storeRoot, true, { storeRoot, cwd: '/nonexistent-cwd', installDir: null }), 'DATA_DIR_PROTECTED', /it is the backup store/)
  assert.is(await readFile(join(storeRoot, 'v2', 'Full-00000000-00000022-1795373644'), 'utf8'), 'backup')
})

test("data loss: --force never replaces steward's install directory or a directory above it", async () => {
  const installDir = findPackageRoot()
  assert.ok(installDir, 'premise: the package root is found')
  await rejects(assertSafeTarget(installDir, true, { cwd: '/nonexistent-cwd' }), 'DATA_DIR_PROTECTED', /install directory/)
  await rejects(assertSafeTarget(dirname(installDir), true, { cwd: '/nonexistent-cwd' }), 'DATA_DIR_PROTECTED', /contains steward's install directory/)
})

test('data loss: a symlink to a protected directory is refused too', async ({ dir }) => {
  const storeRoot = join(dir, 'store')
  await mkdir(storeRoot)
  await symlink(storeRoot, join(dir, 'link.etcd'))
  await rejects(assertSafeTarget(join(dir, 'link.etcd'), true, { storeRoot, cwd: '/nonexistent-cwd', installDir: null }), 'DATA_DIR_PROTECTED', /backup store/)
})

test('data loss: --force refuses a non-empty directory that is not an etcd data dir, and a regular file; both stay intact', async ({ dir }) => {
  const photos = join(dir, 'photos')
  await mkdir(photos)
  await writeFile(join(photos, 'cat.jpg'), 'meow')
  await mkdir(join(dir, 'work', 'data'), { recursive: true })
  await rejects(swapIntoPlace(join(dir, 'work', 'data'), photos, true), 'DATA_DIR_PROTECTED', /not an etcd data directory/)
  assert.is(await readFile(join(photos, 'cat.jpg'), 'utf8'), 'meow')
  await writeFile(join(dir, 'file.etcd'), 'a file')
  await rejects(assertReplaceable(join(dir, 'file.etcd'), true), 'DATA_DIR_PROTECTED', /not a directory/)
  assert.is(await readFile(join(dir, 'file.etcd'), 'utf8'), 'a file')
  // member/ alone (no snap/ or wal/) is not an etcd data dir either.
  await mkdir(join(dir, 'fake', 'member'), { recursive: true })
  assert.is(await classifyTarget(join(dir, 'fake')), 'other-dir')
})

test('--force replaces an etcd data dir or an empty dir, and reports which', async ({ dir }) => {
  const target = join(dir, 'data.etcd')
  await etcdDirAt(target)
  assert.is(await classifyTarget(target), 'etcd-data-dir')
  await mkdir(join(dir, 'work', 'data'), { recursive: true })
  await writeFile(join(dir, 'work', 'data', 'new'), 'restored')
  assert.is(await swapIntoPlace(join(dir, 'work', 'data'), target, true), 'etcd-data-dir')
  assert.equal(await readdir(target), ['new'])
  const empty = join(dir, 'empty.etcd')
  await mkdir(empty)
  await mkdir(join(dir, 'work2'))
  assert.is(await swapIntoPlace(join(dir, 'work2'), empty, true), 'empty')
  await rm(empty, { recursive: true })
  assert.is(await protectedReason(join(dir, 'fresh.etcd'), { cwd: '/nonexistent-cwd', installDir: null }), undefined)
})

test.run()
