import { Flags } from '@oclif/core'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { deltaApplyFlags, restoreIgnoredFlags, restoreMemberFlags, storeReadFlags } from '../lib/cli/flags.ts'
import { abortOnSignals } from '../lib/cli/signals.ts'
import { openBackupStore, using } from '../lib/context.ts'
import { resolveRestoreMember, resolveTempEtcdLimits } from '../lib/config/restore.ts'
import { logger } from '../lib/log.ts'
import { plural } from '../lib/format.ts'
import { restoreFullSnapshot, type DeltaApplyMode, type RestoreResult } from '../lib/restore/restore.ts'
import { assertDataDirValue } from '../lib/restore/target-guard.ts'

export default class Restore extends StewardCommand {
  static override summary = 'Restore etcd\'s data directory from the backup store.'
  static override description = `Restores the latest full snapshot (or the one named by --snapshot) with etcd's own
restore logic (etcdutl snapshot restore), with the delta snapshots after it: by default merged
straight into a copy of the snapshot's database file (--delta-apply direct), or replayed through a
temporary loopback etcd, one revision per transaction (--delta-apply etcd); revisions match the source.
--to-revision / --to-time stop at a point in time. Works in a hidden directory beside --data-dir
and renames it into place at the end; an existing data dir is replaced only with --force.
See docs/restore.md.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --store file:///var/backups/etcd-main --data-dir /var/etcd/data/new.etcd',
    '<%= config.bin %> <%= command.id %> --store file:///var/backups/etcd-main --data-dir /tmp/r.etcd --to-time 2026-11-22T18:54:06Z',
    '<%= config.bin %> <%= command.id %> --storage-provider S3 --store-container backups --store-prefix etcd-main --data-dir /var/etcd/data/new.etcd --force --json',
  ]
  static override flags = {
    ...storeReadFlags,
    ...restoreMemberFlags,
    'data-dir': Flags.string({ char: 'd', summary: 'Target data directory. [default: default.etcd]', env: 'STEWARD_DATA_DIR' }),
    force: Flags.boolean({ summary: 'Replace a non-empty --data-dir (only after the restore succeeded).' }),
    snapshot: Flags.string({ summary: 'Full snapshot to restore (name or key) instead of the latest.' }),
    'skip-hash-check': Flags.boolean({ summary: 'Do not compare the snapshot with its SHA-256 trailer.' }),
    'to-revision': Flags.integer({ min: 1, summary: 'Point in time: stop after this revision (uses an older full snapshot when needed).', helpGroup: 'POINT IN TIME' }),
    'to-time': Flags.string({ summary: 'Point in time (RFC 3339): stop before the first revision recorded after it.', helpGroup: 'POINT IN TIME' }),
    'allow-partial': Flags.boolean({ summary: 'On a corrupt, missing or non-continuous delta, restore up to the last good revision instead of failing.', helpGroup: 'FAILURES' }),
    'fallback-to-older-full': Flags.boolean({ summary: 'When the newest full snapshot is corrupt, use an older one whose delta chain is continuous.', helpGroup: 'FAILURES' }),
    'no-deltas': Flags.boolean({ summary: 'Restore the full snapshot only; do not apply deltas.' }),
    ...deltaApplyFlags(),
    'embedded-etcd-quota-bytes': Flags.integer({ min: 1, summary: 'Backend quota of the temporary etcd that replays deltas. [default: 8589934592]', helpGroup: 'TEMPORARY ETCD' }),
    'max-request-bytes': Flags.integer({ min: 1, summary: 'Request size limit of the temporary etcd (one revision must fit). [default: 10485760]', helpGroup: 'TEMPORARY ETCD' }),
    'max-txn-ops': Flags.integer({ min: 1, summary: 'Operations per transaction of the temporary etcd (one revision must fit). [default: 10240]', helpGroup: 'TEMPORARY ETCD' }),
    ...restoreIgnoredFlags,
  }

  async run(): Promise<RestoreResult> {
    const { flags } = await this.parse(Restore)
    const loaded = await this.configFile(flags)
    const { config } = loaded
    const dataDir = flags['data-dir'] !== undefined
      ? assertDataDirValue(flags['data-dir'], process.env['STEWARD_DATA_DIR'] !== undefined && !this.argv.some((a) => /^(-d|--data-dir)(=|$)/.test(a)) ? 'STEWARD_DATA_DIR' : '--data-dir')
      : config.restore?.dataDir !== undefined
        ? assertDataDirValue(config.restore.dataDir, `restore.dataDir in ${loaded.path ?? 'the config file'}`)
        : 'default.etcd'
    const store = await openBackupStore(flags, config)
    const progress = this.progress('restore')
    const signals = abortOnSignals()
    const result = await using([store], () =>
      restoreFullSnapshot(store, {
        dataDir,
        force: flags.force,
        member: resolveRestoreMember(flags, config),
        snapshot: flags.snapshot,
        skipHashCheck: flags['skip-hash-check'] || (config.restore?.skipHashCheck ?? false),
        applyDeltas: !flags['no-deltas'],
        toRevision: flags['to-revision'],
        toTime: flags['to-time'],
        allowPartial: flags['allow-partial'],
        fallbackToOlderFull: flags['fallback-to-older-full'],
        deltaApply: (flags['delta-apply'] ?? 'direct') as DeltaApplyMode,
        keepDeltaHistory: flags['keep-delta-history'],
        limits: resolveTempEtcdLimits(flags),
        onProgress: (bytes, total) => progress.update(bytes, total),
        onCleanup: (message) => logger().warn(message),
        signal: signals.signal,
      }),
    ).finally(() => {
      progress.stop()
      signals.dispose()
    })
    for (const warning of result.warnings) this.warn(warning)
    const deltas = result.deltasApplied > 0 ? ` + ${plural(result.deltasApplied, 'delta')}, ${plural(result.eventsApplied, 'event')}` : ''
    const reached = `revision ${result.revision}${result.reachedTime ? `, last event at ${result.reachedTime}` : ''}`
    const why = result.end === 'complete' ? '' : ` [stopped: ${result.end}]`
    const compacted = result.compactedRevision !== undefined ? `, history compacted at revision ${result.compactedRevision}` : ''
    this.log(`Restored ${result.snapshot}${deltas} into ${result.dataDir} (${reached}${compacted}${why}, ${result.durationSeconds.toFixed(2)}s)`)
    return result
  }
}
