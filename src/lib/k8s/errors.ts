/**
 * Maps failures of `@kubernetes/client-node` calls to {@link StewardError}s that name the
 * resource and the verb (docs/kubernetes.md "Errors"): 403 → `K8S_FORBIDDEN`, 404 →
 * `K8S_NOT_FOUND`, 409 → `K8S_CONFLICT`, anything else → `K8S_REQUEST_FAILED`.
 */
import { StewardError } from '../errors.ts'

/** The API server's `Status.message` from an error body (string or parsed), if any. */
function statusMessage(body: unknown): string | undefined {
  let value = body
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body)
    } catch {
      return body.trim() || undefined
    }
  }
  if (typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string') return (value as { message: string }).message
  return undefined
}

/**
 * @param verb Kubernetes verb (`get`, `patch`, `update`)
 * @param resource e.g. `lease shoot--a/etcd-main-0`
 */
export function kubernetesError(error: unknown, verb: string, resource: string): StewardError {
  if (error instanceof StewardError) return error
  const code = typeof (error as { code?: unknown })?.code === 'number' ? (error as { code: number }).code : undefined
  const message = statusMessage((error as { body?: unknown })?.body) ?? (error instanceof Error ? error.message : String(error))
  const details = { verb, resource, ...(code === undefined ? {} : { status: code }) }
  switch (code) {
    case 403:
      return new StewardError('K8S_FORBIDDEN', 'k8s', `cannot ${verb} ${resource}: forbidden by the Kubernetes API (${message})`, {
        cause: error,
        details,
        hints: [`grant the service account "${verb}" on this resource (docs/kubernetes.md "RBAC")`],
      })
    case 404:
      return new StewardError('K8S_NOT_FOUND', 'k8s', `cannot ${verb} ${resource}: not found (${message})`, {
        cause: error,
        details,
        hints: [resource.startsWith('etcdmembers') ? 'etcd-druid creates EtcdMembers and their CRD (docs/kubernetes.md "EtcdMember")' : 'steward never creates leases: etcd-druid creates them (docs/kubernetes.md "Leases")'],
      })
    case 409:
      return new StewardError('K8S_CONFLICT', 'k8s', `cannot ${verb} ${resource}: conflict (${message})`, { cause: error, details })
    default:
      return new StewardError('K8S_REQUEST_FAILED', 'k8s', `cannot ${verb} ${resource}: ${code === undefined ? '' : `HTTP ${code}: `}${message}`, { cause: error, details })
  }
}
