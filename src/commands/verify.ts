import { Flags } from '@oclif/core'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { storeFlags } from '../lib/cli/flags.ts'
import { abortOnSignals } from '../lib/cli/signals.ts'
import { openBackupStore, using } from '../lib/context.ts'
import { ERROR_CODES } from '../lib/errors.ts'
import { renderVerifyReport, verifyStore, type VerifyReport } from '../lib/verify/verify.ts'

export default class Verify extends StewardCommand {
  static override summary = 'Prove from the store alone that its newest revision can be restored; name every bad object.'
  static override description = `Reads every snapshot object (no etcd needed): full snapshots must be bbolt databases
matching their SHA-256 trailer, deltas must match their SHA-256 and decode, with events inside
the revisions their names claim. The newest full snapshot and the deltas after it must form a
chain without gap or overlap. --trial-restore also restores that set into a temporary directory
and compares the revision reached. Exit 0 only when the newest revision is restorable, else 71
(STORE_NOT_RESTORABLE). The last line of output is a one-line summary for CI logs.`
  static override examples = [
    '<%= config.bin %> <%= command.id %> --store file:///var/backups/etcd-main',
    '<%= config.bin %> <%= command.id %> --storage-provider S3 --store-container backups --store-prefix etcd-main --trial-restore --json',
  ]
  static override flags = {
    ...storeFlags,
    'trial-restore': Flags.boolean({ summary: 'Also restore the latest set into a temporary directory (needs etcd/etcdutl binaries, not a running etcd).' }),
    'latest-only': Flags.boolean({ summary: 'Check only the newest full snapshot and the deltas after it.' }),
    strict: Flags.boolean({ summary: 'Also fail (exit 71) when an object outside the latest set is bad.' }),
    parallel: Flags.integer({ min: 1, max: 64, summary: 'Objects checked at once. [default: 4]' }),
    'temp-dir': Flags.string({ summary: 'Where to put temporary files (delta spool files, the trial restore). [default: the system temp dir]' }),
  }

  async run(): Promise<VerifyReport> {
    const { flags } = await this.parse(Verify)
    const { config } = await this.configFile(flags)
    const store = await openBackupStore(flags, config)
    const signals = abortOnSignals()
    const report = await using([store], () =>
      verifyStore(
        { store, ...(flags['temp-dir'] ? { tempDir: flags['temp-dir'] } : {}) },
        { trialRestore: flags['trial-restore'], latestOnly: flags['latest-only'], ...(flags.parallel ? { parallel: flags.parallel } : {}) },
        signals.signal,
      ),
    ).finally(() => signals.dispose())
    this.log(renderVerifyReport(report))
    if (!report.restorable || (flags.strict && report.badObjects.length > 0)) process.exitCode = ERROR_CODES.STORE_NOT_RESTORABLE.exit
    return report
  }
}
