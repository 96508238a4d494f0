/**
 * A 3-member cluster started from EMPTY data dirs, as druid creates one: three `steward serve`
 * processes with a ConfigMap listing all three members, member-lease renewal against the
 * Kubernetes API test server (leases pre-created empty, as druid does), each next to the
 * etcd-wrapper stand-in that starts a REAL etcd from `/config`. No member answers through
 * `--service-endpoints` at first, no lease has a holder: every steward concludes "not a member,
 * not a scale-up" and reports a fresh start; the etcds bootstrap together (`new`), and every
 * member lease ends at `<id>:<cluster>:Leader|Member` with exactly one `Leader`.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { startSteward } from '../harness/cli.ts'
import { getFreePorts } from '../harness/ports.ts'
import { terminate } from '../harness/processes.ts'
import { startKubeApiServerIn } from '../harness/kube-apiserver.ts'
import { until as waitUntil } from '../harness/wait.ts'
import { runWrapper, type WrapperRun } from '../harness/wrapper.ts'

const test = suite('steward serve: 3-member cluster from empty data dirs, member leases (real processes)')
const NS = 'shoot--dev'

/** Bootstrap steps on 2 contended cores: a longer default deadline than the harness's. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 90_000) => waitUntil(what, fn, timeoutMs)

test('three stewards and wrappers bring up a fresh cluster; every member lease is Leader or Member, one Leader', async () => {
  const work = await mkdtemp(join(tmpdir(), 'steward-fresh-'))
  const { server, kubeconfig } = await startKubeApiServerIn(work, 'sa-token')
  const ports = await getFreePorts(12)
  const members = [0, 1, 2].map((i) => ({
    name: `etcd-main-${i}`,
    client: `http://127.0.0.1:${ports[i * 4]}`,
    peer: `http://127.0.0.1:${ports[i * 4 + 1]}`,
    metrics: `http://127.0.0.1:${ports[i * 4 + 2]}`,
    backupPort: ports[i * 4 + 3]!,
    volume: join(work, `volume-${i}`),
    log: [] as string[],
  }))
  for (const m of members) server.createLease(NS, m.name)
  const stewards: ChildProcess[] = []
  const runs: WrapperRun[] = []
  try {
    const map = (key: 'peer' | 'client') => members.map((m) => `  ${m.name}:\n  - ${m[key]}`).join('\n')
    const started = members.map(async (m) => {
      await mkdir(m.volume)
      const conf = join(work, `${m.name}.conf.yaml`)
      await writeFile(
        conf,
        `name: etcd-config\ndata-dir: ${m.volume}/new.etcd\ninitial-cluster-token: etcd-cluster\ninitial-cluster-state: new\n` +
          `initial-cluster: ${members.map((x) => `${x.name}=${x.peer}`).join(',')}\nlisten-peer-urls: ${m.peer}\nlisten-client-urls: ${m.client}\nlisten-metrics-urls: ${m.metrics}\n` +
          `initial-advertise-peer-urls:\n${map('peer')}\nadvertise-client-urls:\n${map('client')}\n`,
      )
      const child = startSteward(
        [
          'serve',
          `--server-port=${m.backupPort}`,
          `--endpoints=${m.client}`,
          `--service-endpoints=${members.map((x) => x.client).join(',')}`,
          `--data-dir=${m.volume}/new.etcd`,
          '--reelection-period=2s',
          '--etcd-connection-timeout-leader-election=2s',
          '--enable-member-lease-renewal=true',
          '--k8s-heartbeat-duration=2s',
          `--kubeconfig=${kubeconfig}`,
        ],
        { ETCD_CONF: conf, POD_NAME: m.name, POD_NAMESPACE: NS, STEWARD_LOG_LEVEL: 'info' },
      )
      stewards.push(child)
      child.stderr?.on('data', (d: Buffer) => m.log.push(...d.toString().split('\n').filter(Boolean)))
      const run = await runWrapper(`http://127.0.0.1:${m.backupPort}`, m.volume, work, m.metrics, 240).catch((error: Error) => {
        throw new Error(`${m.name}: ${error.message}\n${m.log.slice(-15).join('\n')}`)
      })
      runs.push(run)
      return run
    })
    const done = await Promise.all(started)
    for (const [i, run] of done.entries()) {
      const served = parse(run.configText) as Record<string, unknown>
      assert.is(served['initial-cluster-state'], 'new', `${members[i]!.name} bootstraps a new cluster`)
      assert.is(served['initial-cluster'], members.map((x) => `${x.name}=${x.peer}`).join(','))
      assert.ok(members[i]!.log.some((l) => l.includes('"action":"fresh-start"')), members[i]!.log.slice(-10).join('\n'))
      assert.not.ok(members[i]!.log.some((l) => l.includes('scale-up detected')))
    }
    const holders = await until('every member lease Leader or Member', () => {
      const ids = members.map((m) => server.lease(NS, m.name)?.spec.holderIdentity ?? '')
      return ids.every((h) => /^[0-9a-f]+:[0-9a-f]+:(Leader|Member)$/.test(h)) && ids.filter((h) => h.endsWith(':Leader')).length === 1 ? ids : undefined
    })
    assert.is(new Set(holders.map((h) => h.split(':')[1])).size, 1, 'one cluster ID')
    assert.is(new Set(holders.map((h) => h.split(':')[0])).size, 3, 'three member IDs')
    for (const child of stewards) {
      const code = await new Promise<number | null>((resolve) => {
        child.once('exit', (c) => resolve(c))
        child.kill('SIGTERM')
      })
      assert.is(code, 0)
    }
  } finally {
    for (const child of stewards) await terminate(child, 'SIGKILL', 5000)
    for (const run of runs) await terminate(run.etcd.child, 'SIGKILL', 5000)
    await server.close()
    await rm(work, { recursive: true, force: true })
  }
})

test.run()
