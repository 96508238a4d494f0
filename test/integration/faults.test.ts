/**
 * Bad input and faults, through the built CLI: each gets a clear error and a distinct exit
 * code, and nothing already stored or on disk is lost.
 */
import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ERROR_CODES, type ErrorCode } from '../../src/lib/errors.ts'
import { PARTIAL_PREFIX } from '../../src/lib/snapstore/drivers/local.ts'
import { runSteward, startSteward, type CliResult } from '../harness/cli.ts'
import { writeSampleData } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { makeTlsMaterial } from '../harness/tls.ts'

interface Context {
  cluster: EtcdCluster
  work: string
  store: string
}

const test = suite<Context>('bad input and faults (CLI, real etcd)', {} as Context)
const FIXTURE_FULL = new URL('../../fixtures/etcdbr-v2/none/etcd-main/v2/Full-00000000-00000022-1795373644', import.meta.url)

test.before(async (ctx) => {
  ctx.cluster = await startEtcdCluster({ members: 1 })
  await writeSampleData(ctx.cluster.endpoints[0]!, { keys: 200 })
  ctx.work = await mkdtemp(join(tmpdir(), 'steward-faults-'))
  ctx.store = join(ctx.work, 'store')
  const ok = await runSteward(['snapshot', '--endpoints', ctx.cluster.endpoints[0]!, '--store', `file://${ctx.store}`, '--json'])
  assert.is(ok.code, 0, ok.stderr)
})

test.after(async (ctx) => {
  await ctx.cluster?.stop()
  if (ctx.work) await rm(ctx.work, { recursive: true, force: true })
})

function expectError(result: CliResult, code: ErrorCode, mentions: RegExp | string): void {
  assert.is(result.code, ERROR_CODES[code].exit, `exit code for ${code}; stderr: ${result.stderr} stdout: ${result.stdout}`)
  const error = (result.json as { error?: { code: string; message: string } } | undefined)?.error
  assert.ok(error, `--json prints {"error": …}; got ${result.stdout}`)
  assert.is(error.code, code)
  assert.match(error.message, mentions)
}

async function storeWith(ctx: Context, name: string, content: Buffer | URL): Promise<string> {
  const dir = join(ctx.work, `store-${randomBytes(4).toString('hex')}`)
  await mkdir(join(dir, 'v2'), { recursive: true })
  if (content instanceof URL) await copyFile(content, join(dir, 'v2', name))
  else await writeFile(join(dir, 'v2', name), content)
  return dir
}

test('unreachable etcd → ETCD_UNREACHABLE (10), nothing stored', async ({ store }) => {
  const before = await readdir(join(store, 'v2'))
  const result = await runSteward(['snapshot', '--endpoints', 'http://127.0.0.1:9', '--store', `file://${store}`, '--etcd-connection-timeout', '2s', '--json'])
  expectError(result, 'ETCD_UNREACHABLE', 'unreachable')
  assert.equal(await readdir(join(store, 'v2')), before)
})

test('wrong TLS files → ETCD_TLS (11) naming the flag', async ({ cluster, store, work }) => {
  const missing = await runSteward(['snapshot', '--endpoints', cluster.endpoints[0]!, '--store', `file://${store}`, '--cacert', join(work, 'nope.pem'), '--json'])
  expectError(missing, 'ETCD_TLS', '--cacert')
  await writeFile(join(work, 'garbage.pem'), 'not a certificate')
  const notPem = await runSteward(['snapshot', '--endpoints', cluster.endpoints[0]!, '--store', `file://${store}`, '--cacert', join(work, 'garbage.pem'), '--json'])
  expectError(notPem, 'ETCD_TLS', 'not PEM')
})

test('TLS etcd: right CA and client cert work; a CA that did not sign the server cert → ETCD_TLS', async ({ work }) => {
  const good = await makeTlsMaterial(join(work, 'tls-good'))
  const other = await makeTlsMaterial(join(work, 'tls-other'))
  const tlsCluster = await startEtcdCluster({ members: 1, tls: good })
  try {
    const endpoint = tlsCluster.endpoints[0]!
    const ok = await runSteward(['snapshot', '--endpoints', endpoint, '--store', `file://${join(work, 'tls-store')}`, '--cacert', good.caFile, '--cert', good.clientCertFile, '--key', good.clientKeyFile, '--json'])
    assert.is(ok.code, 0, ok.stderr + ok.stdout)
    const wrongCa = await runSteward(['snapshot', '--endpoints', endpoint, '--store', `file://${join(work, 'tls-store')}`, '--cacert', other.caFile, '--cert', good.clientCertFile, '--key', good.clientKeyFile, '--etcd-connection-timeout', '5s', '--json'])
    expectError(wrongCa, 'ETCD_TLS', /TLS|certificate/i)
  } finally {
    await tlsCluster.stop()
  }
})

