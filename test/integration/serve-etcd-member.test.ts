/**
 * `steward serve --enable-etcd-member-status` (in process) against REAL etcd and the Kubernetes
 * API test server's EtcdMember routes: a single member keeps its EtcdMember status at its member
 * ID / cluster ID / Started-Leader and patches it each heartbeat, the DB size follows etcd,
 * transitions recorded by an earlier process are kept, other API errors are retried and counted;
 * a missing CRD, a missing EtcdMember (404) and a Role without the rule (403) turn the feature
 * off with one warning while serve keeps running and the member lease keeps renewing; on a
 * 3-member cluster the statuses show one Leader and two Followers, and a leadership move is
 * recorded as LostClusterLeadership / GainedClusterLeadership without waiting for a heartbeat;
 * a real learner shows Starting/Learner (JoinedAsLearner), then Started/Follower
 * (PromotedAsVotingMember) once etcdctl promotes it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resolveServeOptions, type ServeFlags } from '../../src/lib/serve/resolve.ts'
import { Runtime } from '../../src/lib/serve/runtime.ts'
import { testClient, writeSampleData } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { spawnMember } from '../harness/etcd-member.ts'
import { startKubeApiServerIn, type KubeApiServerHandle } from '../harness/kube-apiserver.ts'
import { getFreePorts } from '../harness/ports.ts'
import { terminate } from '../harness/processes.ts'
import { until } from '../harness/wait.ts'

const test = suite('steward serve: EtcdMember status (in process, real etcd, Kubernetes API test server)')
const NS = 'shoot--em'
const STATUS_PATCH = (ns: string, name: string) => `PATCH /apis/druid.gardener.cloud/v1alpha1/namespaces/${ns}/etcdmembers/${name}/status application/merge-patch+json`

let cluster: EtcdCluster
let work: string
let server: KubeApiServerHandle
let kubeconfig: string

interface Serve {
  runtime: Runtime
  /** pino's JSON lines. */
  lines: Record<string, any>[]
  /** Whether run() has returned (it must not while the test expects serve to keep running). */
  ended: () => boolean
  stop(): Promise<void>
}

