/**
 * Three `steward serve` sidecars next to a REAL 3-member etcd, each defragmenting its own member
 * on `--defragmentation-schedule=* * * * *`: at the first slot every member is defragmented
 * exactly once, never two at once (the maintenance lock), and no member while it leads
 * (`--move-leader` is on by default), judged by each etcd's own log lines as
 * test/integration/defrag.test.ts does. Waits for the next minute boundary (up to 60 s).
 */
import type { ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startSteward } from '../harness/cli.ts'
import { startEtcdCluster } from '../harness/etcd.ts'
import { defragIntervals, ledAt } from '../harness/etcd-log.ts'
import { getFreePorts } from '../harness/ports.ts'
import { terminate } from '../harness/processes.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'
import { until } from '../harness/wait.ts'

const test = suite('steward serve defragmenter × 3 members (real processes)')
const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3']

test('one slot: each sidecar defragments its own member once, one at a time, never while it leads', async () => {
  const work = await makeTempDir('steward-serve-defrag-')
  const cluster = await startEtcdCluster({ members: 3, clientHosts: HOSTS, name: 'etcd' })
  const stewards: { child: ChildProcess; log: string[] }[] = []
  try {
    const [port] = await getFreePorts(1)
    const initialCluster = cluster.members.map((m) => `${m.name}=${m.peerUrl}`).join(',')
    for (const [i, member] of cluster.members.entries()) {
      const conf = join(work, `etcd-${i}.conf.yaml`)
      await writeFile(conf, `name: etcd-config\ninitial-cluster: ${initialCluster}\n`)
      const child = startSteward(
        ['serve', `--endpoints=${member.clientUrl}`, `--server-port=${port}`, '--defragmentation-schedule=* * * * *', '--reelection-period=2s', '--etcd-connection-timeout-leader-election=2s'],
        { ETCD_CONF: conf, POD_NAME: member.name, STEWARD_SERVER_HOST: HOSTS[i]!, STEWARD_LOG_LEVEL: 'info' },
      )
      const log: string[] = []
      child.stderr?.on('data', (d: Buffer) => log.push(...d.toString().split('\n').filter(Boolean)))
      stewards.push({ child, log })
    }
    // Sidecars that start on either side of a minute boundary reach their first slot a minute
    // apart, so wait until every member was defragmented, then check every interval so far.
    await until(() => `every member defragmented; etcd logged ${JSON.stringify(defragIntervals(cluster))}; sidecars:\n${stewards.map((s) => s.log.slice(-5).join('\n')).join('\n')}`, () => new Set(defragIntervals(cluster).map((i) => i.member)).size === 3, 150_000)
    const intervals = defragIntervals(cluster)
    assert.equal([...new Set(intervals.map((i) => i.member))].sort(), [0, 1, 2], 'each member defragmented')
    for (const member of [0, 1, 2]) {
      const own = intervals.filter((i) => i.member === member)
      for (let k = 1; k < own.length; k++) assert.ok(own[k]!.start - own[k - 1]!.start >= 30_000, `member ${member} defragmented twice in one slot: ${JSON.stringify(own)}`)
    }
    for (let k = 1; k < intervals.length; k++) assert.ok(intervals[k]!.start >= intervals[k - 1]!.end, `defragmentations overlap: ${JSON.stringify(intervals)}`)
    for (const i of intervals) {
      assert.not.ok(ledAt(cluster, i.member, i.start), `member ${i.member} led when its defragmentation started`)
      assert.not.ok(ledAt(cluster, i.member, i.end), `member ${i.member} led when its defragmentation finished`)
    }
    for (const [i, s] of stewards.entries()) {
      await until(() => `sidecar ${i} never reported its defragmentation:\n${s.log.slice(-10).join('\n')}`, () => s.log.some((l) => l.includes('"component":"defragmenter"') && l.includes('defragmented ')), 30_000)
    }
    // The member that led when its turn came handed leadership over first (etcd's log above shows it never led while defragmented).
    assert.ok(stewards.some((s) => s.log.some((l) => l.includes('leadership moved away first'))), 'one sidecar moved leadership away before defragmenting')
    for (const s of stewards) {
      const code = await new Promise<number | null>((resolve) => {
        s.child.once('exit', (c) => resolve(c))
        s.child.kill('SIGTERM')
      })
      assert.is(code, 0, s.log.slice(-5).join('\n'))
    }
    stewards.length = 0
  } finally {
    for (const s of stewards) await terminate(s.child, 'SIGKILL', 5000)
    await cluster.stop()
    await removeDir(work)
  }
})

test.run()
