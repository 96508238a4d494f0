/**
 * The in-cluster service-account token, re-read from its file at most every `refreshSeconds`
 * (default 60: the kubelet rotates projected tokens well before they expire, and Kubernetes
 * clients re-read them at least once a minute). Replaces client-node's file auth, whose period
 * is fixed, so the period is a parameter (docs/kubernetes.md "Access").
 */
import { readFile } from 'node:fs/promises'
import { StewardError, messageOf } from '../errors.ts'

/** Where a pod's service account is mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'
export const DEFAULT_TOKEN_REFRESH_SECONDS = 60

export class TokenFile {
  readonly path: string
  readonly #refreshMs: number
  readonly #now: () => number
  #token: string | null = null
  #readAt = 0

  constructor(path: string, refreshSeconds = DEFAULT_TOKEN_REFRESH_SECONDS, now: () => number = Date.now) {
    this.path = path
    this.#refreshMs = refreshSeconds * 1000
    this.#now = now
  }

  /**
   * The token, read again when the last read is `refreshSeconds` old.
   * @throws StewardError `K8S_CONFIG_INVALID` when the file cannot be read and no token was read before
   */
  async current(): Promise<string> {
    if (this.#token !== null && this.#now() - this.#readAt < this.#refreshMs) return this.#token
    try {
      this.#token = (await readFile(this.path, 'utf8')).trim()
      this.#readAt = this.#now()
    } catch (error) {
      // A rotation in progress may briefly hide the file; the previous token may still be valid.
      if (this.#token === null) throw new StewardError('K8S_CONFIG_INVALID', 'k8s', `cannot read the service-account token ${this.path}: ${messageOf(error)}`, { cause: error })
    }
    return this.#token
  }
}
