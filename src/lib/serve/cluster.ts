/**
 * The cluster-wide etcd seam of multi-member bootstrap (docs/serve.md "Multi-member
 * bootstrap"): a probe read, the member list, and member add (as learner) / promote / remove,
 * all through `--service-endpoints` (the client Service, which routes to ready members only),
 * never through this member's own etcd, which is not running yet when they are needed. When
 * `--service-endpoints` is empty, every member's `advertise-client-urls` from druid's
 * ConfigMap are used instead (etcd-backup-restore does the same). Built on etcd3's public
 * cluster API; unit tests provide a fake through {@link Services} under {@link CLUSTER_SERVICE}.
 */
import { EtcdClient } from '../etcd/client.ts'
import { etcdError } from '../etcd/errors.ts'
import { messageOf } from '../errors.ts'
import type { Logger } from 'pino'
import type { ServeContext } from './component.ts'
import type { ServeOptions } from './options.ts'
import { readEtcdConfigMap, type EtcdConfigMap } from './components/etcd-config/render.ts'
import { withTimeout, type ClusterMember } from './etcd-seam.ts'

export const CLUSTER_SERVICE = 'etcd-cluster'

export interface ClusterAdmin {
  /** The endpoints used, for logs. */
  readonly endpoints: readonly string[]
  /** A probe `Get("foo")` (any answer is fine: it proves the cluster serves requests), then `MemberList`. @throws StewardError `ETCD_*` */
  members(timeoutMs: number): Promise<ClusterMember[]>
  /**
   * `MemberAdd` with `isLearner: true`.
   * @returns the new member's ID (decimal string)
   * @throws StewardError `ETCD_*`; the message keeps etcd's text ("Peer URLs already exists", …)
   */
  addLearner(peerUrls: readonly string[], timeoutMs: number): Promise<string>
  /** `MemberPromote(id)`. @throws StewardError `ETCD_*` (etcd refuses a learner not in sync yet) */
  promote(memberId: string, timeoutMs: number): Promise<void>
  /** `MemberRemove(id)`. @throws StewardError `ETCD_*` */
  remove(memberId: string, timeoutMs: number): Promise<void>
  close(): void
}

/** Adapts the project's etcd client (built over the service endpoints) with etcd3's public cluster API. */
export function clusterAdminFrom(client: EtcdClient): ClusterAdmin {
  const call = async <T>(action: string, fn: (etcd3: import('etcd3').Etcd3) => Promise<T>, timeoutMs: number): Promise<T> => {
    const { value } = await client.onFirstAvailable(action, async (etcd3, endpoint) => {
      try {
        return await withTimeout(fn(etcd3), timeoutMs, `${action} through ${endpoint}`)
      } catch (error) {
        throw etcdError(error, action, endpoint)
      }
    })
    return value
  }
  return {
    endpoints: client.endpoints,
    async members(timeoutMs) {
      const response = await call('listing members', async (etcd3) => {
        await etcd3.get('foo').string()
        return etcd3.cluster.memberList({ linearizable: false })
      }, timeoutMs)
      return response.members.map((m) => ({ id: String(m.ID), name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: Boolean(m.isLearner) }))
    },
    async addLearner(peerUrls, timeoutMs) {
      const response = await call('adding a learner', (etcd3) => etcd3.cluster.memberAdd({ peerURLs: [...peerUrls], isLearner: true }), timeoutMs)
      return String(response.member.ID)
    },
    async promote(memberId, timeoutMs) {
      await call(`promoting member ${memberId}`, (etcd3) => etcd3.cluster.memberPromote({ ID: memberId }), timeoutMs)
    },
    async remove(memberId, timeoutMs) {
      await call(`removing member ${memberId}`, (etcd3) => etcd3.cluster.memberRemove({ ID: memberId }), timeoutMs)
    },
    close: () => client.close(),
  }
}

/** Every member's client URLs from the ConfigMap's `advertise-client-urls` map. */
export function advertisedClientUrls(config: EtcdConfigMap): string[] {
  const value = config['advertise-client-urls']
  if (typeof value === 'string') return value.split(',').filter(Boolean)
  if (!value || typeof value !== 'object') return []
  return Object.values(value as Record<string, unknown>).flatMap((urls) => (Array.isArray(urls) ? urls.filter((u): u is string => typeof u === 'string') : typeof urls === 'string' ? [urls] : []))
}

/**
 * A {@link ClusterAdmin} over `--service-endpoints`, else every member's `advertise-client-urls`
 * from the etcd config (TLS and auth as `--endpoints`). Used by serve (once per process, below)
 * and by `steward bootstrap`; the caller closes it.
 * @throws StewardError `CONFIG_INVALID` (unreadable etcd config), `ETCD_TLS`
 */
export async function createClusterAdmin(options: Pick<ServeOptions, 'etcd' | 'serviceEndpoints' | 'etcdConfigPath'>, logger: Logger): Promise<ClusterAdmin> {
  let endpoints = options.serviceEndpoints
  if (endpoints.length === 0) {
    endpoints = advertisedClientUrls(await readEtcdConfigMap(options.etcdConfigPath))
    logger.info({ component: 'cluster', endpoints }, 'no --service-endpoints: using every member\'s advertise-client-urls from the etcd config')
  }
  return clusterAdminFrom(await EtcdClient.create({ ...options.etcd, endpoints }))
}

/**
 * The process's one {@link ClusterAdmin}, created on first use ({@link createClusterAdmin}).
 * @throws StewardError `CONFIG_INVALID` when there is no endpoint at all, `ETCD_TLS`
 */
export async function clusterAdminFor(ctx: ServeContext): Promise<ClusterAdmin> {
  const existing = ctx.services.get<Promise<ClusterAdmin>>(CLUSTER_SERVICE)
  if (existing) return existing
  const created = createClusterAdmin(ctx.options, ctx.logger)
  ctx.services.provide(CLUSTER_SERVICE, created)
  created.catch((error: unknown) => {
    ctx.logger.warn({ component: 'cluster', err: error }, `cannot build the cluster client: ${messageOf(error)}`)
    ctx.services.provide(CLUSTER_SERVICE, undefined)
  })
  return created
}
