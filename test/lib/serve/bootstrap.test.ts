/**
 * Multi-member bootstrap decisions over the fake etcd (as the service endpoints) and a fake
 * clock: scale-up joins as learner, "already exists" is success, "too many learners" is retried,
 * an unreachable cluster falls through to a fresh start, invalid data of a member rejoins
 * (remove + add), the safe-guard refuses another member's volume, and promotion tolerates
 * etcd's "not in sync yet".
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError } from '../../../src/lib/errors.ts'
import { initializeMember } from '../../../src/lib/serve/components/initializer/initialize.ts'
import { DEFAULT_MEMBERSHIP_TIMINGS } from '../../../src/lib/bootstrap/timings.ts'
import { LearnerPromoter } from '../../../src/lib/serve/components/initializer/promoter.ts'
import { CONFIG_MAP, routeRig, type RouteRig } from './helpers.ts'

const test = suite('serve multi-member bootstrap (fake cluster)')

const PEER = (i: number) => `https://etcd-main-${i}.etcd-main-peer.shoot.svc:2380`
const CLIENT = (i: number) => `https://etcd-main-${i}.etcd-main-peer.shoot.svc:2379`
const THREE = CONFIG_MAP.replace(/initial-cluster: .*/, `initial-cluster: ${[0, 1, 2].map((i) => `etcd-main-${i}=${PEER(i)}`).join(',')}`)
  .replace(/initial-advertise-peer-urls:\n(.*\n){2}/, `initial-advertise-peer-urls:\n${[0, 1, 2].map((i) => `  etcd-main-${i}:\n  - ${PEER(i)}\n`).join('')}`)
  .replace(/advertise-client-urls:\n(.*\n){2}/, `advertise-client-urls:\n${[0, 1, 2].map((i) => `  etcd-main-${i}:\n  - ${CLIENT(i)}\n`).join('')}`)
const OTHERS = [1, 2].map((i) => ({ id: String(i), name: `etcd-main-${i}`, peerUrls: [PEER(i)], clientUrls: [CLIENT(i)], isLearner: false }))

/** Runs `fn` while advancing the fake clock, so backoff waits pass. */
async function drive<T>(rig: RouteRig, fn: () => Promise<T>): Promise<T> {
  let done = false
  const running = fn().finally(() => (done = true))
  running.catch(() => undefined)
  while (!done) {
    await rig.clock.advance(1000)
    await new Promise((r) => setImmediate(r))
  }
  return running
}

const init = (rig: RouteRig) => drive(rig, () => initializeMember(rig.runtime.ctx, 'full', new AbortController().signal, DEFAULT_MEMBERSHIP_TIMINGS))
const dataDir = (rig: RouteRig) => rig.runtime.ctx.options.dataDir
const metrics = (rig: RouteRig) => rig.runtime.ctx.metrics.registry.metrics()

test('scale-up: the cluster answers without this member → data dir cleared, added as learner (no validation)', async () => {
  const rig = await routeRig({ store: 'none', configMap: THREE })
  try {
    rig.etcd.members_ = [...OTHERS]
    await mkdir(join(dataDir(rig), 'member'), { recursive: true })
    const outcome = await init(rig)
    assert.is(outcome.action, 'joined-as-learner')
    assert.equal(rig.etcd.calls, [`add ${PEER(0)}`])
    await stat(dataDir(rig)).then(() => assert.unreachable('data dir kept'), () => undefined)
    assert.match(await metrics(rig), 'etcdbr_add_learner_duration_seconds_count{succeeded="true"} 1')
    const marker = JSON.parse(await readFile(join(rig.dir, 'safe_guard_member'), 'utf8')) as Record<string, string>
    assert.equal([marker['member'], marker['namespace']], ['etcd-main-0', 'shoot'])
    assert.is(await readFile(join(rig.dir, 'safe_guard'), 'utf8'), 'shoot')
  } finally {
    await rig.close()
  }
})

test('"peer URL exists" is success; "too many learners" is retried until etcd admits the learner', async () => {
  const rig = await routeRig({ store: 'none', configMap: THREE })
  try {
    rig.etcd.members_ = [...OTHERS]
    rig.etcd.writeErrors = [new Error('etcdserver: Peer URLs already exists')]
    assert.is((await init(rig)).action, 'joined-as-learner')
    assert.is(rig.etcd.calls.length, 1)
    rig.etcd.calls = []
    rig.etcd.members_ = [...OTHERS]
    rig.etcd.writeErrors = [new Error('etcdserver: too many learner members in cluster'), new Error('etcdserver: too many learner members in cluster')]
    assert.is((await init(rig)).action, 'joined-as-learner')
    assert.is(rig.etcd.calls.length, 3)
    assert.match(await metrics(rig), 'etcdbr_add_learner_duration_seconds_count{succeeded="true"} 2')
  } finally {
    await rig.close()
  }
})

test('every add attempt failing → MEMBER_JOIN_FAILED after 6 attempts, counted as a failed add', async () => {
  const rig = await routeRig({ store: 'none', configMap: THREE })
  try {
    rig.etcd.members_ = [...OTHERS]
    rig.etcd.writeErrors = Array.from({ length: 6 }, () => new Error('etcdserver: unhealthy cluster'))
    const error = await init(rig).then(() => null, (e: unknown) => e)
    assert.ok(isStewardError(error) && error.code === 'MEMBER_JOIN_FAILED', String(error))
    assert.is(rig.etcd.calls.length, 6)
    assert.match(await metrics(rig), 'etcdbr_add_learner_duration_seconds_count{succeeded="false"} 1')
  } finally {
    await rig.close()
  }
})

