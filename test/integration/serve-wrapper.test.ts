/**
 * `steward server` as a real process, started with druid's sidecar argument list (contract
 * notes §4.2, verbatim apart from ports and paths) and env, played against by an etcd-wrapper
 * stand-in (test/harness/wrapper.ts) with a REAL etcd and the Local store: a cold start with an
 * empty data dir restores the latest backup; a corrupt data dir is detected and restored;
 * etcd started from the served /config holds the data; SIGTERM exits 0.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { resolveEtcdConnection } from '../../src/lib/config/resolve.ts'
import { takeDeltaSnapshot } from '../../src/lib/delta/snapshotter.ts'
import { EtcdClient } from '../../src/lib/etcd/client.ts'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import { takeFullSnapshot } from '../../src/lib/snapshot/full.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { startSteward } from '../harness/cli.ts'
import { dumpEtcd, dumpHash, testClient, writeSampleData } from '../harness/data.ts'
import { startEtcdCluster } from '../harness/etcd.ts'
import { getFreePorts } from '../harness/ports.ts'
import { terminate } from '../harness/processes.ts'
import { runWrapper } from '../harness/wrapper.ts'

const test = suite('steward server ↔ etcd-wrapper stand-in (real processes)')

/** druid's `getBackupRestoreContainerCommandArgs` output for a store-backed, TLS-less Etcd (ports and paths substituted). */
export function druidSidecarArgs(p: { etcd: string; backupPort: number; clientPort: number; dataVolume: string }): string[] {
  return [
    'server',
    `--server-port=${p.backupPort}`,
    '--enable-snapshot-lease-renewal=true',
    `--full-snapshot-lease-name=${p.etcd}-full-snap`,
    `--delta-snapshot-lease-name=${p.etcd}-delta-snap`,
    '--storage-provider=Local',
    `--store-prefix=${p.etcd}`,
    '--schedule=0 */24 * * *',
    '--delta-snapshot-period=1m0s',
    '--delta-snapshot-retention-period=0s',
    '--delta-snapshot-memory-limit=104857600',
    '--garbage-collection-policy=LimitBased',
    '--max-backups=7',
    '--garbage-collection-period=12h0m0s',
    '--compress-snapshots=true',
    '--compression-policy=gzip',
    '--etcd-snapshot-timeout=15m0s',
    '--etcd-defrag-timeout=15m0s',
    '--auto-compaction-mode=periodic',
    '--auto-compaction-retention=30m',
    '--insecure-transport=true',
    '--insecure-skip-tls-verify=true',
    `--endpoints=http://127.0.0.1:${p.clientPort}`,
    `--service-endpoints=http://127.0.0.1:${p.clientPort}`,
    `--data-dir=${p.dataVolume}/new.etcd`,
    `--restoration-temp-snapshots-dir=${p.dataVolume}/restoration.temp`,
    `--snapstore-temp-directory=${p.dataVolume}/temp`,
    '--etcd-connection-timeout=5m',
    '--use-etcd-wrapper=true',
    '--enable-member-lease-renewal=true',
    '--k8s-heartbeat-duration=10s',
    '--embedded-etcd-quota-bytes=8589934592',
    '--etcd-connection-timeout-leader-election=5s',
    '--reelection-period=5s',
  ]
}

function configMap(p: { member: string; clientPort: number; peerPort: number; metricsPort: number; dataVolume: string }): string {
  const peer = `http://127.0.0.1:${p.peerPort}`
  const client = `http://127.0.0.1:${p.clientPort}`
  return `name: etcd-config
data-dir: ${p.dataVolume}/new.etcd
metrics: basic
snapshot-count: 75000
enable-grpc-gateway: false
quota-backend-bytes: 8589934592
initial-cluster-token: etcd-cluster
initial-cluster-state: new
initial-cluster: ${p.member}=${peer}
auto-compaction-mode: periodic
auto-compaction-retention: 30m
listen-peer-urls: ${peer}
listen-client-urls: ${client}
listen-metrics-urls: http://127.0.0.1:${p.metricsPort}
initial-advertise-peer-urls:
  ${p.member}:
  - ${peer}
advertise-client-urls:
  ${p.member}:
  - ${client}
next-cluster-version-compatible: true
`
}

