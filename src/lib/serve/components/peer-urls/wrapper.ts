/**
 * The one call steward makes to etcd-wrapper: `POST /stop`, after which the wrapper stops etcd
 * and exits, so the container restarts and etcd comes back with the peer URLs of the current
 * config (docs/serve.md "Peer-URL updates"; etcd-wrapper serves it on port 9095).
 */
import { readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { StewardError, messageOf } from '../../../errors.ts'

/**
 * The wrapper's stop URL: scheme `https` iff the sidecar serves TLS (`--server-cert` and
 * `--server-key`, as etcd-backup-restore decides), host of the first `--endpoints`, `port`.
 */
export function wrapperStopUrl(endpoint: string, port: number, tls: boolean): string {
  return `${tls ? 'https' : 'http'}://${new URL(endpoint).hostname}:${port}/stop`
}

/**
 * Sends `POST <url>` with an empty body.
 * @param caFile PEM bundle trusted for an https URL (`--cacert`); system CAs otherwise
 * @throws StewardError `ETCD_WRAPPER_STOP_FAILED` on a connection error, a timeout or a status other than 2xx
 */
export async function stopEtcdWrapper(url: string, options: { readonly caFile?: string | undefined; readonly timeoutMs: number }): Promise<number> {
  const https = url.startsWith('https:')
  const ca = https && options.caFile ? await readFile(options.caFile) : undefined
  const fail = (why: string, cause?: unknown) =>
    new StewardError('ETCD_WRAPPER_STOP_FAILED', 'peer-urls', `POST ${url}: ${why}`, {
      cause,
      hints: ['etcd-wrapper listens on port 9095 of the etcd container; without etcd-wrapper, leave --use-etcd-wrapper off and restart etcd yourself'],
    })
  return new Promise<number>((resolve, reject) => {
    const send = https ? httpsRequest : httpRequest
    const req = send(url, { method: 'POST', headers: { 'Content-Length': 0 }, timeout: options.timeoutMs, ...(ca ? { ca } : {}) }, (res) => {
      res.resume()
      const status = res.statusCode ?? 0
      if (status >= 200 && status < 300) resolve(status)
      else reject(fail(`answered HTTP ${status}`))
    })
    req.on('timeout', () => req.destroy(fail(`no answer within ${options.timeoutMs / 1000}s`)))
    req.on('error', (error) => reject(error instanceof StewardError ? error : fail(messageOf(error), error)))
    req.end()
  })
}
