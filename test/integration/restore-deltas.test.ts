/**
 * Failure tolerance and point-in-time restore of full + deltas, on copies of the etcdbr-v2
 * `none` and `final` fixture sets, with a real temporary etcd and a real etcd to read results.
 */
import { spawn } from 'node:child_process'
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { Etcd3 } from 'etcd3'
import { isStewardError, type StewardError } from '../../src/lib/errors.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { restoreFullSnapshot, type RestoreOptions } from '../../src/lib/restore/restore.ts'
import { RESTORE_MEMBER_DEFAULTS } from '../../src/lib/restore/etcdutl.ts'
import { readDeltaEvents, spoolDelta } from '../../src/lib/delta/decode.ts'
import { isRunning } from '../../src/lib/restore/temp-etcd.ts'
import { startEtcdCluster } from '../harness/etcd.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const FIXTURES = join(ROOT, 'fixtures', 'etcdbr-v2')
const D1 = 'Incr-00000023-00000032-1795373645'
const D2 = 'Incr-00000033-00000037-1795373646'
const D3 = 'Incr-00000038-00000042-1795373646'

interface Dump {
  revision: number
  kvs: { key: string; value: string }[]
}

/** Keys/values (base64, key order) and revision of a data dir, optionally as of an older revision. */
async function dump(dataDir: string, atRevision?: number): Promise<Dump> {
  const cluster = await startEtcdCluster({ members: 1, dataDirs: [dataDir], name: RESTORE_MEMBER_DEFAULTS.name })
  const client = new Etcd3({ hosts: cluster.endpoints[0]! })
  try {
    const response = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]), ...(atRevision ? { revision: atRevision } : {}) })
    const kvs = response.kvs.map((kv) => ({ key: Buffer.from(kv.key).toString('base64'), value: Buffer.from(kv.value).toString('base64') }))
    return { revision: atRevision ?? Number(response.header.revision), kvs }
  } finally {
    client.close()
    await cluster.stop()
  }
}

const test = suite('restore with deltas: failures and point in time (real etcd)')
let tmp = ''
let reference = ''

async function copySet(set: string): Promise<{ root: string; v2: string; store: BackupStore }> {
  const root = join(tmp, `${set}-${Math.random().toString(36).slice(2, 8)}`)
  await cp(join(FIXTURES, set), root, { recursive: true })
  return { root, v2: join(root, 'etcd-main', 'v2'), store: new BackupStore(localSnapstore({ root }), 'etcd-main') }
}

function options(dataDir: string, extra: Partial<RestoreOptions> = {}): RestoreOptions {
  return { dataDir, force: false, member: RESTORE_MEMBER_DEFAULTS, ...extra }
}

async function expectError(promise: Promise<unknown>, code: string): Promise<StewardError> {
  try {
    await promise
  } catch (error) {
    assert.ok(isStewardError(error), String(error))
    assert.is((error as StewardError).code, code, (error as Error).message)
    return error as StewardError
  }
  throw new Error('expected an error')
}

/** No work dirs beside the target and no etcd running on one. */
async function assertClean(parent: string): Promise<void> {
  assert.equal((await readdir(parent)).filter((e) => e.includes('steward-restore')), [])
  const { execFileSync } = await import('node:child_process')
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
  assert.not.ok(ps.split('\n').some((line) => line.includes(parent) && line.includes('steward-restore')), 'a temporary etcd is still running')
}

test.before(async () => {
  tmp = await makeTempDir('steward-restore-deltas-')
  // Reference: the complete none set restored (checked against expected.json elsewhere); history is kept, so older revisions can be read.
  reference = join(tmp, 'reference.etcd')
  await restoreFullSnapshot(new BackupStore(localSnapstore({ root: join(FIXTURES, 'none') }), 'etcd-main'), options(reference))
})
test.after(async () => {
  await removeDir(tmp)
})

