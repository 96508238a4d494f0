/**
 * Issue 8, item 6: conflicting flags are errors before anything is touched, and a point in time
 * beyond what the store holds warns (--to-time as --to-revision). Spawns the built CLI against
 * the etcdbrctl fixture (gzip: full at 22, deltas to 105).
 */
import { cp, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runSteward } from '../harness/cli.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const test = suite('CLI conflicting flags and requests beyond the store')
const fixture = fileURLToPath(new URL('../../fixtures/etcdbr-v2/gzip', import.meta.url))

let dir = ''
let storeArgs: string[] = []
test.before(async () => {
  dir = await makeTempDir('steward-cli-conflicts-')
  await cp(fixture, join(dir, 'store'), { recursive: true })
  storeArgs = ['--storage-provider', 'Local', '--store-container', join(dir, 'store'), '--store-prefix', 'etcd-main']
})
test.after(async () => {
  await removeDir(dir)
})

interface JsonError {
  error: { code: string; message: string }
}

test('restore --no-deltas --to-revision 60 is CONFIG_INVALID (exit 2) naming both flags, and writes nothing', async () => {
  const result = await runSteward(['restore', ...storeArgs, '--data-dir', join(dir, 'r1.etcd'), '--no-deltas', '--to-revision', '60', '--json'])
  assert.is(result.code, 2, result.stderr)
  assert.match((result.json as JsonError).error.message, /--no-deltas conflicts with --to-revision 60/)
  assert.not.ok((await readdir(dir)).some((name) => name.includes('r1')))
})

test('snapshot --compression zstd --compression-policy gzip is CONFIG_INVALID naming both', async () => {
  const result = await runSteward(['snapshot', '--store', `file://${dir}/new`, '--compression', 'zstd', '--compression-policy', 'gzip', '--json'])
  assert.is(result.code, 2, result.stderr)
  assert.match((result.json as JsonError).error.message, /--compression zstd conflicts with --compression-policy gzip/)
})

test('restore --to-time in the future restores what the store holds and warns, as --to-revision does', async () => {
  const result = await runSteward(['restore', ...storeArgs, '--data-dir', join(dir, 'r2.etcd'), '--to-time', '2099-01-01T00:00:00Z', '--json'], { timeoutSeconds: 300 })
  assert.is(result.code, 0, result.stderr)
  const restored = result.json as { revision: number; warnings: string[] }
  assert.is(restored.revision, 105)
  assert.ok(restored.warnings.some((w) => /--to-time 2099-01-01T00:00:00Z \(in the future\) is beyond the newest backup; restored up to revision 105/.test(w)), restored.warnings.join('\n'))
})

test.run()
