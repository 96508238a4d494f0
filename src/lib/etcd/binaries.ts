/**
 * Finds and runs etcd's own programs (etcd, etcdctl, etcdutl). `scripts/install-etcd.sh`
 * installs them project-locally into `.tools/etcd/bin`; `STEWARD_ETCD_BIN_DIR` overrides that.
 */
import { spawn } from 'node:child_process'
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StewardError } from '../errors.ts'

export type EtcdTool = 'etcd' | 'etcdctl' | 'etcdutl'

const COMPONENT = 'etcd-tools'
const SETUP_HINT = 'run npm run setup (scripts/install-etcd.sh)'
const PACKAGE_NAME = 'etcd-steward'
/** Characters of stderr kept in error messages. */
const STDERR_TAIL_CHARS = 2000

const cache = new Map<string, string>()
let packageRoot: string | null | undefined

/** The directory holding steward's package.json, searched upwards from this module (works from src/ and dist/). */
export function findPackageRoot(): string | null {
  if (packageRoot !== undefined) return packageRoot
  let dir = dirname(fileURLToPath(import.meta.url))
  packageRoot = null
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) {
          packageRoot = dir
          break
        }
      } catch {
        // an unreadable manifest is not ours; keep looking upwards
      }
    }
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  return packageRoot
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/**
 * Absolute path of `tool`. When `STEWARD_ETCD_BIN_DIR` is set it is authoritative:
 * `$STEWARD_ETCD_BIN_DIR/<tool>` or an error. Otherwise `<package root>/.tools/etcd/bin/<tool>`,
 * else the first executable `<tool>` on `PATH`. Cached per tool (and per override/PATH value).
 * @param env environment to read `STEWARD_ETCD_BIN_DIR` and `PATH` from [process.env]
 * @throws StewardError `TOOL_FAILED` when the tool cannot be found
 */
export function findEtcdTool(tool: EtcdTool, env: NodeJS.ProcessEnv = process.env): string {
  const override = env['STEWARD_ETCD_BIN_DIR']
  const pathVar = env['PATH'] ?? ''
  const key = `${tool}\0${override ?? ''}\0${override ? '' : pathVar}`
  const cached = cache.get(key)
  if (cached !== undefined) return cached

  const candidates: string[] = []
  if (override) {
    candidates.push(join(override, tool))
  } else {
    const root = findPackageRoot()
    if (root) candidates.push(join(root, '.tools', 'etcd', 'bin', tool))
    for (const dir of pathVar.split(delimiter)) if (dir) candidates.push(join(dir, tool))
  }
  const found = candidates.find(isExecutableFile)
  if (!found) {
    const where = override ? `in STEWARD_ETCD_BIN_DIR (${override})` : 'in .tools/etcd/bin or on PATH'
    throw new StewardError('TOOL_FAILED', COMPONENT, `${tool} not found ${where}`, {
      hints: [SETUP_HINT],
      details: { tool, searched: candidates.slice(0, 5) },
    })
  }
  cache.set(key, found)
  return found
}

const SECRET_FLAG = /^(--?[\w-]*(?:password|passwd|secret)[\w-]*)=(.*)$/i
const SECRET_FLAG_BARE = /^--?[\w-]*(?:password|passwd|secret)[\w-]*$/i
const USER_FLAG = /^(--?user)=([^:]*):.*$/

/** `args` with passwords replaced by `***` (`--password=x`, `--password x`, `--user=name:x`, `--user name:x`, `user add name:x`). */
export function redactArgs(args: readonly string[]): string[] {
  const out: string[] = []
  const userCommand = args.some((arg, i) => arg === 'user' && (args[i + 1] === 'add' || args[i + 1] === 'passwd'))
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ''
    const secret = SECRET_FLAG.exec(arg)
    const user = USER_FLAG.exec(arg)
    if (secret) out.push(`${secret[1]}=***`)
    else if (user) out.push(`${user[1]}=${user[2]}:***`)
    else if (SECRET_FLAG_BARE.test(arg) && i + 1 < args.length) {
      out.push(arg, '***')
      i++
    }
    else if ((arg === '--user' || arg === '-u') && i + 1 < args.length) out.push(arg, hideAfterColon(args[++i] ?? ''))
    else if (userCommand && !arg.startsWith('-')) out.push(hideAfterColon(arg))
    else out.push(arg)
  }
  return out
}

