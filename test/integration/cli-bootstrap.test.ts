/**
 * `steward bootstrap` as users run it (the built CLI): single member restored from etcdbrctl's
 * fixture store, left alone when valid, a volume of another member refused with its exit
 * code; multi-member scale-up against a REAL running etcd (joins as a learner; a second run is
 * idempotent through etcd's "already exists"); bad timing flags named in the error.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { ERROR_CODES } from '../../src/lib/errors.ts'
import { runSteward } from '../harness/cli.ts'
import { testClient } from '../harness/data.ts'
import { startEtcdCluster } from '../harness/etcd.ts'
import { getFreePorts } from '../harness/ports.ts'
import { makeTempDir, removeDir } from '../harness/tmp.ts'

const test = suite('steward bootstrap (built CLI)')

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'etcdbr-v2')

function singleConfig(dataDir: string): string {
  return `name: etcd-config
data-dir: ${dataDir}
initial-cluster-token: etcd-cluster
initial-cluster-state: new
initial-cluster: etcd-main-0=http://127.0.0.1:2380
initial-advertise-peer-urls:
  etcd-main-0:
  - http://127.0.0.1:2380
advertise-client-urls:
  etcd-main-0:
  - http://127.0.0.1:2379
`
}

interface Result {
  action: string
  member: string
  multiMember: boolean
  revision?: number
  memberId?: string
  dataDir: string
  mode: string
}

test('single member: restores a missing data dir from the store, leaves a valid one alone, refuses another member\'s volume', async () => {
  const work = await makeTempDir('steward-bootstrap-')
  try {
    const dataDir = join(work, 'volume', 'new.etcd')
    const conf = join(work, 'etcd.conf.yaml')
    await writeFile(conf, singleConfig(dataDir))
    const args = ['bootstrap', '--json', `--etcd-config-file=${conf}`, `--data-dir=${dataDir}`, '--storage-provider=Local', `--store-container=${join(FIXTURES, 'gzip')}`, '--store-prefix=etcd-main']
    const env = { POD_NAME: 'etcd-main-0', POD_NAMESPACE: 'shoot', STEWARD_LOG_LEVEL: 'info' }

    const restored = await runSteward(args, { env })
    assert.is(restored.code, 0, restored.stderr)
    const first = restored.json as Result
    assert.equal([first.action, first.member, first.multiMember, first.revision, first.mode], ['restored', 'etcd-main-0', false, 105, 'full'])
    assert.match(restored.stderr, '"component":"initializer"', 'structured log lines on stderr')
    assert.match(restored.stderr, 'DataDirectoryNotExist')
    const db = await stat(join(dataDir, 'member', 'snap', 'db'))
    assert.is(await readFile(join(work, 'volume', 'safe_guard'), 'utf8'), 'shoot')

    const again = await runSteward([...args, '--validation-mode=sanity'], { env })
    assert.is(again.code, 0, again.stderr)
    assert.equal([(again.json as Result).action, (again.json as Result).revision, (again.json as Result).mode], ['none', 105, 'sanity'])
    assert.is((await stat(join(dataDir, 'member', 'snap', 'db'))).mtimeMs, db.mtimeMs, 'a valid data dir is not rewritten')

    const text = await runSteward(args.filter((a) => a !== '--json'), { env })
    assert.is(text.code, 0, text.stderr)
    assert.match(text.stdout, /^etcd-main-0: nothing to do: the data dir is valid \(revision 105, /)

    const stray = await runSteward(args, { env: { ...env, POD_NAME: 'etcd-main-1' } })
    assert.is(stray.code, ERROR_CODES.DATA_DIR_WRONG_MEMBER.exit, stray.stderr)
    assert.match(JSON.stringify(stray.json), 'belongs to member etcd-main-0')
  } finally {
    await removeDir(work)
  }
})

test('bad input is named: a timing flag, a validation mode, a missing POD_NAME', async () => {
  for (const [argv, env, text] of [
    [['--learner-add-attempts=0'], { POD_NAME: 'x' }, '--learner-add-attempts'],
    [['--member-list-backoff=soon'], { POD_NAME: 'x' }, '--member-list-backoff'],
    [['--validation-mode=deep'], { POD_NAME: 'x' }, '--validation-mode'],
    [[], { POD_NAME: '' }, 'POD_NAME'],
  ] as const) {
    const result = await runSteward(['bootstrap', '--json', '--etcd-config-file=/nonexistent.yaml', ...argv], { env })
    assert.is(result.code, ERROR_CODES.CONFIG_INVALID.exit, `${argv.join(' ')}: ${result.stderr}`)
    assert.match(JSON.stringify(result.json), text)
  }
})

test('multi-member scale-up against real etcd: joins as a learner with its peer URL; a second run is idempotent', async () => {
  const work = await makeTempDir('steward-bootstrap-multi-')
  const cluster = await startEtcdCluster({ name: 'etcd-test-0' })
  try {
    const [peerPort, clientPort] = await getFreePorts(2)
    const self = { name: 'etcd-test-1', peer: `http://127.0.0.1:${peerPort}`, client: `http://127.0.0.1:${clientPort}` }
    const running = cluster.members[0]!
    const dataDir = join(work, 'volume', 'new.etcd')
    await mkdir(join(dataDir, 'member', 'wal'), { recursive: true })
    await writeFile(join(dataDir, 'member', 'stale'), 'left over from an earlier life')
    const conf = join(work, 'etcd.conf.yaml')
    await writeFile(
      conf,
      `name: etcd-config
data-dir: ${dataDir}
initial-cluster: ${running.name}=${running.peerUrl},${self.name}=${self.peer}
initial-advertise-peer-urls:
  ${running.name}:
  - ${running.peerUrl}
  ${self.name}:
  - ${self.peer}
advertise-client-urls:
  ${running.name}:
  - ${running.clientUrl}
  ${self.name}:
  - ${self.client}
`,
    )
    const args = ['bootstrap', '--json', `--etcd-config-file=${conf}`, `--data-dir=${dataDir}`, `--service-endpoints=${running.clientUrl}`, '--learner-add-backoff=100ms']
    const env = { POD_NAME: self.name, POD_NAMESPACE: 'default', STEWARD_LOG_LEVEL: 'info' }
    const joined = await runSteward(args, { env })
    assert.is(joined.code, 0, joined.stderr)
    const result = joined.json as Result
    assert.equal([result.action, result.multiMember, result.member], ['joined-as-learner', true, self.name])
    assert.match(joined.stderr, 'scale-up detected')
    await stat(dataDir).then(() => assert.unreachable('the stale data dir was kept'), () => undefined)
    const client = testClient(running.clientUrl)
    try {
      const members = (await client.cluster.memberList({ linearizable: false })).members
      const learner = members.find((m) => m.peerURLs.includes(self.peer))
      assert.ok(learner, JSON.stringify(members))
      assert.ok(learner.isLearner, 'added as a learner')
      assert.is(String(learner.ID), result.memberId)

      const second = await runSteward(args, { env })
      assert.is(second.code, 0, second.stderr)
      assert.is((second.json as Result).action, 'joined-as-learner')
      assert.is((second.json as Result).memberId, undefined, 'etcd said it already exists: no new member')
      assert.is((await client.cluster.memberList({ linearizable: false })).members.length, 2)
    } finally {
      client.close()
    }
  } finally {
    await cluster.stop()
    await removeDir(work)
  }
})

test.run()
