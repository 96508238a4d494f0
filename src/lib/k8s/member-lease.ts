/**
 * The member lease etcd-druid reads for each etcd member (docs/kubernetes.md "Member lease"):
 * name = the member's name, `spec.holderIdentity` = `<memberID hex>:<clusterID hex>:Leader|Member`
 * (lower-case hex without padding, as Go's `strconv.FormatUint(id, 16)`; learners are `Member`),
 * `spec.renewTime` = now, annotation `member.etcd.gardener.cloud/tls-enabled` = `"true"` iff every
 * peer URL of this member is `https`. druid pre-creates the lease; steward only gets and merge-patches it.
 */
import type { LeaseApi, LeaseState } from './leases.ts'
import { formatMicroTime } from './micro-time.ts'

export const TLS_ENABLED_ANNOTATION = 'member.etcd.gardener.cloud/tls-enabled'

/** `<memberID hex>:<clusterID hex>:Leader|Member` from decimal IDs (they exceed 2^53: BigInt). */
export function memberHolderIdentity(memberId: string, clusterId: string, isLeader: boolean): string {
  return `${BigInt(memberId).toString(16)}:${BigInt(clusterId).toString(16)}:${isLeader ? 'Leader' : 'Member'}`
}

/** `true` iff `peerUrls` is non-empty and every URL's scheme is `https`. */
export function peerTlsEnabled(peerUrls: readonly string[]): boolean {
  return peerUrls.length > 0 && peerUrls.every((url) => url.trim().toLowerCase().startsWith('https://'))
}

/**
 * GETs the lease (it must exist) and merge-patches holder, renewTime and the TLS annotation,
 * without optimistic lock (only this member's steward writes them), all within `timeoutMs`.
 * @throws StewardError `K8S_NOT_FOUND`, `K8S_FORBIDDEN`, `K8S_REQUEST_FAILED`
 */
export async function renewMemberLease(api: LeaseApi, name: string, renewal: { readonly holderIdentity: string; readonly tlsEnabled: boolean; readonly now: Date }, timeoutMs: number): Promise<LeaseState> {
  const started = Date.now()
  await api.get(name, timeoutMs)
  const left = Math.max(1, timeoutMs - (Date.now() - started))
  return api.mergePatch(
    name,
    { metadata: { annotations: { [TLS_ENABLED_ANNOTATION]: String(renewal.tlsEnabled) } }, spec: { holderIdentity: renewal.holderIdentity, renewTime: formatMicroTime(renewal.now) } },
    left,
  )
}
