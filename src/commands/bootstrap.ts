import { Flags } from '@oclif/core'
import type { BootstrapResult } from '../lib/bootstrap/run.ts'
import { runBootstrap } from '../lib/bootstrap/run.ts'
import { StewardCommand } from '../lib/cli/base-command.ts'
import { etcdFlags, storeReadFlags } from '../lib/cli/flags.ts'
import { etcdConfigFileFlag, membershipTimingFlags, serveFlags, serveIgnoredFlags } from '../lib/cli/serve-flags.ts'
import { abortOnSignals } from '../lib/cli/signals.ts'
import { logger } from '../lib/log.ts'
import { resolveServeOptions } from '../lib/serve/resolve.ts'

const ACTIONS: Record<BootstrapResult['action'], string> = {
  none: 'nothing to do: the data dir is valid',
  'fresh-start': 'fresh start: no data dir and nothing to restore; etcd creates it',
  restored: 'restored the data dir from the store',
  'joined-as-learner': 'joined the running cluster as a learner',
  'rejoined-as-learner': 'removed this member and rejoined as a learner',
}

export default class Bootstrap extends StewardCommand {
  static override summary = 'Prepare this member\'s data dir before etcd starts (serve\'s initialization, once).'
  static override description = `Runs the bootstrap steps steward serve's initializer runs when etcd-wrapper asks, once, and exits:
checks the data volume's safe-guard, validates the data dir (--validation-mode full|sanity),
restores it from the store when it is missing, corrupt or behind the newest backup (single member),
or — when the etcd config's initial-cluster has more than one member — joins the running cluster as a
learner (scale-up, or rejoin of a member whose data dir is invalid). A valid data dir is left as it is.
For an init container, a Job, or an operator at a shell. The member name comes from POD_NAME (and the
config's member-name-prefix), the namespace from POD_NAMESPACE. See docs/commands.md and docs/kubernetes.md.`
  static override examples = [
    'POD_NAME=etcd-main-0 <%= config.bin %> <%= command.id %> --etcd-config-file /var/etcd/config/etcd.conf.yaml --data-dir /var/etcd/data/new.etcd --storage-provider Local --store-container /backups --store-prefix etcd-main',
    'POD_NAME=etcd-main-2 POD_NAMESPACE=shoot <%= config.bin %> <%= command.id %> --service-endpoints https://etcd-main-client:2379 --cacert ca.crt --data-dir /var/etcd/data/new.etcd --json',
  ]
  static override flags = {
    ...etcdFlags,
    ...storeReadFlags,
    ...etcdConfigFileFlag,
    'data-dir': serveFlags['data-dir'],
    'validation-mode': Flags.string({ summary: 'full (also checks the bbolt database) or sanity (structure and revision only). [default: full]', options: ['full', 'sanity'], helpGroup: 'RESTORATION' }),
    'service-endpoints': serveFlags['service-endpoints'],
    'skip-hash-check': serveFlags['skip-hash-check'],
    'embedded-etcd-quota-bytes': serveFlags['embedded-etcd-quota-bytes'],
    'max-request-bytes': serveFlags['max-request-bytes'],
    'max-txn-ops': serveFlags['max-txn-ops'],
    'delta-apply': serveFlags['delta-apply'],
    'keep-delta-history': serveFlags['keep-delta-history'],
    'enable-member-lease-renewal': Flags.boolean({ summary: 'Multi-member: when no member answers, count this member as a former member if its lease has a holder (what serve does with this flag).', allowNo: true, helpGroup: 'KUBERNETES' }),
    kubeconfig: serveFlags.kubeconfig,
    ...membershipTimingFlags,
    'insecure-transport': serveFlags['insecure-transport'],
    name: serveIgnoredFlags.name,
    'initial-cluster': serveIgnoredFlags['initial-cluster'],
    'initial-cluster-token': serveIgnoredFlags['initial-cluster-token'],
    'initial-advertise-peer-urls': serveIgnoredFlags['initial-advertise-peer-urls'],
    'restoration-temp-snapshots-dir': serveIgnoredFlags['restoration-temp-snapshots-dir'],
    'max-fetchers': serveIgnoredFlags['max-fetchers'],
  }

  async run(): Promise<BootstrapResult> {
    const { flags } = await this.parse(Bootstrap)
    const { config } = await this.configFile(flags)
    const options = resolveServeOptions(flags, config)
    const progress = this.progress('restore')
    const signals = abortOnSignals()
    const result = await runBootstrap(options, flags['validation-mode'] === 'sanity' ? 'sanity' : 'full', {
      logger: logger(),
      signal: signals.signal,
      onRestoreProgress: (bytes, total) => progress.update(bytes, total),
    }).finally(() => {
      progress.stop()
      signals.dispose()
    })
    const facts = [result.revision !== undefined ? `revision ${result.revision}` : '', result.memberId ? `member ID ${BigInt(result.memberId).toString(16)}` : '', `${result.durationSeconds.toFixed(2)}s`].filter(Boolean)
    this.log(`${result.member}: ${ACTIONS[result.action]} (${facts.join(', ')}). ${result.detail}`)
    return result
  }
}
