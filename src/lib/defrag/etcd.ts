/**
 * The etcd seam of maintenance (defragmentation, alarms, the maintenance lock): every call names
 * the member endpoint it goes to, because etcd3 would otherwise route calls to a random member
 * (docs/etcd-client.md). {@link openMaintenanceEtcd} implements it over {@link EtcdClient}
 * (one etcd3 instance per endpoint, no retries, a deadline on every call); tests can pass
 * their own implementation to the operations in this folder.
 */
import type { Etcd3 } from 'etcd3'
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import { EtcdClient } from '../etcd/client.ts'
import type { EtcdConnectionConfig } from '../etcd/config.ts'
import { etcdError } from '../etcd/errors.ts'

/** One member of the member list. */
export interface ClusterMember {
  /** Member ID, decimal string (IDs exceed 2^53). */
  readonly id: string
  readonly name: string
  readonly clientUrls: readonly string[]
  readonly isLearner: boolean
}

/** `Maintenance.Status` of one member, as maintenance needs it. */
export interface MaintenanceStatus {
  readonly endpoint: string
  /** Member ID, decimal string. */
  readonly memberId: string
  /** Leader's member ID, decimal string; `'0'` without a leader. */
  readonly leaderId: string
  /** Physical backend size, bytes. */
  readonly dbSizeBytes: number
  /** Bytes of the backend in use. */
  readonly dbSizeInUseBytes: number
  /** Current store revision (response header). */
  readonly revision: number
  readonly raftTerm: number
  readonly raftIndex: number
  readonly raftAppliedIndex: number
  readonly isLearner: boolean
}

/** An active alarm: the member it was raised on and its type (`NOSPACE`, `CORRUPT`, …). */
export interface ActiveAlarm {
  readonly memberId: string
  readonly alarm: string
}

/** A held maintenance lock. */
export interface HeldLock {
  /** Lease ID backing the lock, decimal string. */
  readonly leaseId: string
  /** Aborted when the lease is lost (keep-alive failed past the TTL): stop before the next step. */
  readonly lost: AbortSignal
  /** Releases the lock (revokes the lease). Safe to call twice; never throws. */
  release(): Promise<void>
}

export interface MaintenanceEtcd {
  /** Member list as `endpoint` sees it. */
  memberList(endpoint: string): Promise<ClusterMember[]>
  status(endpoint: string): Promise<MaintenanceStatus>
  /** A linearizable read of the key `health`; permission denied counts as success. */
  probe(endpoint: string): Promise<void>
  /** The cluster's active alarms (cluster-wide, asked at `endpoint`). */
  alarms(endpoint: string): Promise<ActiveAlarm[]>
  disarm(endpoint: string, alarm: ActiveAlarm): Promise<void>
  /** Compacts the key space up to `revision`; `physical` waits until the backend has freed it. */
  compact(endpoint: string, revision: number, physical: boolean): Promise<void>
  defragment(endpoint: string): Promise<void>
  /** Transfers leadership; must be sent to the current leader. */
  moveLeader(leaderEndpoint: string, targetMemberId: string): Promise<void>
  /**
   * Waits for and takes the lease-backed lock `name` (an etcd3 election: candidates queue by
   * creation revision, the key is deleted when the lease is revoked or expires after `ttlSeconds`).
   * @throws StewardError ABORTED when `signal` fires first; the error of the lease otherwise
   */
  lock(endpoints: readonly string[], name: string, ttlSeconds: number, holder: string, signal?: AbortSignal): Promise<HeldLock>
  close(): void
}

/**
 * A {@link MaintenanceEtcd} for the given connection settings; clients for endpoints found in
 * the member list are created on first use with the same TLS, auth and timeouts.
 */
export async function openMaintenanceEtcd(config: EtcdConnectionConfig): Promise<MaintenanceEtcd> {
  const base = await EtcdClient.create(config)
  return new Etcd3Maintenance(config, base)
}

class Etcd3Maintenance implements MaintenanceEtcd {
  readonly #config: EtcdConnectionConfig
  readonly #clients = new Map<string, EtcdClient>()

  constructor(config: EtcdConnectionConfig, base: EtcdClient) {
    this.#config = config
    for (const endpoint of config.endpoints) this.#clients.set(endpoint, base)
  }

