import { Parser } from '@oclif/core'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { globalFlags } from '../../../src/lib/cli/flags.ts'
import { normalizeGoFlagForms, type FlagShape } from '../../../src/lib/cli/go-flags.ts'
import { givenIgnoredFlags, ignoredFlagWarnings, IGNORED_HELP_GROUP } from '../../../src/lib/cli/ignored-flags.ts'
import { serveFlags } from '../../../src/lib/cli/serve-flags.ts'
import { isStewardError } from '../../../src/lib/errors.ts'
import { resolveServeOptions, type ServeFlags } from '../../../src/lib/serve/resolve.ts'
import { runSteward } from '../../harness/cli.ts'

const test = suite('steward serve flags (druid and etcdbrctl forms)')

/**
 * druid's sidecar arguments for an Etcd with a store, client TLS and sidecar TLS, exactly as
 * `getBackupRestoreContainerCommandArgs` writes them (research: druid-wrapper-contract §4.2),
 * with `server` as the first argument.
 */
const DRUID_ARGS = [
  'server',
  '--server-port=8080',
  '--enable-snapshot-lease-renewal=true',
  '--full-snapshot-lease-name=etcd-main-full-snap',
  '--delta-snapshot-lease-name=etcd-main-delta-snap',
  '--storage-provider=S3',
  '--store-prefix=shoot--dev--main/etcd-main',
  '--store-endpoint-override=https://s3.example.com',
  '--schedule=0 */24 * * *',
  '--delta-snapshot-period=5m0s',
  '--delta-snapshot-retention-period=0s',
  '--delta-snapshot-memory-limit=104857600',
  '--garbage-collection-policy=LimitBased',
  '--max-backups=7',
  '--garbage-collection-period=12h0m0s',
  '--compress-snapshots=true',
  '--compression-policy=gzip',
  '--etcd-snapshot-timeout=15m0s',
  '--defragmentation-schedule=0 3 * * *',
  '--etcd-defrag-timeout=15m0s',
  '--auto-compaction-mode=periodic',
  '--auto-compaction-retention=30m',
  '--cacert=/var/etcd/ssl/ca/bundle.crt',
  '--cert=/var/etcd/ssl/client/tls.crt',
  '--key=/var/etcd/ssl/client/tls.key',
  '--insecure-transport=false',
  '--insecure-skip-tls-verify=false',
  '--endpoints=https://etcd-main-local:2379',
  '--service-endpoints=https://etcd-main-client:2379',
  '--server-cert=/var/etcdbr/ssl/server/tls.crt',
  '--server-key=/var/etcdbr/ssl/server/tls.key',
  '--data-dir=/var/etcd/data/new.etcd',
  '--restoration-temp-snapshots-dir=/var/etcd/data/restoration.temp',
  '--snapstore-temp-directory=/var/etcd/data/temp',
  '--etcd-connection-timeout=5m',
  '--use-etcd-wrapper=true',
  '--enable-member-lease-renewal=true',
  '--k8s-heartbeat-duration=10s',
  '--embedded-etcd-quota-bytes=8589934592',
  '--enable-profiling=true',
  '--etcd-connection-timeout-leader-election=5s',
  '--reelection-period=5s',
]

const ALL_FLAGS = { ...globalFlags, ...serveFlags }

async function parseServe(argv: readonly string[]): Promise<ServeFlags & Record<string, unknown>> {
  const normalized = normalizeGoFlagForms(argv, ALL_FLAGS as unknown as Record<string, FlagShape>)
  const { flags } = await Parser.parse(normalized, { flags: ALL_FLAGS, strict: true })
  return flags as ServeFlags & Record<string, unknown>
}

/** The warning texts for the given ignored flags (not deduplicated across calls, unlike `ignoredFlagWarnings`). */
const warningsFor = (flags: Record<string, unknown>) => givenIgnoredFlags(flags, ALL_FLAGS).map(({ flag, reason }) => `--${flag} is accepted for etcdbrctl compatibility and ignored: ${reason}`)

