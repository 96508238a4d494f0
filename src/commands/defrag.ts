import { hostname } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import { Flags } from '@oclif/core'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { maintenanceConnectionFlags, resolveMaintenanceConnection } from '../lib/cli/maintenance-flags.ts'
import { abortOnSignals } from '../lib/cli/signals.ts'
import { parseDuration } from '../lib/config/duration.ts'
import { defragment, defragFailure, type DefragEvent, type DefragResult } from '../lib/defrag/defrag.ts'
import { openMaintenanceEtcd } from '../lib/defrag/etcd.ts'
import { hexId } from '../lib/defrag/members.ts'
import { compileRule } from '../lib/defrag/rule.ts'
import { ERROR_CODES, StewardError } from '../lib/errors.ts'

const GiB = 1024 * 1024 * 1024

export default class Defrag extends StewardCommand {
  static override summary = 'Defragment etcd members safely: health check first, compaction, followers first, the leader last (etcd-defrag compatible).'
  static override description = `Runs etcd-defrag's sequence with etcd-defrag's flags: every member is health-checked first
(NOSPACE is tolerated, any other alarm or an unreachable member stops the run before any
change), the key space is compacted once (physically), then each member — followers first, the
leader last, re-read before every member — is defragmented if --defrag-rule holds. With
--move-leader no member is defragmented while it leads. A lease-backed etcd lock (--lock, on by
default) makes sure only one member of the cluster is defragmented at any moment, across every
steward. Exit 0 on success (also when the rule skipped every member); 62 when a member failed,
61 when the health check failed, 60 for an invalid rule. See docs/defrag.md.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --endpoints http://10.0.0.1:2379 --cluster',
    '<%= config.bin %> <%= command.id %> --cluster --defrag-rule "dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024" --move-leader',
    '<%= config.bin %> <%= command.id %> --cluster --dry-run --json',
  ]
  static override flags = {
    ...maintenanceConnectionFlags,
    cluster: Flags.boolean({ summary: 'Defragment every voting member of the member list (learners skipped, one URL per member).', env: 'ETCD_DEFRAG_CLUSTER' }),
    'exclude-localhost': Flags.boolean({ summary: 'With member discovery, ignore loopback and unix-socket client URLs.', env: 'ETCD_DEFRAG_EXCLUDE_LOCALHOST' }),
    'skip-healthcheck-cluster-endpoints': Flags.boolean({ summary: 'Health-check only --endpoints instead of every member.', env: 'ETCD_DEFRAG_SKIP_HEALTHCHECK_CLUSTER_ENDPOINTS' }),
    'discovery-srv': Flags.string({ char: 'd', summary: 'DNS SRV discovery: not supported by steward (pass --endpoints).' }),
    'discovery-srv-name': Flags.string({ summary: 'DNS SRV service name: not supported by steward.' }),
    'insecure-discovery': Flags.boolean({ summary: 'Accepted for etcd-defrag compatibility; DNS SRV discovery is not supported.', allowNo: true }),
    compaction: Flags.boolean({ summary: 'Compact (physically) to the current revision before defragmenting. [default: true]', allowNo: true, default: true, env: 'ETCD_DEFRAG_COMPACTION' }),
    'continue-on-error': Flags.boolean({ summary: 'After a member fails, go on with the next. [default: true]', allowNo: true, default: true, env: 'ETCD_DEFRAG_CONTINUE_ON_ERROR' }),
    'etcd-storage-quota-bytes': Flags.integer({ summary: 'Quota the rule (dbQuota, dbQuotaUsage) and --disalarm-threshold use; set it to etcd\'s --quota-backend-bytes. [default: 2147483648]', env: 'ETCD_DEFRAG_ETCD_STORAGE_QUOTA_BYTES' }),
    'defrag-rule': Flags.string({ summary: 'Defragment a member only when this holds, e.g. "dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024" (variables dbSize, dbSizeInUse, dbSizeFree, dbQuota, dbQuotaUsage). Empty: always.', env: 'ETCD_DEFRAG_DEFRAG_RULE' }),
    'dry-run': Flags.boolean({ summary: 'Print the plan (health, status, rule per member); change nothing.', env: 'ETCD_DEFRAG_DRY_RUN' }),
    'move-leader': Flags.boolean({ summary: 'Before the leader\'s turn, transfer leadership to a defragmented, up-to-date follower, so no member is defragmented while it leads.', allowNo: true, env: 'ETCD_DEFRAG_MOVE_LEADER' }),
    'wait-between-defrags': Flags.string({ summary: 'Pause after each defragmentation but the last (Go duration). [default: 0s]', env: 'ETCD_DEFRAG_WAIT_BETWEEN_DEFRAGS' }),
    'auto-disalarm': Flags.boolean({ summary: 'After a run without failures, disarm NOSPACE when every member is at or below --disalarm-threshold of the quota.', allowNo: true, env: 'ETCD_DEFRAG_AUTO_DISALARM' }),
    'disalarm-threshold': Flags.string({ summary: 'Ratio of dbSize to the quota in (0, 1) below which --auto-disalarm disarms. [default: 0.9]', env: 'ETCD_DEFRAG_DISALARM_THRESHOLD' }),
    lock: Flags.boolean({ summary: 'Take the cluster\'s maintenance lock (a lease-backed etcd election) so no two members are defragmented at once by any steward. [default: true]', allowNo: true, default: true, env: 'STEWARD_DEFRAG_LOCK' }),
    'lock-ttl': Flags.string({ summary: 'TTL of the lock\'s lease: how long a killed holder blocks the others (Go duration, ≥ 2s). [default: 60s]', env: 'STEWARD_DEFRAG_LOCK_TTL' }),
    'lock-name': Flags.string({ summary: 'Name of the lock (key prefix election/<name>/). [default: steward-maintenance]', env: 'STEWARD_DEFRAG_LOCK_NAME' }),
  }

  async run(): Promise<DefragResult> {
    const { flags } = await this.parse(Defrag)
    const { config } = await this.configFile(flags)
    // Everything is validated before any contact with etcd.
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
    const rule = flags['defrag-rule'] ? compileRule(flags['defrag-rule']) : undefined
    const connection = resolveMaintenanceConnection(flags, config)
    const json = this.jsonEnabled()
    const say = (line: string) => {
      if (!json) process.stderr.write(`${new Date().toISOString()} ${line}\n`)
    }
    if (flags['dry-run']) say('dry run: nothing will be changed')
    say(rule ? `rule: ${rule.source}` : 'no rule: every member is defragmented')

    const etcd = await openMaintenanceEtcd(connection)
    const signals = abortOnSignals()
    let result: DefragResult
    try {
      result = await defragment(
        { etcd, now: Date.now, sleep: (ms, signal) => delay(ms, undefined, { signal }), onEvent: (event) => say(describeEvent(event)) },
        {
          endpoints: connection.endpoints,
          cluster: flags.cluster,
          excludeLocalhost: flags['exclude-localhost'],
          skipHealthcheckClusterEndpoints: flags['skip-healthcheck-cluster-endpoints'],
          compaction: flags.compaction,
          continueOnError: flags['continue-on-error'],
          rule,
          quotaBytes,
          dryRun: flags['dry-run'],
          moveLeader: flags['move-leader'] ?? false,
          waitBetweenDefragsMs: parseDuration(flags['wait-between-defrags'] ?? 0, '--wait-between-defrags') * 1000,
          autoDisalarm: flags['auto-disalarm'] ?? false,
          disalarmThreshold: threshold,
          lock: flags.lock ? { name: flags['lock-name'] ?? 'steward-maintenance', ttlSeconds: lockTtl, holder: `${hostname()}/${process.pid} defrag` } : undefined,
        },
        signals.signal,
      )
    } finally {
      signals.dispose()
      etcd.close()
    }
    if (!json) this.printTable(result)
    if (result.failures > 0) {
      const failure = defragFailure(result)
      process.stderr.write(json ? '' : `Error: ${failure.reason}\n`)
      process.exitCode = ERROR_CODES.DEFRAG_FAILED.exit
    }
    return result
  }

  printTable(result: DefragResult): void {
    const rows = [['ENDPOINT', 'MEMBER', 'LEADER', 'ACTION', 'BEFORE', 'AFTER', 'TOOK']]
    for (const m of result.members) {
      rows.push([
        m.endpoint,
        m.memberId ? hexId(m.memberId) : '-',
        m.wasLeader ? (m.leaderMovedTo ? `moved to ${hexId(m.leaderMovedTo)}` : 'yes') : 'no',
        m.action,
        m.before ? sizes(m.before) : '-',
        m.after ? sizes(m.after) : '-',
        m.startedAt !== undefined && m.finishedAt !== undefined ? `${m.finishedAt - m.startedAt}ms` : '-',
      ])
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
    for (const row of rows) this.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd())
    const done = result.members.filter((m) => m.action === 'defragmented').length
    this.log(result.failures > 0 ? `${result.failures} of ${result.members.length} member(s) failed.` : `${result.dryRun ? 'Dry run: ' : ''}${done} of ${result.members.length} member(s) defragmented.`)
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)}MiB`
}