  async #client(endpoint: string): Promise<Etcd3> {
    let client = this.#clients.get(endpoint)
    if (!client) {
      client = await EtcdClient.create({ ...this.#config, endpoints: [endpoint] })
      this.#clients.set(endpoint, client)
    }
    return client.clientFor(endpoint)
  }

  async #call<T>(endpoint: string, action: string, fn: (client: Etcd3) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.#client(endpoint))
    } catch (error) {
      throw etcdError(error, action, endpoint)
    }
  }

  memberList(endpoint: string): Promise<ClusterMember[]> {
    return this.#call(endpoint, 'listing members', async (c) => {
      const response = await c.cluster.memberList({})
      return response.members.map((m) => ({ id: String(m.ID), name: m.name, clientUrls: m.clientURLs, isLearner: Boolean(m.isLearner) }))
    })
  }

  status(endpoint: string): Promise<MaintenanceStatus> {
    return this.#call(endpoint, 'reading member status', async (c) => {
      const s = await c.maintenance.status()
      return {
        endpoint,
        memberId: String(s.header.member_id),
        leaderId: String(s.leader),
        dbSizeBytes: Number(s.dbSize),
        dbSizeInUseBytes: Number(s.dbSizeInUse ?? s.dbSize),
        revision: Number(s.header.revision),
        raftTerm: Number(s.raftTerm),
        raftIndex: Number(s.raftIndex),
        raftAppliedIndex: Number(s.raftAppliedIndex ?? s.raftIndex),
        isLearner: Boolean(s.isLearner),
      }
    })
  }

  async probe(endpoint: string): Promise<void> {
    try {
      await (await this.#client(endpoint)).get('health').exec()
    } catch (error) {
      if (/permission denied|PermissionDenied/i.test(`${(error as Error)?.constructor?.name} ${messageOf(error)}`)) return
      throw etcdError(error, 'health check (linearizable read)', endpoint)
    }
  }

  alarms(endpoint: string): Promise<ActiveAlarm[]> {
    return this.#call(endpoint, 'listing alarms', async (c) => {
      const response = await c.maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' })
      return (response.alarms ?? []).map((a) => ({ memberId: String(a.memberID), alarm: String(a.alarm).toUpperCase() }))
    })
  }

  disarm(endpoint: string, alarm: ActiveAlarm): Promise<void> {
    const type = alarm.alarm === 'NOSPACE' ? 'Nospace' : alarm.alarm === 'CORRUPT' ? 'Corrupt' : undefined
    if (!type) return Promise.reject(new StewardError('CONFIG_INVALID', 'alarm', `cannot disarm an alarm of unknown type ${alarm.alarm}`))
    return this.#call(endpoint, `disarming ${alarm.alarm}`, async (c) => {
      await c.maintenance.alarm({ action: 'Deactivate', memberID: alarm.memberId, alarm: type })
    })
  }

  compact(endpoint: string, revision: number, physical: boolean): Promise<void> {
    return this.#call(endpoint, `compacting to revision ${revision}`, async (c) => {
      await c.kv.compact({ revision: String(revision), physical })
    })
  }

  defragment(endpoint: string): Promise<void> {
    return this.#call(endpoint, 'defragmenting', async (c) => {
      await c.maintenance.defragment({})
    })
  }

  moveLeader(leaderEndpoint: string, targetMemberId: string): Promise<void> {
    return this.#call(leaderEndpoint, `moving the leader to member ${BigInt(targetMemberId).toString(16)}`, async (c) => {
      await c.maintenance.moveLeader({ targetID: targetMemberId })
    })
  }

  async lock(endpoints: readonly string[], name: string, ttlSeconds: number, holder: string, signal?: AbortSignal): Promise<HeldLock> {
    // The lock's client is the first endpoint that answers a status call: its keep-alive stream
    // stays on that member for the whole run.
    let client: Etcd3 | undefined
    let last: unknown
    for (const endpoint of endpoints) {
      try {
        await this.status(endpoint)
        client = await this.#client(endpoint)
        break
      } catch (error) {
        last = error
      }
    }
    if (!client) throw isStewardError(last) ? last : etcdError(last, 'taking the maintenance lock')
    const campaign = client.election(name, ttlSeconds).campaign(holder)
    const lost = new AbortController()
    let released = false
    const release = async () => {
      if (released) return
      released = true
      await campaign.resign().catch(() => undefined)
    }
    campaign.on('error', (error: unknown) => {
      if (!released) lost.abort(etcdError(error, 'keeping the maintenance lock'))
    })
    const onAbort = () => void release()
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await new Promise<void>((resolve, reject) => {
        campaign.on('elected', () => resolve())
        campaign.on('error', reject)
        signal?.addEventListener('abort', () => reject(new StewardError('ABORTED', 'defrag', 'cancelled while waiting for the maintenance lock')), { once: true })
      })
    } catch (error) {
      await release()
      throw etcdError(error, 'taking the maintenance lock')
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    const leaseId = String(await campaign.getCampaignKey()).split('/').pop() ?? ''
    return { leaseId, lost: lost.signal, release }
  }

  close(): void {
    for (const client of new Set(this.#clients.values())) client.close()
  }
}