test('corrupt middle delta: SNAPSHOT_CORRUPT naming it, target untouched, nothing left behind', async () => {
  const { v2, store } = await copySet('none')
  const file = join(v2, D2)
  const bytes = await readFile(file)
  bytes[100] = bytes[100]! ^ 0x01
  await writeFile(file, bytes)
  const parent = join(tmp, 'corrupt')
  const target = join(parent, 'data.etcd')
  await mkdir(join(target, 'member', 'snap'), { recursive: true }) // an etcd data dir: what --force may replace
  await writeFile(join(target, 'marker'), 'old')
  const error = await expectError(restoreFullSnapshot(store, options(target, { force: true })), 'SNAPSHOT_CORRUPT')
  assert.ok(error.message.includes(`etcd-main/v2/${D2}`), error.message)
  assert.is(await readFile(join(target, 'marker'), 'utf8'), 'old')
  await assertClean(parent)

  const partialTarget = join(parent, 'partial.etcd')
  const result = await restoreFullSnapshot(store, options(partialTarget, { allowPartial: true }))
  assert.is(result.end, 'partial')
  assert.is(result.revision, 32)
  assert.is(result.deltasApplied, 1)
  assert.is(result.failure?.object, `etcd-main/v2/${D2}`)
  assert.ok(result.warnings.some((w) => w.startsWith('PARTIAL RESTORE') && w.includes(D2)))
  assert.equal(await dump(partialTarget), await dump(reference, 32))
  await assertClean(parent)
})

test('missing middle delta: continuity error naming both neighbours; allow-partial stops before the gap', async () => {
  const { v2, store } = await copySet('none')
  await rm(join(v2, D2))
  const parent = join(tmp, 'gap')
  const error = await expectError(restoreFullSnapshot(store, options(join(parent, 'data.etcd'))), 'SNAPSHOT_NOT_FOUND')
  assert.ok(error.message.includes(D1) && error.message.includes(D3), error.message)
  assert.match(error.message, /33\.\.37/)
  await assertClean(parent)
  const result = await restoreFullSnapshot(store, options(join(parent, 'partial.etcd'), { allowPartial: true }))
  assert.equal([result.end, result.revision, result.deltasApplied], ['partial', 32, 1])
})

test('--to-revision 37 matches the source as of revision 37', async () => {
  const target = join(tmp, 'pit', 'data.etcd')
  const result = await restoreFullSnapshot(new BackupStore(localSnapstore({ root: join(FIXTURES, 'none') }), 'etcd-main'), options(target, { toRevision: 37 }))
  assert.equal([result.end, result.revision, result.deltasApplied], ['to-revision', 37, 2])
  assert.equal(await dump(target), await dump(reference, 37))
})

test('--to-revision inside a delta (34) and with an older full (final set: newest full is at 105)', async () => {
  const target = join(tmp, 'pit34', 'data.etcd')
  const result = await restoreFullSnapshot(new BackupStore(localSnapstore({ root: join(FIXTURES, 'final') }), 'etcd-main'), options(target, { toRevision: 34 }))
  assert.match(result.snapshot, /^Full-00000000-00000022-/)
  assert.equal([result.end, result.revision], ['to-revision', 34])
  assert.equal(await dump(target), await dump(reference, 34))
  await expectError(restoreFullSnapshot(new BackupStore(localSnapstore({ root: join(FIXTURES, 'final') }), 'etcd-main'), options(join(tmp, 'pit10', 'd'), { toRevision: 10 })), 'SNAPSHOT_NOT_FOUND')
})

test('--to-time stops before the first revision recorded after it', async () => {
  const path = join(FIXTURES, 'none', 'etcd-main', 'v2', D3)
  const spooled = join(tmp, 'd3.json')
  const { createReadStream } = await import('node:fs')
  const n = await spoolDelta(createReadStream(path), spooled, D3)
  const events = []
  for await (const e of readDeltaEvents(spooled, n, D3)) events.push(e)
  const at39 = events.find((e) => e.modRevision === 39)!
  const target = join(tmp, 'pit-time', 'data.etcd')
  const result = await restoreFullSnapshot(new BackupStore(localSnapstore({ root: join(FIXTURES, 'none') }), 'etcd-main'), options(target, { toTime: at39.time! }))
  assert.equal([result.end, result.revision, result.reachedTime], ['to-time', 39, at39.time])
  assert.equal(await dump(target), await dump(reference, 39))
})

