/**
 * The main job, end to end, on the embedded default: a local etcd 3.5 and a local backup
 * store in a temp dir. Runs the real CLI (bin/run.js) for every steward step.
 *
 *   npm run demo            # installs etcd if missing, builds, then runs this
 *   node scripts/demo.ts --keep   # keep the temp dir to look around
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { STEWARD_BIN } from '../test/harness/cli.ts'
import { dumpEtcd, dumpHash, writeSampleData, type EtcdDump } from '../test/harness/data.ts'
import { startEtcdCluster, withEtcdCluster } from '../test/harness/etcd.ts'

const keep = process.argv.includes('--keep')
const work = await mkdtemp(join(tmpdir(), 'steward-demo-'))
const store = `file://${join(work, 'backups')}`
const restoredDir = join(work, 'restored.etcd')
let failed = false

function steward(...args: string[]): void {
  console.log(`\n$ steward ${args.join(' ')}`)
  const result = spawnSync(process.execPath, [STEWARD_BIN, ...args], { stdio: 'inherit', env: { ...process.env, STEWARD_LOG_LEVEL: 'warn' } })
  if (result.status !== 0) throw new Error(`steward ${args[0]} exited with ${result.status}`)
}

function describe(label: string, dump: EtcdDump): string {
  return `${label.padEnd(9)} keys=${dump.kvs.length} revision=${dump.revision} sha256(key-values)=${dumpHash(dump).slice(0, 16)}…`
}

console.log(`steward demo — working in ${work}`)
const source = await startEtcdCluster({ members: 1, name: 'demo' })
try {
  const endpoint = source.endpoints[0]!
  console.log(`\n[1/5] started etcd at ${endpoint}; writing sample data (puts, overwrites, deletes, binary keys)`)
  await writeSampleData(endpoint, { keys: 5000, valueBytes: 256 })
  const before = await dumpEtcd(endpoint)
  console.log(`      ${describe('source', before)}`)

  console.log('\n[2/5] full snapshot into the local store')
  steward('snapshot', '--endpoints', endpoint, '--store', store)

  console.log('\n[3/5] what the store holds')
  steward('snapshot', 'list', '--store', store)

  console.log('\n[4/5] restore into a new data dir')
  steward('restore', '--store', store, '--data-dir', restoredDir)
  steward('validate', '--data-dir', restoredDir, '--store', store)

  console.log('\n[5/5] start etcd on the restored data dir and compare')
  const after = await withEtcdCluster({ members: 1, dataDirs: [restoredDir], name: 'default' }, (copy) => dumpEtcd(copy.endpoints[0]!))
  console.log(`      ${describe('source', before)}`)
  console.log(`      ${describe('restored', after)}`)
  const same = after.revision === before.revision && after.kvs.length === before.kvs.length && dumpHash(after) === dumpHash(before)
  console.log(same ? '\nOK: the restored etcd holds exactly the same key-values at the same revision.' : '\nMISMATCH: the restored data differs from the source.')
  failed = !same
} catch (error) {
  console.error(`\ndemo failed: ${(error as Error).message}`)
  failed = true
} finally {
  await source.stop()
  if (keep) console.log(`kept ${work}`)
  else await rm(work, { recursive: true, force: true })
}
process.exitCode = failed ? 1 : 0
