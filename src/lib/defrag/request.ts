/**
 * `steward defrag`'s flags → {@link DefragOptions}, every value checked before any contact with
 * etcd (docs/defrag.md, "Flags"). Defaults are etcd-defrag's where it has the flag.
 */
import { hostname } from 'node:os'
import { parseDuration } from '../config/duration.ts'
import { StewardError } from '../errors.ts'
import type { DefragOptions } from './defrag.ts'
import { compileRule } from './rule.ts'

const GiB = 1024 * 1024 * 1024

/** The defrag command's own flags, as oclif parses them. */
export interface DefragFlags {
  cluster: boolean
  'exclude-localhost': boolean
  'skip-healthcheck-cluster-endpoints': boolean
  'discovery-srv'?: string | undefined
  'discovery-srv-name'?: string | undefined
  compaction: boolean
  'continue-on-error': boolean
  'etcd-storage-quota-bytes'?: number | undefined
  'defrag-rule'?: string | undefined
  'dry-run': boolean
  'move-leader'?: boolean | undefined
  'wait-between-defrags'?: string | undefined
  'auto-disalarm'?: boolean | undefined
  'disalarm-threshold'?: string | undefined
  lock: boolean
  'lock-ttl'?: string | undefined
  'lock-name'?: string | undefined
}

/**
 * Everything but the endpoints (resolved with the connection flags, after this check).
 * @throws StewardError `CONFIG_INVALID` naming the flag; `DEFRAG_RULE_INVALID` for a rule that does not compile
 */
export function resolveDefragOptions(flags: DefragFlags): Omit<DefragOptions, 'endpoints'> {
  if (flags['discovery-srv'] !== undefined || flags['discovery-srv-name'] !== undefined) {
    throw new StewardError('CONFIG_INVALID', 'defrag', '--discovery-srv is not supported by steward', { hints: ['pass the client URLs with --endpoints (and --cluster to find the other members)'] })
  }
  if (flags['skip-healthcheck-cluster-endpoints'] && flags.cluster) {
    throw new StewardError('CONFIG_INVALID', 'defrag', '--skip-healthcheck-cluster-endpoints and --cluster cannot be combined')
  }
  const quotaBytes = flags['etcd-storage-quota-bytes'] ?? 2 * GiB
  if (quotaBytes <= 0) throw new StewardError('CONFIG_INVALID', 'defrag', `--etcd-storage-quota-bytes must be greater than 0, got ${quotaBytes}`)
  const threshold = Number(flags['disalarm-threshold'] ?? 0.9)
  if (flags['auto-disalarm'] && !(threshold > 0 && threshold < 1)) {
    throw new StewardError('CONFIG_INVALID', 'defrag', `--disalarm-threshold must be between 0 and 1 (exclusive), got ${flags['disalarm-threshold']}`)
  }
  const lockTtl = parseDuration(flags['lock-ttl'] ?? 60, '--lock-ttl')
  if (lockTtl < 2) throw new StewardError('CONFIG_INVALID', 'defrag', '--lock-ttl must be at least 2s')
  return {
    cluster: flags.cluster,
    excludeLocalhost: flags['exclude-localhost'],
    skipHealthcheckClusterEndpoints: flags['skip-healthcheck-cluster-endpoints'],
    compaction: flags.compaction,
    continueOnError: flags['continue-on-error'],
    rule: flags['defrag-rule'] ? compileRule(flags['defrag-rule']) : undefined,
    quotaBytes,
    dryRun: flags['dry-run'],
    moveLeader: flags['move-leader'] ?? false,
    waitBetweenDefragsMs: parseDuration(flags['wait-between-defrags'] ?? 0, '--wait-between-defrags') * 1000,
    autoDisalarm: flags['auto-disalarm'] ?? false,
    disalarmThreshold: threshold,
    lock: flags.lock ? { name: flags['lock-name'] ?? 'steward-maintenance', ttlSeconds: lockTtl, holder: `${hostname()}/${process.pid} defrag` } : undefined,
  }
}
