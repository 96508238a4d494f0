/**
 * The container image: build time, size (what it is made of, what a registry would store), and
 * steward's start-up inside it next to ./bin/run.js on the host, side by side in one run. Writes
 * the measured part of the "Container image" section of docs/benchmarks.md. Needs root (buildah).
 *
 *   node bench/image.ts [--rounds 7] [--cold]
 *
 * --cold removes .tools/image/ first, so the build fetches the Debian packages again.
 * etcdbrctl's binary (../shared/tools/etcdbrctl, outside the project) is measured the same way
 * when present: its image is that binary on a distroless base, which is not available here.
 */
import { spawnSync } from 'node:child_process'
import { createReadStream, existsSync, lstatSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createGzip } from 'node:zlib'
import { openImage } from '../test/harness/image.ts'
import { machine, median, mib, writeSection } from './measure.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ROOTFS = join(ROOT, '.tools', 'image', 'rootfs')
// ../shared/tools from the main checkout, ../../shared/tools from a worktree under /work/wt/.
const ETCDBRCTL = [join(ROOT, '..', 'shared', 'tools', 'etcdbrctl'), join(ROOT, '..', '..', 'shared', 'tools', 'etcdbrctl')].find((path) => existsSync(path))
const { values } = parseArgs({ options: { rounds: { type: 'string', default: '7' }, cold: { type: 'boolean', default: false } } })
const rounds = Math.max(3, Number(values.rounds))

if (values.cold) rmSync(join(ROOT, '.tools', 'image'), { recursive: true, force: true })
const started = performance.now()
const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-image.ts'), '--force'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
const buildSeconds = (performance.now() - started) / 1000
if (built.status !== 0) throw new Error('image build failed')
const report = JSON.parse(built.stdout.trim().split('\n').at(-1) ?? '{}') as { archive: string; bytes: number }
const archive = join(ROOT, report.archive)

const parts: [string, string[]][] = [
  ['Node 24 (the npm `node` package\'s binary, as shipped: with symbols)', ['usr/local/bin/node']],
  ['production `node_modules` (types, sources, maps, READMEs pruned)', ['opt/steward/node_modules']],
  ['etcd, etcdctl, etcdutl 3.5 (Debian trixie)', ['usr/local/bin/etcd', 'usr/local/bin/etcdctl', 'usr/local/bin/etcdutl']],
  ['glibc, libstdc++, libgcc_s (what `ld.so --list` names)', ['usr/lib/x86_64-linux-gnu']],
]
const total = treeBytes(ROOTFS)
const partRows = parts.map(([label, paths]) => [label, paths.reduce((sum, path) => sum + treeBytes(join(ROOTFS, path)), 0)] as const)
const rest = total - partRows.reduce((sum, [, bytes]) => sum + bytes, 0)
const layerGzip = await gzipBytes(spawnSync('tar', ['-xOf', archive, layerPath(archive)], { maxBuffer: 1024 * 1024 * 1024 }).stdout)
const etcdbrctl = ETCDBRCTL ? { bytes: lstatSync(ETCDBRCTL).size, gzip: await gzipFile(ETCDBRCTL) } : undefined

// Start-up: one process times `steward --version` launches, on the host and inside the image.
const timer = `const {spawnSync}=require('child_process');const [cmd,...args]=JSON.parse(process.argv[1]);const out=[];for(let i=0;i<${rounds + 1};i++){const t=performance.now();const r=spawnSync(cmd,args);if(r.status!==0)throw new Error(String(r.stderr));out.push(performance.now()-t)}console.log(JSON.stringify(out.slice(1)))`
const hostTimes = JSON.parse(spawnSync(process.execPath, ['-e', timer, JSON.stringify([join(ROOT, 'bin', 'run.js'), '--version'])], { encoding: 'utf8' }).stdout) as number[]
const image = await openImage(archive)
let imageTimes: number[]
try {
  const result = await image.run(['-e', timer, JSON.stringify(['/usr/local/bin/steward', '--version'])], { program: '/usr/local/bin/node' })
  if (result.status !== 0) throw new Error(result.stderr)
  imageTimes = JSON.parse(result.stdout) as number[]
} finally {
  await image.close()
}
const hostMs = median(hostTimes)
const imageMs = median(imageTimes)

const body = `Measured by \`node bench/image.ts${values.cold ? ' --cold' : ''} --rounds ${rounds}\` on ${new Date().toISOString().slice(0, 10)}, ${machine()}.

| measure | value |
|---|---|
| build (\`scripts/build-image.ts --force\`${values.cold ? ', Debian packages fetched first' : ''}) | ${buildSeconds.toFixed(1)} s |
| OCI archive (one uncompressed layer) | ${report.bytes} bytes = **${mib(report.bytes)} MiB** (target ≤ 250 MiB: ${report.bytes <= 250 * 1024 * 1024 ? 'met' : '**not met**'}) |
| files in the image | ${mib(total)} MiB |
| the layer gzipped (-6), as a registry stores it | ${mib(layerGzip)} MiB |
${etcdbrctl ? `| etcdbrctl binary (v0.42.0, \`-s -w\`) / gzipped | ${mib(etcdbrctl.bytes)} MiB / ${mib(etcdbrctl.gzip)} MiB |\n` : ''}| \`steward --version\`, median of ${rounds}: host \`bin/run.js\` / in the image | ${hostMs.toFixed(0)} ms / ${imageMs.toFixed(0)} ms (${(imageMs / hostMs).toFixed(2)} ×) |

| part of the image | MiB |
|---|---|
${partRows.map(([label, bytes]) => `| ${label} | ${mib(bytes)} |`).join('\n')}
| steward's build, CA bundle, zoneinfo, \`env\`, licences, directories | ${mib(rest)} |`
await writeSection('image', body)
console.log(body)

/** Bytes of every file and directory entry under `path` (symlinks counted as links). */
function treeBytes(path: string): number {
  const stat = lstatSync(path)
  if (!stat.isDirectory()) return stat.size
  return stat.size + readdirSync(path).reduce((sum, name) => sum + treeBytes(join(path, name)), 0)
}

/** Path inside the OCI archive of its (single) layer blob: index.json → manifest → layers[0]. */
function layerPath(tar: string): string {
  const read = (path: string) => JSON.parse(spawnSync('tar', ['-xOf', tar, path], { encoding: 'utf8' }).stdout) as Record<string, unknown>
  const blob = (digest: string) => `blobs/${digest.replace(':', '/')}`
  const index = read('index.json') as { manifests: { digest: string }[] }
  const manifest = read(blob(index.manifests[0]!.digest)) as { layers: { digest: string }[] }
  return blob(manifest.layers[0]!.digest)
}

function gzipBytes(data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const gzip = createGzip({ level: 6 })
    let bytes = 0
    gzip.on('data', (chunk: Buffer) => (bytes += chunk.length))
    gzip.on('end', () => resolve(bytes))
    gzip.on('error', reject)
    gzip.end(data)
  })
}

async function gzipFile(path: string): Promise<number> {
  const chunks: Buffer[] = []
  for await (const chunk of createReadStream(path)) chunks.push(chunk as Buffer)
  return gzipBytes(Buffer.concat(chunks))
}
