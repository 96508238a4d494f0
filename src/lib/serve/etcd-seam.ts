/**
 * The structural etcd interface `steward serve` works against. The runtime adapts the
 * project's {@link EtcdClient} to it ({@link serveEtcdFrom}); unit tests pass a fake that
 * implements the same members. Calls are bounded by a per-call timeout here (the sidecar's
 * `--etcd-connection-timeout` is 5m under druid, far too long for a leadership probe).
 */
import { StewardError } from '../errors.ts'
import type { EtcdClient, MemberStatus } from '../etcd/client.ts'
import { etcdError } from '../etcd/errors.ts'

export type { MemberStatus } from '../etcd/client.ts'

/** One cluster member as `Cluster.MemberList` reports it. */
export interface ClusterMember {
  /** Member ID, decimal string. */
  readonly id: string
  /** Empty for a learner that was added but never started. */
  readonly name: string
  readonly peerUrls: readonly string[]
  readonly clientUrls: readonly string[]
  readonly isLearner: boolean
}

export interface ServeEtcd {
  /** This member's client endpoints (`--endpoints`); the first is probed. */
  readonly endpoints: readonly string[]
  /**
   * `Maintenance.Status` of `endpoint`, failing after `timeoutMs`.
   * @throws StewardError `ETCD_UNREACHABLE` (also on timeout), `ETCD_TLS`, `ETCD_AUTH`
   */
  status(endpoint: string, timeoutMs: number): Promise<MemberStatus>
  /** `Cluster.MemberList` through the first answering endpoint. @throws StewardError `ETCD_*` */
  members(timeoutMs: number): Promise<ClusterMember[]>
  /** `Cluster.MemberUpdate`: sets member `memberId`'s (decimal) peer URLs. @throws StewardError `ETCD_*` */
  updatePeerUrls(memberId: string, peerUrls: readonly string[], timeoutMs: number): Promise<void>
}

/** Rejects with `ETCD_UNREACHABLE` when `promise` takes longer than `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, action: string): Promise<T> {
  let handle: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    handle = setTimeout(() => reject(new StewardError('ETCD_UNREACHABLE', 'etcd', `${action}: no answer within ${timeoutMs / 1000}s`)), timeoutMs)
  })
  promise.catch(() => undefined)
  return Promise.race([promise, timeout]).finally(() => clearTimeout(handle))
}

/** Adapts the project's etcd client (etcd3's public API for Status and MemberList). */
export function serveEtcdFrom(client: EtcdClient): ServeEtcd {
  return {
    endpoints: client.endpoints,
    status: (endpoint, timeoutMs) => withTimeout(client.status(endpoint), timeoutMs, `reading the status of ${endpoint}`),
    async members(timeoutMs) {
      const { value } = await client.onFirstAvailable('listing members', async (etcd3, endpoint) => {
        try {
          return await withTimeout(etcd3.cluster.memberList({ linearizable: false }), timeoutMs, `listing members through ${endpoint}`)
        } catch (error) {
          throw etcdError(error, 'listing members', endpoint)
        }
      })
      return value.members.map((m) => ({
        id: String(m.ID),
        name: m.name,
        peerUrls: m.peerURLs,
        clientUrls: m.clientURLs,
        isLearner: Boolean((m as { isLearner?: boolean }).isLearner),
      }))
    },
    async updatePeerUrls(memberId, peerUrls, timeoutMs) {
      await client.onFirstAvailable(`updating the peer URLs of member ${memberId}`, async (etcd3, endpoint) => {
        try {
          return await withTimeout(etcd3.cluster.memberUpdate({ ID: memberId, peerURLs: [...peerUrls] }), timeoutMs, `updating member ${memberId} through ${endpoint}`)
        } catch (error) {
          throw etcdError(error, `updating the peer URLs of member ${memberId}`, endpoint)
        }
      })
    },
  }
}
