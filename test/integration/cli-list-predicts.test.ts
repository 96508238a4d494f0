/**
 * Issue 8, item 5: `snapshot list` predicts what `restore` really does, and the two agree —
 * on a gap in the delta chain and on a zero-byte delta (the etcdbrctl gzip fixture, damaged).
 */
import { cp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runSteward } from '../harness/cli.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const test = suite('snapshot list predicts restore')
const fixture = fileURLToPath(new URL('../../fixtures/etcdbr-v2/gzip', import.meta.url))
const finalFixture = fileURLToPath(new URL('../../fixtures/etcdbr-v2/final', import.meta.url))

interface Listing {
  restoreSet: { reachesRevision: number | null; failure: { object: string; code: string; allowPartialRevision: number | null } | null }
  problems: { object: string; code: string; problem: string }[]
}

let dir = ''
test.before(async () => {
  dir = await makeTempDir('steward-list-predicts-')
})
test.after(async () => {
  await removeDir(dir)
})

async function damagedStore(name: string, damage: (v2: string) => Promise<void>, source = fixture): Promise<string[]> {
  const root = join(dir, name)
  await cp(source, root, { recursive: true })
  await damage(join(root, 'etcd-main', 'v2'))
  return ['--storage-provider', 'Local', '--store-container', root, '--store-prefix', 'etcd-main']
}

async function listAndRestore(storeArgs: string[], name: string): Promise<{ listing: Listing; text: string; failed: { code: number; json: unknown; stderr: string }; partial: { revision: number } }> {
  const listed = await runSteward(['snapshot', 'list', ...storeArgs, '--json'])
  assert.is(listed.code, 0, listed.stderr)
  const text = await runSteward(['snapshot', 'list', ...storeArgs])
  const failed = await runSteward(['restore', ...storeArgs, '--data-dir', join(dir, `${name}-a.etcd`), '--json'], { timeoutSeconds: 300 })
  const partial = await runSteward(['restore', ...storeArgs, '--data-dir', join(dir, `${name}-b.etcd`), '--allow-partial', '--json'], { timeoutSeconds: 300 })
  assert.is(partial.code, 0, partial.stderr)
  return { listing: listed.json as Listing, text: text.stdout, failed, partial: partial.json as { revision: number } }
}

test('gap in the delta chain: list names it and says restore fails there; restore fails so, --allow-partial reaches the revision list predicted', async () => {
  const storeArgs = await damagedStore('gap', (v2) => rm(join(v2, 'Incr-00000033-00000037-1795373611.gz')))
  const { listing, text, failed, partial } = await listAndRestore(storeArgs, 'gap')
  assert.is(listing.restoreSet.reachesRevision, null)
  assert.is(listing.restoreSet.failure?.code, 'SNAPSHOT_NOT_FOUND')
  assert.match(text, /Restore would FAIL at Incr-00000038-00000042-1795373612\.gz: delta chain has a gap/)
  assert.is(failed.code, 22)
  assert.is((failed.json as { error: { code: string } }).error.code, listing.restoreSet.failure?.code)
  assert.is(partial.revision, listing.restoreSet.failure?.allowPartialRevision)
})

test('zero-byte delta: list names the object; restore fails on it, --allow-partial reaches the revision list predicted', async () => {
  const storeArgs = await damagedStore('zero', (v2) => writeFile(join(v2, 'Incr-00000038-00000042-1795373612.gz'), ''))
  const { listing, text, failed, partial } = await listAndRestore(storeArgs, 'zero')
  assert.equal(listing.problems.map((p) => [p.object.split('/').pop(), p.problem]), [['Incr-00000038-00000042-1795373612.gz', 'zero-byte object']])
  assert.match(text, /! Incr-00000038-00000042-1795373612\.gz: zero-byte object \[SNAPSHOT_CORRUPT\]/)
  assert.is(failed.code, 23, failed.stderr)
  assert.is((failed.json as { error: { code: string } }).error.code, listing.restoreSet.failure?.code)
  assert.match(JSON.stringify(failed.json), /Incr-00000038-00000042-1795373612\.gz/)
  assert.is(partial.revision, 37)
  assert.is(partial.revision, listing.restoreSet.failure?.allowPartialRevision)
})

test('zero-byte newest full snapshot: list says restore fails on it and --fallback-to-older-full starts from the older full; restore agrees', async () => {
  const storeArgs = await damagedStore('zero-full', (v2) => writeFile(join(v2, 'Full-00000000-00000105-1795373660.gz.final'), ''), finalFixture)
  const listed = await runSteward(['snapshot', 'list', ...storeArgs, '--json'])
  const set = (listed.json as { restoreSet: { failure: { code: string; fallbackFull: string | null; allowPartialRevision: number | null } } }).restoreSet
  assert.is(set.failure.code, 'SNAPSHOT_CORRUPT')
  assert.is(set.failure.allowPartialRevision, null)
  assert.is(set.failure.fallbackFull, 'Full-00000000-00000022-1795373656.gz')
  const failed = await runSteward(['restore', ...storeArgs, '--data-dir', join(dir, 'zero-full-a.etcd'), '--json'], { timeoutSeconds: 300 })
  assert.is(failed.code, 23, failed.stderr)
  const fallback = await runSteward(['restore', ...storeArgs, '--data-dir', join(dir, 'zero-full-b.etcd'), '--fallback-to-older-full', '--json'], { timeoutSeconds: 300 })
  assert.is(fallback.code, 0, fallback.stderr)
  const restored = fallback.json as { snapshot: string; revision: number }
  assert.is(restored.snapshot, set.failure.fallbackFull)
  assert.is(restored.revision, 105)
})

test('unreadable suffix on the newest full snapshot: restore fails with COMPRESSION_UNSUPPORTED; --fallback-to-older-full uses the full list names', async () => {
  const storeArgs = await damagedStore('bz2-full', (v2) => writeFile(join(v2, 'Full-00000000-00000105-1795373700.bz2'), 'not bzip2'))
  const listed = await runSteward(['snapshot', 'list', ...storeArgs, '--json'])
  const failure = (listed.json as { restoreSet: { failure: { code: string; fallbackFull: string } } }).restoreSet.failure
  assert.is(failure.code, 'COMPRESSION_UNSUPPORTED')
  const failed = await runSteward(['restore', ...storeArgs, '--data-dir', join(dir, 'bz2-a.etcd'), '--json'], { timeoutSeconds: 300 })
  assert.is(failed.code, 25, failed.stderr)
  const fallback = await runSteward(['restore', ...storeArgs, '--data-dir', join(dir, 'bz2-b.etcd'), '--fallback-to-older-full', '--json'], { timeoutSeconds: 300 })
  assert.is(fallback.code, 0, fallback.stderr)
  assert.is((fallback.json as { snapshot: string }).snapshot, failure.fallbackFull)
})

test.run()
