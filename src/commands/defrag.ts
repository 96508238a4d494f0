import { setTimeout as delay } from 'node:timers/promises'
import { Flags } from '@oclif/core'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { ignoredFlags } from '../lib/cli/ignored-flags.ts'
import { maintenanceConnectionFlags, resolveMaintenanceConnection } from '../lib/cli/maintenance-flags.ts'
import { abortOnSignals } from '../lib/cli/signals.ts'
import { defragment, defragFailure, type DefragResult } from '../lib/defrag/defrag.ts'
import { openMaintenanceEtcd } from '../lib/defrag/etcd.ts'
import { describeDefragEvent, renderDefragTable } from '../lib/defrag/render.ts'
import { resolveDefragOptions } from '../lib/defrag/request.ts'
import { ERROR_CODES } from '../lib/errors.ts'

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
    ...ignoredFlags({ 'insecure-discovery': { type: 'boolean', compatibleWith: 'etcd-defrag', reason: 'DNS SRV discovery is not supported (pass --endpoints)' } }),
    cluster: Flags.boolean({ summary: 'Defragment every voting member of the member list (learners skipped, one URL per member).', env: 'ETCD_DEFRAG_CLUSTER' }),
    'exclude-localhost': Flags.boolean({ summary: 'With member discovery, ignore loopback and unix-socket client URLs.', env: 'ETCD_DEFRAG_EXCLUDE_LOCALHOST' }),
    'skip-healthcheck-cluster-endpoints': Flags.boolean({ summary: 'Health-check only --endpoints instead of every member.', env: 'ETCD_DEFRAG_SKIP_HEALTHCHECK_CLUSTER_ENDPOINTS' }),
    'discovery-srv': Flags.string({ char: 'd', summary: 'DNS SRV discovery: not supported by steward (pass --endpoints).' }),
    'discovery-srv-name': Flags.string({ summary: 'DNS SRV service name: not supported by steward.' }),
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
    const options = resolveDefragOptions(flags)
    const connection = resolveMaintenanceConnection(flags, config)
    const json = this.jsonEnabled()
    const say = (line: string) => {
      if (!json) process.stderr.write(`${new Date().toISOString()} ${line}\n`)
    }
    if (options.dryRun) say('dry run: nothing will be changed')
    say(options.rule ? `rule: ${options.rule.source}` : 'no rule: every member is defragmented')

    const etcd = await openMaintenanceEtcd(connection)
    const signals = abortOnSignals()
    let result: DefragResult
    try {
      result = await defragment(
        { etcd, now: Date.now, sleep: (ms, signal) => delay(ms, undefined, { signal }), onEvent: (event) => say(describeDefragEvent(event)) },
        { ...options, endpoints: connection.endpoints },
        signals.signal,
      )
    } finally {
      signals.dispose()
      etcd.close()
    }
    if (!json) for (const line of renderDefragTable(result)) this.log(line)
    if (result.failures > 0) {
      const failure = defragFailure(result)
      process.stderr.write(json ? '' : `Error: ${failure.reason}\n`)
      process.exitCode = ERROR_CODES.DEFRAG_FAILED.exit
    }
    return result
  }
}
