/**
 * Access to `coordination.k8s.io/v1` Leases through `@kubernetes/client-node`, loaded lazily
 * (only `serve` with lease renewal and `compact` with `--enable-snapshot-lease-renewal` load
 * it). Only the verbs druid's Role grants the sidecar are used: get and patch, never create or
 * delete (docs/kubernetes.md "RBAC").
 *
 * Client configuration, first match wins (controller-runtime's order, as etcd-backup-restore):
 * `--kubeconfig`, `KUBECONFIG`, the in-cluster service account (`KUBERNETES_SERVICE_HOST` and
 * `_PORT`, the CA, namespace and token files of the mounted service account; the token file is
 * re-read every `tokenRefreshSeconds` (60) by {@link TokenFile}, so rotated projected tokens are
 * picked up), `~/.kube/config`.
 */
import { existsSync, readFileSync } from 'node:fs'
import { isIPv6 } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { StewardError } from '../errors.ts'
import { kubernetesError } from './errors.ts'
import { SERVICE_ACCOUNT_DIR, TokenFile } from './token.ts'

/** The fields of a Lease steward reads. */
export interface LeaseState {
  readonly name: string
  readonly resourceVersion: string
  readonly holderIdentity: string | undefined
  /** `spec.renewTime` as an ISO string (millisecond precision), or undefined. */
  readonly renewTime: string | undefined
  readonly annotations: Readonly<Record<string, string>>
}

/** A JSON merge patch of a Lease (RFC 7386; `null` removes a field). */
export interface LeasePatch {
  readonly metadata?: { readonly resourceVersion?: string; readonly annotations?: Readonly<Record<string, string | null>> }
  readonly spec?: { readonly holderIdentity?: string; readonly renewTime?: string }
}

/** Leases of one namespace. Every call fails after `timeoutMs` with `K8S_REQUEST_FAILED`. */
export interface LeaseApi {
  readonly namespace: string
  /** @throws StewardError `K8S_NOT_FOUND`, `K8S_FORBIDDEN`, `K8S_REQUEST_FAILED` */
  get(name: string, timeoutMs: number): Promise<LeaseState>
  /**
   * Sends `patch` as `application/merge-patch+json` (client-node's default for patch calls is
   * JSON patch, which the API server would refuse for this body). A `metadata.resourceVersion`
   * in the patch makes it conditional.
   * @throws StewardError `K8S_CONFLICT` (stale resourceVersion), `K8S_NOT_FOUND`, `K8S_FORBIDDEN`, `K8S_REQUEST_FAILED`
   */
  mergePatch(name: string, patch: LeasePatch, timeoutMs: number): Promise<LeaseState>
}

export interface LeaseApiOptions {
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

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let handle: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    handle = setTimeout(() => reject(new StewardError('K8S_REQUEST_FAILED', 'k8s', `${what}: no answer from the Kubernetes API within ${timeoutMs / 1000}s`)), timeoutMs)
  })
  promise.catch(() => undefined)
  return Promise.race([promise, timeout]).finally(() => clearTimeout(handle))
}

function stateOf(lease: { metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> }; spec?: { holderIdentity?: string; renewTime?: Date } }, name: string): LeaseState {
  const renew = lease.spec?.renewTime
  return {
    name: lease.metadata?.name ?? name,
    resourceVersion: lease.metadata?.resourceVersion ?? '',
    holderIdentity: lease.spec?.holderIdentity ?? undefined,
    renewTime: renew instanceof Date && !Number.isNaN(renew.getTime()) ? renew.toISOString() : typeof renew === 'string' ? renew : undefined,
    annotations: lease.metadata?.annotations ?? {},
  }
}

/**
 * The in-cluster configuration (as client-node's `loadFromCluster`, with the directory and the
 * token's re-read period as parameters): server `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
 * CA `<dir>/ca.crt`, namespace from `<dir>/namespace`; no user credentials (the token is added per request).
 */
function loadInCluster(config: import('@kubernetes/client-node').KubeConfig, env: NodeJS.ProcessEnv, dir: string, refreshSeconds: number | undefined): TokenFile {
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

/**
 * Builds a {@link LeaseApi} (loads `@kubernetes/client-node`).
 * @throws StewardError `K8S_CONFIG_INVALID` when no configuration is found or it cannot be read
 */
export async function connectLeaseApi(options: LeaseApiOptions = {}): Promise<LeaseApi> {
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
  const api = config.makeApiClient(k8s.CoordinationV1Api)
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
  const resource = (name: string) => `lease ${namespace}/${name} (coordination.k8s.io/v1, via ${source})`
  return {
    namespace,
    async get(name, timeoutMs) {
      try {
        return stateOf(await withTimeout(api.readNamespacedLease({ name, namespace }), timeoutMs, `get ${resource(name)}`), name)
      } catch (error) {
        throw kubernetesError(error, 'get', resource(name))
      }
    },
    async mergePatch(name, patch, timeoutMs) {
      try {
        return stateOf(await withTimeout(api.patchNamespacedLease({ name, namespace, body: patch }, mergePatch), timeoutMs, `patch ${resource(name)}`), name)
      } catch (error) {
        throw kubernetesError(error, 'patch', resource(name))
      }
    },
  }
}