test('cold start restores the latest backup; a corrupt data dir is detected and restored; SIGTERM exits 0', async () => {
  const work = await mkdtemp(join(tmpdir(), 'steward-wrapper-'))
  const storeRoot = join(work, 'bucket')
  const dataVolume = join(work, 'data')
  await mkdir(dataVolume)
  let steward: ChildProcess | undefined
  let etcdProcess: ChildProcess | undefined
  try {
    // A backup (full + delta) of a real cluster, as the sidecar would have written it.
    const source = await startEtcdCluster({ members: 1 })
    let expected
    try {
      await writeSampleData(source.endpoints[0]!, { keys: 300 })
      const client = await EtcdClient.create(resolveEtcdConnection({ endpoints: source.endpoints }, {}))
      const store = new BackupStore(localSnapstore({ root: storeRoot }), 'etcd-test')
      try {
        await takeFullSnapshot(client, store, { compression: 'gzip' })
        const c = testClient(source.endpoints[0]!)
        for (let i = 0; i < 20; i++) await c.put(`/after-full/${i}`).value(String(i))
        c.close()
        const delta = await takeDeltaSnapshot(client, store, { compression: 'gzip' })
        assert.is(delta.outcome, 'stored')
      } finally {
        client.close()
      }
      expected = await dumpEtcd(source.endpoints[0]!)
    } finally {
      await source.stop()
    }

    const [backupPort, clientPort, peerPort, metricsPort] = await getFreePorts(4)
    const conf = join(work, 'etcd.conf.yaml')
    await writeFile(conf, configMap({ member: 'etcd-test-0', clientPort: clientPort!, peerPort: peerPort!, metricsPort: metricsPort!, dataVolume }))
    let stderr = ''
    steward = startSteward(druidSidecarArgs({ etcd: 'etcd-test', backupPort: backupPort!, clientPort: clientPort!, dataVolume }), {
      POD_NAME: 'etcd-test-0',
      POD_NAMESPACE: 'default',
      STORAGE_CONTAINER: storeRoot,
      ETCD_CONF: conf,
      STEWARD_LOG_LEVEL: 'info',
    })
    steward.stderr?.on('data', (d: Buffer) => (stderr += d.toString()))
    const sidecar = `http://127.0.0.1:${backupPort}`

    // 1. Cold start: empty data volume → restore from the store.
    const first = await runWrapper(sidecar, dataVolume, work, `http://127.0.0.1:${metricsPort}`)
    etcdProcess = first.etcd.child
    assert.is(first.mode, 'full')
    assert.is(first.statuses.filter((s) => s !== 'Unknown')[0], 'New', 'the sidecar answers New before any start')
    assert.ok(first.statuses.includes('Successful'), first.statuses.join(' '))
    const served = parse(first.configText) as Record<string, unknown>
    assert.is(served['name'], 'etcd-test-0')
    assert.is(served['initial-advertise-peer-urls'], `http://127.0.0.1:${peerPort}`)
    let got = await dumpEtcd(`http://127.0.0.1:${clientPort}`)
    assert.is(got.revision, expected.revision)
    assert.is(dumpHash(got), dumpHash(expected), 'etcd started from /config holds the backed-up data')
    assert.not.match(stderr, '--use-etcd-wrapper is accepted', '--use-etcd-wrapper is acted on (peer-URL updates)')

    // 2. etcd stops (SIGTERM → the wrapper writes exit_code), the database gets corrupted.
    await terminate(etcdProcess, 'SIGTERM', 10_000)
    await writeFile(join(dataVolume, 'exit_code'), 'terminated')
    await writeFile(join(dataVolume, 'new.etcd', 'member', 'snap', 'db'), Buffer.alloc(8192, 0x42))
    const second = await runWrapper(sidecar, dataVolume, work, `http://127.0.0.1:${metricsPort}`)
    etcdProcess = second.etcd.child
    assert.is(second.mode, 'sanity')
    got = await dumpEtcd(`http://127.0.0.1:${clientPort}`)
    assert.is(dumpHash(got), dumpHash(expected), 'the corrupt data dir was restored from the backup')
    assert.match(stderr, 'DataDirectoryCorrupt')

    // 3. The sidecar leads its single member: /healthz turns 200.
    const deadline = Date.now() + 30_000
    let health = 0
    while (Date.now() < deadline && health !== 200) {
      health = (await fetch(`${sidecar}/healthz`).catch(() => null))?.status ?? 0
      if (health !== 200) await new Promise((r) => setTimeout(r, 200))
    }
    assert.is(health, 200)

    // 4. SIGTERM: graceful stop, exit 0.
    const exited = new Promise<number | null>((resolve) => steward!.once('exit', (code) => resolve(code)))
    steward.kill('SIGTERM')
    assert.is(await exited, 0, stderr.slice(-2000))
    steward = undefined
  } finally {
    if (steward) await terminate(steward, 'SIGKILL', 5000)
    if (etcdProcess) await terminate(etcdProcess, 'SIGTERM', 10_000)
    await rm(work, { recursive: true, force: true })
  }
})

test.run()
