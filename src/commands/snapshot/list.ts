import { StewardCommand } from '../../lib/cli/base-command.ts'
import { storeReadFlags } from '../../lib/cli/flags.ts'
import { openBackupStore, using } from '../../lib/context.ts'
import { describeStore, renderListing, type StoreListing } from '../../lib/snapshot/listing.ts'

export default class SnapshotList extends StewardCommand {
  static override summary = 'List the snapshots in the backup store and the set a restore would use.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --store file:///var/backups/etcd-main',
    '<%= config.bin %> <%= command.id %> --storage-provider S3 --store-container backups --store-prefix etcd-main --json',
  ]
  static override flags = { ...storeReadFlags }

  async run(): Promise<StoreListing> {
    const { flags } = await this.parse(SnapshotList)
    const { config } = await this.configFile(flags)
    const store = await openBackupStore(flags, config)
    const listing = await using([store], () => describeStore(store))
    this.log(renderListing(listing))
    return listing
  }
}
