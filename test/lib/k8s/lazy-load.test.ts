/** `@kubernetes/client-node` is loaded only when a lease is touched: other commands never resolve it. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

const test = suite('Kubernetes client loaded lazily')
const hook = fileURLToPath(new URL('../../harness/record-imports.ts', import.meta.url))
const bin = fileURLToPath(new URL('../../../bin/dev.js', import.meta.url))
const fixture = fileURLToPath(new URL('../../../fixtures/etcdbr-v2/gzip', import.meta.url))

function importsOf(args: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'steward-imports-'))
  try {
    const record = join(dir, 'imports.json')
    const result = spawnSync(process.execPath, ['--import', hook, bin, ...args], { encoding: 'utf8', env: { ...process.env, STEWARD_RECORD_IMPORTS: record } })
    assert.is(result.status, 0, result.stderr)
    return JSON.parse(readFileSync(record, 'utf8')) as string[]
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('snapshot list, serve --help and compact --help never resolve @kubernetes/client-node', () => {
  for (const args of [['snapshot', 'list', '--store', `file://${fixture}`, '--store-prefix', 'etcd-main'], ['serve', '--help'], ['compact', '--help']]) {
    assert.equal(importsOf(args).filter((s) => s.startsWith('@kubernetes/')), [], args.join(' '))
  }
})

test.run()
