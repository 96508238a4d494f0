/**
 * `steward compact` and `steward gc` on real etcd: the compacted full snapshot alone restores to
 * the same key-values and revision as full + deltas; druid's compaction-Job argument list parses
 * verbatim; a failed upload lists nothing new and leaves the old set; restore after gc equals the
 * source. Stores are copies of the etcdbr-v2 fixtures written by the real etcdbrctl.
 */
import { copyFile, cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { stripVTControlCharacters } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compactStore } from '../../src/lib/compact/compact.ts'
import { StewardError, isStewardError } from '../../src/lib/errors.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { runSteward } from '../harness/cli.ts'
import { dumpEtcd, type EtcdDump } from '../harness/data.ts'
import { startEtcdCluster } from '../harness/etcd.ts'
import { startKubeApiServer } from '../harness/kube-apiserver.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'
import { makeTlsMaterial } from '../harness/tls.ts'

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'etcdbr-v2')
const test = suite('steward compact and gc (real etcd, etcdbrctl fixtures)')
let tmp = ''

test.before(async () => {
  tmp = await makeTempDir('steward-compact-')
})
test.after(async () => {
  await removeDir(tmp)
})

async function copySet(set: string): Promise<{ root: string; v2: string }> {
  const root = join(tmp, `${set}-${Math.random().toString(36).slice(2, 8)}`)
  await cp(join(FIXTURES, set), root, { recursive: true })
  return { root, v2: join(root, 'etcd-main', 'v2') }
}

/** oclif's warnings wrapped to the terminal width, as one line. */
const unwrap = (stderr: string) => stripVTControlCharacters(stderr).replace(/\s*\n\s*›\s*/g, ' ')

/** Restores a store with the CLI and dumps the result through a real etcd. */
async function restoreAndDump(root: string, label: string): Promise<EtcdDump> {
  const dataDir = join(tmp, `restored-${label}-${Math.random().toString(36).slice(2, 8)}`)
  const result = await runSteward(['restore', '--store', `file://${root}`, '--store-prefix', 'etcd-main', '--data-dir', dataDir])
  assert.is(result.code, 0, result.stderr)
  const cluster = await startEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default' })
  try {
    return await dumpEtcd(cluster.endpoints[0]!)
  } finally {
    await cluster.stop()
  }
}

test('the compacted full snapshot alone restores to the same key-values and revision as full + deltas', async () => {
  const { root, v2 } = await copySet('gzip')
  const before = (await readdir(v2)).sort()
  const result = await runSteward(['compact', '--store', `file://${root}`, '--store-prefix', 'etcd-main', '--data-dir', join(tmp, 'compaction.etcd'), '--json'])
  assert.is(result.code, 0, result.stderr)
  const report = result.json as { snapshot: string; revision: number; deltasFolded: number; compression: string; isFinal: boolean }
  assert.match(report.snapshot, /^Full-00000000-00000105-\d+\.gz$/)
  assert.equal([report.revision, report.deltasFolded, report.compression, report.isFinal], [105, 4, 'gzip', false])
  const after = (await readdir(v2)).sort()
  assert.equal(after.filter((n) => n !== report.snapshot), before) // the old set is untouched
  assert.equal(await readdir(tmp).then((names) => names.filter((n) => n.startsWith('compaction.etcd'))), []) // work dirs removed

  // A store holding only the compacted snapshot.
  const alone = join(tmp, 'alone')
  await mkdir(join(alone, 'etcd-main', 'v2'), { recursive: true })
  await copyFile(join(v2, report.snapshot), join(alone, 'etcd-main', 'v2', report.snapshot))
  const compacted = await restoreAndDump(alone, 'compacted')
  const original = await restoreAndDump((await copySet('gzip')).root, 'original')
  const expected = JSON.parse(await readFile(join(FIXTURES, 'gzip', 'expected.json'), 'utf8')) as EtcdDump
  assert.is(compacted.revision, original.revision)
  assert.equal(compacted.kvs, original.kvs)
  assert.equal([compacted.revision, compacted.kvs], [expected.revision, expected.kvs])
})

test('a final base gives a final compacted snapshot with the newest object\'s compression', async () => {
  const { root, v2 } = await copySet('final')
  const result = await runSteward(['compact', '--store', `file://${root}`, '--store-prefix', 'etcd-main', '--data-dir', join(tmp, 'final.etcd'), '--json'])
  assert.is(result.code, 0, result.stderr)
  const name = (result.json as { snapshot: string }).snapshot
  assert.match(name, /^Full-00000000-00000105-\d+\.gz\.final$/)
  assert.ok((await readdir(v2)).includes(name))
})

