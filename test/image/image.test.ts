/**
 * The container image (dist/steward-image.tar, docs/image.md), run with buildah as druid's pods
 * run it: through its ENTRYPOINT, as user 65532. Builds the image first when it is missing or
 * stale (about half a minute; a no-op copy when .tools/image/ holds one from the same inputs).
 *
 * Not covered yet: `server` answering /healthz inside the image (`steward serve` has not
 * landed); loading the archive into docker or podman (no daemon here; buildah reads it through
 * the same containers/image OCI-archive code podman uses).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { dumpEtcd, dumpHash, writeSampleData } from '../harness/data.ts'
import { startEtcdCluster, withEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { ensureImage, IMAGE_ARCHIVE, openImage, type ImageBuild, type OpenedImage } from '../harness/image.ts'
import { getFreePorts } from '../harness/ports.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

interface Context {
  build: ImageBuild
  image: OpenedImage
  cluster: EtcdCluster
  work: string
}

const NONROOT = 65532
const MiB = 1024 * 1024
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

const test = suite<Context>('container image (buildah, user 65532)', {} as Context)

test.before(async (ctx) => {
  // uvu reports a failing `before` hook only as "0 / N": print why before rethrowing.
  ctx.build = await ensureImage().catch((error: unknown) => {
    console.error('building the image failed:', error)
    throw error
  })
  ctx.image = await openImage()
  ctx.work = await makeTempDir('steward-image-work-')
  ctx.cluster = await startEtcdCluster({ members: 1 })
})

test.after(async (ctx) => {
  await ctx.cluster?.stop()
  await ctx.image?.close()
  if (ctx.work) await removeDir(ctx.work)
})

test('the OCI archive is within the 250 MiB target and names the image', async ({ build }) => {
  assert.ok(build.bytes <= 250 * MiB, `archive is ${(build.bytes / MiB).toFixed(1)} MiB`)
  assert.is((await stat(IMAGE_ARCHIVE)).size, build.bytes)
  const listing = spawnSync('tar', ['-tf', IMAGE_ARCHIVE], { encoding: 'utf8' })
  assert.is(listing.status, 0, listing.stderr)
  assert.ok(listing.stdout.split('\n').includes('index.json'), 'OCI layout: index.json')
  assert.ok(listing.stdout.split('\n').includes('oci-layout'), 'OCI layout: oci-layout')
  assert.is(build.tag, `etcd-steward:${pkg.version}`)
})

test('config: ENTRYPOINT steward, user 65532, HOME /home/nonroot, no CMD', ({ image }) => {
  assert.equal(image.config.Entrypoint, ['/usr/local/bin/steward'])
  assert.is(image.config.User, `${NONROOT}:${NONROOT}`)
  assert.ok(image.config.Env?.includes('HOME=/home/nonroot'))
  assert.ok((image.config.Cmd ?? []).length === 0, `Cmd ${JSON.stringify(image.config.Cmd)}`)
})

test('--version names steward and Node 24', async ({ image }) => {
  const result = await image.run(['--version'])
  assert.is(result.status, 0, result.stderr)
  assert.match(result.stdout, new RegExp(`^etcd-steward/${pkg.version.replaceAll('.', '\\.')} linux-x64 node-v24\\.`))
})

test('--help lists the commands (druid passes subcommands as args to the ENTRYPOINT)', async ({ image }) => {
  const result = await image.run(['--help'])
  assert.is(result.status, 0, result.stderr)
  for (const command of ['snapshot', 'restore', 'validate']) assert.match(result.stdout, new RegExp(`\\n  ${command}\\s`))
})

test('etcd, etcdctl and etcdutl 3.5 run inside (their libraries are in the image)', async ({ image }) => {
  for (const [tool, args] of [['etcd', ['--version']], ['etcdctl', ['version']], ['etcdutl', ['version']]] as const) {
    const result = await image.run(args, { program: `/usr/local/bin/${tool}` })
    assert.is(result.status, 0, `${tool}: ${result.stderr}`)
    assert.match(result.stdout, /(etcd|etcdctl|etcdutl) [Vv]ersion: 3\.5\./)
  }
})

test('every lazily loaded SDK imports inside the image (browser builds and msal-browser are pruned, the Node builds stay)', async ({ image }) => {
  const modules = ['@aws-sdk/client-s3', '@google-cloud/storage', '@azure/storage-blob', '@azure/identity', '@kubernetes/client-node', 'etcd3', 'hono', 'prom-client', 'croner', 'jsep', 'zstd-napi']
  const script = `for (const m of ${JSON.stringify(modules)}) await import(m); console.log('ok')`
  const result = await image.run(['--input-type=module', '-e', script], { program: '/usr/local/bin/node', cwd: '/opt/steward' })
  assert.is(result.status, 0, result.stderr)
  assert.is(result.stdout.trim(), 'ok')
})

test('user 65532 can write /tmp and the copy Job temp dir /home/nonroot/data/tmp (no volume there)', async ({ image }) => {
  const script = "const fs=require('fs');for(const d of ['/tmp','/home/nonroot/data/tmp','/var/etcd/data']){fs.writeFileSync(d+'/probe','x');fs.rmSync(d+'/probe')}console.log(process.getuid()+':'+process.getgid())"
  const result = await image.run(['-e', script], { program: '/usr/local/bin/node' })
  assert.is(result.status, 0, result.stderr)
  assert.is(result.stdout.trim(), `${NONROOT}:${NONROOT}`)
})

test('server (druid passes `server …` to the ENTRYPOINT) answers /healthz 200 once it leads a loopback etcd, and stops on SIGTERM', async ({ image, cluster, work }) => {
  const dir = join(work, 'serve')
  await mkdir(dir)
  await writeFile(join(dir, 'etcd.conf.yaml'), 'name: etcd-main-0\ninitial-cluster: etcd-main-0=http://127.0.0.1:2380\n')
  await chown(dir, NONROOT, NONROOT)
  const [port] = await getFreePorts(1)
  const args = ['server', `--endpoints=${cluster.endpoints[0]}`, '--storage-provider=Local', '--store-container=/serve/store', '--store-prefix=etcd-main', `--server-port=${port}`, '--reelection-period=2s', '--delta-snapshot-period=1h', '--data-dir=/serve/data']
  const child = image.start(args, { mounts: { [dir]: '/serve' }, env: { ETCD_CONF: '/serve/etcd.conf.yaml', POD_NAME: 'etcd-main-0', STEWARD_SERVER_HOST: '127.0.0.1' } })
  let log = ''
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    const deadline = Date.now() + 90_000
    let status = 0
    while (status !== 200 && Date.now() < deadline) {
      status = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0)
      if (status !== 200) await new Promise((r) => setTimeout(r, 250))
    }
    assert.is(status, 200, `/healthz never answered 200:\n${log.slice(-3000)}`)
  } finally {
    // `buildah run` does not forward SIGTERM (it kills its child): signal steward itself, as the
    // kubelet does through the container runtime. chroot isolation shares the host's pid space.
    const pid = await findProcess((cmdline) => /^(\S*\/)?node /.test(cmdline) && cmdline.includes(`--server-port=${port}`))
    assert.ok(pid, 'steward\'s node process inside the image')
    process.kill(pid!, 'SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    assert.is(await exited, 0, `server exit after SIGTERM:\n${log.slice(-3000)}`)
    clearTimeout(timer)
  }
})

/** The pid of the first process whose NUL-separated command line (joined by spaces) matches. */
async function findProcess(matches: (cmdline: string) => boolean): Promise<number | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
    if (matches(cmdline.split('\0').join(' '))) return Number(entry)
  }
  return undefined
}

