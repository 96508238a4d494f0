/**
 * Full snapshots compressed on several threads (`--compression-workers`, src/lib/compression/
 * parallel.ts) taken through the CLI from real etcd: the gzip object (concatenated members)
 * passes Debian's `gzip -t`, Python's gzip and zlib decode both objects to a database whose
 * SHA-256 trailer matches, and the real etcd-backup-restore (Go's gzip and zlib readers) restores
 * each to the source's key-values and revision.
 *
 * etcdbrctl is outside the project: it is looked for at `../shared/tools/etcdbrctl` beside the
 * clone (CI), `../../shared/tools/etcdbrctl` (helper worktrees) or `$STEWARD_ETCDBRCTL`; when
 * none exists the etcdbrctl test fails saying where it looked.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runSteward } from '../harness/cli.ts'
import { dumpEtcd, type EtcdDump } from '../harness/data.ts'
import { testClient } from '../harness/data.ts'
import { startEtcdCluster, withEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const REPO = resolve(import.meta.dirname, '..', '..')
const ETCDBRCTL_CANDIDATES = [process.env['STEWARD_ETCDBRCTL'], join(REPO, '..', 'shared', 'tools', 'etcdbrctl'), join(REPO, '..', '..', 'shared', 'tools', 'etcdbrctl')].filter(
  (path): path is string => typeof path === 'string' && path.length > 0,
)

interface Context {
  cluster: EtcdCluster
  work: string
  source: EtcdDump
}

const test = suite<Context>('parallel gzip/zlib full snapshots (real etcd, independent readers, etcdbrctl)', {} as Context)

test.before(async (ctx) => {
  ctx.cluster = await startEtcdCluster({ members: 1 })
  ctx.work = await makeTempDir('steward-parallel-')
  // About 6 MiB of half-compressible values: several 1 MiB blocks per snapshot.
  const client = testClient(ctx.cluster.endpoints[0]!)
  try {
    for (let start = 0; start < 3000; start += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) => {
          const i = start + j
          const value = Buffer.concat([Buffer.alloc(1000, `value ${i} `), Buffer.from(Array.from({ length: 1000 }, (_, k) => (i * 31 + k * k) % 251))])
          return client.put(`/registry/parallel/${String(i).padStart(5, '0')}`).value(value).exec()
        }),
      )
    }
  } finally {
    client.close()
  }
  ctx.source = await dumpEtcd(ctx.cluster.endpoints[0]!)
})

test.after(async (ctx) => {
  await ctx.cluster?.stop()
  if (ctx.work) await removeDir(ctx.work)
})

/** Takes a snapshot into `$HOME/<container>/etcd-main` (etcd-backup-restore's Local layout); returns the object's path. */
async function snapshot(ctx: Context, container: string, compression: 'gzip' | 'zlib'): Promise<string> {
  const env = { ...process.env, HOME: ctx.work }
  const result = await runSteward(
    ['snapshot', '--endpoints', ctx.cluster.endpoints[0]!, '--storage-provider', 'Local', '--store-container', container, '--store-prefix', 'etcd-main', '--compression', compression, '--compression-workers', '3', '--compression-level', '5', '--json'],
    { env },
  )
  assert.is(result.code, 0, result.stderr)
  const dir = join(ctx.work, container, 'etcd-main', 'v2')
  const [name] = (await readdir(dir)).filter((n) => n.startsWith('Full-'))
  assert.ok(name, `no full snapshot in ${dir}`)
  return join(dir, name)
}

/** Decodes with Python and checks etcd's trailer: prints the database size if the SHA-256 matches. */
function pythonCheck(file: string, module: 'gzip' | 'zlib'): string {
  const read = module === 'gzip' ? 'gzip.open(sys.argv[1]).read()' : 'zlib.decompress(open(sys.argv[1],"rb").read())'
  const script = `import gzip,zlib,hashlib,sys\nb=${read}\nprint(len(b)-32 if hashlib.sha256(b[:-32]).digest()==b[-32:] else "trailer mismatch")`
  const result = spawnSync('python3', ['-c', script, file], { encoding: 'utf8' })
  assert.is(result.status, 0, result.stderr)
  return result.stdout.trim()
}

test('gzip: several members, gzip -t and Python decode it, the trailer matches', async (ctx) => {
  const file = await snapshot(ctx, 'pgz', 'gzip')
  const check = spawnSync('gzip', ['-t', file], { encoding: 'utf8' })
  assert.is(check.status, 0, `gzip -t ${file}: ${check.stderr}`)
  const size = Number(pythonCheck(file, 'gzip'))
  assert.ok(size > 3 * 1024 * 1024, `database of ${size} bytes`)
})

test('zlib: Python decodes one stream, the trailer matches', async (ctx) => {
  const file = await snapshot(ctx, 'pzl', 'zlib')
  assert.ok(Number(pythonCheck(file, 'zlib')) > 3 * 1024 * 1024)
})

test('a level the policy cannot take is CONFIG_INVALID (exit 2) naming the flag, and nothing is stored', async (ctx) => {
  const result = await runSteward(['snapshot', '--endpoints', ctx.cluster.endpoints[0]!, '--store', `file://${join(ctx.work, 'bad')}`, '--compression', 'lzw', '--compression-level', '3', '--json'])
  assert.is(result.code, 2, result.stderr)
  const error = (JSON.parse(result.stdout) as { error: { code: string; message: string } }).error
  assert.is(error.code, 'CONFIG_INVALID')
  assert.match(error.message, '--compression-level')
  assert.not.ok(existsSync(join(ctx.work, 'bad')))
})

test('etcdbrctl restores parallel gzip and zlib snapshots to the source state', async (ctx) => {
  const etcdbrctl = ETCDBRCTL_CANDIDATES.find((path) => existsSync(path))
  if (!etcdbrctl) assert.unreachable(`etcdbrctl not found (looked at ${ETCDBRCTL_CANDIDATES.join(', ')}); CI keeps it at ../shared/tools beside the clone, or set STEWARD_ETCDBRCTL`)
  for (const [container, compression] of [['bgz', 'gzip'], ['bzl', 'zlib']] as const) {
    await snapshot(ctx, container, compression)
    const dataDir = join(ctx.work, `${container}.etcd`)
    const temp = join(ctx.work, `${container}-tmp`)
    await mkdir(temp, { recursive: true })
    const restore = spawnSync(
      etcdbrctl!,
      ['restore', '--storage-provider', 'Local', '--store-container', container, '--store-prefix', 'etcd-main', '--data-dir', dataDir, '--restoration-temp-snapshots-dir', temp, '--snapstore-temp-directory', temp],
      { env: { ...process.env, HOME: ctx.work }, encoding: 'utf8', timeout: 300_000 },
    )
    assert.is(restore.status, 0, `etcdbrctl restore (${compression}): ${restore.stderr.slice(-3000)}`)
    const restored = await withEtcdCluster({ dataDirs: [dataDir], name: 'default' }, (cluster) => dumpEtcd(cluster.endpoints[0]!))
    assert.is(restored.revision, ctx.source.revision, `${compression}: revision`)
    assert.equal(restored.kvs, ctx.source.kvs, `${compression}: key-values`)
  }
})

test.run()
