import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError } from '../../../src/lib/errors.ts'
import { assertReplaceable, makeWorkDir, recoverInterruptedSwap, swapIntoPlace } from '../../../src/lib/restore/data-dir.ts'

const test = suite<{ dir: string }>('data dir replacement', { dir: '' })

test.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'steward-datadir-'))
})
test.after.each(async (ctx) => {
  await rm(ctx.dir, { recursive: true, force: true })
})

async function dirWith(path: string, file: string, content: string): Promise<void> {
  await mkdir(path, { recursive: true })
  await writeFile(join(path, file), content)
}

test('a data dir that is a mount point is refused before anything is created beside it', async () => {
  // /proc is its own filesystem on Linux, so it stands in for a volume mounted at --data-dir.
  assert.is.not((await stat('/proc')).dev, (await stat('/')).dev, 'premise: /proc is a mount point')
  const before = await readdir('/')
  let error: unknown
  try {
    await makeWorkDir('/proc')
  } catch (caught) {
    error = caught
  }
  const created = (await readdir('/')).filter((name) => !before.includes(name) && name.startsWith('.proc.steward-restore-'))
  for (const name of created) await rm(join('/', name), { recursive: true, force: true })
  assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
  assert.match((error as Error).message, /--data-dir \/proc is a mount point/)
  assert.equal(created, [])
})

test('the work dir of an ordinary data dir sits beside it, hidden, mode 0700', async ({ dir }) => {
  const work = await makeWorkDir(join(dir, 'new.etcd'))
  assert.match(work, new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\.new\\.etcd\\.steward-restore-[0-9a-f]{8}$`))
  assert.is((await stat(work)).mode & 0o777, 0o700)
})

test('a non-empty data dir is refused without force, accepted with it', async ({ dir }) => {
  const target = join(dir, 'data.etcd')
  await assertReplaceable(target, false)
  await dirWith(join(target, 'member', 'snap'), 'db', 'old')
  try {
    await assertReplaceable(target, false)
    assert.unreachable('must refuse')
  } catch (error) {
    assert.ok(isStewardError(error, 'DATA_DIR_EXISTS'))
  }
  assert.is(await assertReplaceable(target, true), 'etcd-data-dir')
})

test('swap with force replaces the old dir and leaves nothing beside it', async ({ dir }) => {
  const target = join(dir, 'data.etcd')
  await dirWith(join(target, 'member', 'wal'), 'x', 'old')
  await dirWith(join(dir, 'work', 'data'), 'y', 'new')
  assert.is(await swapIntoPlace(join(dir, 'work', 'data'), target, true), 'etcd-data-dir')
  assert.is(await readFile(join(target, 'y'), 'utf8'), 'new')
  assert.equal((await readdir(dir)).sort(), ['data.etcd', 'work'])
})

test('an interrupted swap (old dir aside, no target) is moved back', async ({ dir }) => {
  const target = join(dir, 'data.etcd')
  await dirWith(`${target}.steward-old-1a2b3c4d`, 'x', 'old')
  const warnings = await recoverInterruptedSwap(target)
  assert.is(warnings.length, 1)
  assert.match(warnings[0]!, 'RECOVERED')
  assert.is(await readFile(join(target, 'x'), 'utf8'), 'old')
  assert.equal(await readdir(dir), ['data.etcd'])
})

test('a leftover beside an existing target is reported, never deleted', async ({ dir }) => {
  const target = join(dir, 'data.etcd')
  await dirWith(target, 'x', 'current')
  await dirWith(`${target}.steward-old-1a2b3c4d`, 'x', 'old')
  const warnings = await recoverInterruptedSwap(target)
  assert.match(warnings[0]!, 'not removed')
  assert.equal((await readdir(dir)).sort(), ['data.etcd', 'data.etcd.steward-old-1a2b3c4d'])
  assert.equal(await recoverInterruptedSwap(join(dir, 'other.etcd')), [])
})

test.run()