test('the membership flags reach the steps: --learner-add-attempts=2 gives up after two adds', async () => {
  const rig = await routeRig({ store: 'none', configMap: THREE, flags: { 'learner-add-attempts': 2, 'learner-add-backoff': '30s', 'learner-add-max-backoff': '30s', 'too-many-learners-wait': '0s' } })
  try {
    rig.etcd.members_ = [...OTHERS]
    rig.etcd.writeErrors = Array.from({ length: 6 }, () => new Error('etcdserver: unhealthy cluster'))
    const error = await drive(rig, () => initializeMember(rig.runtime.ctx, 'full', new AbortController().signal)).then(() => null, (e: unknown) => e)
    assert.ok(isStewardError(error, 'MEMBER_JOIN_FAILED'), String(error))
    assert.match((error as Error).message, 'after 2 attempts')
    assert.is(rig.etcd.calls.length, 2)
    assert.is(rig.runtime.ctx.options.membershipTimings.addBackoffMs, 30_000)
  } finally {
    await rig.close()
  }
})

test('nobody answers (fresh cluster): not a member, not a scale-up → a missing data dir is a fresh start', async () => {
  const rig = await routeRig({ store: 'none', configMap: THREE })
  try {
    rig.etcd.fail()
    const outcome = await init(rig)
    assert.is(outcome.action, 'fresh-start')
    assert.is(rig.etcd.calls.length, 0)
  } finally {
    await rig.close()
  }
})

test('a listed member with a missing or broken data dir rejoins: remove itself, re-add as learner; a valid one passes', async () => {
  const rig = await routeRig({ store: 'none', configMap: THREE })
  try {
    rig.etcd.members_ = [{ id: '7', name: 'etcd-main-0', peerUrls: [PEER(0)], clientUrls: [], isLearner: false }, ...OTHERS]
    await mkdir(join(dataDir(rig), 'member'), { recursive: true }) // no snap/ and wal/: invalid structure
    const outcome = await init(rig)
    assert.is(outcome.action, 'rejoined-as-learner')
    assert.equal(rig.etcd.calls, ['remove 7', `add ${PEER(0)}`])
    assert.match(await metrics(rig), 'etcdbr_member_remove_duration_seconds_count{succeeded="true"} 1')
  } finally {
    await rig.close()
  }
})

test('safe-guard: a volume marked for another member (or namespace) is refused before anything is touched', async () => {
  const rig = await routeRig({ store: 'none', configMap: THREE })
  try {
    rig.etcd.members_ = [...OTHERS]
    await mkdir(join(dataDir(rig), 'member'), { recursive: true })
    await writeFile(join(rig.dir, 'safe_guard_member'), JSON.stringify({ namespace: 'shoot', member: 'etcd-main-2', memberId: '255', clusterId: '16' }))
    const error = await init(rig).then(() => null, (e: unknown) => e)
    assert.ok(isStewardError(error) && error.code === 'DATA_DIR_WRONG_MEMBER', String(error))
    assert.match((error as Error).message, 'belongs to member etcd-main-2 (member ID ff, cluster ID 10)')
    assert.is(rig.etcd.calls.length, 0)
    await stat(join(dataDir(rig), 'member'))
    await writeFile(join(rig.dir, 'safe_guard_member'), JSON.stringify({ namespace: 'shoot', member: 'etcd-main-0' }))
    await writeFile(join(rig.dir, 'safe_guard'), 'other-namespace')
    const again = await init(rig).then(() => null, (e: unknown) => e)
    assert.match(String(again), 'belongs to namespace other-namespace')
  } finally {
    await rig.close()
  }
})

test('promotion: a learner probe promotes; "not in sync" is retried next period, not an error', async () => {
  const rig = await routeRig({ store: 'none', configMap: THREE })
  try {
    const ctx = rig.runtime.ctx
    const promoter = new LearnerPromoter({ cluster: async () => rig.etcd, metrics: ctx.metrics, logger: ctx.logger, timeoutMs: 1000 })
    rig.etcd.isLearner = true
    rig.etcd.memberId = '100'
    rig.etcd.members_ = [...OTHERS, { id: '100', name: 'etcd-main-0', peerUrls: [PEER(0)], clientUrls: [], isLearner: true }]
    rig.etcd.writeErrors = [new Error('etcdserver: can only promote a learner member which is in sync with leader')]
    const probe = async () => {
      const status = await rig.etcd.status('x')
      promoter.onProbe({ type: 'probe', role: 'Follower', status, error: null })
      await promoter.running
    }
    await probe()
    assert.ok(rig.etcd.members_.find((m) => m.id === '100')!.isLearner)
    await probe()
    assert.not.ok(rig.etcd.members_.find((m) => m.id === '100')!.isLearner)
    assert.equal(rig.etcd.calls, ['promote 100', 'promote 100'])
    const text = await metrics(rig)
    assert.match(text, 'etcdbr_member_promote_duration_seconds_count{succeeded="false"} 1')
    assert.match(text, 'etcdbr_member_promote_duration_seconds_count{succeeded="true"} 1')
    rig.etcd.isLearner = false
    await probe()
    assert.is(rig.etcd.calls.length, 2, 'a voting member is not promoted')
  } finally {
    await rig.close()
  }
})

test.run()
