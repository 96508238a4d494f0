/**
 * `steward verify` through the built CLI on copies of the etcdbr-v2 fixture stores (written by
 * the real etcdbrctl): a healthy store passes (with a trial restore on a real temporary etcd);
 * a flipped byte, a missing delta and an overlapping delta fail with exit 71, naming the object.
 */
import { cp, open, readdir, rm, copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runSteward } from '../harness/cli.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'etcdbr-v2')
const test = suite('steward verify (CLI, etcdbrctl fixtures)')
let tmp = ''

interface Report {
  restorable: boolean
  badObjects: string[]
  summary: string
  objects: { name: string; status: string; problem?: string }[]
  latestSet: { full: string; deltas: string[]; reachesRevision: number; problems: { object: string; kind: string }[] }
  trialRestore?: { ok: boolean; revision: number }
}

test.before(async () => {
  tmp = await makeTempDir('steward-verify-')
})
test.after(async () => {
  await removeDir(tmp)
})

async function copySet(set: string): Promise<{ store: string; v2: string }> {
  const root = join(tmp, `${set}-${Math.random().toString(36).slice(2, 8)}`)
  await cp(join(FIXTURES, set), root, { recursive: true })
  return { store: `file://${root}`, v2: join(root, 'etcd-main', 'v2') }
}

async function verify(store: string, ...extra: string[]): Promise<{ code: number; report: Report; stdout: string }> {
  const result = await runSteward(['verify', '--store', store, '--store-prefix', 'etcd-main', '--json', ...extra])
  return { code: result.code, report: result.json as Report, stdout: result.stdout + result.stderr }
}

async function flipByte(path: string, at: number): Promise<void> {
  const file = await open(path, 'r+')
  try {
    const one = Buffer.alloc(1)
    await file.read(one, 0, 1, at)
    one[0] = one[0]! ^ 0xff
    await file.write(one, 0, 1, at)
  } finally {
    await file.close()
  }
}

test('a healthy store passes, with a trial restore reaching the chain\'s last revision', async () => {
  for (const set of ['none', 'gzip', 'final']) {
    const { store } = await copySet(set)
    const { code, report, stdout } = await verify(store, ...(set === 'none' ? ['--trial-restore'] : []))
    assert.is(code, 0, stdout)
    assert.ok(report.restorable)
    assert.equal(report.badObjects, [])
    if (set === 'none') {
      assert.equal(report.trialRestore && [report.trialRestore.ok, report.trialRestore.revision], [true, 105])
      assert.is(report.latestSet.deltas.length, 4)
    }
    assert.match(report.summary, /^verify OK: revision 105 restorable/)
  }
  // The text form ends with the one-line summary.
  const { store } = await copySet('none')
  const text = await runSteward(['verify', '--store', store, '--store-prefix', 'etcd-main'])
  assert.is(text.code, 0)
  assert.match(text.stdout.trim().split('\n').at(-1)!, /^verify OK: revision 105 restorable from Full-00000000-00000022-\d+ \+ 4 delta\(s\)/)
})

test('a flipped byte in a delta or the full snapshot fails, naming the object', async () => {
  const { store, v2 } = await copySet('none')
  const names = (await readdir(v2)).sort()
  const delta = names.find((n) => n.startsWith('Incr-00000033'))!
  await flipByte(join(v2, delta), 40)
  let { code, report } = await verify(store)
  assert.is(code, 71)
  assert.not.ok(report.restorable)
  assert.equal(report.badObjects, [delta])
  assert.match(report.objects.find((o) => o.name === delta)!.problem ?? '', /SHA-256/)
  assert.match(report.summary, new RegExp(`^verify FAILED: .*${delta}`))

  const second = await copySet('none')
  const full = (await readdir(second.v2)).find((n) => n.startsWith('Full-'))!
  await flipByte(join(second.v2, full), 5000)
  ;({ code, report } = await verify(second.store))
  assert.is(code, 71)
  assert.equal(report.badObjects, [full])
  assert.match(report.objects.find((o) => o.name === full)!.problem ?? '', /SHA-256/)
})

test('a missing delta is a gap naming the delta after it; an overlapping delta is named too', async () => {
  const { store, v2 } = await copySet('gzip')
  const names = (await readdir(v2)).sort()
  const d2 = names.find((n) => n.startsWith('Incr-00000033'))!
  const d3 = names.find((n) => n.startsWith('Incr-00000038'))!
  await rm(join(v2, d2))
  let { code, report } = await verify(store)
  assert.is(code, 71)
  assert.equal(report.latestSet.problems.map((p) => [p.object, p.kind]), [[d3, 'gap']])
  assert.match(report.summary, new RegExp(`${d3}: gap`))

  // A second writer's delta starting inside the chain (etcd-backup-restore issue #1043).
  const second = await copySet('gzip')
  const d4 = (await readdir(second.v2)).find((n) => n.startsWith('Incr-00000043'))!
  const unix = Number(d4.split('-')[3]!.split('.')[0]) + 5
  const overlapping = `Incr-00000040-00000105-${unix}.gz`
  await copyFile(join(second.v2, d4), join(second.v2, overlapping))
  ;({ code, report } = await verify(second.store))
  assert.is(code, 71)
  assert.equal(report.latestSet.problems.map((p) => [p.object, p.kind]), [[overlapping, 'overlap']])
  assert.equal(report.badObjects, []) // the object itself is sound; the chain is not
})

test('a store whose every full snapshot is corrupt says which; --strict fails on bad objects outside the latest set', async () => {
  const { store, v2 } = await copySet('final')
  const fulls = (await readdir(v2)).filter((n) => n.startsWith('Full-')).sort()
  for (const full of fulls) await flipByte(join(v2, full), 100)
  const { code, report } = await verify(store)
  assert.is(code, 71)
  assert.equal(report.badObjects.sort(), fulls)

  const second = await copySet('final')
  const oldFull = (await readdir(second.v2)).filter((n) => n.startsWith('Full-')).sort()[0]!
  await flipByte(join(second.v2, oldFull), 100)
  const relaxed = await verify(second.store)
  assert.is(relaxed.code, 0)
  assert.equal(relaxed.report.badObjects, [oldFull])
  assert.is((await verify(second.store, '--strict')).code, 71)
})

test.run()
