/**
 * The container image for tests: builds dist/steward-image.tar when it is missing or stale
 * (scripts/build-image.ts, cached by input hash) and runs commands in it with buildah — no
 * daemon, no registry. Each opened image gets its own buildah storage in a temp dir (vfs
 * driver), removed by `close()` or at process exit.
 *
 * Runs use chroot isolation, which shares the host's network namespace: a steward inside
 * reaches an etcd the harness started on loopback. Commands run as the image's user
 * (65532:65532) unless `user` says otherwise, and through the image's ENTRYPOINT, as a
 * container runtime would (buildah run itself ignores the ENTRYPOINT).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { trackProcess, trackTempDir, untrackTempDir } from './processes.ts'
import { makeTempDir, removeDir } from './tmp.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const IMAGE_ARCHIVE = join(ROOT, 'dist', 'steward-image.tar')

/** What scripts/build-image.ts reports. */
export interface ImageBuild {
  archive: string
  tag: string
  /** Size of the OCI archive (uncompressed layer), bytes. */
  bytes: number
  seconds: number
  /** True when the archive was copied from .tools/image/ instead of built. */
  cached: boolean
}

/** The image's OCI config (the fields a runtime acts on). */
export interface ImageConfig {
  User?: string
  Entrypoint?: string[]
  Cmd?: string[]
  Env?: string[]
  WorkingDir?: string
  ExposedPorts?: Record<string, unknown>
}

export interface RunResult {
  status: number | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  /** Bind mounts, host path → container path (read-write). */
  mounts?: Record<string, string>
  /** `uid:gid` [the image's USER]. */
  user?: string
  /** Run this program instead of the ENTRYPOINT (absolute path inside the image). */
  program?: string
  /** Kill the run after this many seconds [120]. */
  timeoutSeconds?: number
  /** Working directory inside the container [the image's WorkingDir]. */
  cwd?: string
  /** Extra environment variables inside the container. */
  env?: Record<string, string>
}

export interface OpenedImage {
  config: ImageConfig
  /** Runs ENTRYPOINT + `args` (or `program` + `args`) in the image's working container. */
  run(args: readonly string[], options?: RunOptions): Promise<RunResult>
  /** Starts ENTRYPOINT + `args` in the background (a long-running `server`); the caller stops it. */
  start(args: readonly string[], options?: RunOptions): ChildProcess
  /** Removes the working container and the temp storage. Idempotent. */
  close(): Promise<void>
}

/**
 * Builds the image unless dist/ already holds one from the same inputs.
 * @throws Error with the build's output when it fails or takes longer than `timeoutSeconds` [900]
 */
export async function ensureImage(timeoutSeconds = 900): Promise<ImageBuild> {
  const result = await exec(process.execPath, [join(ROOT, 'scripts', 'build-image.ts')], timeoutSeconds)
  const last = result.stdout.trim().split('\n').at(-1) ?? ''
  if (result.status !== 0 || !last.startsWith('{')) throw new Error(`image build failed (${result.status}):\n${result.stderr.slice(-4000)}\n${result.stdout.slice(-2000)}`)
  return JSON.parse(last) as ImageBuild
}

/**
 * Loads the OCI archive into a fresh temp buildah storage and creates a working container.
 * @throws Error when buildah cannot read the archive
 */
export async function openImage(archive = IMAGE_ARCHIVE): Promise<OpenedImage> {
  const storage = await makeTempDir('steward-image-test-')
  trackTempDir(storage)
  const globals = ['--root', join(storage, 'root'), '--runroot', join(storage, 'run'), '--storage-driver', 'vfs']
  const buildah = async (args: string[], timeoutSeconds = 300): Promise<string> => {
    const result = await exec('buildah', [...globals, ...args], timeoutSeconds)
    if (result.status !== 0) throw new Error(`buildah ${args.slice(0, 3).join(' ')} failed (${result.status}): ${result.stderr.slice(-2000)}`)
    return result.stdout
  }
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await exec('buildah', [...globals, 'rm', '--all'], 120).catch(() => undefined)
    await removeDir(storage)
    untrackTempDir(storage)
  }
  try {
    const container = (await buildah(['from', '--quiet', `oci-archive:${archive}`])).trim()
    const inspected = JSON.parse(await buildah(['inspect', '--type', 'container', container])) as { OCIv1: { config?: ImageConfig } }
    const config = inspected.OCIv1.config ?? {}
    const runArgs = (args: readonly string[], options: RunOptions): string[] => {
      const mounts = Object.entries(options.mounts ?? {}).flatMap(([host, inside]) => ['--volume', `${host}:${inside}`])
      const env = Object.entries(options.env ?? {}).flatMap(([name, value]) => ['--env', `${name}=${value}`])
      const user = options.user ?? config.User ?? ''
      const command = options.program ? [options.program] : (config.Entrypoint ?? [])
      const workdir = options.cwd ? ['--workingdir', options.cwd] : []
      return [...globals, 'run', '--isolation', 'chroot', ...(user ? ['--user', user] : []), ...workdir, ...env, ...mounts, container, '--', ...command, ...args]
    }
    const run = async (args: readonly string[], options: RunOptions = {}): Promise<RunResult> => exec('buildah', runArgs(args, options), options.timeoutSeconds ?? 120)
    const start = (args: readonly string[], options: RunOptions = {}): ChildProcess => {
      const child = spawn('buildah', runArgs(args, options), { stdio: ['ignore', 'pipe', 'pipe'] })
      trackProcess(child)
      return child
    }
    return { config, run, start, close }
  } catch (error) {
    await close()
    throw error
  }
}

/** Runs `command`, collecting its output; SIGKILL after `timeoutSeconds`. Never rejects on exit status. */
function exec(command: string, args: string[], timeoutSeconds: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    trackProcess(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => {
      stderr += `\n[harness] ${command} killed after ${timeoutSeconds} s`
      child.kill('SIGKILL')
    }, timeoutSeconds * 1000)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}
