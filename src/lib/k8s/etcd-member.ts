/**
 * The status of this member's `druid.gardener.cloud/v1alpha1` `EtcdMember` (etcd-druid's DEP-04
 * proposal; docs/kubernetes.md "EtcdMember"). druid creates and deletes EtcdMembers; the
 * member's sidecar is the only writer of `.status`, through the `status` subresource with JSON
 * merge patches. druid HEAD ships neither the CRD nor RBAC for it, so this is forward-looking
 * and opt-in (`--enable-etcd-member-status`).
 *
 * Fields steward writes, all from one etcd `Maintenance.Status` answer unless noted:
 * - `id`, `clusterID`: member and cluster ID, lower-case hex without padding (the member lease's
 *   holderIdentity format, so both can be compared);
 * - `peerTLSEnabled`: every peer URL of this member in druid's ConfigMap is `https`
 *   (the lease's `tls-enabled` annotation);
 * - `dbSize`, `dbSizeInUse`: backend bytes (JSON integers: valid for an int64 and for a
 *   `resource.Quantity` field alike);
 * - `transitions`: the proposal's list of `{state, subState, reason, transitionTime, message}`,
 *   appended when the member's (state, subState) changes and trimmed to the last
 *   {@link MAX_TRANSITIONS}. The role is written in the proposal's terms: `Started`/`Leader`,
 *   `Started`/`Follower` (the lease's `Member`), `Starting`/`Learner`.
 * `transitionTime` is a `metav1.Time`: RFC 3339 in UTC with whole seconds (`2026-12-01T17:21:45Z`),
 * the form `metav1.Time` marshals to.
 */
import { kubernetesError } from './errors.ts'
import { loadKubeConfig, withTimeout, type KubeConfigOptions } from './kubeconfig.ts'

export const ETCD_MEMBER_GROUP = 'druid.gardener.cloud'
export const ETCD_MEMBER_VERSION = 'v1alpha1'
export const ETCD_MEMBER_PLURAL = 'etcdmembers'
/** Transitions kept in `.status.transitions` (the proposal's review left N open). */
export const MAX_TRANSITIONS = 10

export type MemberState = 'Started' | 'Starting'
export type MemberSubState = 'Leader' | 'Follower' | 'Learner'

/** One entry of `.status.transitions` (DEP-04). */
export interface MemberTransition {
  readonly state: string
  readonly subState?: string
  readonly reason: string
  /** metav1.Time, `2026-12-01T17:21:45Z` */
  readonly transitionTime: string
  readonly message?: string
}

/** The `.status` fields steward writes (a merge patch: absent fields are left as they are). */
export interface EtcdMemberStatusPatch {
  readonly id?: string
  readonly clusterID?: string
  readonly peerTLSEnabled?: boolean
  /** bytes */
  readonly dbSize?: number
  /** bytes */
  readonly dbSizeInUse?: number
  readonly transitions?: readonly MemberTransition[]
}

/** What a status patch answered: the object's resourceVersion and the transitions it now holds. */
export interface EtcdMemberState {
  readonly name: string
  readonly resourceVersion: string
  readonly transitions: readonly MemberTransition[]
}

/** EtcdMembers of one namespace. */
export interface EtcdMemberApi {
  readonly namespace: string
  /**
   * `PATCH …/etcdmembers/{name}/status` as `application/merge-patch+json` with
   * `{"status": patch}`, failing after `timeoutMs`.
   * @throws StewardError `K8S_NOT_FOUND` (no CRD, or no such EtcdMember), `K8S_FORBIDDEN` (the
   *   Role has no `patch` on `etcdmembers/status`), `K8S_REQUEST_FAILED` (anything else, timeouts)
   */
  patchStatus(name: string, patch: EtcdMemberStatusPatch, timeoutMs: number): Promise<EtcdMemberState>
  /** How errors name the object: `etcdmembers/status shoot--a/etcd-main-0 (druid.gardener.cloud/v1alpha1, via …)`. */
  describe(name: string): string
}

