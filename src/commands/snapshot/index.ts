import { Flags } from '@oclif/core'
import { StewardCommand } from '../../lib/cli/base-command.ts'
import { compressionFlags, etcdFlags, storeFlags } from '../../lib/cli/flags.ts'
import { parseDuration } from '../../lib/config/duration.ts'
import { resolveCompression } from '../../lib/config/resolve.ts'
import { openBackupStore, openEtcd, using } from '../../lib/context.ts'
import {
  DEFAULT_DELTA_MEMORY_LIMIT_BYTES,
  runDeltaSnapshots,
  takeDeltaSnapshot,
  type ContinuousDeltaResult,
  type DeltaSnapshotResult,
  type SnapshotEvent,
} from '../../lib/delta/snapshotter.ts'
import { StewardError } from '../../lib/errors.ts'
import { logger } from '../../lib/log.ts'
import { takeFullSnapshot, type FullSnapshotResult } from '../../lib/snapshot/full.ts'

/** `--json` output: one of the three modes' results. */
export type SnapshotCommandResult = FullSnapshotResult | DeltaSnapshotResult | ContinuousDeltaResult

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
  }

  async run(): Promise<SnapshotCommandResult> {
    const { flags } = await this.parse(Snapshot)
    const { config } = await this.configFile(flags)
    const compression = resolveCompression(flags, config)
    const memoryLimitBytes = flags['delta-snapshot-memory-limit'] ?? DEFAULT_DELTA_MEMORY_LIMIT_BYTES
    const periodSeconds = parseDuration(flags['delta-snapshot-period'] ?? '20s', '--delta-snapshot-period')
    if (flags.watch && periodSeconds < 1) {
      throw new StewardError('CONFIG_INVALID', 'snapshot', `--delta-snapshot-period: ${periodSeconds}s is below 1s`, {
        hints: ['etcd-backup-restore disables deltas below 1s; steward needs a period of at least 1s with --watch'],
      })
    }
    if (flags.final && flags.kind === 'delta') throw new StewardError('CONFIG_INVALID', 'snapshot', '--final applies to full snapshots only')
    const store = await openBackupStore(flags, config)
    const etcd = await openEtcd(flags, config)

    if (flags.watch) {
      const controller = new AbortController()
      const stop = () => controller.abort()
      process.once('SIGTERM', stop)
      process.once('SIGINT', stop)
      try {
        const result = await using([store, etcd], () =>
          runDeltaSnapshots(etcd, store, { compression, memoryLimitBytes, periodSeconds, signal: controller.signal, onEvent: (event) => this.#report(event) }),
        )
        this.log(`Stopped: ${result.fulls.length} full and ${result.deltas.length} delta snapshot(s) stored; the store reaches revision ${result.lastRevision}.`)
        return result
      } finally {
        process.off('SIGTERM', stop)
        process.off('SIGINT', stop)
      }
    }

    if (flags.kind === 'delta') {
      const result = await using([store, etcd], () => takeDeltaSnapshot(etcd, store, { compression, memoryLimitBytes }))
      for (const delta of result.deltas) this.log(`Stored ${delta.key} (revisions ${delta.startRevision}..${delta.lastRevision}, ${delta.eventCount} events, ${delta.storedSizeBytes} bytes stored)`)
      if (result.full) this.log(`Stored full snapshot ${result.full.key} (revision ${result.full.revision}) instead: ${result.reason}`)
      else if (result.outcome === 'empty') this.log(`Nothing stored: ${result.reason}.`)
      return result
    }

    const progress = this.progress('snapshot')
    const result = await using([store, etcd], () =>
      takeFullSnapshot(etcd, store, { compression, final: flags.final, onProgress: (bytes) => progress.update(bytes) }),
    ).finally(() => progress.stop())
    if (result.reusedExisting) this.log(`Final snapshot ${result.name} already covers revision ${result.revision}; nothing new stored.`)
    else this.log(`Stored ${result.key} (revision ${result.revision}, ${result.dbSizeBytes} bytes of database, ${result.storedSizeBytes} stored, ${result.durationSeconds.toFixed(2)}s)`)
    return result
  }

  #report(event: SnapshotEvent): void {
    switch (event.type) {
      case 'full':
        this.log(`Stored full snapshot ${event.snapshot.key} (revision ${event.snapshot.revision}): ${event.reason}`)
        break
      case 'delta':
        this.log(`Stored ${event.snapshot.key} (revisions ${event.snapshot.startRevision}..${event.snapshot.lastRevision}, ${event.snapshot.eventCount} events, trigger ${event.trigger})`)
        break
      case 'reconnect':
        logger().warn({ endpoint: event.endpoint, fromRevision: event.fromRevision, err: event.error }, `watch broke (${event.error.reason}); resuming from revision ${event.fromRevision}`)
        break
      case 'watched':
        logger().debug({ lastRevision: event.lastRevision, pendingEvents: event.pendingEvents, pendingJsonBytes: event.pendingJsonBytes }, 'watch events buffered')
        break
    }
  }
}