test("druid's sidecar argument list parses verbatim and resolves to etcdbrctl's meanings", async () => {
  const flags = await parseServe(DRUID_ARGS.slice(1))
  const options = resolveServeOptions(flags, {}, { POD_NAME: 'etcd-main-0', POD_NAMESPACE: 'shoot--dev--main', STORAGE_CONTAINER: 'bucket' })
  assert.is(options.serverPort, 8080)
  assert.is(options.store?.provider, 'S3')
  assert.is(options.store?.container, 'bucket', 'STORAGE_CONTAINER fills the container')
  assert.is(options.store?.prefix, 'shoot--dev--main/etcd-main')
  assert.is(options.fullSnapshotSchedule, '0 */24 * * *')
  assert.is(options.deltaSnapshotPeriodSeconds, 300)
  assert.is(options.deltaSnapshotMemoryLimitBytes, 104857600)
  assert.is(options.compression, 'gzip')
  assert.is(options.etcd.snapshotTimeoutSeconds, 900)
  assert.is(options.etcd.connectionTimeoutSeconds, 300)
  assert.is(options.etcd.defragTimeoutSeconds, 900)
  assert.equal(options.etcd.endpoints, ['https://etcd-main-local:2379'])
  assert.is(options.etcd.caFile, '/var/etcd/ssl/ca/bundle.crt')
  assert.is(options.etcd.insecureSkipTlsVerify, false)
  assert.equal(options.serviceEndpoints, ['https://etcd-main-client:2379'])
  assert.is(options.serverCertFile, '/var/etcdbr/ssl/server/tls.crt')
  assert.is(options.dataDir, '/var/etcd/data/new.etcd')
  assert.is(options.enableProfiling, true)
  assert.is(options.reelectionPeriodSeconds, 5)
  assert.is(options.garbageCollection.periodSeconds, 43200)
  assert.is(options.garbageCollection.policy, 'LimitBased')
  assert.is(options.podName, 'etcd-main-0')
  assert.is(options.etcdConfigPath, '/var/etcd/config/etcd.conf.yaml')
  const warnings = warningsFor(flags)
  assert.equal(ignoredFlagWarnings(givenIgnoredFlags(flags, ALL_FLAGS)), warnings, 'the shared mechanism words the warnings the same way')
  for (const name of ['restoration-temp-snapshots-dir', 'auto-compaction-mode', 'auto-compaction-retention', 'snapstore-temp-directory']) {
    assert.ok(warnings.some((w) => w.startsWith(`--${name} is accepted`)), name)
  }
  // The garbage collector and the lease components act on their flags: no warning for them.
  for (const name of ['use-etcd-wrapper', 'garbage-collection-policy', 'garbage-collection-period', 'max-backups', 'delta-snapshot-retention-period', 'enable-snapshot-lease-renewal', 'enable-member-lease-renewal', 'k8s-heartbeat-duration', 'full-snapshot-lease-name']) {
    assert.not.ok(warnings.some((w) => w.startsWith(`--${name} `)), `${name} is implemented, not ignored`)
  }
  assert.equal(options.garbageCollection, { policy: 'LimitBased', periodSeconds: 43200, maxBackups: 7, deltaRetentionSeconds: 0 })
  assert.equal(options.snapshotLeases, { fullLeaseName: 'etcd-main-full-snap', deltaLeaseName: 'etcd-main-delta-snap' })
  assert.equal(options.memberLease, { heartbeatSeconds: 10 })
  assert.is(options.useEtcdWrapper, true)
})

