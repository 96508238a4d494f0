/**
 * Issue 8 (items 3, 4): configuration errors name their source, STEWARD_LOG_LEVEL is checked,
 * and etcdbrctl's argument lists for `restore` parse (accepted-and-ignored flags warn). Spawns the
 * built CLI (`npm run build` first).
 */
import { cp, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runSteward } from '../harness/cli.ts'
import { withEtcdCluster } from '../harness/etcd.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const test = suite('CLI configuration and etcdbrctl flag forms')
const fixtures = fileURLToPath(new URL('../../fixtures/etcdbr-v2/', import.meta.url))
const listFixture = ['snapshot', 'list', '--storage-provider', 'Local', '--store-container', join(fixtures, 'final'), '--store-prefix', 'etcd-main']

interface JsonError {
  error: { code: string; message: string }
}

let dir = ''
test.before(async () => {
  dir = await makeTempDir('steward-cli-config-')
})
test.after(async () => {
  await removeDir(dir)
})

test('STEWARD_LOG_LEVEL=loud is CONFIG_INVALID (exit 2) naming the variable and the valid levels, as JSON under --json', async () => {
  const result = await runSteward([...listFixture, '--json'], { env: { STEWARD_LOG_LEVEL: 'loud' } })
  assert.is(result.code, 2, result.stderr)
  const { error } = result.json as JsonError
  assert.is(error.code, 'CONFIG_INVALID')
  assert.match(error.message, /STEWARD_LOG_LEVEL: unknown log level "loud" \(valid: fatal, error, warn, info, debug, trace, silent/)
  assert.not.match(result.stderr, /pino|default level/)
})

test('STEWARD_LOG_LEVEL= (empty, from a templated pod env) means the default level: results and real errors show as usual', async () => {
  const result = await runSteward([...listFixture, '--json'], { env: { STEWARD_LOG_LEVEL: '' } })
  assert.is(result.code, 0, result.stderr)
  assert.is((result.json as { snapshots: unknown[] }).snapshots.length, 6)
  const failing = await runSteward(['snapshot', 'list', '--store', `file://${dir}/missing`, '--json'], { env: { STEWARD_LOG_LEVEL: '' } })
  assert.is(failing.code, 20, failing.stderr)
  assert.is((failing.json as JsonError).error.code, 'STORE_NOT_FOUND')
})

test('a config-file value error names the file and key, not a flag the user never passed', async () => {
  const config = join(dir, 'bad-timeout.yaml')
  await writeFile(config, 'etcd:\n  connectionTimeout: ten\n')
  const result = await runSteward(['snapshot', '--config', config, '--store', `file://${dir}/store`, '--json'])
  assert.is(result.code, 2, result.stderr)
  const { error } = result.json as JsonError
  assert.is(error.message, `${config}: etcd.connectionTimeout: "ten" is not a duration`)
})

test('a bad value from an environment variable names the variable (STEWARD_ENDPOINTS), not --endpoints', async () => {
  const result = await runSteward(['snapshot', '--store', `file://${dir}/store`, '--json'], { env: { STEWARD_ENDPOINTS: 'ftp://etcd:2379' } })
  assert.is(result.code, 2, result.stderr)
  assert.match((result.json as JsonError).error.message, /^STEWARD_ENDPOINTS: "ftp:\/\/etcd:2379" is not a client URL/)
})

test('etcdbrctl restore argument list (Go forms, restoration and snapstore flags) restores; ignored flags warn once each', async () => {
  const store = join(dir, 'gzip')
  await cp(join(fixtures, 'gzip'), store, { recursive: true })
  const dataDir = join(dir, 'restored.etcd')
  const args = [
    'restore',
    '--storage-provider=Local', `--store-container=${store}`, '--store-prefix=etcd-main',
    `--data-dir=${dataDir}`, '--name=default', '--initial-cluster=default=http://localhost:2380',
    '--initial-cluster-token=etcd-cluster', '--initial-advertise-peer-urls=http://localhost:2380',
    '--skip-hash-check=false', '--max-fetchers=6', '--max-call-send-message-size=10485760',
    '--max-request-bytes=10485760', '--max-txn-ops=10240', '--embedded-etcd-quota-bytes=8589934592',
    '--auto-compaction-mode=periodic', '--auto-compaction-retention=30m',
    `--restoration-temp-snapshots-dir=${join(dir, 'restoration.tmp')}`,
    '--snapstore-temp-directory=/tmp', '--max-parallel-chunk-uploads=5', '--min-chunk-size=5242880',
  ]
  const result = await runSteward(args, { timeoutSeconds: 300 })
  assert.is(result.code, 0, result.stderr)
  assert.match(result.stdout, /revision 105/)
  for (const flag of ['max-fetchers', 'max-call-send-message-size', 'auto-compaction-mode', 'auto-compaction-retention', 'restoration-temp-snapshots-dir', 'snapstore-temp-directory', 'max-parallel-chunk-uploads', 'min-chunk-size']) {
    const warnings = result.stderr.split(`Warning: --${flag} is accepted for etcdbrctl compatibility and ignored`).length - 1
    assert.is(warnings, 1, `--${flag}: ${result.stderr}`)
  }
})

test('etcdbrctl snapshot argument list (schedules, GC, backoff, defrag, Go durations and booleans) takes a full snapshot; ignored flags warn', async () => {
  await withEtcdCluster({ members: 1 }, async (cluster) => {
    const store = join(dir, 'snapshot-store')
    const args = [
      'snapshot',
      `--endpoints=${cluster.endpoints.join(',')}`, '--service-endpoints=http://etcd-main-client:2379',
      '--insecure-transport=true', '--insecure-skip-tls-verify=true',
      '--etcd-connection-timeout=30s', '--etcd-snapshot-timeout=15m0s', '--etcd-defrag-timeout=8m0s',
      '--defragmentation-schedule=0 0 */3 * *', '--schedule=0 */1 * * *',
      '--delta-snapshot-period=1m0s', '--delta-snapshot-memory-limit=10485760',
      '--garbage-collection-period=1m0s', '--garbage-collection-policy=Exponential', '--max-backups=7',
      '--delta-snapshot-retention-period=0s',
      '--compress-snapshots=true', '--compression-policy=gzip',
      '--backoff-multiplier=2', '--backoff-attempt-limit=6', '--backoff-threshold-time=2m8s',
      '--storage-provider=Local', `--store-container=${store}`, '--store-prefix=etcd-main',
      '--max-parallel-chunk-uploads=5', '--min-chunk-size=5242880', '--snapstore-temp-directory=/tmp',
    ]
    const result = await runSteward(args, { timeoutSeconds: 120 })
    assert.is(result.code, 0, result.stderr)
    const list = await runSteward(['snapshot', 'list', '--storage-provider=Local', `--store-container=${store}`, '--store-prefix=etcd-main', '--json'])
    const names = (list.json as { snapshots: { name: string }[] }).snapshots.map((s) => s.name)
    assert.is(names.length, 1, list.stdout)
    assert.match(names[0]!, /^Full-00000000-\d{8}-\d+\.gz$/)
    for (const flag of ['service-endpoints', 'insecure-transport', 'etcd-defrag-timeout', 'defragmentation-schedule', 'schedule', 'garbage-collection-period', 'garbage-collection-policy', 'max-backups', 'delta-snapshot-retention-period', 'backoff-multiplier', 'backoff-attempt-limit', 'backoff-threshold-time', 'snapstore-temp-directory']) {
      assert.ok(result.stderr.includes(`Warning: --${flag} is accepted for etcdbrctl compatibility and ignored`), `--${flag}: ${result.stderr}`)
    }
  })
})

test.run()
