/**
 * Multi-member bootstrap with REAL etcd processes, each started by the etcd-wrapper stand-in
 * (test/harness/wrapper.ts) from the `/config` of its own `steward serve`:
 *
 * 1. one member (a ConfigMap with one `initial-cluster` entry) starts and gets data;
 * 2. scale 1 → 3 at once: members 1 and 2 start together with a ConfigMap listing all three;
 *    each steward finds the cluster answering through `--service-endpoints` without it, adds
 *    its member as a learner (etcd admits one learner at a time: the other retries), serves
 *    `initial-cluster-state: existing`, and promotes it once in sync;
 * 3. member 1's data dir is wiped: its steward removes it, re-adds it as a learner and
 *    promotes it again; the data is intact on every member;
 * 4. member 2's volume (marked with its name and member ID) started as another member's is
 *    refused before anything touches it.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { startSteward } from '../harness/cli.ts'
import { dumpEtcd, dumpHash, testClient, writeSampleData } from '../harness/data.ts'
import { getFreePorts } from '../harness/ports.ts'
import { terminate } from '../harness/processes.ts'
import { until as waitUntil } from '../harness/wait.ts'
import { runWrapper, type WrapperRun } from '../harness/wrapper.ts'

const test = suite('steward serve: scale-up with learners, rejoin after a wiped data dir (real processes)')

interface Member {
  readonly name: string
  readonly client: string
  readonly peer: string
  readonly metrics: string
  readonly backupPort: number
  readonly volume: string
  steward?: ChildProcess
  log: string[]
  run?: WrapperRun
}

/** Bootstrap steps on 2 contended cores: a longer default deadline than the harness's. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 90_000) => waitUntil(what, fn, timeoutMs)

/** druid's ConfigMap for `members` (all of them in `initial-cluster`), with `self`'s data dir and listeners. */
function configMap(members: readonly Member[], self: Member): string {
  const map = (key: 'peer' | 'client') => members.map((m) => `  ${m.name}:\n  - ${m[key]}`).join('\n')
  return `name: etcd-config
data-dir: ${self.volume}/new.etcd
initial-cluster-token: etcd-cluster
initial-cluster-state: new
initial-cluster: ${members.map((m) => `${m.name}=${m.peer}`).join(',')}
listen-peer-urls: ${self.peer}
listen-client-urls: ${self.client}
listen-metrics-urls: ${self.metrics}
initial-advertise-peer-urls:
${map('peer')}
advertise-client-urls:
${map('client')}
`
}

async function memberList(endpoint: string) {
  const client = testClient(endpoint)
  try {
    return (await client.cluster.memberList({ linearizable: false })).members
  } finally {
    client.close()
  }
}

