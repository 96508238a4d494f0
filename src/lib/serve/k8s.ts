/**
 * The Kubernetes clients of a `steward serve` process (Leases, EtcdMembers), each created on
 * first use (so `@kubernetes/client-node` is loaded only when a component needs it) and shared
 * by the components through {@link Services}.
 */
import { connectEtcdMemberApi, type EtcdMemberApi } from '../k8s/etcd-member.ts'
import type { KubeConfigOptions } from '../k8s/kubeconfig.ts'
import { connectLeaseApi, type LeaseApi } from '../k8s/leases.ts'
import type { ServeContext } from './component.ts'

/** The client under `service`, connected once; a failed connection is forgotten so the next call retries. */
function sharedClient<T>(ctx: ServeContext, service: string, connect: (options: KubeConfigOptions) => Promise<T>): Promise<T> {
  const existing = ctx.services.get<Promise<T>>(service)
  if (existing) return existing
  const created = connect({ kubeconfig: ctx.options.kubeconfig, namespace: ctx.options.podNamespace })
  ctx.services.provide(service, created)
  created.catch(() => ctx.services.provide(service, undefined))
  return created
}

/** @throws StewardError `K8S_CONFIG_INVALID` (a rejected promise, retried on the next call) */
export function leaseApiFor(ctx: ServeContext): Promise<LeaseApi> {
  return sharedClient(ctx, 'k8s-lease-api', connectLeaseApi)
}

/** @throws StewardError `K8S_CONFIG_INVALID` (a rejected promise, retried on the next call) */
export function etcdMemberApiFor(ctx: ServeContext): Promise<EtcdMemberApi> {
  return sharedClient(ctx, 'k8s-etcd-member-api', connectEtcdMemberApi)
}