test('druid\'s compaction-Job argument list parses verbatim; the lease flag warns and exit stays 0', async () => {
  const { root } = await copySet('gzip')
  // HOME makes the relative Local container resolve under the temp dir, as in the Job's hostPath setup.
  const druidArgs = (dataDir: string) => [
    'compact',
    `--data-dir=${dataDir}`,
    '--restoration-temp-snapshots-dir=/var/etcd/data/compaction.restoration.temp',
    '--snapstore-temp-directory=/var/etcd/data/tmp',
    '--metrics-scrape-wait-duration=0s',
    '--enable-snapshot-lease-renewal=true',
    '--full-snapshot-lease-name=etcd-main-full-snap',
    '--delta-snapshot-lease-name=etcd-main-delta-snap',
    '--embedded-etcd-quota-bytes=8589934592',
    '--etcd-defrag-timeout=15m0s',
    '--etcd-snapshot-timeout=15m0s',
    '--storage-provider=Local',
    '--store-prefix=etcd-main',
    `--store-container=${root.slice(tmp.length + 1)}`,
  ]
  const empty = await runSteward(druidArgs('/var/etcd/data/compaction.etcd').map((a) => a.replace(/^--store-prefix=.*/, '--store-prefix=nothing-here')), { env: { HOME: tmp } })
  assert.is(empty.code, 22, empty.stderr) // parsed; the store has no base snapshot
  assert.match(empty.stderr, /no base snapshot found/)
  const real = await runSteward(druidArgs(join(tmp, 'druid.etcd')), { env: { HOME: tmp } })
  assert.is(real.code, 0, real.stderr)
  assert.match(unwrap(real.stderr), /full-snapshot lease etcd-main-full-snap was not updated \(exit stays 0[\s\S]*no usable Kubernetes client configuration/)
  assert.match(real.stdout, /Compacted Full-00000000-00000022-\d+\.gz \+ 4 delta\(s\) into Full-00000000-00000105-/)
  for (const flag of ['restoration-temp-snapshots-dir', 'snapstore-temp-directory', 'delta-snapshot-lease-name']) {
    const warnings = real.stderr.split(`Warning: --${flag} is accepted for etcdbrctl compatibility and ignored`).length - 1
    assert.is(warnings, 1, `--${flag}: ${real.stderr}`)
  }
  assert.not.match(real.stderr, /--etcd-defrag-timeout is accepted/, '--etcd-defrag-timeout bounds the defragmentation')
})

test('--etcd-defrag-timeout bounds the defragment step: a tiny one fails with DEFRAG_FAILED (exit 62), nothing uploaded, work dirs removed', async () => {
  const { root, v2 } = await copySet('gzip')
  const before = (await readdir(v2)).sort()
  const args = ['compact', '--store', `file://${root}`, '--store-prefix', 'etcd-main', '--data-dir', join(tmp, 'defrag-timeout.etcd'), '--json']
  const result = await runSteward([...args, '--etcd-defrag-timeout=1ns'])
  assert.is(result.code, 62, result.stdout + result.stderr)
  const error = (result.json as { error: { code: string; message: string; hints: string[] } }).error
  assert.is(error.code, 'DEFRAG_FAILED')
  assert.match(error.message, /--etcd-defrag-timeout/)
  assert.match(error.hints.join(' '), /raise --etcd-defrag-timeout/)
  assert.equal((await readdir(v2)).sort(), before)
  assert.equal((await readdir(tmp)).filter((n) => n.startsWith('defrag-timeout.etcd')), [])
  const zero = await runSteward([...args, '--etcd-defrag-timeout=0s'])
  assert.is(zero.code, 2, zero.stderr)
  assert.match(zero.stdout + zero.stderr, /--etcd-defrag-timeout must be greater than 0/)
})

test('--enable-snapshot-lease-renewal sets the full-snapshot lease to the compacted snapshot (Kubernetes API test server)', async () => {
  const { root } = await copySet('gzip')
  const tls = await makeTlsMaterial(join(tmp, 'kube-tls'))
  await writeFile(join(tmp, 'kube-token'), 'compact-token')
  const server = await startKubeApiServer({ tokenFile: join(tmp, 'kube-token'), certFile: tls.certFile, keyFile: tls.keyFile })
  try {
    server.createLease('shoot--c', 'etcd-main-full-snap')
    const kubeconfig = join(tmp, 'kubeconfig')
    await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: "${server.url}", certificate-authority: "${tls.caFile}"}}]\nusers: [{name: t, user: {token: compact-token}}]\ncontexts: [{name: t, context: {cluster: t, user: t}}]\ncurrent-context: t\n`)
    const args = ['compact', '--store', `file://${root}`, '--store-prefix', 'etcd-main', '--data-dir', join(tmp, 'lease.etcd'), '--enable-snapshot-lease-renewal=true', '--full-snapshot-lease-name=etcd-main-full-snap', '--json']
    const result = await runSteward(args, { env: { KUBECONFIG: kubeconfig, POD_NAMESPACE: 'shoot--c', HOME: tmp } })
    assert.is(result.code, 0, result.stderr)
    const report = result.json as { snapshot: string; revision: number }
    const lease = server.lease('shoot--c', 'etcd-main-full-snap')!
    assert.is(lease.spec.holderIdentity, String(report.revision))
    const createdSeconds = Number(/-(\d+)\.gz$/.exec(report.snapshot)![1])
    assert.is(lease.spec.renewTime, `${new Date(createdSeconds * 1000).toISOString().slice(0, 19)}.000000Z`)
    // A lease that is missing (druid did not create it) is a warning; the exit code stays 0.
    const missing = await runSteward(args.slice(0, -1).map((a) => (a.endsWith('lease.etcd') ? join(tmp, 'lease2.etcd') : a.replace('etcd-main-full-snap', 'absent'))), { env: { KUBECONFIG: kubeconfig, POD_NAMESPACE: 'shoot--c', HOME: tmp } })
    assert.is(missing.code, 0, missing.stderr)
    assert.match(unwrap(missing.stderr), /full-snapshot lease absent was not updated[\s\S]*cannot get lease shoot--c\/absent[\s\S]*not found/)
  } finally {
    await server.close()
  }
})

