/**
 * Peer-URL updates with a REAL etcd and `steward serve` (built CLI): the etcd config names
 * other peer URLs for the member than etcd has; once etcd answers, steward sets them with
 * MemberUpdate and, only with `--use-etcd-wrapper=true`, sends exactly one `POST /stop` to the
 * wrapper stand-in (test/harness/wrapper.ts). "Exactly one" is checked after etcd has answered
 * three more of steward's Status probes (etcd's own gRPC counter), not after a sleep.
 */
import type { ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startSteward } from '../harness/cli.ts'
import { testClient } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { getFreePorts } from '../harness/ports.ts'
import { terminate } from '../harness/processes.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'
import { until } from '../harness/wait.ts'
import { startWrapperServer, type WrapperServer } from '../harness/wrapper.ts'

const test = suite('steward serve: peer-URL update and etcd-wrapper restart (real etcd)')

interface Rig {
  cluster: EtcdCluster
  work: string
  wrapper: WrapperServer
  conf: string
}

const NAME = 'etcd-test-0'

async function peerUrls(cluster: EtcdCluster): Promise<string[]> {
  const client = testClient(cluster.endpoints[0]!)
  try {
    return (await client.cluster.memberList({ linearizable: false })).members[0]!.peerURLs
  } finally {
    client.close()
  }
}

/** Status calls etcd has answered so far (steward's leadership probes), from etcd's /metrics. */
async function statusCalls(cluster: EtcdCluster): Promise<number> {
  const text = await (await fetch(`${cluster.members[0]!.metricsUrl}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('grpc_server_handled_total{') && l.includes('grpc_method="Status"') && l.includes('grpc_code="OK"'))
  return line ? Number(line.split(' ').at(-1)) : 0
}

async function serve(rig: Rig, extra: string[]): Promise<{ child: ChildProcess; log: string[]; port: number }> {
  const [port] = await getFreePorts(1)
  const child = startSteward(
    ['serve', `--server-port=${port}`, `--endpoints=${rig.cluster.endpoints[0]}`, `--data-dir=${join(rig.work, 'unused.etcd')}`, '--reelection-period=2s', '--etcd-connection-timeout-leader-election=2s', ...extra],
    { ETCD_CONF: rig.conf, POD_NAME: NAME, POD_NAMESPACE: 'default', STEWARD_LOG_LEVEL: 'info', STEWARD_ETCD_WRAPPER_PORT: String(rig.wrapper.port) },
  )
  const log: string[] = []
  child.stderr?.on('data', (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean)))
  return { child, log, port: port! }
}

async function withRig(fn: (rig: Rig) => Promise<void>): Promise<void> {
  const work = await makeTempDir('steward-peer-urls-')
  const cluster = await startEtcdCluster({ name: NAME })
  const wrapper = await startWrapperServer()
  try {
    await fn({ cluster, work, wrapper, conf: join(work, 'etcd.conf.yaml') })
  } finally {
    await wrapper.close()
    await cluster.stop()
    await removeDir(work)
  }
}

/** druid's ConfigMap naming `peer` as this member's peer URL. */
const configMap = (peer: string) => `name: etcd-config
initial-cluster: ${NAME}=${peer}
initial-advertise-peer-urls:
  ${NAME}:
  - ${peer}
`

test('--use-etcd-wrapper=true: MemberUpdate to the configured URL, then exactly one POST /stop; without it: the update and no /stop', async () => {
  await withRig(async (rig) => {
    const [actual] = await peerUrls(rig.cluster)
    const configured = actual!.replace('127.0.0.1', 'localhost')
    assert.is.not(configured, actual)
    await writeFile(rig.conf, configMap(configured))

    const steward = await serve(rig, ['--use-etcd-wrapper=true'])
    try {
      await until('the member\'s peer URL to change', async () => ((await peerUrls(rig.cluster)).join() === configured ? true : undefined))
      await until('POST /stop', async () => rig.wrapper.stopCalls.length > 0 || undefined)
      const probes = await statusCalls(rig.cluster)
      await until('three more probes', async () => (await statusCalls(rig.cluster)) >= probes + 3 || undefined)
      assert.equal(rig.wrapper.stopCalls.map((c) => c.method), ['POST'], 'exactly one POST /stop')
      const metrics = await (await fetch(`http://127.0.0.1:${steward.port}/metrics`)).text()
      assert.match(metrics, 'steward_peer_url_updates_total{succeeded="true"} 1')
      assert.match(metrics, 'steward_etcd_wrapper_stops_total{succeeded="true"} 1')
      assert.ok(steward.log.some((l) => l.includes('"component":"peer-urls"') && l.includes('changed in the etcd config')), steward.log.join('\n'))
    } finally {
      await terminate(steward.child, 'SIGTERM', 10_000)
    }

    // Without --use-etcd-wrapper (etcdbrctl's default): the member is updated, the wrapper is left alone.
    await writeFile(rig.conf, configMap(actual!))
    const quiet = await serve(rig, [])
    try {
      await until('the member\'s peer URL to change back', async () => ((await peerUrls(rig.cluster)).join() === actual ? true : undefined))
      const probes = await statusCalls(rig.cluster)
      await until('three more probes', async () => (await statusCalls(rig.cluster)) >= probes + 3 || undefined)
      assert.is(rig.wrapper.stopCalls.length, 1, 'no /stop without --use-etcd-wrapper')
      assert.ok(quiet.log.some((l) => l.includes('--use-etcd-wrapper is off')), quiet.log.join('\n'))
    } finally {
      await terminate(quiet.child, 'SIGTERM', 10_000)
    }
  })
})

test('URLs already as configured: no MemberUpdate, no /stop', async () => {
  await withRig(async (rig) => {
    const [actual] = await peerUrls(rig.cluster)
    await writeFile(rig.conf, configMap(actual!))
    const steward = await serve(rig, ['--use-etcd-wrapper=true'])
    try {
      await until('the comparison', async () => steward.log.some((l) => l.includes('match the etcd config')) || undefined)
      const probes = await statusCalls(rig.cluster)
      await until('three more probes', async () => (await statusCalls(rig.cluster)) >= probes + 3 || undefined)
      assert.is(rig.wrapper.stopCalls.length, 0)
      assert.equal(await peerUrls(rig.cluster), [actual])
      assert.not.match(await (await fetch(`http://127.0.0.1:${steward.port}/metrics`)).text(), 'steward_peer_url_updates_total{')
    } finally {
      await terminate(steward.child, 'SIGTERM', 10_000)
    }
  })
})

test.run()
