/**
 * Which members maintenance talks to: the member list through the first endpoint that answers,
 * learners left out, one client URL per member (members are de-duplicated by ID, not URL),
 * loopback URLs optionally dropped (etcd-defrag's `--exclude-localhost`). See docs/defrag.md.
 */
import { StewardError, isStewardError } from '../errors.ts'
import type { ClusterMember, MaintenanceEtcd } from './etcd.ts'

/** A voting member and the client URL steward uses for it. */
export interface MemberEndpoint {
  readonly memberId: string
  readonly name: string
  readonly endpoint: string
}

/**
 * The member list, asked at each of `seeds` in turn until one answers.
 * @throws StewardError the last endpoint's error when none answers
 */
export async function listMembers(etcd: MaintenanceEtcd, seeds: readonly string[]): Promise<ClusterMember[]> {
  let last: unknown
  for (const seed of seeds) {
    try {
      return await etcd.memberList(seed)
    } catch (error) {
      last = error
      if (isStewardError(error, 'ETCD_AUTH', 'ETCD_TLS')) throw error
    }
  }
  throw isStewardError(last) ? last : new StewardError('ETCD_UNREACHABLE', 'defrag', 'no endpoint answered the member list', { cause: last })
}

/** Whether a client URL points at this host only (loopback address, `localhost`, unix socket). */
export function isLoopbackUrl(url: string): boolean {
  if (/^unixs?:/i.test(url)) return true
  let host: string
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new StewardError('CONFIG_INVALID', 'defrag', `client URL ${url} has an unsupported scheme (want http, https, unix or unixs)`)
    }
    host = parsed.hostname.replace(/^\[|\]$/g, '')
  } catch (error) {
    if (isStewardError(error)) throw error
    throw new StewardError('CONFIG_INVALID', 'defrag', `client URL ${url} is not a URL`)
  }
  return host === 'localhost' || host.startsWith('127.') || host === '::1' || host === '0:0:0:0:0:0:0:1'
}

/**
 * One endpoint per voting member: its client URLs sorted, loopback ones dropped when
 * `excludeLocalhost`, the first left. Members without a usable URL (not started yet, or only
 * loopback URLs) are left out.
 */
export function votingEndpoints(members: readonly ClusterMember[], excludeLocalhost: boolean): MemberEndpoint[] {
  const out: MemberEndpoint[] = []
  for (const member of members) {
    if (member.isLearner) continue
    const urls = [...member.clientUrls].sort().filter((u) => !excludeLocalhost || !isLoopbackUrl(u))
    const endpoint = urls[0]
    if (endpoint) out.push({ memberId: member.id, name: member.name, endpoint })
  }
  return out
}

/** A member ID as etcdctl prints it (hex). */
export function hexId(memberId: string): string {
  return BigInt(memberId).toString(16)
}