test('--fallback-to-older-full: corrupt newest full → older full + continuous deltas, reported loudly', async () => {
  const { v2, store } = await copySet('final')
  const finalName = (await readdir(v2)).find((n) => n.endsWith('.final'))!
  const bytes = await readFile(join(v2, finalName))
  bytes[bytes.length - 12] = bytes[bytes.length - 12]! ^ 0xff
  await writeFile(join(v2, finalName), bytes)
  const parent = join(tmp, 'fallback')
  await expectError(restoreFullSnapshot(store, options(join(parent, 'strict.etcd'))), 'SNAPSHOT_CORRUPT')
  const target = join(parent, 'data.etcd')
  const result = await restoreFullSnapshot(store, options(target, { fallbackToOlderFull: true }))
  assert.match(result.snapshot, /^Full-00000000-00000022-/)
  assert.equal([result.revision, result.deltasApplied, result.end], [105, 4, 'complete'])
  assert.ok(result.warnings.some((w) => w.startsWith('FALLBACK')), result.warnings.join('\n'))
  await assertClean(parent)
  const expected = JSON.parse(await readFile(join(FIXTURES, 'final', 'expected.json'), 'utf8')) as Dump
  assert.equal(await dump(target), expected)
})

test('re-running after a SIGKILLed restore (temporary-etcd apply) works and reaps the orphaned temporary etcd', async () => {
  const parent = join(tmp, 'killed')
  const target = join(parent, 'data.etcd')
  await mkdir(parent, { recursive: true })
  const script = join(tmp, 'restore-child.ts')
  await writeFile(script, `
import localSnapstore from ${JSON.stringify(join(ROOT, 'src/lib/snapstore/drivers/local.ts'))}
import { BackupStore } from ${JSON.stringify(join(ROOT, 'src/lib/snapshot/backup-store.ts'))}
import { restoreFullSnapshot } from ${JSON.stringify(join(ROOT, 'src/lib/restore/restore.ts'))}
import { RESTORE_MEMBER_DEFAULTS } from ${JSON.stringify(join(ROOT, 'src/lib/restore/etcdutl.ts'))}
await restoreFullSnapshot(new BackupStore(localSnapstore({ root: ${JSON.stringify(join(FIXTURES, 'none'))} }), 'etcd-main'), { dataDir: ${JSON.stringify(target)}, force: false, member: RESTORE_MEMBER_DEFAULTS, deltaApply: 'etcd' })
`)
  const child = spawn(process.execPath, [script], { stdio: 'ignore' })
  let pidFile: string | undefined
  for (let i = 0; i < 600 && !pidFile; i++) {
    const work = (await readdir(parent)).find((e) => e.includes('steward-restore'))
    if (work && (await stat(join(parent, work, 'etcd.pid')).catch(() => null))) pidFile = join(parent, work, 'etcd.pid')
    else await new Promise((r) => setTimeout(r, 10))
  }
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  assert.ok(pidFile, 'the child restore never started its temporary etcd')
  const orphan = Number(await readFile(pidFile, 'utf8'))
  assert.ok(await stat(target).catch(() => null) === null, 'target must not exist after the killed restore')
  const result = await restoreFullSnapshot(new BackupStore(localSnapstore({ root: join(FIXTURES, 'none') }), 'etcd-main'), options(target))
  assert.is(result.revision, 105)
  assert.not.ok(await isRunning(orphan), 'the orphaned temporary etcd still runs')
  await assertClean(parent)
  const expected = JSON.parse(await readFile(join(FIXTURES, 'none', 'expected.json'), 'utf8')) as Dump
  assert.equal(await dump(target), expected)
})

test.run()