function hideAfterColon(value: string): string {
  const colon = value.indexOf(':')
  return colon < 0 ? value : `${value.slice(0, colon)}:***`
}

function tail(text: string): string {
  const trimmed = text.trimEnd()
  return trimmed.length <= STDERR_TAIL_CHARS ? trimmed : `…${trimmed.slice(-STDERR_TAIL_CHARS)}`
}

/** Options for {@link runEtcdTool}. */
export interface RunEtcdToolOptions {
  /** Kills the tool (SIGKILL) and rejects with `ABORTED` when aborted. */
  signal?: AbortSignal
  /** Kills the tool and rejects with `TOOL_FAILED` after this many seconds. */
  timeoutSeconds?: number
  /** Environment of the tool, also used to locate it [process.env]. */
  env?: NodeJS.ProcessEnv
  /** Working directory of the tool [process.cwd()]. */
  cwd?: string
}

/**
 * Runs `tool` with `args` and resolves its output. stdin is closed.
 * @throws StewardError `TOOL_FAILED` on a non-zero exit, a spawn error or the timeout (message
 *   and details carry the tool, the args with passwords redacted and stderr's tail);
 *   `ABORTED` when `options.signal` aborts
 */
export function runEtcdTool(tool: EtcdTool, args: readonly string[], options: RunEtcdToolOptions = {}): Promise<{ stdout: string; stderr: string }> {
  const { signal, timeoutSeconds, env = process.env, cwd } = options
  const shownArgs = redactArgs(args)
  const command = `${tool} ${shownArgs.join(' ')}`.trimEnd()
  const details = (extra: Record<string, unknown>) => ({ tool, args: shownArgs, ...extra })
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new StewardError('ABORTED', COMPONENT, `${command}: aborted before start`, { cause: signal.reason, details: details({}) }))
      return
    }
    let path: string
    try {
      path = findEtcdTool(tool, env)
    } catch (error) {
      reject(error)
      return
    }
    const child = spawn(path, [...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    let failure: StewardError | undefined
    const fail = (error: StewardError) => {
      failure ??= error
      child.kill('SIGKILL')
    }
    const onAbort = () => fail(new StewardError('ABORTED', COMPONENT, `${command}: aborted`, { cause: signal?.reason, details: details({}) }))
    signal?.addEventListener('abort', onAbort, { once: true })
    const timer =
      timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => {
            fail(new StewardError('TOOL_FAILED', COMPONENT, `${command} timed out after ${timeoutSeconds} s`, { details: details({ timeoutSeconds }) }))
          }, timeoutSeconds * 1000)
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    const finish = () => {
      if (timer) clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
    }
    child.on('error', (error) => {
      finish()
      reject(failure ?? new StewardError('TOOL_FAILED', COMPONENT, `${command} could not be started: ${error.message}`, { cause: error, hints: [SETUP_HINT], details: details({ path }) }))
    })
    child.on('close', (code, exitSignal) => {
      finish()
      const out = Buffer.concat(stdout).toString('utf8')
      const err = Buffer.concat(stderr).toString('utf8')
      if (failure) return reject(failure)
      if (code === 0) return resolve({ stdout: out, stderr: err })
      const how = code === null ? `was killed by ${exitSignal}` : `exited with code ${code}`
      const stderrTail = tail(err)
      reject(
        new StewardError('TOOL_FAILED', COMPONENT, `${command} ${how}${stderrTail ? `: ${stderrTail}` : ''}`, {
          details: details({ exitCode: code, signal: exitSignal, stderrTail }),
        }),
      )
    })
  })
}
