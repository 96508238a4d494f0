/**
 * Loads the Kubernetes client configuration for every API steward calls (Leases, EtcdMembers),
 * loading `@kubernetes/client-node` lazily. First match wins (controller-runtime's order, as
 * etcd-backup-restore): `--kubeconfig`, `KUBECONFIG`, the in-cluster service account
 * (`KUBERNETES_SERVICE_HOST` and `_PORT`, the CA, namespace and token files of the mounted
 * service account; the token file is re-read every `tokenRefreshSeconds` (60) by {@link TokenFile},
 * so rotated projected tokens are picked up), `~/.kube/config` (docs/kubernetes.md "Client
 * configuration").
 */
import { existsSync, readFileSync } from 'node:fs'
import { isIPv6 } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { KubeConfig } from '@kubernetes/client-node'
import { StewardError } from '../errors.ts'
import { SERVICE_ACCOUNT_DIR, TokenFile } from './token.ts'

export interface KubeConfigOptions {
  /** `--kubeconfig` */
  readonly kubeconfig?: string | undefined
  /** `POD_NAMESPACE`; else the kubeconfig context's namespace; else `default`. */
  readonly namespace?: string | undefined
  readonly env?: NodeJS.ProcessEnv
  /** In-cluster: the mounted service account (`token`, `ca.crt`, `namespace`). [/var/run/secrets/kubernetes.io/serviceaccount] */
  readonly serviceAccountDir?: string
  /** In-cluster: how often the token file is read again, seconds. [60] */
  readonly tokenRefreshSeconds?: number
}

export interface LoadedKubeConfig {
  /** The client-node module (already imported). */
  readonly k8s: typeof import('@kubernetes/client-node')
  readonly config: KubeConfig
  readonly namespace: string
  /** Where the configuration came from, for error messages (`--kubeconfig /x`, `the in-cluster service account`). */
  readonly source: string
}

/**
 * @throws StewardError `K8S_CONFIG_INVALID` when no configuration is found or it cannot be read
 */
export async function loadKubeConfig(options: KubeConfigOptions = {}): Promise<LoadedKubeConfig> {
  const env = options.env ?? process.env
  const k8s = await import('@kubernetes/client-node')
  const config = new k8s.KubeConfig()
  let source: string
  let token: TokenFile | null = null
  try {
    if (options.kubeconfig) {
      source = `--kubeconfig ${options.kubeconfig}`
      config.loadFromFile(options.kubeconfig)
    } else if (env['KUBECONFIG']) {
      source = `KUBECONFIG=${env['KUBECONFIG']}`
      config.loadFromDefault()
    } else if (env['KUBERNETES_SERVICE_HOST']) {
      source = 'the in-cluster service account'
      token = loadInCluster(config, env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, options.tokenRefreshSeconds)
    } else if (existsSync(join(homedir(), '.kube', 'config'))) {
      source = '~/.kube/config'
      config.loadFromDefault()
    } else {
      throw new Error('none of --kubeconfig, KUBECONFIG, KUBERNETES_SERVICE_HOST (in-cluster) or ~/.kube/config is available')
    }
    if (!config.getCurrentCluster()) throw new Error('it names no current cluster')
  } catch (error) {
    throw new StewardError('K8S_CONFIG_INVALID', 'k8s', `no usable Kubernetes client configuration: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
      hints: ['pass --kubeconfig or set KUBECONFIG; in a pod the service account is used'],
    })
  }
  const namespace = options.namespace || config.getContextObject(config.getCurrentContext())?.namespace || 'default'
  if (token) {
    // The bearer token comes from the re-read file, after client-node has applied the CA.
    const base = config.applySecurityAuthentication.bind(config)
    const file = token
    config.applySecurityAuthentication = async (context) => {
      await base(context)
      context.setHeaderParam('Authorization', `Bearer ${await file.current()}`)
    }
  }
  return { k8s, config, namespace, source }
}

/**
 * The in-cluster configuration (as client-node's `loadFromCluster`, with the directory and the
 * token's re-read period as parameters): server `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
 * CA `<dir>/ca.crt`, namespace from `<dir>/namespace`; no user credentials (the token is added per request).
 */
function loadInCluster(config: KubeConfig, env: NodeJS.ProcessEnv, dir: string, refreshSeconds: number | undefined): TokenFile {
  const host = env['KUBERNETES_SERVICE_HOST']!
  const port = env['KUBERNETES_SERVICE_PORT'] || '443'
  const namespaceFile = join(dir, 'namespace')
  const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, 'utf8').trim() : undefined
  config.loadFromOptions({
    clusters: [{ name: 'in-cluster', server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`, caFile: join(dir, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'service-account' }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'service-account', ...(namespace ? { namespace } : {}) }],
    currentContext: 'in-cluster',
  })
  return new TokenFile(join(dir, 'token'), refreshSeconds)
}

/** Rejects with `K8S_REQUEST_FAILED` when `promise` takes longer than `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let handle: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    handle = setTimeout(() => reject(new StewardError('K8S_REQUEST_FAILED', 'k8s', `${what}: no answer from the Kubernetes API within ${timeoutMs / 1000}s`)), timeoutMs)
  })
  promise.catch(() => undefined)
  return Promise.race([promise, timeout]).finally(() => clearTimeout(handle))
}
