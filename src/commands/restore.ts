import { Flags } from '@oclif/core'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { restoreMemberFlags, storeFlags } from '../lib/cli/flags.ts'
import { openBackupStore, using } from '../lib/context.ts'
import { resolveRestoreMember } from '../lib/config/restore.ts'
import { restoreFullSnapshot, type RestoreResult } from '../lib/restore/restore.ts'

export default class Restore extends StewardCommand {
  static override summary = 'Restore etcd\'s data directory from the backup store.'
  static override description = `Restores the latest full snapshot (or the one named by --snapshot) with etcd's own
restore logic (etcdutl snapshot restore). Works in a hidden directory beside --data-dir and
renames it into place at the end; an existing data dir is replaced only with --force.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --store file:///var/backups/etcd-main --data-dir /var/etcd/data/new.etcd',
    '<%= config.bin %> <%= command.id %> --storage-provider S3 --store-container backups --store-prefix etcd-main --data-dir /var/etcd/data --force --json',
  ]
  static override flags = {
    ...storeFlags,
    ...restoreMemberFlags,
    'data-dir': Flags.string({ char: 'd', summary: 'Target data directory. [default: default.etcd]', env: 'STEWARD_DATA_DIR' }),
    force: Flags.boolean({ summary: 'Replace a non-empty --data-dir (only after the restore succeeded).' }),
    snapshot: Flags.string({ summary: 'Full snapshot to restore (name or key) instead of the latest.' }),
    'skip-hash-check': Flags.boolean({ summary: 'Do not compare the snapshot with its SHA-256 trailer.' }),
  }

  async run(): Promise<RestoreResult> {
    const { flags } = await this.parse(Restore)
    const { config } = await this.configFile(flags)
    const store = await openBackupStore(flags, config)
    const progress = this.progress('restore')
    const result = await using([store], () =>
      restoreFullSnapshot(store, {
        dataDir: flags['data-dir'] ?? config.restore?.dataDir ?? 'default.etcd',
        force: flags.force,
        member: resolveRestoreMember(flags, config),
        snapshot: flags.snapshot,
        skipHashCheck: flags['skip-hash-check'] || (config.restore?.skipHashCheck ?? false),
        onProgress: (bytes, total) => progress.update(bytes, total),
      }),
    ).finally(() => progress.stop())
    this.log(`Restored ${result.snapshot} into ${result.dataDir} (revision ${result.revision}, ${result.durationSeconds.toFixed(2)}s)`)
    return result
  }
}
