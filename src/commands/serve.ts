import { StewardCommand } from '../lib/cli/base-command.ts'
import { serveFlags } from '../lib/cli/serve-flags.ts'
import { logger } from '../lib/log.ts'
import { resolveServeOptions } from '../lib/serve/resolve.ts'
import { Runtime } from '../lib/serve/runtime.ts'
import { shutdownOnSignals } from '../lib/serve/shutdown.ts'

export default class Serve extends StewardCommand {
  static override aliases = ['server']
  static override enableJsonFlag = false
  static override summary = 'Run as the backup sidecar next to etcd (drop-in for etcdbrctl server).'
  static override description = `Serves etcd-backup-restore's HTTP API (/initialization/*, /config, /snapshot/*,
/healthz, /metrics) for etcd-wrapper and etcd-druid, initializes (validates and restores) the
data dir when the wrapper asks, and while this member leads takes full snapshots on --schedule
and deltas every --delta-snapshot-period, collects old backups every --garbage-collection-period
and, with --secondary-backup-sync-enabled, copies them to a second store. Accepts etcdbrctl server's flags (also as
\`steward server\`). Runs until SIGTERM/SIGINT, then stops gracefully and exits 0.
See docs/serve.md.`
  static override examples = [
    '<%= config.bin %> serve --storage-provider Local --store-container /backups --store-prefix etcd-main --endpoints http://127.0.0.1:2379 --data-dir /var/etcd/data/new.etcd',
    '<%= config.bin %> server --server-port=8080 --storage-provider=S3 --store-prefix=etcd-main --schedule="0 */1 * * *" --delta-snapshot-period=1m0s',
  ]
  static override flags = serveFlags

  /** The sidecar logs JSON lines only: an ignored flag's warning is a `warn` log line too. */
  protected override warnIgnoredFlag(line: string): void {
    logger().warn({ component: 'cli' }, line)
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(Serve)
    const { config } = await this.configFile(flags)
    const log = logger()
    // Signals are handled from here on, so a SIGTERM during start-up is a graceful stop too.
    const shutdown = shutdownOnSignals(log)
    try {
      const runtime = await Runtime.create(resolveServeOptions(flags, config))
      await runtime.run(shutdown.signal)
    } finally {
      shutdown.dispose()
    }
  }
}