test('a compaction whose upload fails lists no new full snapshot and leaves the old set untouched', async () => {
  const { root, v2 } = await copySet('gzip')
  const before = (await readdir(v2)).sort()
  const local = localSnapstore({ root })
  const store = new BackupStore({
    ...local,
    async put(key: string, body: Readable, options) {
      // Let the whole body flow, then fail before completing, like a store that drops the connection.
      return local.put(key, body.compose(async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) yield chunk
        throw new StewardError('STORE_FAILED', 'test', 'connection reset during upload')
      }) as Readable, options)
    },
  }, 'etcd-main')
  try {
    await compactStore({ store }, { dataDir: join(tmp, 'failing.etcd') })
    assert.unreachable('the upload should fail')
  } catch (error) {
    assert.ok(isStewardError(error, 'STORE_FAILED'), String(error))
    assert.match((error as Error).message, /connection reset/)
  }
  assert.equal((await readdir(v2)).sort(), before)
  assert.equal((await readdir(tmp)).filter((n) => n.startsWith('failing.etcd')), [])
})

test('a store whose full snapshot is corrupt: compact fails naming it and uploads nothing', async () => {
  const { root, v2 } = await copySet('none')
  const full = (await readdir(v2)).find((n) => n.startsWith('Full-'))!
  const path = join(v2, full)
  const bytes = await readFile(path)
  bytes[5000] = bytes[5000]! ^ 0xff
  await writeFile(path, bytes)
  const before = (await readdir(v2)).sort()
  const result = await runSteward(['compact', '--store', `file://${root}`, '--store-prefix', 'etcd-main', '--data-dir', join(tmp, 'corrupt.etcd'), '--json'])
  assert.is(result.code, 23, result.stdout + result.stderr)
  const error = (result.json as { error: { code: string; message: string } }).error
  assert.is(error.code, 'SNAPSHOT_CORRUPT')
  assert.match(error.message, new RegExp(full))
  assert.equal((await readdir(v2)).sort(), before)
})

test('restore after gc equals the source (Exponential drops the older backup of the final set)', async () => {
  const { root, v2 } = await copySet('final')
  const gc = await runSteward(['gc', '--store', `file://${root}`, '--store-prefix', 'etcd-main', '--json'])
  assert.is(gc.code, 0, gc.stderr)
  const left = await readdir(v2)
  assert.equal(left, ['Full-00000000-00000105-1795373660.gz.final'])
  const restored = await restoreAndDump(root, 'after-gc')
  const expected = JSON.parse(await readFile(join(FIXTURES, 'final', 'expected.json'), 'utf8')) as EtcdDump
  assert.equal([restored.revision, restored.kvs], [expected.revision, expected.kvs])
})

test.run()
