/**
 * OS errors → stable codes (src/lib/os-errors.ts), with real errno-bearing errors from node:fs:
 * /dev/full gives a real ENOSPC without any mount; the others come from real paths.
 */
import { mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ERROR_CODES, exitCodeFor, isStewardError, StewardError } from '../../src/lib/errors.ts'
import { errnoOf, osError } from '../../src/lib/os-errors.ts'

const test = suite<{ dir: string }>('OS errors map to stable codes', { dir: '' })
test.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'steward-oserr-'))
})
test.after.each(async (ctx) => {
  await rm(ctx.dir, { recursive: true, force: true })
})

async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a failure')
}

test('ENOSPC (a real write to /dev/full) → the caller\'s code, worded, never exit 1', async () => {
  const error = await caught(async () => {
    const handle = await open('/dev/full', 'w')
    try {
      await handle.write(Buffer.alloc(4096))
    } finally {
      await handle.close()
    }
  })
  assert.is(errnoOf(error), 'ENOSPC')
  const store = osError(error, 'STORE_FAILED', 'snapstore:Local', 'could not write v2/Full-x')
  assert.is(store.code, 'STORE_FAILED')
  assert.is(exitCodeFor(store), ERROR_CODES.STORE_FAILED.exit)
  assert.match(store.message, /could not write v2\/Full-x: no space left on device \[ENOSPC\]/)
  assert.match(store.hints[0]!, /free space/)
  const dataDir = osError(error, 'DATA_DIR_WRITE_FAILED', 'restore', 'cannot write')
  assert.is(exitCodeFor(dataDir), 35)
})

test('ENOTDIR, EISDIR, EEXIST, ENOENT from real paths are worded and keep the path', async ({ dir }) => {
  await writeFile(join(dir, 'file'), 'x')
  const cases: [string, () => Promise<unknown>][] = [
    ['ENOTDIR', () => mkdir(join(dir, 'file', 'sub'))],
    ['EISDIR', () => writeFile(dir, 'x')],
    ['EEXIST', () => mkdir(join(dir, 'file'))],
    ['ENOENT', () => readdir(join(dir, 'missing'))],
  ]
  for (const [errno, fn] of cases) {
    const error = osError(await caught(fn), 'DATA_DIR_WRITE_FAILED', 'restore', 'doing it')
    assert.is(error.code, 'DATA_DIR_WRITE_FAILED', errno)
    assert.is(error.context['errno'], errno)
    assert.match(error.message, `[${errno}]`)
    assert.ok(typeof error.context['path'] === 'string', `${errno} keeps the path`)
    assert.ok(error.hints.length > 0, `${errno} has a hint`)
  }
})

test('StewardErrors pass through; aborts become ABORTED; unknown errors keep their message', async () => {
  const original = new StewardError('SNAPSHOT_CORRUPT', 'x', 'bad')
  assert.is(osError(original, 'STORE_FAILED', 'y', 'z'), original)
  const abort = osError(Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }), 'STORE_FAILED', 'y', 'writing')
  assert.ok(isStewardError(abort, 'ABORTED'))
  const other = osError(new Error('weird'), 'STORE_FAILED', 'y', 'writing')
  assert.is(other.reason, 'writing: weird')
})

test.run()
