import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { DRIVER_LOADERS } from '../../../src/lib/snapstore/registry.ts'
import { SNAPSTORE_DRIVERS } from '../../../src/lib/snapstore/types.ts'
import { startGcsServer } from '../../harness/gcs-server.ts'

const test = suite('snapstore registry and lazy SDK loading')
const CLOUD_SDKS = /^@aws-sdk\/|^@azure\/|^@google-cloud\//

test('every driver id has a loader, and every driver file is reachable from the registry', async () => {
  assert.equal(Object.keys(DRIVER_LOADERS).sort(), [...SNAPSTORE_DRIVERS].sort())
  // Files directly in drivers/ (helpers shared by drivers live in drivers/_shared/): each is a
  // driver in the registry, or a part of one (e.g. s3-credentials.ts) that a registered driver imports.
  const driversDir = new URL('../../../src/lib/snapstore/drivers/', import.meta.url)
  const files = readdirSync(driversDir, { withFileTypes: true }).filter((f) => f.isFile() && f.name.endsWith('.ts')).map((f) => f.name)
  const registrySource = readFileSync(new URL('../../../src/lib/snapstore/registry.ts', import.meta.url), 'utf8')
  const registered = files.filter((file) => registrySource.includes(`./drivers/${file}`))
  const registeredSources = registered.map((file) => readFileSync(new URL(file, driversDir), 'utf8'))
  for (const file of files) {
    const reachable = registered.includes(file) || registeredSources.some((source) => source.includes(`from './${file}'`))
    assert.ok(reachable, `${file} is not in the registry, nor imported by a driver that is`)
  }
  for (const id of SNAPSTORE_DRIVERS) {
    const module = await DRIVER_LOADERS[id]()
    assert.type(module.fromStoreConfig, 'function', `${id} exports fromStoreConfig`)
  }
})

const hook = fileURLToPath(new URL('../../harness/record-imports.ts', import.meta.url))
const bin = fileURLToPath(new URL('../../../bin/dev.js', import.meta.url))

/** Module specifiers a CLI run resolved (synchronous run: for commands that need no server in this process). */
function importsOf(args: string[]): string[] {
  const record = join(mkdtempSync(join(tmpdir(), 'steward-imports-')), 'imports.json')
  const result = spawnSync(process.execPath, ['--import', hook, bin, ...args], { encoding: 'utf8', env: { ...process.env, STEWARD_RECORD_IMPORTS: record } })
  assert.is(result.status, 0, result.stderr)
  return JSON.parse(readFileSync(record, 'utf8')) as string[]
}

/** The same, without blocking this process (a test server here must keep answering). */
async function importsOfAsync(args: string[]): Promise<string[]> {
  const record = join(mkdtempSync(join(tmpdir(), 'steward-imports-')), 'imports.json')
  const child = spawn(process.execPath, ['--import', hook, bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, STEWARD_RECORD_IMPORTS: record } })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)))
  assert.is(code, 0, stderr)
  return JSON.parse(readFileSync(record, 'utf8')) as string[]
}

test('--help and a Local store never load a cloud SDK', () => {
  assert.equal(importsOf(['--help']).filter((s) => CLOUD_SDKS.test(s)), [])
  assert.equal(importsOf(['snapshot', '--help']).filter((s) => CLOUD_SDKS.test(s)), [])
  const fixture = fileURLToPath(new URL('../../../fixtures/etcdbr-v2/gzip', import.meta.url))
  assert.equal(importsOf(['snapshot', 'list', '--store', `file://${fixture}`, '--store-prefix', 'etcd-main']).filter((s) => CLOUD_SDKS.test(s)), [])
})

test('a cloud store loads its own SDK only', async () => {
  const server = await startGcsServer()
  try {
    server.createBucket('backups')
    const imports = await importsOfAsync(['snapshot', 'list', '--store', 'gs://backups/p', '--store-endpoint-override', server.endpoint])
    assert.ok(imports.some((s) => s.startsWith('@google-cloud/storage')), 'the GCS SDK is loaded for gs://')
    assert.equal(imports.filter((s) => /^@aws-sdk\/|^@azure\//.test(s)), [])
  } finally {
    await server.close()
  }
})

test.run()