test('wrong etcd password → ETCD_AUTH (12)', async ({ work }) => {
  const authCluster = await startEtcdCluster({ members: 1, auth: { rootPassword: 'right' } })
  try {
    const result = await runSteward(['snapshot', '--endpoints', authCluster.endpoints[0]!, '--store', `file://${join(work, 'auth-store')}`, '--etcd-username', 'root', '--etcd-password', 'wrong', '--json'])
    expectError(result, 'ETCD_AUTH', /auth/i)
  } finally {
    await authCluster.stop()
  }
})

test('missing store → STORE_NOT_FOUND (20)', async ({ work }) => {
  const result = await runSteward(['restore', '--store', `file://${join(work, 'no-such-store')}`, '--data-dir', join(work, 'r-missing'), '--json'])
  expectError(result, 'STORE_NOT_FOUND', 'does not exist')
})

test('no snapshot in the store → SNAPSHOT_NOT_FOUND (22)', async ({ work }) => {
  const empty = join(work, 'empty-store')
  await mkdir(join(empty, 'v2'), { recursive: true })
  const result = await runSteward(['restore', '--store', `file://${empty}`, '--data-dir', join(work, 'r-empty'), '--json'])
  expectError(result, 'SNAPSHOT_NOT_FOUND', 'no full snapshot')
})

test('corrupt snapshot (trailer mismatch) → SNAPSHOT_CORRUPT (23); target not created', async (ctx) => {
  const bytes = await readFile(FIXTURE_FULL)
  bytes[5000] = bytes[5000]! ^ 0xff
  const dir = await storeWith(ctx, 'Full-00000000-00000022-1795373644', bytes)
  const target = join(ctx.work, 'r-corrupt')
  const result = await runSteward(['restore', '--store', `file://${dir}`, '--data-dir', target, '--json'])
  expectError(result, 'SNAPSHOT_CORRUPT', 'SHA-256')
  assert.is(await stat(target).catch(() => null), null, 'target must not be created')
  assert.equal((await readdir(ctx.work)).filter((n) => n.includes('steward-restore')), [])
})

test('truncated snapshot → SNAPSHOT_CORRUPT (23)', async (ctx) => {
  const bytes = (await readFile(FIXTURE_FULL)).subarray(0, 12_000)
  const dir = await storeWith(ctx, 'Full-00000000-00000022-1795373644', bytes)
  const result = await runSteward(['restore', '--store', `file://${dir}`, '--data-dir', join(ctx.work, 'r-trunc'), '--json'])
  expectError(result, 'SNAPSHOT_CORRUPT', 'truncated')
})

test('truncated gzip snapshot → SNAPSHOT_CORRUPT (23)', async (ctx) => {
  const gz = await readFile(new URL('../../fixtures/etcdbr-v2/gzip/etcd-main/v2/Full-00000000-00000022-1795373610.gz', import.meta.url))
  const dir = await storeWith(ctx, 'Full-00000000-00000022-1795373610.gz', gz.subarray(0, gz.length - 40))
  const result = await runSteward(['restore', '--store', `file://${dir}`, '--data-dir', join(ctx.work, 'r-trunc-gz'), '--json'])
  expectError(result, 'SNAPSHOT_CORRUPT', /.+/)
})

test('a snapshot that is not a bbolt file → SNAPSHOT_NOT_BBOLT (24)', async (ctx) => {
  const dir = await storeWith(ctx, 'Full-00000000-00000022-1795373644', randomBytes(512 * 8 + 32))
  const result = await runSteward(['restore', '--store', `file://${dir}`, '--data-dir', join(ctx.work, 'r-notbolt'), '--json'])
  expectError(result, 'SNAPSHOT_NOT_BBOLT', 'bbolt')
})

test('unknown compression suffix → COMPRESSION_UNSUPPORTED (25)', async (ctx) => {
  const dir = await storeWith(ctx, 'Full-00000000-00000022-1795373644.bz2', randomBytes(100))
  const result = await runSteward(['restore', '--store', `file://${dir}`, '--data-dir', join(ctx.work, 'r-bz2'), '--json'])
  expectError(result, 'COMPRESSION_UNSUPPORTED', '.bz2')
})

test('existing data dir → DATA_DIR_EXISTS (30) and left as it was; --force replaces it', async ({ work, store }) => {
  const target = join(work, 'r-existing')
  await mkdir(join(target, 'member', 'wal'), { recursive: true }) // an etcd data dir: what --force may replace
  await writeFile(join(target, 'keep-me'), 'precious')
  const refused = await runSteward(['restore', '--store', `file://${store}`, '--data-dir', target, '--json'])
  expectError(refused, 'DATA_DIR_EXISTS', 'already exists')
  assert.is(await readFile(join(target, 'keep-me'), 'utf8'), 'precious')
  const forced = await runSteward(['restore', '--store', `file://${store}`, '--data-dir', target, '--force', '--json'])
  assert.is(forced.code, 0, forced.stderr)
  assert.equal((await readdir(target)).sort(), ['member'])
  assert.equal((await readdir(work)).filter((n) => n.includes('steward-old') || n.includes('steward-restore')), [])
})