test('defaults are etcdbrctl server defaults; no --storage-provider (or an empty one) means no backups', async () => {
  const options = resolveServeOptions(await parseServe([]), {}, {})
  assert.is(options.serverPort, 8080)
  assert.is(options.store, null)
  assert.is(options.fullSnapshotSchedule, '0 */1 * * *')
  assert.is(options.deltaSnapshotPeriodSeconds, 20)
  assert.is(options.deltaSnapshotMemoryLimitBytes, 10485760)
  assert.is(options.leaderElectionTimeoutSeconds, 5)
  assert.equal(options.backoff, { multiplier: 2, attemptLimit: 6, thresholdSeconds: 128 })
  assert.is(options.dataDir, 'default.etcd')
  assert.is(options.snapshotLeases, null)
  assert.is(options.memberLease, null)
  assert.is(options.useEtcdWrapper, false)
  assert.is(options.etcdWrapperPort, 9095)
  assert.equal(options.membershipTimings, { probeAttempts: 4, probeBackoffMs: 2000, callTimeoutMs: 5000, addAttempts: 6, addBackoffMs: 2000, addBackoffCapMs: 120_000, tooManyLearnersWaitMs: 5000 })
  assert.equal(resolveServeOptions(await parseServe(['--enable-snapshot-lease-renewal', '--enable-member-lease-renewal']), {}, {}).snapshotLeases, { fullLeaseName: 'full-snapshot-revisions', deltaLeaseName: 'delta-snapshot-revisions' })
  assert.equal(resolveServeOptions(await parseServe(['--enable-member-lease-renewal']), {}, {}).memberLease, { heartbeatSeconds: 30 })
  assert.is(resolveServeOptions(await parseServe(['--storage-provider=']), {}, {}).store, null)
  assert.is(resolveServeOptions(await parseServe(['--delta-snapshot-memory-limit=0']), {}, {}).deltaSnapshotMemoryLimitBytes, 10485760)
})

test('obsolete flags of older releases are accepted and warned about; short forms -p -s -m -d -e work', async () => {
  const flags = await parseServe(['--experimental-fail-below-revision=100', '--enable-etcd-member-gc=true', '--k8s-member-gc-duration=1m0s', '--next-cluster-version-compatible=true', '-p', '9090', '-s', '*/5 * * * *', '-m', '3', '-d', '/data', '-e', 'http://10.0.0.1:2379'])
  const warnings = warningsFor(flags)
  assert.is(warnings.filter((w) => w.includes('obsolete')).length, 4)
  const options = resolveServeOptions(flags, {}, {})
  assert.is(options.serverPort, 9090)
  assert.is(options.fullSnapshotSchedule, '*/5 * * * *')
  assert.is(options.garbageCollection.maxBackups, 3)
  assert.is(options.dataDir, '/data')
  const identity = warningsFor(await parseServe(['--name=x', '--initial-cluster=x=http://a:2380']))
  assert.is(identity.length, 2)
  assert.match(identity[0]!, 'ETCD_CONF')
})

test('every ignored serve flag is listed under the shared help group; acted-on flags are not', () => {
  const grouped = Object.entries(serveFlags).filter(([, flag]) => (flag as { helpGroup?: string }).helpGroup === IGNORED_HELP_GROUP).map(([name]) => name)
  for (const name of ['max-fetchers', 'config-file', 'name', 'initial-advertise-peer-urls', 'next-cluster-version-compatible', 'snapstore-temp-directory']) assert.ok(grouped.includes(name), name)
  for (const name of ['schedule', 'data-dir', 'enable-member-lease-renewal', 'secondary-store-container', 'use-etcd-wrapper', 'learner-add-attempts']) assert.not.ok(grouped.includes(name), name)
})