/** Starts `steward serve` in process for member `name` (lease and EtcdMember named alike). */
async function startServe(endpoint: string, name: string, flags: ServeFlags, env: Record<string, string> = {}): Promise<Serve> {
  const conf = join(work, `${name}.conf.yaml`)
  await writeFile(conf, `name: etcd-config\ninitial-cluster: ${name}=http://127.0.0.1:2380\ninitial-advertise-peer-urls:\n  ${name}:\n  - https://${name}.etcd-main-peer:2380\n`)
  const options = resolveServeOptions(
    { endpoints: [endpoint], 'server-port': 0, 'data-dir': join(work, 'data'), kubeconfig, 'enable-etcd-member-status': true, ...flags },
    {},
    { ETCD_CONF: conf, POD_NAME: name, POD_NAMESPACE: NS, STEWARD_SERVER_HOST: '127.0.0.1', ...env },
  )
  const lines: Record<string, any>[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
  const runtime = await Runtime.create(options, { logger })
  const controller = new AbortController()
  let done = false
  const running = runtime.run(controller.signal).finally(() => (done = true))
  return {
    runtime,
    lines,
    ended: () => done,
    async stop() {
      controller.abort()
      await running
    },
  }
}

async function metric(serve: Serve, name: string, labels = ''): Promise<number> {
  const text = await serve.runtime.ctx.metrics.registry.metrics()
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line === undefined ? Number.NaN : Number(line.split(' ')[1])
}

const componentLines = (serve: Serve, level: number) => serve.lines.filter((l) => l.component === 'etcd-member-status' && l.level === level)

test.before(async () => {
  cluster = await startEtcdCluster({ members: 1 })
  work = await mkdtemp(join(tmpdir(), 'steward-serve-em-'))
  ;({ server, kubeconfig } = await startKubeApiServerIn(work, 'sa-token'))
})

test.after(async () => {
  await cluster?.stop()
  await server?.close()
  if (work) await rm(work, { recursive: true, force: true })
})

test('single member: status at its member ID / cluster ID / Started-Leader, patched each heartbeat, DB size follows etcd; API errors retried and counted', async () => {
  server.etcdMembers.setCrdInstalled(true)
  server.etcdMembers.grant('etcdmembers/status:patch')
  server.etcdMembers.create(NS, 'etcd-main-0', 'etcd-main')
  server.createLease(NS, 'etcd-main-0')
  const client = testClient(cluster.endpoints[0]!)
  let serve = await startServe(cluster.endpoints[0]!, 'etcd-main-0', { 'enable-member-lease-renewal': true, 'k8s-heartbeat-duration': '1s' })
  try {
    // Expected values from etcd's own Status answer, not from steward's code.
    const status = await client.maintenance.status()
    const id = BigInt(status.header.member_id).toString(16)
    const clusterID = BigInt(status.header.cluster_id).toString(16)

    const patches = () => server.requests().filter((r) => r === STATUS_PATCH(NS, 'etcd-main-0')).length
    await until('three status patches (one per heartbeat)', async () => patches() >= 3)
    const member = server.etcdMembers.get(NS, 'etcd-main-0')!
    assert.is(member.status!.id, id)
    assert.is(member.status!.clusterID, clusterID)
    assert.is(member.status!.peerTLSEnabled, true, 'every peer URL of the member in the ConfigMap is https')
    assert.ok(Number.isInteger(member.status!.dbSize) && member.status!.dbSize > 0)
    assert.ok(member.status!.dbSizeInUse <= member.status!.dbSize)
    assert.is(member.status!.transitions.length, 1, 'one transition, not one per heartbeat')
    const [first] = member.status!.transitions
    assert.equal({ state: first.state, subState: first.subState, reason: first.reason }, { state: 'Started', subState: 'Leader', reason: 'MemberStatusObserved' })
    assert.match(first.transitionTime, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
    assert.match(first.message, new RegExp(`member ${id} leads cluster ${clusterID}`))

    // DB size follows etcd (about 2 MiB written).
    await writeSampleData(cluster.endpoints[0]!, { keys: 200, valueBytes: 10_000, prefix: '/em/' })
    await until('status dbSize at etcd\'s', async () => {
      const now = await client.maintenance.status()
      const current = server.etcdMembers.get(NS, 'etcd-main-0')!.status!
      return current.dbSize === Number(now.dbSize) && current.dbSize > member.status!.dbSize
    })
    await until('three successful updates counted', async () => (await metric(serve, 'steward_etcd_member_status_updates_total', '{outcome="succeeded"}')) >= 3)
    assert.is(await metric(serve, 'steward_etcd_member_status_updates_total', '{outcome="failed"}'), 0, JSON.stringify(componentLines(serve, 40)))
    assert.is(await metric(serve, 'steward_etcd_member_status_enabled'), 1)

    // Any other API error (here 401 after the token changed) is retried every heartbeat and counted; one warning.
    server.rotateToken('another-token')
    await until('two failed updates', async () => (await metric(serve, 'steward_etcd_member_status_updates_total', '{outcome="failed"}')) >= 2)
    server.rotateToken('sa-token')
    await until('updates succeeding again', async () => componentLines(serve, 30).some((l) => /succeed again/.test(l.msg)))
    const warnings = componentLines(serve, 40)
    assert.is(warnings.length, 1, JSON.stringify(warnings))
    assert.match(warnings[0]!.msg, /updating the EtcdMember status failed/)
    assert.is(await metric(serve, 'steward_etcd_member_status_enabled'), 1, 'a 401 does not turn the feature off')
    assert.not.ok(serve.ended())

    // A new process keeps the transitions already recorded (same state: nothing appended).
    await serve.stop()
    const before = patches()
    serve = await startServe(cluster.endpoints[0]!, 'etcd-main-0', { 'k8s-heartbeat-duration': '1s' })
    await until('two patches of the new process', async () => patches() >= before + 2)
    const after = server.etcdMembers.get(NS, 'etcd-main-0')!.status!
    assert.equal(after.transitions, member.status!.transitions)
  } finally {
    await serve.stop()
    client.close()
  }
})

const OFF_CASES = [
  {
    label: 'CRD absent (404 page not found)',
    namespace: NS,
    setup: () => server.etcdMembers.setCrdInstalled(false),
    status: 404,
    fix: /install the CRD and have druid create EtcdMembers/,
  },
  {
    label: 'EtcdMember absent (404 NotFound)',
    namespace: 'shoot--no-member',
    setup: () => server.etcdMembers.setCrdInstalled(true),
    status: 404,
    fix: /etcdmembers\.druid\.gardener\.cloud "etcd-main-0" not found/,
  },
  {
    label: 'Role without patch on etcdmembers/status (403)',
    namespace: NS,
    setup: () => {
      server.etcdMembers.setCrdInstalled(true)
      server.etcdMembers.revoke('etcdmembers/status:patch')
    },
    status: 403,
    fix: /add the rule \{apiGroups: \[druid\.gardener\.cloud\], resources: \[etcdmembers\/status\], verbs: \[patch\]\} to the Role/,
  },
]

for (const c of OFF_CASES) {
  test(`${c.label}: serve keeps running, one warning naming resource, verb and fix, member lease still renews`, async () => {
    c.setup()
    if (!server.lease(c.namespace, 'etcd-main-0')) server.createLease(c.namespace, 'etcd-main-0')
    const serve = await startServe(cluster.endpoints[0]!, 'etcd-main-0', { 'enable-member-lease-renewal': true, 'k8s-heartbeat-duration': '1s' }, { POD_NAMESPACE: c.namespace })
    try {
      const warning = await until('the warning', async () => componentLines(serve, 40)[0])
      const leaseWrites = server.writes(c.namespace, 'etcd-main-0').length
      const requests = server.requests().length
      await until('three more member lease renewals', async () => server.writes(c.namespace, 'etcd-main-0').length >= leaseWrites + 3)
      assert.is(componentLines(serve, 40).length, 1, 'exactly one warning')
      assert.is(serve.lines.filter((l) => l.component === 'etcd-member-status' && l.level >= 50).length, 0, 'no error lines')
      assert.is(warning.status, c.status)
      assert.is(warning.resource, 'etcdmembers/status')
      assert.is(warning.verb, 'patch')
      assert.match(warning.msg, /^EtcdMember status updates are off: cannot patch etcdmembers\/status /)
      assert.match(warning.msg, c.fix)
      assert.match(warning.msg, /--enable-etcd-member-status/)
      assert.is(server.requests().slice(requests).filter((r) => r.includes('/etcdmembers/')).length, 0, 'no EtcdMember calls after the warning')
      assert.is(await metric(serve, 'steward_etcd_member_status_enabled'), 0)
      assert.not.ok(serve.ended(), 'serve keeps running')
      assert.ok(serve.runtime.components.find((x) => x.name === 'etcd-member-status')!.health!().detail.startsWith('off:'))
    } finally {
      await serve.stop()
      server.etcdMembers.grant('etcdmembers/status:patch')
    }
  })
}

test('3 members: one Leader and two Followers; a leadership move is recorded as Lost/GainedClusterLeadership on the next probe', async () => {
  const three = await startEtcdCluster({ members: 3, name: 'etcd-main' })
  server.etcdMembers.setCrdInstalled(true)
  for (const m of three.members) server.etcdMembers.create(NS, m.name, 'etcd-main')
  // A heartbeat far longer than the test: every update comes from the leadership observer's probes.
  const serves = await Promise.all(three.members.map((m) => startServe(m.clientUrl, m.name, { 'k8s-heartbeat-duration': '10m', 'reelection-period': '2s' })))
  try {
    const last = (name: string) => server.etcdMembers.get(NS, name)?.status?.transitions?.at(-1)
    const roles = await until('every EtcdMember with a role, one Leader', async () => {
      const subs = three.members.map((m) => last(m.name)?.subState)
      return subs.every(Boolean) && subs.filter((s) => s === 'Leader').length === 1 ? subs : undefined
    })
    assert.equal([...roles].sort(), ['Follower', 'Follower', 'Leader'])
    const statuses = three.members.map((m) => server.etcdMembers.get(NS, m.name)!.status!)
    assert.is(new Set(statuses.map((s) => s.clusterID)).size, 1, 'one cluster ID')
    for (const [i, m] of three.members.entries()) {
      const client = testClient(m.clientUrl)
      const own = await client.maintenance.status().finally(() => client.close())
      assert.is(statuses[i]!.id, BigInt(own.header.member_id).toString(16), m.name)
      assert.is(statuses[i]!.peerTLSEnabled, true)
    }

    // Move leadership to a follower with etcdctl.
    const from = roles.indexOf('Leader')
    const to = (from + 1) % 3
    await three.etcdctl(['move-leader', statuses[to]!.id], { endpoints: [three.members[from]!.clientUrl] })
    await until('the move recorded on both EtcdMembers', async () => last(three.members[from]!.name)?.subState === 'Follower' && last(three.members[to]!.name)?.subState === 'Leader')
    const lost = last(three.members[from]!.name)!
    const gained = last(three.members[to]!.name)!
    assert.equal([lost.state, lost.reason], ['Started', 'LostClusterLeadership'])
    assert.equal([gained.state, gained.reason], ['Started', 'GainedClusterLeadership'])
    assert.is(server.etcdMembers.get(NS, three.members[to]!.name)!.status!.transitions.length, 2)
    for (const serve of serves) assert.is(componentLines(serve, 40).length, 0)
  } finally {
    await Promise.all(serves.map((s) => s.stop()))
    await three.stop()
  }
})

test('a real learner: Starting/Learner, then Started/Follower (PromotedAsVotingMember) when promoted', async () => {
  const one = await startEtcdCluster({ members: 1, name: 'etcd-main-0' })
  const [clientPort, peerPort, metricsPort] = await getFreePorts(3)
  const client = `http://127.0.0.1:${clientPort}`
  const peer = `http://127.0.0.1:${peerPort}`
  server.etcdMembers.setCrdInstalled(true)
  server.etcdMembers.create(NS, 'etcd-main-1', 'etcd-main')
  let serve: Serve | undefined
  let learner: ReturnType<typeof spawnMember> | undefined
  const leaderClient = testClient(one.endpoints[0]!)
  const learnerClient = testClient(client)
  try {
    await one.etcdctl(['member', 'add', 'etcd-main-1', '--learner', `--peer-urls=${peer}`])
    learner = spawnMember(
      'etcd-main-1',
      [
        '--name=etcd-main-1',
        `--data-dir=${join(work, 'learner.etcd')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--listen-metrics-urls=http://127.0.0.1:${metricsPort}`,
        `--initial-cluster=etcd-main-0=${one.members[0]!.peerUrl},etcd-main-1=${peer}`,
        '--initial-cluster-state=existing',
      ],
      `http://127.0.0.1:${metricsPort}`,
    )
    // Its own Status says learner (a learner's /health refuses linearizable reads, so ask Status).
    const own = await until('the learner answering Status', async () => {
      const status = await learnerClient.maintenance.status()
      return (status as { isLearner?: boolean }).isLearner ? status : undefined
    })
    const learnerId = BigInt(own.header.member_id).toString(16)
    serve = await startServe(client, 'etcd-main-1', { 'k8s-heartbeat-duration': '10m', 'reelection-period': '2s' })
    const last = () => server.etcdMembers.get(NS, 'etcd-main-1')?.status?.transitions?.at(-1)
    await until('Starting/Learner', async () => last()?.subState === 'Learner')
    assert.equal([last()!.state, last()!.reason], ['Starting', 'JoinedAsLearner'])
    assert.is(server.etcdMembers.get(NS, 'etcd-main-1')!.status!.id, learnerId)

    // Promoted as soon as it is in sync (etcd refuses before); seen by the next leadership probe.
    await until('the promotion', async () => {
      await leaderClient.cluster.memberPromote({ ID: own.header.member_id })
      return true
    })
    await until('Started/Follower', async () => last()?.subState === 'Follower')
    assert.equal([last()!.state, last()!.reason], ['Started', 'PromotedAsVotingMember'])
    assert.is(server.etcdMembers.get(NS, 'etcd-main-1')!.status!.transitions.length, 2)
    assert.is(componentLines(serve, 40).length, 0)
  } finally {
    await serve?.stop()
    leaderClient.close()
    learnerClient.close()
    if (learner) await terminate(learner.child, 'SIGKILL', 5000)
    await one.stop()
  }
})

test.run()
