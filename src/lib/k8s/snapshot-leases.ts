/**
 * The snapshot leases etcd-druid reads (docs/kubernetes.md "Snapshot leases"):
 * - full (`--full-snapshot-lease-name`): `holderIdentity` = decimal last revision of the newest
 *   full snapshot, `renewTime` = that snapshot's creation time. Never moved backwards; patched
 *   with the lease's resourceVersion (optimistic lock) and retried on conflict like client-go's
 *   `retry.RetryOnConflict` with `DefaultBackoff` (4 attempts, 10 ms × 5ⁿ).
 * - delta (`--delta-snapshot-lease-name`): `holderIdentity` = decimal last revision of the newest
 *   delta of the latest backup set (`"0"` when there is none and it was unset; never lowered),
 *   `renewTime` = now, renewed every delta period even with no new delta.
 * druid subtracts the two holderIdentities to decide on compaction, and reads both renewTimes
 * for its `BackupReady` condition.
 */
import { StewardError, isStewardError } from '../errors.ts'
import type { LeaseApi } from './leases.ts'
import { formatMicroTime } from './micro-time.ts'

/** Per-call timeout of lease requests, milliseconds. */
export const LEASE_CALL_TIMEOUT_MS = 10_000

/** client-go `retry.DefaultBackoff`: waits before attempts 2..4, milliseconds. */
const CONFLICT_WAITS_MS = [10, 50, 250]

function parseRevision(holderIdentity: string | undefined): number | undefined {
  if (holderIdentity === undefined || !/^\d+$/.test(holderIdentity)) return undefined
  return Number(holderIdentity)
}

export type LeaseUpdate = { readonly outcome: 'updated'; readonly holderIdentity: string } | { readonly outcome: 'kept'; readonly holderIdentity: string }

/**
 * Sets the full-snapshot lease to `revision` / `createdOn` unless it already holds a higher revision.
 * @throws StewardError `K8S_CONFLICT` after 4 conflicting attempts; `K8S_NOT_FOUND`, `K8S_FORBIDDEN`, `K8S_REQUEST_FAILED`
 */
export async function updateFullSnapshotLease(api: LeaseApi, name: string, snapshot: { readonly revision: number; readonly createdOn: Date }): Promise<LeaseUpdate> {
  for (let attempt = 0; ; attempt++) {
    const lease = await api.get(name, LEASE_CALL_TIMEOUT_MS)
    const current = parseRevision(lease.holderIdentity)
    if (current !== undefined && current > snapshot.revision) return { outcome: 'kept', holderIdentity: lease.holderIdentity! }
    const holderIdentity = String(snapshot.revision)
    try {
      await api.mergePatch(name, { metadata: { resourceVersion: lease.resourceVersion }, spec: { holderIdentity, renewTime: formatMicroTime(snapshot.createdOn) } }, LEASE_CALL_TIMEOUT_MS)
      return { outcome: 'updated', holderIdentity }
    } catch (error) {
      const wait = CONFLICT_WAITS_MS[attempt]
      if (!isStewardError(error, 'K8S_CONFLICT') || wait === undefined) throw error
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
}

/**
 * Renews the delta-snapshot lease: `renewTime` = `now`; `holderIdentity` raised to `revision`
 * (the newest delta of the latest set, `undefined` when it has none).
 * @throws StewardError `K8S_NOT_FOUND`, `K8S_FORBIDDEN`, `K8S_REQUEST_FAILED`
 */
export async function renewDeltaSnapshotLease(api: LeaseApi, name: string, revision: number | undefined, now: Date): Promise<LeaseUpdate> {
  const lease = await api.get(name, LEASE_CALL_TIMEOUT_MS)
  const current = parseRevision(lease.holderIdentity)
  let holderIdentity: string
  if (revision !== undefined && (current === undefined || revision >= current)) holderIdentity = String(revision)
  else holderIdentity = lease.holderIdentity ?? '0'
  await api.mergePatch(name, { spec: { holderIdentity, renewTime: formatMicroTime(now) } }, LEASE_CALL_TIMEOUT_MS)
  return { outcome: holderIdentity === lease.holderIdentity ? 'kept' : 'updated', holderIdentity }
}

/** Whether `error` is worth retrying later (not a missing lease or permission, which need an operator). */
export function isTransientLeaseError(error: unknown): boolean {
  return !(error instanceof StewardError && (error.code === 'K8S_NOT_FOUND' || error.code === 'K8S_FORBIDDEN' || error.code === 'K8S_CONFIG_INVALID'))
}
