import { Flags } from '@oclif/core'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { storeFlags } from '../lib/cli/flags.ts'
import { ignoredFlags } from '../lib/cli/ignored-flags.ts'
import { abortOnSignals } from '../lib/cli/signals.ts'
import { parseDuration } from '../lib/config/duration.ts'
import { resolveTempEtcdLimits } from '../lib/config/restore.ts'
import { openBackupStore, using } from '../lib/context.ts'
import { DEFAULT_COMPACT_DEFRAG_TIMEOUT_SECONDS, compactStore, type CompactResult } from '../lib/compact/compact.ts'
import { messageOf, StewardError } from '../lib/errors.ts'
import { parseSnapshotKey } from '../lib/snapshot/name.ts'

/** Sets the full-snapshot lease to the compacted snapshot (loads the Kubernetes client only here). */
async function updateCompactedFullLease(kubeconfig: string | undefined, leaseName: string, result: CompactResult) {
  const { connectLeaseApi } = await import('../lib/k8s/leases.ts')
  const { updateFullSnapshotLease } = await import('../lib/k8s/snapshot-leases.ts')
  const ref = parseSnapshotKey(result.key)
  if (!ref) throw new StewardError('INTERNAL', 'compact', `cannot parse the compacted snapshot's key ${result.key}`)
  const api = await connectLeaseApi({ kubeconfig, namespace: process.env['POD_NAMESPACE'] })
  return updateFullSnapshotLease(api, leaseName, { revision: result.revision, createdOn: ref.createdOn })
}

const SINGLE_MEMBER = 'the temporary etcd is a single member of its own, removed afterwards'
const NO_COMPACTION = 'the temporary etcd is compacted once, at the last revision'

/** etcdbrctl compact flags that steward's compaction accepts and does not act on, with why. */
const compactIgnoredFlags = ignoredFlags({
  name: { type: 'string', reason: SINGLE_MEMBER },
  'initial-cluster': { type: 'string', reason: SINGLE_MEMBER },
  'initial-cluster-token': { type: 'string', reason: SINGLE_MEMBER },
  'initial-advertise-peer-urls': { type: 'string', multiple: true, reason: SINGLE_MEMBER },
  'restoration-temp-snapshots-dir': { type: 'string', reason: 'deltas are spooled beside --data-dir' },
  'delta-snapshot-lease-name': { type: 'string', reason: 'compaction does not change the delta-snapshot lease' },
  'max-fetchers': { type: 'integer', reason: 'deltas are fetched and applied one at a time' },
  'max-call-send-message-size': { type: 'integer', reason: 'unused by etcd-backup-restore as well' },
  'auto-compaction-mode': { type: 'string', reason: NO_COMPACTION },
  'auto-compaction-retention': { type: 'string', reason: NO_COMPACTION },
})

