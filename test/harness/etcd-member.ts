/** One real etcd process: spawn with captured output, readiness via its /health endpoint. */
import { spawn, type ChildProcess } from 'node:child_process'
import { get } from 'node:http'
import { setTimeout as delay } from 'node:timers/promises'
import { findEtcdTool } from '../../src/lib/etcd/binaries.ts'
import { hasExited, trackProcess } from './processes.ts'
import { createRingBuffer, type RingBuffer } from './ring-buffer.ts'

/** Interval between /health polls, ms. */
const POLL_INTERVAL_MS = 50
/** Timeout of one /health request, ms. */
const HEALTH_REQUEST_TIMEOUT_MS = 1000

/** A started etcd process and its captured stdout+stderr. */
export interface MemberProcess {
  name: string
  child: ChildProcess
  log: RingBuffer
  /** Plain-http listener serving /health and /metrics, independent of client TLS. */
  metricsUrl: string
}

/** `process.env` without ETCD_* / ETCDCTL_* variables, which etcd and etcdctl would read as flags. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^ETCD(CTL)?_/.test(key) && key !== 'ETCD_UNSUPPORTED_ARCH') continue
    env[key] = value
  }
  return env
}

/** Spawns etcd with `args`, tracked for teardown, output captured in a ring buffer. */
export function spawnMember(name: string, args: string[], metricsUrl: string): MemberProcess {
  const child = spawn(findEtcdTool('etcd'), args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  trackProcess(child)
  // 1 MiB: tests read leadership changes and defragmentations back from the whole log.
  const log = createRingBuffer(1024 * 1024)
  child.stdout?.on('data', (chunk: Buffer) => log.push(chunk))
  child.stderr?.on('data', (chunk: Buffer) => log.push(chunk))
  child.on('error', (error) => log.push(`\n[harness] spawn error: ${error.message}\n`))
  return { name, child, log, metricsUrl }
}

/** GETs `url` (no keep-alive); resolves status and body, or null on any failure. */
function httpGet(url: string): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    const request = get(url, { agent: false, timeout: HEALTH_REQUEST_TIMEOUT_MS }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
      response.on('error', () => resolve(null))
    })
    request.on('timeout', () => request.destroy())
    request.on('error', () => resolve(null))
  })
}

async function healthy(url: string): Promise<boolean> {
  const response = await httpGet(`${url}/health`)
  return response?.status === 200 && /"health":\s*"true"/.test(response.body)
}

/** Whether the member is the raft leader now (per its /metrics); false when it does not answer. */
export async function isLeader(member: MemberProcess): Promise<boolean> {
  if (hasExited(member.child)) return false
  const response = await httpGet(`${member.metricsUrl}/metrics`)
  return /^etcd_server_is_leader 1$/m.test(response?.body ?? '')
}

/**
 * Polls the member's /health until it reports healthy (it has a leader and serves requests).
 * @param deadline epoch ms after which to give up
 * @param signal stops polling (resolves) when aborted, e.g. because another member failed
 * @throws Error when the process exits first or the deadline passes
 */
export async function waitHealthy(member: MemberProcess, deadline: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    if (signal?.aborted) return
    if (hasExited(member.child)) {
      throw new Error(`etcd member ${member.name} exited during start-up (code ${member.child.exitCode}, signal ${member.child.signalCode})`)
    }
    if (await healthy(member.metricsUrl)) return
    if (Date.now() >= deadline) throw new Error(`etcd member ${member.name} was not healthy before the start-up deadline`)
    await delay(POLL_INTERVAL_MS)
  }
}

/** Whether the member's output says a port it wanted was taken. */
export function lostPortRace(member: MemberProcess): boolean {
  return /address already in use/i.test(member.log.text())
}