test('snapshot (full, then delta) and restore in the image against a loopback etcd and a Local store; etcd serves the same data', async ({ image, cluster, work }) => {
  const endpoint = cluster.endpoints[0]!
  const store = join(work, 'store')
  await mkdir(store)
  await chown(store, NONROOT, NONROOT)
  const mounts = { [store]: '/backup' }
  const storeArgs = ['--storage-provider', 'Local', '--store-container', '/backup', '--store-prefix', 'etcd-main']

  await writeSampleData(endpoint, { keys: 400 })
  // zstd goes through the native addon (zstd-napi), which must load inside the image.
  const full = await image.run(['snapshot', '--endpoints', endpoint, ...storeArgs, '--compress-snapshots', '--compression-policy', 'zstd', '--json'], { mounts })
  assert.is(full.status, 0, full.stderr)
  assert.match((JSON.parse(full.stdout) as { key: string }).key, /^etcd-main\/v2\/Full-00000000-\d{8}-\d+\.zst$/)

  await writeSampleData(endpoint, { keys: 200, prefix: '/registry/after-full/' })
  const delta = await image.run(['snapshot', '--kind', 'delta', '--endpoints', endpoint, ...storeArgs, '--json'], { mounts })
  assert.is(delta.status, 0, delta.stderr)
  const deltaResult = JSON.parse(delta.stdout) as { outcome: string; deltas: { key: string }[] }
  assert.is(deltaResult.outcome, 'stored')
  assert.match(deltaResult.deltas[0]?.key ?? '', /^etcd-main\/v2\/Incr-\d{8}-\d{8}-\d+/)
  const source = await dumpEtcd(endpoint)

  // The delta is replayed into a temporary etcd started inside the image (its etcd binary).
  const restored = await image.run(['restore', ...storeArgs, '--data-dir', '/backup/restored', '--json'], { mounts, timeoutSeconds: 300 })
  assert.is(restored.status, 0, restored.stderr)
  const summary = JSON.parse(restored.stdout) as { revision: number; deltasApplied: number; end: string }
  assert.is(summary.revision, source.revision)
  assert.is(summary.deltasApplied, 1)
  assert.is(summary.end, 'complete')

  // Written by the image's user, not by root.
  assert.is((await stat(join(store, 'restored'))).uid, NONROOT)
  for (const name of await readdir(join(store, 'etcd-main', 'v2'))) assert.is((await stat(join(store, 'etcd-main', 'v2', name))).uid, NONROOT, name)

  await withEtcdCluster({ members: 1, dataDirs: [join(store, 'restored')], name: 'default' }, async (copy) => {
    const after = await dumpEtcd(copy.endpoints[0]!)
    assert.is(after.revision, source.revision)
    assert.is(dumpHash(after), dumpHash(source))
  })
})

test.run()