/** metav1.Time: RFC 3339, UTC, whole seconds. */
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`
}

/** What one etcd Status answer says about this member. */
export interface ObservedMember {
  /** decimal (etcd IDs exceed 2^53) */
  readonly memberId: string
  readonly clusterId: string
  readonly leaderId: string
  readonly isLearner: boolean
  /** bytes */
  readonly dbSizeBytes: number
  readonly dbSizeInUseBytes: number
}

const hex = (decimal: string) => BigInt(decimal).toString(16)

/** `Started`/`Leader`, `Started`/`Follower` or `Starting`/`Learner`. */
export function memberState(observed: ObservedMember): { readonly state: MemberState; readonly subState: MemberSubState } {
  if (observed.isLearner) return { state: 'Starting', subState: 'Learner' }
  if (observed.leaderId !== '0' && observed.memberId === observed.leaderId) return { state: 'Started', subState: 'Leader' }
  return { state: 'Started', subState: 'Follower' }
}

/**
 * The reason of a transition into `to` from the last recorded transition: the proposal's codes
 * where its table has the pair (`GainedClusterLeadership`, `LostClusterLeadership`,
 * `PromotedAsVotingMember`, `JoinedAsLearner`); `MemberStatusObserved` (steward's, the
 * proposal's list is open) when the predecessor is unknown or one steward does not record.
 */
function reasonFor(from: MemberTransition | undefined, to: { state: MemberState; subState: MemberSubState }): string {
  const previous = from ? `${from.state}/${from.subState ?? ''}` : ''
  if (to.subState === 'Learner') return 'JoinedAsLearner'
  if (to.subState === 'Leader' && previous === 'Started/Follower') return 'GainedClusterLeadership'
  if (to.subState === 'Follower' && previous === 'Started/Leader') return 'LostClusterLeadership'
  if (to.subState === 'Follower' && previous === 'Starting/Learner') return 'PromotedAsVotingMember'
  return 'MemberStatusObserved'
}

/**
 * The transitions list after observing `observed` at `now`: `null` when the last recorded
 * transition already has its (state, subState) or a voting member knows no leader (an election
 * in progress says nothing about its role), else `recorded` plus one entry, trimmed to the last
 * {@link MAX_TRANSITIONS}.
 */
export function nextTransitions(recorded: readonly MemberTransition[], observed: ObservedMember, now: Date): MemberTransition[] | null {
  if (observed.leaderId === '0' && !observed.isLearner) return null
  const to = memberState(observed)
  const last = recorded.at(-1)
  if (last && last.state === to.state && last.subState === to.subState) return null
  const id = hex(observed.memberId)
  const message =
    to.subState === 'Leader'
      ? `member ${id} leads cluster ${hex(observed.clusterId)}`
      : to.subState === 'Follower'
        ? `member ${id} is a voting member; member ${hex(observed.leaderId)} leads`
        : `member ${id} is a learner, not yet promoted`
  const entry: MemberTransition = { ...to, reason: reasonFor(last, to), transitionTime: formatTime(now), message }
  return [...recorded, entry].slice(-MAX_TRANSITIONS)
}

/** The fields written on every heartbeat (everything but `transitions`). */
export function memberStatusFields(observed: ObservedMember, peerTLSEnabled: boolean): EtcdMemberStatusPatch {
  return {
    id: hex(observed.memberId),
    clusterID: hex(observed.clusterId),
    peerTLSEnabled,
    dbSize: observed.dbSizeBytes,
    dbSizeInUse: observed.dbSizeInUseBytes,
  }
}

function transitionsOf(object: unknown): MemberTransition[] {
  const list = (object as { status?: { transitions?: unknown } } | undefined)?.status?.transitions
  if (!Array.isArray(list)) return []
  return list.filter((t): t is MemberTransition => typeof t === 'object' && t !== null && typeof (t as { state?: unknown }).state === 'string')
}

/**
 * Builds an {@link EtcdMemberApi} (loads `@kubernetes/client-node`).
 * @throws StewardError `K8S_CONFIG_INVALID` when no configuration is found or it cannot be read
 */
export async function connectEtcdMemberApi(options: KubeConfigOptions = {}): Promise<EtcdMemberApi> {
  const { k8s, config, namespace, source } = await loadKubeConfig(options)
  const api = config.makeApiClient(k8s.CustomObjectsApi)
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
  const describe = (name: string) => `${ETCD_MEMBER_PLURAL}/status ${namespace}/${name} (${ETCD_MEMBER_GROUP}/${ETCD_MEMBER_VERSION}, via ${source})`
  return {
    namespace,
    describe,
    async patchStatus(name, patch, timeoutMs) {
      try {
        const request = api.patchNamespacedCustomObjectStatus(
          { group: ETCD_MEMBER_GROUP, version: ETCD_MEMBER_VERSION, namespace, plural: ETCD_MEMBER_PLURAL, name, body: { status: patch } },
          mergePatch,
        )
        const object: unknown = await withTimeout(request, timeoutMs, `patch ${describe(name)}`)
        const metadata = (object as { metadata?: { name?: string; resourceVersion?: string } } | undefined)?.metadata
        return { name: metadata?.name ?? name, resourceVersion: metadata?.resourceVersion ?? '', transitions: transitionsOf(object) }
      } catch (error) {
        throw kubernetesError(error, 'patch', describe(name))
      }
    },
  }
}
