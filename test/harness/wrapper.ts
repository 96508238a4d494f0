/**
 * A stand-in for etcd-wrapper, doing exactly what it does against the sidecar (research:
 * druid-wrapper-contract §2.2): poll `GET /initialization/status` every second; on exactly
 * `New`, `GET /initialization/start?mode=<sanity|full>` (sanity iff the data volume's
 * `exit_code` file says `terminated`/`interrupt`); once exactly `Successful`, fetch `GET /config`
 * (up to 5 attempts, 1 s apart) and start a REAL etcd from that file (`etcd --config-file`).
 * {@link startWrapperServer} stands in for the wrapper's own HTTP server (its `/stop`).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { spawnMember, waitHealthy, type MemberProcess } from './etcd-member.ts'

export interface WrapperRun {
  /** Status words seen, in order (consecutive repeats collapsed). */
  readonly statuses: string[]
  readonly mode: 'sanity' | 'full'
  readonly configText: string
  readonly etcd: MemberProcess
}

async function get(url: string): Promise<{ status: number; body: string } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(60_000) })
    return { status: res.status, body: await res.text() }
  } catch {
    return null
  }
}

/**
 * Runs the wrapper's bootstrap loop and starts etcd.
 * @param sidecar `http://host:port` of `steward serve`
 * @param dataVolume directory holding `exit_code` (the wrapper's marker)
 * @param metricsUrl must match `listen-metrics-urls` in the served config (health polling)
 * @throws Error when the deadline passes or /config fails 5 times
 */
export async function runWrapper(sidecar: string, dataVolume: string, workDir: string, metricsUrl: string, deadlineSeconds = 120): Promise<WrapperRun> {
  const deadline = Date.now() + deadlineSeconds * 1000
  const exitCode = await readFile(join(dataVolume, 'exit_code'), 'utf8').catch(() => '')
  const mode = ['terminated', 'interrupt'].includes(exitCode.trim()) ? 'sanity' : 'full'
  const statuses: string[] = []
  for (;;) {
    if (Date.now() > deadline) throw new Error(`initialization did not succeed in time; statuses seen: ${statuses.join(' ')}`)
    const res = await get(`${sidecar}/initialization/status`)
    const word = res && res.status >= 200 && res.status <= 202 ? res.body : 'Unknown'
    if (statuses.at(-1) !== word) statuses.push(word)
    if (word === 'Successful') break
    if (word === 'New') await get(`${sidecar}/initialization/start?mode=${mode}`)
    await delay(1000)
  }
  let configText: string | undefined
  for (let attempt = 1; attempt <= 5 && configText === undefined; attempt++) {
    const res = await get(`${sidecar}/config`)
    if (res && res.status >= 200 && res.status <= 202) configText = res.body
    else await delay(1000)
  }
  if (configText === undefined) throw new Error('GET /config failed 5 times (the wrapper would exit 1)')
  const configPath = join(workDir, `etcd.conf.${Date.now()}.yaml`)
  await writeFile(configPath, configText, { mode: 0o600 })
  const etcd = spawnMember('wrapped', [`--config-file=${configPath}`], metricsUrl)
  await waitHealthy(etcd, deadline)
  return { statuses, mode, configText, etcd }
}

export interface WrapperServer {
  readonly port: number
  /** Every request to `/stop`, in order (`POST`, or another method the real wrapper ignores). */
  readonly stopCalls: { readonly method: string; readonly at: number }[]
  close(): Promise<void>
}

/**
 * The wrapper's HTTP server as steward sees it (research: druid-wrapper-contract §2.5): `/stop`
 * answers an empty 200 to any method (only `POST` would stop etcd; here it is recorded, and etcd
 * keeps running), `/readyz` 200. Listens on `host` and a free port (steward is pointed at it
 * with `STEWARD_ETCD_WRAPPER_PORT`, as the real one's 9095 may be taken).
 */
export async function startWrapperServer(host = '127.0.0.1'): Promise<WrapperServer> {
  const stopCalls: { method: string; at: number }[] = []
  const server = createServer((req, res) => {
    if (req.url === '/stop') stopCalls.push({ method: req.method ?? '', at: Date.now() })
    req.resume()
    res.writeHead(200).end()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    stopCalls,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