function sizes(s: { dbSizeBytes: number; dbSizeInUseBytes: number }): string {
  return `${mib(s.dbSizeBytes)} (${mib(s.dbSizeInUseBytes)} in use)`
}

/** One stderr line per event, in etcd-defrag's order. */
function describeEvent(event: DefragEvent): string {
  switch (event.type) {
    case 'health':
      return `health endpoint=${event.health.endpoint} health=${event.health.healthy} took=${event.health.tookMs}ms${event.health.error ? ` error=${event.health.error}` : ''}`
    case 'status': {
      const s = event.status
      return `status endpoint=${s.endpoint} dbSize=${s.dbSizeBytes} dbSizeInUse=${s.dbSizeInUseBytes} memberId=${hexId(s.memberId)} leader=${hexId(s.leaderId)} revision=${s.revision} term=${s.raftTerm} index=${s.raftIndex}`
    }
    case 'lock-waiting':
      return `waiting for the maintenance lock ${event.name}`
    case 'lock-taken':
      return `maintenance lock taken (lease ${hexId(event.leaseId)}) after ${event.waitedMs}ms`
    case 'lock-skipped':
      return `maintenance lock ${event.reason}`
    case 'compaction':
      return event.error ? `compaction to revision ${event.revision} at ${event.endpoint} failed: ${event.error}` : `compacted to revision ${event.revision} (physical) at ${event.endpoint}`
    case 'plan':
      return `${event.endpoints.length} member(s) to consider, leader last: ${event.endpoints.join(', ')}`
    case 'member-start': {
      const s = event.status
      return `[before defragmentation] endpoint=${s.endpoint} dbSize=${s.dbSizeBytes} dbSizeInUse=${s.dbSizeInUseBytes} leader=${s.leaderId === s.memberId}`
    }
    case 'member-skip':
      return `skipping ${event.endpoint}: ${event.reason}`
    case 'leader-move':
      return event.error ? `moving leadership away from ${hexId(event.from)} failed: ${event.error}` : `leadership moved from ${hexId(event.from)} to ${hexId(event.to)}`
    case 'defragmenting':
      return `defragmenting ${event.endpoint}`
    case 'defragmented':
      return event.error
        ? `defragmenting ${event.endpoint} failed after ${event.tookMs}ms: ${event.error}`
        : `finished defragmenting ${event.endpoint} in ${event.tookMs}ms${event.after ? ` [after defragmentation] dbSize=${event.after.dbSizeBytes} dbSizeInUse=${event.after.dbSizeInUseBytes}` : ''}`
    case 'wait':
      return `waiting ${event.ms}ms before the next member`
    case 'disalarm':
      return `auto-disalarm: ${event.note}`
  }
}
