import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { runEtcdTool } from '../../src/lib/etcd/binaries.ts'
import { isStewardError } from '../../src/lib/errors.ts'
import { startEtcdCluster, withEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { isPortAccepting } from '../harness/ports.ts'
import { liveProcessCount } from '../harness/processes.ts'
import { makeTlsMaterial, type TlsMaterial } from '../harness/tls.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'
import { reportable } from '../harness/uvu-errors.ts'

/** A test whose StewardErrors stay reportable. */
const it = (name: string, fn: () => unknown) => test(name, reportable(fn))

let scratch = ''
let tls: TlsMaterial

const portOf = (url: string) => Number(new URL(url).port)
const portsOf = (cluster: EtcdCluster) => cluster.members.flatMap((m) => [m.clientUrl, m.peerUrl, m.metricsUrl].map(portOf))

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await promise
  } catch (error) {
    assert.ok(isStewardError(error, 'TOOL_FAILED'), `unexpected error ${String(error)}`)
    assert.match(error.message, pattern)
    return
  }
  assert.unreachable('expected etcdctl to fail')
}

test.before(async () => {
  scratch = await makeTempDir('steward-harness-test-')
  tls = await makeTlsMaterial(join(scratch, 'tls'))
})

test.after(async () => {
  await removeDir(scratch)
})

it('single member: put and get through etcdctl', async () => {
  await withEtcdCluster({}, async (cluster) => {
    assert.is(cluster.members.length, 1)
    assert.ok(cluster.members[0]?.dataDir.startsWith(tmpdir()))
    assert.match(cluster.endpoints[0] ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.is((await cluster.etcdctl(['put', 'greeting', 'hello'])).trim(), 'OK')
    assert.is(await cluster.etcdctl(['get', 'greeting', '--print-value-only']), 'hello\n')
  })
})

it('three members: all started and healthy', async () => {
  await withEtcdCluster({ members: 3 }, async (cluster) => {
    const members = (await cluster.etcdctl(['member', 'list'])).trim().split('\n')
    assert.is(members.length, 3)
    for (const line of members) assert.match(line, ', started, ')
    const health = JSON.parse(await cluster.etcdctl(['endpoint', 'health', '-w', 'json'])) as Array<{ endpoint: string; health: boolean }>
    assert.equal(health.map((h) => h.health), [true, true, true])
    assert.equal(new Set(health.map((h) => h.endpoint)), new Set(cluster.endpoints))
  })
})

it('three members: kill() of one leaves the other two serving', async () => {
  await withEtcdCluster({ members: 3 }, async (cluster) => {
    await cluster.kill(0)
    assert.not.ok(await isPortAccepting(portOf(cluster.endpoints[0] ?? '')))
    await cluster.waitHealthy() // the killed member may have been the leader: wait for a new one
    const survivors = cluster.endpoints.slice(1)
    await cluster.etcdctl(['put', 'after-kill', 'yes'], { endpoints: survivors })
    assert.is(await cluster.etcdctl(['get', 'after-kill', '--print-value-only'], { endpoints: survivors }), 'yes\n')
    const health = JSON.parse(await cluster.etcdctl(['endpoint', 'health', '-w', 'json'], { endpoints: survivors })) as Array<{ health: boolean }>
    assert.equal(health.map((h) => h.health), [true, true])
  })
})

it('TLS: answers with a client certificate, refuses without', async () => {
  await withEtcdCluster({ tls }, async (cluster) => {
    assert.match(cluster.endpoints[0] ?? '', /^https:\/\/127\.0\.0\.1:/)
    await cluster.etcdctl(['put', 'secure', '1'])
    assert.is(await cluster.etcdctl(['get', 'secure', '--print-value-only']), '1\n')
    await rejectsWith(cluster.etcdctl(['--command-timeout=2s', 'get', 'secure'], { clientCert: false }), /certificate required|broken pipe|connection reset|context deadline exceeded/)
  })
})

it('auth: refuses without the password, answers with it', async () => {
  await withEtcdCluster({ auth: { rootPassword: 'pa55-word' } }, async (cluster) => {
    await rejectsWith(cluster.etcdctl(['put', 'k', 'v'], { auth: false }), /user name is empty/)
    await cluster.etcdctl(['put', 'k', 'v'])
    assert.is(await cluster.etcdctl(['get', 'k', '--print-value-only']), 'v\n')
  })
})

it('stop(): ports closed, processes and temp dirs gone', async () => {
  const cluster = await startEtcdCluster({ members: 3 })
  const ports = portsOf(cluster)
  const dataDirs = cluster.members.map((m) => m.dataDir)
  for (const port of ports) assert.ok(await isPortAccepting(port), `port ${port} should be open`)
  await cluster.stop()
  for (const port of ports) assert.not.ok(await isPortAccepting(port), `port ${port} still accepts`)
  for (const dir of dataDirs) assert.not.ok(existsSync(dir), `${dir} still exists`)
  assert.is(liveProcessCount(), 0)
  await cluster.stop() // idempotent
})

it('withEtcdCluster stops the cluster when the callback throws', async () => {
  let ports: number[] = []
  try {
    await withEtcdCluster({}, async (cluster) => {
      ports = portsOf(cluster)
      throw new Error('callback failed')
    })
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.is((error as Error).message, 'callback failed')
  }
  for (const port of ports) assert.not.ok(await isPortAccepting(port))
  assert.is(liveProcessCount(), 0)
})

it('start-up failure carries the member output and leaves nothing running', async () => {
  try {
    await startEtcdCluster({ extraArgs: ['--no-such-flag'] })
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.match((error as Error).message, 'etcd cluster failed to start')
    assert.match((error as Error).message, 'flag provided but not defined')
  }
  assert.is(liveProcessCount(), 0)
})

it('dataDirs: starts on a dir made by etcdutl snapshot restore', async () => {
  const snapshot = join(scratch, 'snap.db')
  await withEtcdCluster({}, async (cluster) => {
    await cluster.etcdctl(['put', 'restored-key', 'restored-value'])
    await cluster.etcdctl(['snapshot', 'save', snapshot])
  })
  const restored = join(scratch, 'restored')
  const member = { name: 'restored', initialCluster: 'restored=http://localhost:2380', token: 'restore-token' }
  await runEtcdTool('etcdutl', [
    'snapshot', 'restore', snapshot, '--data-dir', restored, '--name', member.name,
    '--initial-cluster', member.initialCluster, '--initial-cluster-token', member.token, '--initial-advertise-peer-urls', 'http://localhost:2380',
  ])
  const options = { dataDirs: [restored], name: member.name, initialCluster: member.initialCluster, initialClusterToken: member.token }
  await withEtcdCluster(options, async (cluster) => {
    assert.is(await cluster.etcdctl(['get', 'restored-key', '--print-value-only']), 'restored-value\n')
  })
  assert.ok(existsSync(join(restored, 'member')), 'a caller-provided data dir is not removed')
})

it('no etcd process is left running', () => {
  assert.is(liveProcessCount(), 0)
})

test.run()