test('membership timings: Go durations and counts override the defaults; --etcd-config-file beats ETCD_CONF', async () => {
  const options = resolveServeOptions(
    await parseServe(['--member-list-attempts=2', '--member-list-backoff=500ms', '--member-call-timeout=1m', '--learner-add-attempts=10', '--learner-add-backoff=1s', '--learner-add-max-backoff=30s', '--too-many-learners-wait=0s', '--etcd-config-file=/etc/etcd.yaml']),
    {},
    { ETCD_CONF: '/elsewhere.yaml' },
  )
  assert.equal(options.membershipTimings, { probeAttempts: 2, probeBackoffMs: 500, callTimeoutMs: 60_000, addAttempts: 10, addBackoffMs: 1000, addBackoffCapMs: 30_000, tooManyLearnersWaitMs: 0 })
  assert.is(options.etcdConfigPath, '/etc/etcd.yaml')
  assert.is(resolveServeOptions(await parseServe([]), {}, { ETCD_CONF: '/elsewhere.yaml' }).etcdConfigPath, '/elsewhere.yaml')
})

test('bad values name the flag: cron, durations, reelection period, membership timings', async () => {
  for (const [argv, flag] of [
    [['--learner-add-attempts=0'], '--learner-add-attempts'],
    [['--member-list-attempts=-1'], '--member-list-attempts'],
    [['--member-call-timeout=0s'], '--member-call-timeout'],
    [['--learner-add-backoff=soon'], '--learner-add-backoff'],
    [['--learner-add-backoff=10s', '--learner-add-max-backoff=5s'], '--learner-add-max-backoff'],
    [['--too-many-learners-wait=x'], '--too-many-learners-wait'],
    [['--schedule=0 0 * *'], '--schedule'],
    [['--defragmentation-schedule=nope'], '--defragmentation-schedule'],
    [['--delta-snapshot-period=soon'], '--delta-snapshot-period'],
    [['--reelection-period=1s'], '--reelection-period'],
  ] as const) {
    try {
      resolveServeOptions(await parseServe(argv), {}, {})
      assert.unreachable(flag)
    } catch (error) {
      assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
      assert.match((error as Error).message, flag)
    }
  }
})

test("built CLI: druid's sidecar arguments log one structured warning per ignored flag", async () => {
  // An invalid --reelection-period stops serve right after parsing, before it touches etcd or a store.
  const result = await runSteward(DRUID_ARGS.map((a) => (a.startsWith('--reelection-period=') ? '--reelection-period=1s' : a)), { timeoutSeconds: 60, env: { STORAGE_CONTAINER: 'bucket' } })
  assert.is(result.code, 2, result.stderr)
  for (const flag of ['restoration-temp-snapshots-dir', 'snapstore-temp-directory', 'auto-compaction-mode', 'auto-compaction-retention']) {
    const lines = result.stderr.split('\n').filter((line) => line.includes(`--${flag} is accepted for etcdbrctl compatibility and ignored`))
    assert.is(lines.length, 1, `--${flag}: ${result.stderr}`)
    const entry = JSON.parse(lines[0]!) as { level: unknown }
    assert.ok(entry.level === 40 || entry.level === 'warn', lines[0])
  }
  assert.not.match(result.stderr, /^Warning: /m, 'serve logs JSON lines only')
})

test('an unknown flag fails with exit code 2 and names it (built CLI, both command names)', async () => {
  for (const command of ['server', 'serve']) {
    const result = await runSteward([command, '--no-such-flag=1'], { timeoutSeconds: 60 })
    assert.is(result.code, 2, result.stderr)
    assert.match(result.stderr, 'no-such-flag')
  }
})

test('--enable-etcd-member-status: off by default; on, it follows --k8s-heartbeat-duration; --enable-etcd-member-status=false is off', async () => {
  assert.is(resolveServeOptions(await parseServe([]), {}, {}).etcdMemberStatus, null)
  assert.equal(resolveServeOptions(await parseServe(['--enable-etcd-member-status']), {}, {}).etcdMemberStatus, { heartbeatSeconds: 30 })
  assert.equal(resolveServeOptions(await parseServe(['--enable-etcd-member-status=true', '--k8s-heartbeat-duration=10s']), {}, {}).etcdMemberStatus, { heartbeatSeconds: 10 })
  assert.is(resolveServeOptions(await parseServe(['--enable-etcd-member-status=false']), {}, {}).etcdMemberStatus, null)
})

test.run()
