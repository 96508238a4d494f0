/**
 * An Azure Blob Storage server for tests: the blob service of the `azurite` package (a dev
 * dependency), run as a child process on a free loopback port (`--blobPort 0`; the port is read
 * from its "listens on" line) with its data in a fresh temp directory that `close()` removes.
 *
 * Azurite serves the well-known development account `devstoreaccount1` path-style:
 * `http://127.0.0.1:<port>/devstoreaccount1/<container>/<blob>`, and checks Shared Key
 * signatures against the published development key. Telemetry is disabled.
 *
 * The child is tracked (test/harness/processes.ts), so it is killed even when a test run is
 * interrupted; `close()` stops it with SIGTERM, then SIGKILL after a grace period.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { request } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { terminate, trackProcess, trackTempDir, untrackTempDir } from './processes.ts'
import { makeTempDir, removeDir } from './tmp.ts'

/** Azurite's development account (documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1'
/** The development account's key (documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

export interface AzuriteHandle {
  /** Account URL, `http://127.0.0.1:<port>/devstoreaccount1` (a store's `endpointOverride`). */
  readonly endpoint: string
  /** `devstoreaccount1`. */
  readonly account: string
  /** The development account key. */
  readonly accountKey: string
  /** Creates a container (no error when it exists). */
  createContainer(name: string): Promise<void>
  /** Stops Azurite and removes its data directory. Calling it twice is harmless. */
  close(): Promise<void>
}

const START_TIMEOUT_MS = 30_000
const STOP_GRACE_MS = 5_000

/**
 * Starts Azurite's blob service. Always pair with `close()` (in a suite's `after` hook).
 * @throws when Azurite exits or does not report its port within 30 s
 */
export async function startAzurite(): Promise<AzuriteHandle> {
  const main = join(dirname(createRequire(import.meta.url).resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js')
  const location = await makeTempDir('steward-azurite-')
  trackTempDir(location)
  const args = [main, '--blobHost', '127.0.0.1', '--blobPort', '0', '--location', location, '--silent', '--skipApiVersionCheck', '--loose', '--disableTelemetry']
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  trackProcess(child)
  let port: number
  try {
    port = await portOf(child)
  } catch (error) {
    await terminate(child, 'SIGKILL', STOP_GRACE_MS)
    await removeDir(location)
    untrackTempDir(location)
    throw error
  }
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`
  let closed = false
  return {
    endpoint,
    account: AZURITE_ACCOUNT,
    accountKey: AZURITE_ACCOUNT_KEY,
    createContainer: (name) => createContainer(endpoint, name),
    async close(): Promise<void> {
      if (closed) return
      closed = true
      await terminate(child, 'SIGTERM', STOP_GRACE_MS)
      await removeDir(location)
      untrackTempDir(location)
    },
  }
}

/** Waits for Azurite's "successfully listens on http://127.0.0.1:<port>" line. */
function portOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => finish(new Error(`azurite did not start within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const match = /listens on https?:\/\/[^:\s]+:(\d+)/.exec(output)
      if (match) finish(null, Number(match[1]))
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      finish(new Error(`azurite exited (${signal ?? `code ${code}`}) before listening:\n${output}`))
    }
    function finish(error: Error | null, port?: number): void {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      // Keep draining the pipes so a chatty child never blocks on a full pipe.
      child.stdout?.resume()
      child.stderr?.resume()
      if (error) reject(error)
      else resolve(port!)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
  })
}

/**
 * Creates a container with one signed REST call (Create Container, Shared Key auth), so the
 * harness does not depend on the driver under test. 409 ContainerAlreadyExists is fine.
 */
function createContainer(endpoint: string, name: string): Promise<void> {
  const url = new URL(`${endpoint}/${name}?restype=container`)
  const date = new Date().toUTCString()
  const version = '2021-12-02'
  // Shared Key string-to-sign for a body-less PUT: verb, 11 empty standard headers,
  // the x-ms-* headers, then the canonicalized resource.
  const canonicalHeaders = `x-ms-date:${date}\nx-ms-version:${version}\n`
  const canonicalResource = `/${AZURITE_ACCOUNT}${url.pathname}\nrestype:container`
  const stringToSign = ['PUT', '', '', '', '', '', '', '', '', '', '', ''].join('\n') + '\n' + canonicalHeaders + canonicalResource
  const signature = createHmac('sha256', Buffer.from(AZURITE_ACCOUNT_KEY, 'base64')).update(stringToSign, 'utf8').digest('base64')
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'PUT',
      headers: { 'x-ms-date': date, 'x-ms-version': version, authorization: `SharedKey ${AZURITE_ACCOUNT}:${signature}`, 'content-length': '0' },
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => {
        if (res.statusCode === 201 || res.statusCode === 409) resolve()
        else reject(new Error(`azurite: creating container ${name} failed with HTTP ${res.statusCode}: ${body}`))
      })
    })
    req.on('error', reject)
    req.end()
  })
}
