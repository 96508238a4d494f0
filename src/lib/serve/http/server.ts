/**
 * Serves the runtime's Hono app over HTTP, or HTTPS when `--server-cert` and `--server-key`
 * are both given (no client certificates are requested, as etcd-backup-restore).
 */
import { readFile } from 'node:fs/promises'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { serve, type ServerType } from '@hono/node-server'
import type { Hono } from 'hono'
import { StewardError, messageOf } from '../../errors.ts'

export interface ListeningServer {
  /** Bound port (useful with port 0). */
  readonly port: number
  readonly tls: boolean
  close(): Promise<void>
}

/**
 * Listens on `host:port`.
 * @throws StewardError `CONFIG_INVALID` (only one of cert/key, unreadable files, port in use)
 */
export async function listen(app: Hono, options: { host: string; port: number; certFile?: string | undefined; keyFile?: string | undefined }): Promise<ListeningServer> {
  if (Boolean(options.certFile) !== Boolean(options.keyFile)) {
    throw new StewardError('CONFIG_INVALID', 'http', '--server-cert and --server-key must be given together')
  }
  let tlsOptions: { cert: Buffer; key: Buffer } | undefined
  if (options.certFile && options.keyFile) {
    try {
      tlsOptions = { cert: await readFile(options.certFile), key: await readFile(options.keyFile) }
    } catch (error) {
      throw new StewardError('CONFIG_INVALID', 'http', `--server-cert/--server-key: ${messageOf(error)}`)
    }
  }
  const server: ServerType = await new Promise((resolve, reject) => {
    const base = { fetch: app.fetch, port: options.port, hostname: options.host }
    const s = tlsOptions ? serve({ ...base, createServer: createHttpsServer, serverOptions: tlsOptions }) : serve(base)
    s.once('listening', () => resolve(s))
    s.once('error', (error: Error) => reject(new StewardError('CONFIG_INVALID', 'http', `cannot listen on ${options.host}:${options.port}: ${error.message}`, { hints: ['pick another --server-port'] })))
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    tls: Boolean(tlsOptions),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        ;(server as { closeAllConnections?: () => void }).closeAllConnections?.()
      }),
  }
}