test('1 → 3 members with learners promoted by steward; a wiped member rejoins with no data loss; another member\'s volume is refused', async () => {
  const work = await mkdtemp(join(tmpdir(), 'steward-scale-'))
  const ports = await getFreePorts(12)
  const members: Member[] = [0, 1, 2].map((i) => ({
    name: `etcd-test-${i}`,
    client: `http://127.0.0.1:${ports[i * 4]}`,
    peer: `http://127.0.0.1:${ports[i * 4 + 1]}`,
    metrics: `http://127.0.0.1:${ports[i * 4 + 2]}`,
    backupPort: ports[i * 4 + 3]!,
    volume: join(work, `volume-${i}`),
    log: [],
  }))
  const sidecar = (m: Member) => `http://127.0.0.1:${m.backupPort}`
  const startMember = async (m: Member, inConfig: readonly Member[]) => {
    await mkdir(m.volume, { recursive: true })
    const conf = join(work, `${m.name}.conf.yaml`)
    await writeFile(conf, configMap(inConfig, m))
    m.steward = startSteward(
      [
        'serve',
        `--server-port=${m.backupPort}`,
        `--endpoints=${m.client}`,
        `--service-endpoints=${members[0]!.client}`,
        `--data-dir=${m.volume}/new.etcd`,
        '--reelection-period=2s',
        '--etcd-connection-timeout-leader-election=2s',
      ],
      { ETCD_CONF: conf, POD_NAME: m.name, POD_NAMESPACE: 'default', STEWARD_LOG_LEVEL: 'info' },
    )
    m.steward.stderr?.on('data', (d: Buffer) => m.log.push(...d.toString().split('\n').filter(Boolean)))
    m.steward.once('exit', (code) => m.log.push(`[test] steward exited with ${code}`))
    m.run = await runWrapper(sidecar(m), m.volume, work, m.metrics, 150).catch((error: Error) => {
      throw new Error(`${m.name}: ${error.message}\n${m.log.slice(-15).join('\n')}`)
    })
    return m.run
  }
  const voting = async (count: number) => {
    const list = await memberList(members[0]!.client)
    return list.length === count && list.every((m) => !m.isLearner && m.name !== '') ? list : undefined
  }
  const metric = async (m: Member, name: string) => (await (await fetch(`${sidecar(m)}/metrics`)).text()).split('\n').filter((l) => l.startsWith(name))
  try {
    // 1. A single member with data.
    const first = await startMember(members[0]!, [members[0]!])
    assert.is((parse(first.configText) as Record<string, unknown>)['initial-cluster-state'], 'new')
    await writeSampleData(members[0]!.client, { keys: 200 })
    const expected = await dumpEtcd(members[0]!.client)

    // 2. Scale 1 → 3 at once, as druid does (the StatefulSet starts both new pods in parallel):
    //    etcd admits one learner at a time, so one steward retries ("too many learners") until
    //    the other's learner is promoted.
    const runs = await Promise.all([1, 2].map((i) => startMember(members[i]!, members)))
    for (const [k, run] of runs.entries()) {
      const m = members[k + 1]!
      const served = parse(run.configText) as Record<string, unknown>
      assert.is(served['initial-cluster-state'], 'existing', `${m.name} joins an existing cluster`)
      const listed = String(served['initial-cluster']).split(',')
      assert.ok(listed.includes(`${members[0]!.name}=${members[0]!.peer}`) && listed.includes(`${m.name}=${m.peer}`), listed.join(','))
      assert.ok(m.log.some((l) => l.includes('scale-up detected')), m.log.slice(-10).join('\n'))
    }
    await until('3 voting members', () => voting(3))
    for (const m of members.slice(1)) {
      assert.ok(m.log.some((l) => l.includes('promoted this learner')), m.log.slice(-10).join('\n'))
      const added = await metric(m, 'etcdbr_add_learner_duration_seconds_count{succeeded="true"}')
      assert.equal(added, ['etcdbr_add_learner_duration_seconds_count{succeeded="true"} 1'])
      assert.ok((await metric(m, 'etcdbr_member_promote_duration_seconds_count{succeeded="true"}'))[0]?.endsWith(' 1'))
      assert.equal(await until(`etcdbr_is_learner 0 on ${m.name}`, async () => ((await metric(m, 'etcdbr_is_learner ')).includes('etcdbr_is_learner 0') ? ['ok'] : undefined)), ['ok'])
    }
    const waited = members.slice(1).filter((m) => m.log.some((l) => /too many learner/i.test(l)))
    assert.ok(waited.length <= 1, 'at most one member had to wait for the other learner')
    for (const m of members) assert.is(dumpHash(await until(`${m.name} to hold the data`, async () => {
      const dump = await dumpEtcd(m.client)
      return dump.revision >= expected.revision ? dump : undefined
    })), dumpHash(expected), `${m.name} holds the data`)

    // 3. Member 1 loses its data dir: remove, re-add as learner, promote.
    const wiped = members[1]!
    const before = (await memberList(members[0]!.client)).find((x) => x.name === wiped.name)!
    await terminate(wiped.run!.etcd.child, 'SIGKILL', 5000)
    await rm(join(wiped.volume, 'new.etcd'), { recursive: true, force: true })
    const client = testClient(members[0]!.client)
    for (let i = 0; i < 20; i++) await client.put(`/while-wiped/${i}`).value(String(i))
    client.close()
    const expectedAfter = await dumpEtcd(members[0]!.client)
    wiped.run = await runWrapper(sidecar(wiped), wiped.volume, work, wiped.metrics, 150)
    assert.is((parse(wiped.run.configText) as Record<string, unknown>)['initial-cluster-state'], 'existing')
    assert.ok(wiped.log.some((l) => l.includes('removed this member')), wiped.log.slice(-10).join('\n'))
    const list = await until('3 voting members again', () => voting(3))
    assert.is.not(list.find((x) => x.name === wiped.name)!.ID, before.ID, 'the member was re-added under a new ID')
    assert.is(dumpHash(await until('the rejoined member to hold the data', async () => {
      const dump = await dumpEtcd(wiped.client)
      return dump.revision >= expectedAfter.revision ? dump : undefined
    })), dumpHash(expectedAfter))

    // 4. The volume of member 2 mounted for another member is refused, untouched.
    const marker = JSON.parse(await readFile(join(members[2]!.volume, 'safe_guard_member'), 'utf8')) as Record<string, string>
    assert.is(marker['member'], members[2]!.name)
    assert.is(marker['namespace'], 'default')
    const status2 = (await memberList(members[0]!.client)).find((x) => x.name === members[2]!.name)!
    assert.is(await until('the member ID in the marker', async () => {
      const m = JSON.parse(await readFile(join(members[2]!.volume, 'safe_guard_member'), 'utf8')) as Record<string, string>
      return m['memberId']
    }), String(status2.ID))
    const [strayPort] = await getFreePorts(1)
    const conf = join(work, 'stray.conf.yaml')
    await writeFile(conf, configMap(members, members[2]!))
    const stray = startSteward(['serve', `--server-port=${strayPort}`, `--endpoints=${members[2]!.client}`, `--service-endpoints=${members[0]!.client}`, `--data-dir=${members[2]!.volume}/new.etcd`, '--backoff-multiplier=1', '--backoff-threshold-time=1s'], {
      ETCD_CONF: conf,
      POD_NAME: 'etcd-test-3',
      POD_NAMESPACE: 'default',
      STEWARD_LOG_LEVEL: 'info',
    })
    const strayLog: string[] = []
    stray.stderr?.on('data', (d: Buffer) => strayLog.push(...d.toString().split('\n').filter(Boolean)))
    try {
      await until('the stray steward to answer', async () => (await fetch(`http://127.0.0.1:${strayPort}/initialization/start?mode=full`)).ok)
      await until('Failed', async () => (await (await fetch(`http://127.0.0.1:${strayPort}/initialization/status`)).text()) === 'Failed', 30_000)
      assert.ok(strayLog.some((l) => l.includes('belongs to member etcd-test-2')), strayLog.join('\n'))
      assert.is((await memberList(members[0]!.client)).length, 3, 'no member was added or removed')
      await stat(join(members[2]!.volume, 'new.etcd', 'member'))
    } finally {
      await terminate(stray, 'SIGKILL', 5000)
    }

    for (const m of members) {
      const code = await new Promise<number | null>((resolve) => {
        m.steward!.once('exit', (c) => resolve(c))
        m.steward!.kill('SIGTERM')
      })
      assert.is(code, 0, m.log.slice(-5).join('\n'))
    }
  } finally {
    for (const m of members) {
      if (m.steward) await terminate(m.steward, 'SIGKILL', 5000)
      if (m.run) await terminate(m.run.etcd.child, 'SIGKILL', 5000)
    }
    await rm(work, { recursive: true, force: true })
  }
})

test.run()
