/**
 * Access to `coordination.k8s.io/v1` Leases through `@kubernetes/client-node`, loaded lazily
 * (only `serve` with lease renewal and `compact` with `--enable-snapshot-lease-renewal` load
 * it). Only the verbs druid's Role grants the sidecar are used: get and patch, never create or
 * delete (docs/kubernetes.md "RBAC").
 *
 * Client configuration: src/lib/k8s/kubeconfig.ts.
 */
import { kubernetesError } from './errors.ts'
import { loadKubeConfig, withTimeout, type KubeConfigOptions } from './kubeconfig.ts'

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

export type LeaseApiOptions = KubeConfigOptions

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
 * Builds a {@link LeaseApi} (loads `@kubernetes/client-node`).
 * @throws StewardError `K8S_CONFIG_INVALID` when no configuration is found or it cannot be read
 */
export async function connectLeaseApi(options: LeaseApiOptions = {}): Promise<LeaseApi> {
  const { k8s, config, namespace, source } = await loadKubeConfig(options)
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
