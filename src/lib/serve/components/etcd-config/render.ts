/**
 * The etcd configuration `/config` serves to etcd-wrapper (docs/serve.md "/config"): druid's
 * ConfigMap (`ETCD_CONF`) with five keys rewritten for this member, every other key (nested
 * TLS blocks, `member-name-prefix`, unknown keys) passed through, and all map keys sorted as
 * etcd-backup-restore emits them:
 *
 * 1. `name` ← `<member-name-prefix>-<POD_NAME>` or `POD_NAME`;
 * 2. `initial-advertise-peer-urls` ← this member's list from the map, comma-joined;
 * 3. `advertise-client-urls` ← likewise;
 * 4. `initial-cluster` ← when the cluster already has more than one member, only the entries
 *    that are members (matched by name, or by peer URL for a learner that has not started
 *    and so has no name yet) or this member: etcd joining with `existing` insists that
 *    `initial-cluster` lists exactly the cluster's members;
 * 5. `initial-cluster-state` ← `new` for one entry; else `existing` iff a learner exists, else
 *    `new` (etcd-backup-restore's current rule, which also works with released druids).
 */
import { readFile } from 'node:fs/promises'
import { parse, stringify } from 'yaml'
import { StewardError, messageOf } from '../../../errors.ts'
import type { ClusterMember } from '../../etcd-seam.ts'

export type EtcdConfigMap = Record<string, unknown>

/**
 * Reads and parses the ConfigMap file.
 * @throws StewardError `CONFIG_INVALID` naming the file (unreadable, not YAML, not a map)
 */
export async function readEtcdConfigMap(path: string): Promise<EtcdConfigMap> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new StewardError('CONFIG_INVALID', 'etcd-config', `cannot read the etcd config ${path}: ${messageOf(error)}`, { hints: ['druid mounts it at /var/etcd/config/etcd.conf.yaml; set ETCD_CONF to use another path'] })
  }
  let value: unknown
  try {
    value = parse(text)
  } catch (error) {
    throw new StewardError('CONFIG_INVALID', 'etcd-config', `${path} is not valid YAML: ${messageOf(error)}`)
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new StewardError('CONFIG_INVALID', 'etcd-config', `${path} must hold a YAML map of etcd settings`)
  return value as EtcdConfigMap
}

/** `<member-name-prefix>-<POD_NAME>` or `POD_NAME`. @throws StewardError `CONFIG_INVALID` without POD_NAME */
export function memberName(config: EtcdConfigMap, podName: string | undefined): string {
  if (!podName) throw new StewardError('CONFIG_INVALID', 'etcd-config', 'POD_NAME is not set; the member name comes from it', { hints: ['druid sets POD_NAME from metadata.name'] })
  const prefix = config['member-name-prefix']
  return typeof prefix === 'string' && prefix !== '' ? `${prefix}-${podName}` : podName
}

/** Entries of `initial-cluster` (`name=url,...`), in order. */
export function initialClusterEntries(config: EtcdConfigMap): { name: string; url: string }[] {
  const text = config['initial-cluster']
  if (typeof text !== 'string') return []
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf('=')
      return { name: entry.slice(0, at), url: entry.slice(at + 1) }
    })
}

/** This member's URLs from a `{member: [url…]}` map (or a plain string), comma-joined. @throws StewardError `CONFIG_INVALID` */
export function urlsOf(config: EtcdConfigMap, key: string, name: string): string {
  const value = config[key]
  if (typeof value === 'string') return value
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const urls = (value as Record<string, unknown>)[name]
    if (Array.isArray(urls) && urls.length > 0 && urls.every((u) => typeof u === 'string')) return urls.join(',')
    if (typeof urls === 'string') return urls
  }
  throw new StewardError('CONFIG_INVALID', 'etcd-config', `${key} has no URL list for member ${name}`, { hints: [`druid writes ${key} as a map: {<member name>: [<url>, …]}`] })
}

/** Recursively sorts map keys (Go's YAML encoder emits maps sorted). */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted)
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sorted((value as Record<string, unknown>)[k])]))
  }
  return value
}

/**
 * Builds the served config.
 * @param members the cluster's members (through `--service-endpoints`), or `null` when they
 *   could not be listed (then `initial-cluster` is kept and the state is `new`)
 * @returns YAML text
 * @throws StewardError `CONFIG_INVALID` (no POD_NAME, missing URL maps)
 */
export function renderEtcdConfig(config: EtcdConfigMap, podName: string | undefined, members: readonly ClusterMember[] | null): string {
  const name = memberName(config, podName)
  const out: EtcdConfigMap = { ...config, name }
  out['initial-advertise-peer-urls'] = urlsOf(config, 'initial-advertise-peer-urls', name)
  out['advertise-client-urls'] = urlsOf(config, 'advertise-client-urls', name)
  let entries = initialClusterEntries(config)
  if (members && members.length > 1) {
    const known = new Set(members.map((m) => m.name).filter(Boolean))
    const peers = new Set(members.flatMap((m) => m.peerUrls))
    entries = entries.filter((e) => known.has(e.name) || peers.has(e.url) || e.name === name)
    out['initial-cluster'] = entries.map((e) => `${e.name}=${e.url}`).join(',')
  }
  out['initial-cluster-state'] = entries.length <= 1 ? 'new' : members?.some((m) => m.isLearner) ? 'existing' : 'new'
  return stringify(sorted(out), { lineWidth: 0 })
}