test('a data dir in use by a running etcd → DATA_DIR_LOCKED (33): validate reports it, restore --force refuses it', async ({ cluster, store }) => {
  const dataDir = cluster.members[0]!.dataDir
  const validate = await runSteward(['validate', '--data-dir', dataDir, '--json'])
  assert.is(validate.code, ERROR_CODES.DATA_DIR_LOCKED.exit, validate.stdout)
  assert.is((validate.json as { status: string }).status, 'DataDirectoryLocked')
  const restore = await runSteward(['restore', '--store', `file://${store}`, '--data-dir', dataDir, '--force', '--json'])
  expectError(restore, 'DATA_DIR_LOCKED', 'in use')
  assert.ok((await readdir(join(dataDir, 'member'))).includes('snap'), 'the running etcd keeps its data dir')
  assert.match(await cluster.etcdctl(['endpoint', 'health']), 'is healthy')
})

test('invalid flag values → CONFIG_INVALID (2) naming the flag', async ({ store }) => {
  expectError(await runSteward(['snapshot', '--store', `file://${store}`, '--compression', 'bz2', '--json']), 'CONFIG_INVALID', '--compression')
  expectError(await runSteward(['snapshot', '--store', 'ftp://x', '--json']), 'CONFIG_INVALID', '--store')
  expectError(await runSteward(['snapshot', '--endpoints', 'localhost:2379', '--store', `file://${store}`, '--json']), 'CONFIG_INVALID', '--endpoints')
  expectError(await runSteward(['snapshot', '--bogus', '--json']), 'CONFIG_INVALID', '--bogus')
  expectError(await runSteward(['snapshot', '--kind', 'weird', '--json']), 'CONFIG_INVALID', 'full, delta')
})

test('validate: a restored dir is valid (0); a broken one is DATA_DIR_INVALID (31); an old one is DATA_DIR_BEHIND (32)', async ({ cluster, work, store }) => {
  const target = join(work, 'v-restored')
  assert.is((await runSteward(['restore', '--store', `file://${store}`, '--data-dir', target])).code, 0)
  const valid = await runSteward(['validate', '--data-dir', target, '--store', `file://${store}`, '--json'])
  assert.is(valid.code, 0, valid.stdout)
  assert.is((valid.json as { status: string }).status, 'Valid')
  await writeSampleData(cluster.endpoints[0]!, { keys: 20, prefix: '/more/' })
  assert.is((await runSteward(['snapshot', '--endpoints', cluster.endpoints[0]!, '--store', `file://${store}`])).code, 0)
  const behind = await runSteward(['validate', '--data-dir', target, '--store', `file://${store}`, '--json'])
  assert.is(behind.code, ERROR_CODES.DATA_DIR_BEHIND.exit, behind.stdout)
  assert.is((behind.json as { status: string }).status, 'RevisionConsistencyError')
  await rm(join(target, 'member', 'wal'), { recursive: true })
  const broken = await runSteward(['validate', '--data-dir', target, '--json'])
  assert.is(broken.code, ERROR_CODES.DATA_DIR_INVALID.exit)
  assert.is((broken.json as { status: string }).status, 'DataDirectoryInvStruct')
})

test('kill -9 in the middle of a snapshot leaves no listed snapshot', async ({ work }) => {
  const big = await startEtcdCluster({ members: 1, quotaBackendBytes: 2 * 1024 * 1024 * 1024 })
  try {
    await writeSampleData(big.endpoints[0]!, { keys: 12_000, valueBytes: 8 * 1024 })
    const store = join(work, 'kill-store')
    const child = startSteward(['snapshot', '--endpoints', big.endpoints[0]!, '--store', `file://${store}`, '--compression', 'gzip'])
    const exited = new Promise((resolve) => child.on('close', resolve))
    // Wait (bounded) until the upload is under way: its hidden partial file exists and has bytes.
    const deadline = Date.now() + 60_000
    let partial: string | undefined
    while (!partial && Date.now() < deadline) {
      const names = await readdir(join(store, 'v2')).catch(() => [] as string[])
      const candidate = names.find((n) => n.startsWith(PARTIAL_PREFIX))
      if (candidate && (await stat(join(store, 'v2', candidate)).catch(() => null))?.size) partial = candidate
      else await new Promise((r) => setImmediate(r))
    }
    assert.ok(partial, 'the snapshot upload started')
    child.kill('SIGKILL')
    await exited
    const listing = await runSteward(['snapshot', 'list', '--store', `file://${store}`, '--json'])
    assert.is(listing.code, 0, listing.stderr)
    assert.equal((listing.json as { snapshots: unknown[] }).snapshots, [])
    const restore = await runSteward(['restore', '--store', `file://${store}`, '--data-dir', join(work, 'r-killed'), '--json'])
    expectError(restore, 'SNAPSHOT_NOT_FOUND', 'no full snapshot')
  } finally {
    await big.stop()
  }
})

test.run()
