import { Flags } from '@oclif/core'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { storeFlags } from '../lib/cli/flags.ts'
import { ignoredFlags } from '../lib/cli/ignored-flags.ts'
import { abortOnSignals } from '../lib/cli/signals.ts'
import { parseDuration } from '../lib/config/duration.ts'
import { resolvePrefixedStore } from '../lib/config/prefixed-store.ts'
import { resolveStore } from '../lib/config/resolve.ts'
import { using } from '../lib/context.ts'
import { copyBackups, type CopyResult } from '../lib/copy/copy.ts'
import { BackupStore } from '../lib/snapshot/backup-store.ts'
import { openSnapstore } from '../lib/snapstore/registry.ts'

const SOURCE = 'SOURCE STORE'

export default class CopyBackups extends StewardCommand {
  static override aliases = ['copy']
  static override summary = 'Copy backups from a source store to the destination store (etcd-druid\'s copy-backups Job).'
  static override description = `The destination is given by the usual store flags; the source by the same flags prefixed with
--source- (provider and prefix default to the destination's) and SOURCE_-prefixed environment
(SOURCE_STORAGE_CONTAINER, SOURCE_AWS_APPLICATION_CREDENTIALS, …). Copies the newest
--max-backups-to-copy backups (full snapshot + its deltas) younger than --max-backup-age days,
streaming each object byte for byte with --max-parallel-copy-operations workers and dropping
.final from the names. Objects already in the destination with the same size are skipped, so
a re-run after an interruption copies only what is missing. See docs/copy-backups.md.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --source-store file:///var/backups/etcd-main --store s3://backups/etcd-main',
    '<%= config.bin %> copy --source-storage-provider=S3 --source-store-container=old --storage-provider=GCS --store-container=new --store-prefix=etcd-main --max-backups-to-copy=3',
  ]
  static override flags = {
    ...storeFlags,
    'source-store': Flags.string({ summary: 'Source store URL (file://, s3://, gs://, azblob://).', helpGroup: SOURCE }),
    'source-storage-provider': Flags.string({ summary: 'Source provider (Local, S3, GCS, ABS, ECS, OCS). [default: the destination\'s]', helpGroup: SOURCE }),
    'source-store-container': Flags.string({ summary: 'Source bucket / container. Env: SOURCE_STORAGE_CONTAINER.', helpGroup: SOURCE }),
    'source-store-prefix': Flags.string({ summary: 'Source prefix. [default: the destination\'s]', helpGroup: SOURCE }),
    'source-store-endpoint-override': Flags.string({ summary: 'Source endpoint of an S3-compatible, Azurite or GCS-emulator server.', helpGroup: SOURCE }),
    'max-backups-to-copy': Flags.integer({ summary: 'Newest backups to copy; -1 copies all. [default: -1]', min: -1 }),
    'max-backup-age': Flags.integer({ summary: 'Only backups whose full snapshot is younger than this many days; -1 for any age. [default: -1]', min: -1 }),
    'max-parallel-copy-operations': Flags.integer({ summary: 'Objects copied at once. [default: 10]', min: 1 }),
    'wait-for-final-snapshot': Flags.boolean({ summary: 'Wait for a final full snapshot in the source before copying.', allowNo: true }),
    'wait-for-final-snapshot-timeout': Flags.string({ summary: 'Stop waiting after this long and copy anyway; 0 waits forever (Go duration). [default: 0s]' }),
    ...ignoredFlags({
      'source-max-parallel-chunk-uploads': { type: 'integer', reason: 'the source store is only read' },
      'source-min-chunk-size': { type: 'integer', reason: 'the source store is only read' },
      'source-snapstore-temp-directory': { type: 'string', reason: 'objects are copied as streams, without temp files' },
    }),
  }

  async run(): Promise<CopyResult> {
    const { flags } = await this.parse(CopyBackups)
    const { config } = await this.configFile(flags)
    const waitTimeout = parseDuration(flags['wait-for-final-snapshot-timeout'] ?? '0s', '--wait-for-final-snapshot-timeout')
    const destinationConfig = resolveStore(flags, config)
    const sourceConfig = resolvePrefixedStore(flags, 'source', 'SOURCE_', destinationConfig)
    const destination = new BackupStore(await openSnapstore(destinationConfig), destinationConfig.prefix)
    const source = new BackupStore(await openSnapstore(sourceConfig), sourceConfig.prefix)
    const signals = abortOnSignals()
    const result = await using([source, destination], () =>
      copyBackups(
        { source, destination, onMessage: (message) => this.logToStderr(message) },
        {
          maxBackupsToCopy: flags['max-backups-to-copy'] ?? -1,
          maxBackupAgeDays: flags['max-backup-age'] ?? -1,
          parallel: flags['max-parallel-copy-operations'] ?? 10,
          waitForFinalSnapshot: flags['wait-for-final-snapshot'] ?? false,
          waitForFinalSnapshotTimeoutSeconds: waitTimeout,
        },
        signals.signal,
      ),
    ).finally(() => signals.dispose())
    const c = result.counts
    this.log(`Copied ${c.copied + c.replaced} object(s) (${(result.copiedBytes / 1024 / 1024).toFixed(1)} MiB) of ${result.backups.length} backup(s) from ${result.source} to ${result.destination}; ${c.skipped} already there${c.replaced ? `, ${c.replaced} replaced (size differed)` : ''} (${result.durationSeconds.toFixed(1)}s).`)
    return result
  }
}
