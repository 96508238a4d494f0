/** Runs the built `steward` CLI (bin/run.js → dist/) as a child process, as a user would. */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const STEWARD_BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  /** stdout parsed as JSON when it is JSON, else undefined. */
  json: unknown
}

/** Runs `steward ...args` to completion (killed after `timeoutSeconds`, default 120). */
export async function runSteward(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutSeconds?: number; cwd?: string } = {}): Promise<CliResult> {
  const child = startSteward(args, options.env, options.cwd)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), (options.timeoutSeconds ?? 120) * 1000)
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 137)))
  clearTimeout(timer)
  let json: unknown
  try {
    json = JSON.parse(stdout)
  } catch {
    json = undefined
  }
  return { code, stdout, stderr, json }
}

/** Starts `steward ...args` (in `cwd` when given) and returns the child (for kill tests). */
export function startSteward(args: readonly string[], env?: NodeJS.ProcessEnv, cwd?: string): ChildProcess {
  return spawn(process.execPath, [STEWARD_BIN, ...args], {
    env: { ...process.env, STEWARD_LOG_LEVEL: 'warn', ...env },
    ...(cwd ? { cwd } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}