export default class Compact extends StewardCommand {
  static override summary = 'Fold the latest full snapshot and its deltas into one new full snapshot (etcd-druid\'s compaction Job).'
  static override description = `Restores the latest set into --data-dir (a temporary etcd replays the deltas), compacts at the
last revision R, defragments, and uploads Full-00000000-<R>-<now> to the same store, with the
compression of the newest object and the base's .final marker. The old set stays until gc.
If the upload fails, no new snapshot is listed and the old set is untouched. --data-dir is
removed afterwards. With --enable-snapshot-lease-renewal the full-snapshot lease (in
POD_NAMESPACE) is set to the new snapshot's revision and creation time, never lowered; a failed
lease update is a warning and the exit code stays 0, as in etcd-backup-restore. See
docs/compact.md and docs/kubernetes.md.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --store file:///var/backups/etcd-main --data-dir /tmp/compaction.etcd',
    '<%= config.bin %> <%= command.id %> --data-dir=/var/etcd/data/compaction.etcd --storage-provider=S3 --store-container=backups --store-prefix=etcd-main',
  ]
  static override flags = {
    ...storeFlags,
    'data-dir': Flags.string({ char: 'd', summary: 'Working data directory; must be empty or absent; removed afterwards. [default: default.etcd]', env: 'STEWARD_DATA_DIR' }),
    defragment: Flags.boolean({ summary: 'Defragment after compacting. [default: true]', allowNo: true, default: true }),
    'skip-hash-check': Flags.boolean({ summary: 'Do not compare the base snapshot with its SHA-256 trailer.' }),
    'etcd-defrag-timeout': Flags.string({ summary: 'Deadline of the temporary etcd\'s defragmentation (Go duration); exit 62 when it passes. [default: 8m]' }),
    'etcd-snapshot-timeout': Flags.string({ summary: 'Deadline of the snapshot stream from the temporary etcd (Go duration). [default: 30m]' }),
    'embedded-etcd-quota-bytes': Flags.integer({ min: 1, summary: 'Backend quota of the temporary etcd. [default: 8589934592]' }),
    'max-request-bytes': Flags.integer({ min: 1, summary: 'Request size limit of the temporary etcd. [default: 10485760]' }),
    'max-txn-ops': Flags.integer({ min: 1, summary: 'Operations per transaction of the temporary etcd. [default: 10240]' }),
    'metrics-scrape-wait-duration': Flags.string({ summary: 'Wait this long after the upload before exiting (Go duration). [default: 0s]' }),
    'enable-snapshot-lease-renewal': Flags.boolean({ summary: 'Set druid\'s full-snapshot lease to the compacted snapshot (a failure warns; exit stays 0).', allowNo: true }),
    'full-snapshot-lease-name': Flags.string({ summary: 'Full-snapshot lease name (see --enable-snapshot-lease-renewal). [default: full-snapshot-revisions]' }),
    kubeconfig: Flags.string({ summary: 'Kubernetes client configuration; else KUBECONFIG, the in-cluster service account, ~/.kube/config.' }),
    ...compactIgnoredFlags,
  }

  async run(): Promise<CompactResult> {
    const { flags } = await this.parse(Compact)
    const { config } = await this.configFile(flags)
    const scrapeWaitSeconds = parseDuration(flags['metrics-scrape-wait-duration'] ?? '0s', '--metrics-scrape-wait-duration')
    const snapshotTimeoutSeconds = parseDuration(flags['etcd-snapshot-timeout'] ?? '30m', '--etcd-snapshot-timeout')
    const defragTimeoutSeconds = parseDuration(flags['etcd-defrag-timeout'] ?? DEFAULT_COMPACT_DEFRAG_TIMEOUT_SECONDS, '--etcd-defrag-timeout')
    if (defragTimeoutSeconds <= 0) throw new StewardError('CONFIG_INVALID', 'config', '--etcd-defrag-timeout must be greater than 0', { hints: ['pass a Go duration such as 8m, or --no-defragment to skip the step'] })
    const store = await openBackupStore(flags, config)
    const progress = this.progress('compact')
    const signals = abortOnSignals()
    const result = await using([store], () =>
      compactStore(
        { store, onProgress: (_phase, bytes, total) => progress.update(bytes, total) },
        {
          dataDir: flags['data-dir'] ?? config.restore?.dataDir ?? 'default.etcd',
          defragment: flags.defragment,
          defragTimeoutSeconds,
          snapshotTimeoutSeconds,
          skipHashCheck: flags['skip-hash-check'],
          limits: resolveTempEtcdLimits(flags),
        },
        signals.signal,
      ),
    ).finally(() => {
      progress.stop()
      signals.dispose()
    })
    for (const warning of result.warnings) this.warn(warning)
    if (flags['enable-snapshot-lease-renewal']) {
      const leaseName = flags['full-snapshot-lease-name'] || 'full-snapshot-revisions'
      try {
        const lease = await updateCompactedFullLease(flags.kubeconfig, leaseName, result)
        this.logToStderr(`Full-snapshot lease ${leaseName}: ${lease.outcome} at revision ${lease.holderIdentity}`)
      } catch (error) {
        this.warn(`--enable-snapshot-lease-renewal: the full-snapshot lease ${leaseName} was not updated (exit stays 0, as for a failed lease update in etcd-backup-restore): ${messageOf(error)}`)
      }
    }
    this.log(`Compacted ${result.base} + ${result.deltasFolded} delta(s) into ${result.snapshot} (revision ${result.revision}, database ${result.dbSizeBeforeBytes} → ${result.dbSizeAfterBytes} bytes, ${result.durationSeconds.toFixed(1)}s)`)
    if (scrapeWaitSeconds > 0) await new Promise((resolve) => setTimeout(resolve, scrapeWaitSeconds * 1000))
    return result
  }
}
