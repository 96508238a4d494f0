/**
 * Issue 8, item 2 (store side), item 7c and the small items, through the built CLI against a
 * real etcd: store faults are stable exit codes with no stack trace and stop etcd's snapshot
 * stream at once; unfinished uploads are collected and listed; error texts name what helps.
 */
import { copyFile, mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { PARTIAL_PREFIX } from '../../src/lib/snapstore/drivers/local.ts'
import { runSteward } from '../harness/cli.ts'
import { expectCliError as expectError } from '../harness/cli-errors.ts'
import { writeSampleData } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'
import { canMountTmpfs, withTmpfs } from '../harness/tmpfs.ts'
import { makeTlsMaterial } from '../harness/tls.ts'

interface Context {
  cluster: EtcdCluster
  endpoint: string
  work: string
}
const test = suite<Context>('store faults, unfinished uploads, error texts (CLI, real etcd)', {} as Context)

test.before(async (ctx) => {
  ctx.cluster = await startEtcdCluster({ members: 1 })
  ctx.endpoint = ctx.cluster.endpoints[0]!
  // About 6 MiB of values: more than the 2 MiB tmpfs of the ENOSPC case.
  await writeSampleData(ctx.endpoint, { keys: 3000, valueBytes: 2048 })
  ctx.work = await makeTempDir('steward-store-faults-')
})
test.after(async (ctx) => {
  await ctx.cluster?.stop()
  if (ctx.work) await removeDir(ctx.work)
})

test('--store file://<a regular file> → STORE_NOT_FOUND (20) at once, before the snapshot stream (was: 15 min, exit 1)', async ({ endpoint, work }) => {
  const file = join(work, 'store-is-a-file')
  await writeFile(file, 'not a directory')
  // The default --etcd-snapshot-timeout (15 min) stays: only an early failure finishes in time.
  const result = await runSteward(['snapshot', '--endpoints', endpoint, '--store', `file://${file}`, '--json'], { timeoutSeconds: 60 })
  expectError(result, 'STORE_NOT_FOUND', /a file, not a directory/)
  assert.is(await readFile(file, 'utf8'), 'not a directory')
})

test('ENOSPC on the store mid-snapshot → STORE_FAILED (21) at once, etcd stream stopped, no partial left', async ({ endpoint }) => {
  if (!(await canMountTmpfs())) return console.log('  (not run: mounting a tmpfs needs root here; local-faults/os-errors tests cover the mapping)')
  await withTmpfs(2 * 1024 * 1024, async (small) => {
    const result = await runSteward(['snapshot', '--endpoints', endpoint, '--store', `file://${small}`, '--compression', 'none', '--json'], { timeoutSeconds: 60 })
    expectError(result, 'STORE_FAILED', /no space left on device \[ENOSPC\]/)
    assert.equal(await readdir(join(small, 'v2')), [], 'no partial upload is left')
  })
})

test('--key holding a certificate → ETCD_TLS (11) naming --key, before any connection (was: 13)', async ({ work }) => {
  const tls = await makeTlsMaterial(join(work, 'tls'))
  const result = await runSteward(['snapshot', '--endpoints', 'https://127.0.0.1:9', '--store', `file://${join(work, 'tls-store')}`, '--cacert', tls.caFile, '--cert', tls.clientCertFile, '--key', tls.clientCertFile, '--json'])
  expectError(result, 'ETCD_TLS', /--key file .* holds a certificate, not a private key/)
})

test('unfinished uploads: snapshot removes .partial-* older than 1 h (logged), keeps a fresh one; list shows them (text and --json)', async ({ endpoint, work }) => {
  const store = join(work, 'partials-store')
  await mkdir(join(store, 'v2'), { recursive: true })
  const stale = `${PARTIAL_PREFIX}0a0b0c0d0e0f-Full-00000000-00000001-1700000000`
  const fresh = `${PARTIAL_PREFIX}1a1b1c1d1e1f-Full-00000000-00000002-1700000001`
  await writeFile(join(store, 'v2', stale), 'half an upload')
  await writeFile(join(store, 'v2', fresh), 'being written')
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000)
  await utimes(join(store, 'v2', stale), twoHoursAgo, twoHoursAgo)

  const listed = await runSteward(['snapshot', 'list', '--store', `file://${store}`, '--json'])
  assert.is(listed.code, 0, listed.stderr)
  const partials = (listed.json as { partials: { key: string; stale: boolean; sizeBytes: number }[] }).partials
  assert.equal(partials.map((p) => [p.key, p.stale, p.sizeBytes]), [[`v2/${stale}`, true, 14], [`v2/${fresh}`, false, 13]])
  const text = await runSteward(['snapshot', 'list', '--store', `file://${store}`])
  assert.match(text.stdout, /Unfinished uploads of killed snapshots/)
  assert.match(text.stdout, new RegExp(`v2/\\${stale}.*\\[stale\\]`))

  const snap = await runSteward(['snapshot', '--endpoints', endpoint, '--store', `file://${store}`, '--json'])
  assert.is(snap.code, 0, snap.stderr)
  assert.match(snap.stderr, new RegExp(`removed v2/\\${stale}, an unfinished upload of a killed snapshot`))
  const left = await readdir(join(store, 'v2'))
  assert.not.ok(left.includes(stale), 'the stale partial is removed')
  assert.ok(left.includes(fresh), 'a fresh partial (a running upload) is kept')
})

test('corrupt compressed full snapshot → SNAPSHOT_CORRUPT naming the object; hints name --fallback-to-older-full, --snapshot, --to-revision', async ({ work }) => {
  const store = join(work, 'corrupt-gz')
  await mkdir(join(store, 'v2'), { recursive: true })
  const name = 'Full-00000000-00000022-1795373610.gz'
  await copyFile(new URL(`../../fixtures/etcdbr-v2/gzip/etcd-main/v2/${name}`, import.meta.url), join(store, 'v2', name))
  const bytes = await readFile(join(store, 'v2', name))
  for (let i = 200; i < Math.min(bytes.length, 400); i++) bytes[i] = bytes[i]! ^ 0x5a
  await writeFile(join(store, 'v2', name), bytes)
  const result = await runSteward(['restore', '--store', `file://${store}`, '--data-dir', join(work, 'r-corrupt-gz'), '--json'])
  expectError(result, 'SNAPSHOT_CORRUPT', new RegExp(`v2/${name.replace(/\./g, '\\.')}`))
  const hints = ((result.json as { error: { hints: string[] } }).error.hints).join('\n')
  for (const flag of ['--fallback-to-older-full', '--snapshot', '--to-revision']) assert.match(hints, flag)
  const help = await runSteward(['restore', '--help'])
  for (const flag of ['--fallback-to-older-full', '--snapshot', '--to-revision']) assert.match(help.stdout, flag, `${flag} exists`)
})

test.run()
