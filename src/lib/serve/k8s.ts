/**
 * The one Kubernetes lease client of a `steward serve` process, created on first use (so
 * `@kubernetes/client-node` is loaded only when a lease component runs) and shared by the
 * lease components through {@link Services}.
 */
import { connectEtcdMemberApi, type EtcdMemberApi } from '../k8s/etcd-member.ts'
import { connectLeaseApi, type LeaseApi } from '../k8s/leases.ts'
import type { ServeContext } from './component.ts'

const SERVICE = 'k8s-lease-api'

/** @throws StewardError `K8S_CONFIG_INVALID` (a rejected promise, retried on the next call) */
export function leaseApiFor(ctx: ServeContext): Promise<LeaseApi> {
  const existing = ctx.services.get<Promise<LeaseApi>>(SERVICE)
  if (existing) return existing
  const created = connectLeaseApi({ kubeconfig: ctx.options.kubeconfig, namespace: ctx.options.podNamespace })
  ctx.services.provide(SERVICE, created)
  created.catch(() => ctx.services.provide(SERVICE, undefined))
  return created
}

const ETCD_MEMBER_SERVICE = 'k8s-etcd-member-api'

/**
 * The EtcdMember client of the process, created on first use like {@link leaseApiFor}.
 * @throws StewardError `K8S_CONFIG_INVALID` (a rejected promise, retried on the next call)
 */
export function etcdMemberApiFor(ctx: ServeContext): Promise<EtcdMemberApi> {
  const existing = ctx.services.get<Promise<EtcdMemberApi>>(ETCD_MEMBER_SERVICE)
  if (existing) return existing
  const created = connectEtcdMemberApi({ kubeconfig: ctx.options.kubeconfig, namespace: ctx.options.podNamespace })
  ctx.services.provide(ETCD_MEMBER_SERVICE, created)
  created.catch(() => ctx.services.provide(ETCD_MEMBER_SERVICE, undefined))
  return created
}
