import { Flags } from '@oclif/core'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { storeFlags } from '../lib/cli/flags.ts'
import { abortOnSignals } from '../lib/cli/signals.ts'
import { parseDuration } from '../lib/config/duration.ts'
import { openBackupStore, using } from '../lib/context.ts'
import { ERROR_CODES } from '../lib/errors.ts'
import { collectGarbage, renderGcResult, summarizeGc, type GcResult } from '../lib/gc/collect.ts'
import { GC_POLICIES } from '../lib/gc/plan.ts'

export default class Gc extends StewardCommand {
  static override summary = 'Delete old snapshots by etcd-backup-restore\'s retention policies (Exponential or LimitBased).'
  static override description = `Lists the store (a listing that fails part-way deletes nothing), decides for every object
whether it is kept or deleted and by which rule, then deletes. The newest full snapshot and the
deltas after it are never deleted. Leftover chunk objects and zero-byte objects older than an
hour are removed too. --dry-run prints the decisions without deleting. See docs/gc.md.
Exit 0 when every planned deletion succeeded, 70 (GC_INCOMPLETE) when some failed.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --store file:///var/backups/etcd-main --dry-run',
    '<%= config.bin %> <%= command.id %> --storage-provider S3 --store-container backups --store-prefix etcd-main --garbage-collection-policy LimitBased --max-backups 7',
  ]
  static override flags = {
    ...storeFlags,
    'garbage-collection-policy': Flags.option({ options: GC_POLICIES, summary: 'Retention policy. [default: Exponential]', env: 'STEWARD_GARBAGE_COLLECTION_POLICY' })(),
    'max-backups': Flags.integer({ char: 'm', summary: 'LimitBased: full snapshots (with their deltas) to keep, at least 1; ignored by Exponential. [default: 7]', min: 0 }),
    'delta-snapshot-retention-period': Flags.string({ summary: 'Keep deltas of older backups created within this period (Go duration). [default: 0s]' }),
    'dry-run': Flags.boolean({ summary: 'Print what would be kept and deleted, and why; delete nothing.', allowNo: true }),
  }

  async run(): Promise<GcResult> {
    const { flags } = await this.parse(Gc)
    const { config } = await this.configFile(flags)
    const deltaRetentionSeconds = parseDuration(flags['delta-snapshot-retention-period'] ?? '0s', '--delta-snapshot-retention-period')
    const store = await openBackupStore(flags, config)
    const signals = abortOnSignals()
    const result = await using([store], () =>
      collectGarbage(
        { store },
        {
          policy: flags['garbage-collection-policy'] ?? 'Exponential',
          maxBackups: flags['max-backups'] ?? 7,
          deltaRetentionSeconds,
          dryRun: flags['dry-run'],
        },
        signals.signal,
      ),
    ).finally(() => signals.dispose())
    if (flags['dry-run']) this.log(renderGcResult(result))
    else {
      for (const o of result.objects) if (o.result !== 'kept') this.log(`${o.result.padEnd(8)} ${o.name}  (${o.rule}${o.error ? `: ${o.error}` : ''})`)
      this.log(summarizeGc(result))
    }
    if (result.counts.failed > 0) process.exitCode = ERROR_CODES.GC_INCOMPLETE.exit
    return result
  }
}
