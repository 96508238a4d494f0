import { Flags } from '@oclif/core'
import { StewardCommand } from '../../lib/cli/base-command.ts'
import { compressionFlags, etcdFlags, snapshotIgnoredFlags, storeFlags } from '../../lib/cli/flags.ts'
import { abortOnSignals } from '../../lib/cli/signals.ts'
import { parseDuration } from '../../lib/config/duration.ts'
import { resolveCompression, resolveCompressionTuning } from '../../lib/config/resolve.ts'
import { openBackupStore, openEtcd, using } from '../../lib/context.ts'
import { DEFAULT_DELTA_MEMORY_LIMIT_BYTES, DEFAULT_DELTA_PERIOD_SECONDS } from '../../lib/delta/defaults.ts'
import { logger } from '../../lib/log.ts'
import { checkSnapshotRequest, describeSnapshotEvent, describeSnapshotResult, takeSnapshot, type SnapshotResult } from '../../lib/snapshot/take.ts'

export default class Snapshot extends StewardCommand {
  static override summary = 'Take a full or delta snapshot of etcd into the backup store, or keep taking deltas.'
  static override description = `--kind full (default) streams etcd's snapshot (Maintenance.Snapshot) through a check of its
SHA-256 trailer and compression into the store, in constant memory, as
<prefix>/v2/Full-00000000-<revision>-<unix>.gz.

--kind delta stores the watch events since the newest stored snapshot as
<prefix>/v2/Incr-<start>-<last>-<unix>.gz (etcd-backup-restore's delta format). With no events
nothing is stored; with no previous snapshot, or when etcd has compacted the revision the delta
must start from, a full snapshot is taken instead.

--watch runs until SIGTERM/SIGINT: a full snapshot first if the store has none, then a delta
every --delta-snapshot-period (skipped when nothing changed) or whenever the pending events
reach --delta-snapshot-memory-limit bytes. On SIGTERM the pending events are stored before exit.
See docs/delta-snapshots.md.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --endpoints http://127.0.0.1:2379 --store file:///var/backups/etcd-main',
    '<%= config.bin %> <%= command.id %> --store s3://backups/etcd-main --kind delta --json',
    '<%= config.bin %> <%= command.id %> --store s3://backups/etcd-main --watch --delta-snapshot-period 60s',
    '<%= config.bin %> <%= command.id %> --storage-provider Local --store-container /backups --store-prefix etcd-main --final',
  ]
  static override flags = {
    ...etcdFlags,
    ...storeFlags,
    ...compressionFlags,
    kind: Flags.option({ options: ['full', 'delta'] as const, default: 'full', summary: 'Snapshot to take once: full or delta.' })(),
    watch: Flags.boolean({ summary: 'Keep taking delta snapshots until SIGTERM/SIGINT (full first when needed).', exclusive: ['kind', 'final'] }),
    'delta-snapshot-period': Flags.string({ summary: 'With --watch: store a delta this often when there are events (Go duration, ≥ 1s). [default: 20s]' }),
    'delta-snapshot-memory-limit': Flags.integer({ summary: `Cut a delta once its JSON reaches this many bytes; < 1 means the default. [default: ${DEFAULT_DELTA_MEMORY_LIMIT_BYTES}]` }),
    final: Flags.boolean({ summary: 'Mark the full snapshot .final (before migration, hibernation or deletion).' }),
    ...snapshotIgnoredFlags,
  }

  async run(): Promise<SnapshotResult> {
    const { flags } = await this.parse(Snapshot)
    const { config } = await this.configFile(flags)
    const compression = resolveCompression(flags, config)
    const request = {
      mode: flags.watch ? ('watch' as const) : flags.kind,
      compression,
      tuning: resolveCompressionTuning(flags, compression),
      final: flags.final,
      memoryLimitBytes: flags['delta-snapshot-memory-limit'] ?? DEFAULT_DELTA_MEMORY_LIMIT_BYTES,
      periodSeconds: flags['delta-snapshot-period'] === undefined ? DEFAULT_DELTA_PERIOD_SECONDS : parseDuration(flags['delta-snapshot-period'], '--delta-snapshot-period'),
    }
    checkSnapshotRequest(request)
    // The etcd client makes no connection yet, so open it first: if it fails, nothing needs closing.
    const etcd = await openEtcd(flags, config)
    const store = await openBackupStore(flags, config).catch((error: unknown) => {
      etcd.close()
      throw error
    })
    const progress = this.progress('snapshot')
    const signals = abortOnSignals()
    const result = await using([store, etcd], () =>
      takeSnapshot(etcd, store, {
        ...request,
        signal: signals.signal,
        onProgress: (bytes) => progress.update(bytes),
        onCleanup: (message) => logger().warn(message),
        onEvent: (event) => {
          const line = describeSnapshotEvent(event)
          if (line) this.log(line)
          else if (event.type === 'reconnect') logger().warn({ endpoint: event.endpoint, fromRevision: event.fromRevision, err: event.error }, `watch broke (${event.error.reason}); resuming from revision ${event.fromRevision}`)
        },
      }),
    ).finally(() => {
      progress.stop()
      signals.dispose()
    })
    for (const line of describeSnapshotResult(result)) this.log(line)
    return result
  }
}
