/**
 * Three `steward serve` processes next to a REAL 3-member etcd, sharing one Local store: only
 * the leader's steward uploads; /snapshot/full sent to a follower's steward is forwarded to the
 * leader's; when the leader's etcd dies, snapshotting moves to the new leader's steward and the
 * delta chain continues with no revision gap (checked by restoring the store and comparing it
 * with the cluster). Each steward listens on its member's own loopback address (127.0.0.1-3)
 * with one shared port, as sidecars share `--server-port` across pods.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { BackupStore } from '../../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { startSteward } from '../harness/cli.ts'
import { dumpEtcd, testClient } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { getFreePorts } from '../harness/ports.ts'
import { terminate } from '../harness/processes.ts'
import { assertRestoresTo } from '../harness/restore-check.ts'
import { until } from '../harness/wait.ts'

const test = suite('steward serve × 3 members (real processes)')
const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3']


async function leaderIndex(cluster: EtcdCluster, alive: number[]): Promise<number | undefined> {
  for (const i of alive) {
    const text = await fetch(`${cluster.members[i]!.metricsUrl}/metrics`).then((r) => r.text()).catch(() => '')
    if (/^etcd_server_is_leader 1$/m.test(text)) return i
  }
  return undefined
}

async function storeRevision(store: BackupStore): Promise<number> {
  const all = await store.list().catch(() => [])
  return all.reduce((max, s) => Math.max(max, s.lastRevision), 0)
}

test('only the leader uploads; follower forwards /snapshot/full; leader loss continues the chain without a gap', async () => {
  const work = await mkdtemp(join(tmpdir(), 'steward-cluster-'))
  const root = join(work, 'bucket')
  const cluster = await startEtcdCluster({ members: 3, clientHosts: HOSTS, name: 'etcd' })
  const stewards: { child: ChildProcess; log: string[] }[] = []
  try {
    const [port] = await getFreePorts(1)
    const initialCluster = cluster.members.map((m) => `${m.name}=${m.peerUrl}`).join(',')
    for (const [i, member] of cluster.members.entries()) {
      const conf = join(work, `etcd-${i}.conf.yaml`)
      await writeFile(conf, `name: etcd-config\ninitial-cluster: ${initialCluster}\n`)
      const child = startSteward(
        [
          'serve',
          `--endpoints=${member.clientUrl}`,
          '--storage-provider=Local',
          '--store-prefix=etcd-main',
          `--server-port=${port}`,
          '--delta-snapshot-period=2s',
          '--reelection-period=2s',
          '--etcd-connection-timeout-leader-election=2s',
          '--shutdown-grace-period=5s',
        ],
        { STORAGE_CONTAINER: root, ETCD_CONF: conf, POD_NAME: member.name, STEWARD_SERVER_HOST: HOSTS[i]!, STEWARD_LOG_LEVEL: 'info' },
      )
      const log: string[] = []
      child.stderr?.on('data', (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean)))
      stewards.push({ child, log })
    }
    const store = new BackupStore(localSnapstore({ root }), 'etcd-main')
    const stored = (i: number) => stewards[i]!.log.filter((l) => /stored (full snapshot|delta)/.test(l)).length
    const sidecar = (i: number) => `http://${HOSTS[i]}:${port}`

    const leader = await until('an etcd leader', () => leaderIndex(cluster, [0, 1, 2]))
    await until('the first full snapshot', async () => (await store.list().catch(() => [])).some((s) => s.kind === 'Full'))
    const client = testClient(cluster.endpoints[leader]!)
    for (let i = 0; i < 30; i++) await client.put(`/one/${i}`).value(String(i))
    client.close()
    const rev1 = (await dumpEtcd(cluster.endpoints[leader]!)).revision
    await until(`a delta up to revision ${rev1}`, async () => (await storeRevision(store)) >= rev1)

    const followers = [0, 1, 2].filter((i) => i !== leader)
    assert.ok(stored(leader) > 0, 'the leader\'s steward uploads')
    for (const f of followers) assert.is(stored(f), 0, `follower ${f}'s steward uploaded`)
    assert.is((await fetch(`${sidecar(leader)}/healthz`)).status, 200)
    for (const f of followers) assert.is((await fetch(`${sidecar(f)}/healthz`)).status, 503)

    // /snapshot/full at a follower's steward is forwarded to the leader's.
    const forwarded = await fetch(`${sidecar(followers[0]!)}/snapshot/full`, { method: 'POST' })
    assert.is(forwarded.status, 200)
    const full = JSON.parse(await forwarded.text()) as Record<string, unknown>
    assert.is(full['kind'], 'Full')
    assert.ok((await store.list()).some((s) => s.name === full['snapName']))
    assert.ok(stewards[followers[0]!]!.log.some((l) => l.includes('forwarding')), 'the follower logged the forward')
    for (const f of followers) assert.is(stored(f), 0)

    // The leader's etcd dies: a survivor's steward takes over and continues the chain.
    await cluster.kill(leader)
    await cluster.waitHealthy({ members: followers, timeoutSeconds: 60 })
    const survivor = testClient(cluster.endpoints[followers[0]!]!)
    for (let i = 0; i < 30; i++) await survivor.put(`/two/${i}`).value(String(i))
    await survivor.delete().key('/one/0')
    survivor.close()
    const expected = await dumpEtcd(cluster.endpoints[followers[0]!]!)
    await until(`the store to reach revision ${expected.revision}`, async () => (await storeRevision(store)) >= expected.revision, 90_000)
    const newLeader = await until('a new etcd leader', () => leaderIndex(cluster, followers))
    assert.ok(stored(newLeader) > 0, 'the new leader\'s steward uploads')
    assert.is(stored(followers.find((f) => f !== newLeader)!), 0, 'the remaining follower never uploaded')

    for (const s of stewards) {
      const code = await new Promise<number | null>((resolve) => {
        s.child.once('exit', (c) => resolve(c))
        s.child.kill('SIGTERM')
      })
      assert.is(code, 0, s.log.slice(-5).join('\n'))
    }
    stewards.length = 0

    // No gap: the store restores to exactly the cluster's data.
    const restored = join(work, 'restored.etcd')
    await assertRestoresTo(store, restored, expected)
  } finally {
    for (const s of stewards) await terminate(s.child, 'SIGKILL', 5000)
    await cluster.stop()
    await rm(work, { recursive: true, force: true })
  }
})

test.run()
