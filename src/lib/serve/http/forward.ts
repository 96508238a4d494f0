/**
 * Follower → leader forwarding of the snapshot routes (docs/serve.md "Forwarding"): the
 * leader is etcd's leader as this member's `Status` reports it; its steward is reached at the
 * scheme and host of the leader's first advertised client URL with this sidecar's port, after
 * its `/healthz` answered `{"health":true}`. TLS trusts `--cacert` (etcd's client CA), as
 * etcd-backup-restore. Any failure is a 405 for the caller.
 */
import { readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { StewardError, messageOf } from '../../errors.ts'
import type { ServeContext } from '../component.ts'

export interface ForwardResponse {
  readonly status: number
  readonly body: Buffer
  readonly contentType: string | undefined
}

/** One request with a body read whole; rejects on transport errors and after `timeoutMs`. */
export function fetchBuffer(url: string, options: { method: string; timeoutMs: number; ca?: Buffer | undefined }): Promise<ForwardResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url)
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    const req = send(target, { method: options.method, timeout: options.timeoutMs, ...(options.ca ? { ca: options.ca } : {}) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), contentType: res.headers['content-type'] }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target.origin} within ${options.timeoutMs / 1000}s`)))
    req.on('error', reject)
    req.end()
  })
}

/**
 * The base URL of the leader's steward, or `null` when this member leads.
 * @throws StewardError when the leader cannot be determined
 */
export async function leaderStewardUrl(ctx: ServeContext): Promise<string | null> {
  const endpoint = ctx.etcd.endpoints[0]
  if (!endpoint) throw new StewardError('CONFIG_INVALID', 'forward', 'no etcd endpoint')
  const timeoutMs = ctx.options.leaderElectionTimeoutSeconds * 1000
  const status = await ctx.etcd.status(endpoint, timeoutMs)
  if (status.leaderId === '0') throw new StewardError('ETCD_REQUEST_FAILED', 'forward', 'etcd reports no leader')
  if (status.leaderId === status.memberId) return null
  const leader = (await ctx.etcd.members(timeoutMs)).find((m) => m.id === status.leaderId)
  const clientUrl = leader?.clientUrls[0]
  if (!clientUrl) throw new StewardError('ETCD_REQUEST_FAILED', 'forward', `leader ${status.leaderId} advertises no client URL`)
  const url = new URL(clientUrl)
  return `${url.protocol}//${url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname}:${ctx.options.serverPort}`
}

/**
 * Forwards `method pathAndQuery` to the leader's steward.
 * @returns the leader's answer, or a 405 (with the reason logged) when forwarding is impossible,
 *   or `null` when this member is the leader itself (the caller answers)
 */
export async function forwardToLeader(ctx: ServeContext, method: string, pathAndQuery: string): Promise<ForwardResponse | null> {
  try {
    const base = await leaderStewardUrl(ctx)
    if (base === null) return null
    const ca = ctx.options.etcd.caFile ? await readFile(ctx.options.etcd.caFile) : undefined
    const health = await fetchBuffer(`${base}/healthz`, { method: 'GET', timeoutMs: 10_000, ca })
    let healthy = false
    try {
      healthy = (JSON.parse(health.body.toString('utf8')) as { health?: unknown }).health === true
    } catch {
      healthy = false
    }
    if (!healthy) throw new StewardError('ETCD_REQUEST_FAILED', 'forward', `the leader's steward at ${base} is not healthy`)
    ctx.logger.info({ component: 'forward', target: base, path: pathAndQuery }, `forwarding ${method} ${pathAndQuery} to the leader's steward`)
    return await fetchBuffer(`${base}${pathAndQuery}`, { method, timeoutMs: (ctx.options.etcd.snapshotTimeoutSeconds + 60) * 1000, ca })
  } catch (error) {
    ctx.metrics.componentFailures.inc({ component: 'forward' })
    ctx.logger.warn({ component: 'forward', err: error }, `cannot forward ${pathAndQuery} to the leader: ${messageOf(error)}`)
    return { status: 405, body: Buffer.alloc(0), contentType: undefined }
  }
}
