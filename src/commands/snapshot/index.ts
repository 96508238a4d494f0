import { Flags } from '@oclif/core'
import { StewardCommand } from '../../lib/cli/base-command.ts'
import { compressionFlags, etcdFlags, storeFlags } from '../../lib/cli/flags.ts'
import { resolveCompression } from '../../lib/config/resolve.ts'
import { openBackupStore, openEtcd, using } from '../../lib/context.ts'
import { takeFullSnapshot, type FullSnapshotResult } from '../../lib/snapshot/full.ts'

export default class Snapshot extends StewardCommand {
  static override summary = 'Take a full snapshot of etcd into the backup store.'
  static override description = `Streams etcd's snapshot (Maintenance.Snapshot) through a check of its SHA-256
trailer and compression into the store, in constant memory. The object is named as
etcd-backup-restore names it (<prefix>/v2/Full-00000000-<revision>-<unix>.gz) and only becomes
visible once complete.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --endpoints http://127.0.0.1:2379 --store file:///var/backups/etcd-main',
    '<%= config.bin %> <%= command.id %> --store s3://backups/etcd-main --compression zstd --json',
    '<%= config.bin %> <%= command.id %> --storage-provider Local --store-container /backups --store-prefix etcd-main --final',
  ]
  static override flags = {
    ...etcdFlags,
    ...storeFlags,
    ...compressionFlags,
    final: Flags.boolean({ summary: 'Mark the snapshot .final (before migration, hibernation or deletion).' }),
  }

  async run(): Promise<FullSnapshotResult> {
    const { flags } = await this.parse(Snapshot)
    const { config } = await this.configFile(flags)
    const compression = resolveCompression(flags, config)
    const store = await openBackupStore(flags, config)
    const etcd = await openEtcd(flags, config)
    const progress = this.progress('snapshot')
    const result = await using([store, etcd], () =>
      takeFullSnapshot(etcd, store, { compression, final: flags.final, onProgress: (bytes) => progress.update(bytes) }),
    ).finally(() => progress.stop())
    if (result.reusedExisting) this.log(`Final snapshot ${result.name} already covers revision ${result.revision}; nothing new stored.`)
    else this.log(`Stored ${result.key} (revision ${result.revision}, ${result.dbSizeBytes} bytes of database, ${result.storedSizeBytes} stored, ${result.durationSeconds.toFixed(2)}s)`)
    return result
  }
}
