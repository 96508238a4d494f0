import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { StewardError } from '../../../src/lib/errors.ts'
import { CONFIG_MAP, routeRig } from './helpers.ts'

const test = suite('serve HTTP routes (in process, app.request)')

test('/initialization/status and /start: bare words, any method, start is a no-op unless New, finished status resets to New', async () => {
  const rig = await routeRig({ store: 'none' })
  try {
    const status = async (method = 'GET') => {
      const res = await rig.request('/initialization/status', { method })
      assert.is(res.status, 200)
      return res.text()
    }
    assert.is(await status(), 'New')
    assert.is(await status('POST'), 'New')
    const start = await rig.request('/initialization/start?mode=sanity')
    assert.is(start.status, 200)
    assert.is(await start.text(), '')
    // No data dir, no store: a fresh start.
    const state = rig.runtime.ctx.services.get<{ running: Promise<void> | null; peek(): string }>('initialization')!
    await state.running
    assert.is((await rig.request('/initialization/start?mode=full', { method: 'POST' })).status, 200, 'no-op while not New')
    assert.is(await status(), 'Successful')
    assert.is(await status(), 'New')
    assert.is(rig.runtime.ctx.health.healthy, false, 'an initialization sets /healthz to 503')
  } finally {
    await rig.close()
  }
})

test('/config: the ConfigMap with the 5 keys rewritten, other keys (nested TLS, unknown) passed through, keys sorted', async () => {
  const rig = await routeRig()
  try {
    const res = await rig.request('/config', { method: 'PUT' })
    assert.is(res.status, 200)
    const text = await res.text()
    const served = parse(text) as Record<string, unknown>
    assert.is(served['name'], 'etcd-main-0')
    assert.is(served['initial-advertise-peer-urls'], 'https://etcd-main-0.etcd-main-peer.shoot.svc:2380')
    assert.is(served['advertise-client-urls'], 'https://etcd-main-0.etcd-main-peer.shoot.svc:2379')
    assert.is(served['initial-cluster'], 'etcd-main-0=https://etcd-main-0.etcd-main-peer.shoot.svc:2380')
    assert.is(served['initial-cluster-state'], 'new')
    assert.is(served['quota-backend-bytes'], 8589934592)
    assert.is(served['next-cluster-version-compatible'], true)
    assert.equal(served['client-transport-security'], { 'auto-tls': false, 'cert-file': '/var/etcd/ssl/server/tls.crt', 'client-cert-auth': true, 'key-file': '/var/etcd/ssl/server/tls.key', 'trusted-ca-file': '/var/etcd/ssl/ca/bundle.crt' })
    const keys = text.split('\n').filter((l) => /^[a-z]/.test(l)).map((l) => l.split(':')[0]!)
    assert.equal(keys, [...keys].sort(), 'top-level keys sorted')
    assert.ok(text.indexOf('auto-tls') < text.indexOf('cert-file'), 'nested keys sorted')
  } finally {
    await rig.close()
  }
})

test('/config: member-name-prefix names the member; 3 members with a learner → existing, non-members filtered out', async () => {
  const three = CONFIG_MAP.replace(
    /initial-cluster: .*/,
    'initial-cluster: p-etcd-main-0=https://a:2380,p-etcd-main-1=https://b:2380,p-etcd-main-2=https://c:2380',
  )
    .replace(/ {2}etcd-main-0:/g, '  p-etcd-main-0:')
    .concat('member-name-prefix: p\n')
  const rig = await routeRig({ configMap: three })
  try {
    rig.etcd.members_ = [
      { id: '1', name: 'p-etcd-main-1', peerUrls: ['https://b:2380'], clientUrls: ['https://b:2379'], isLearner: false },
      { id: '2', name: 'p-etcd-main-2', peerUrls: ['https://c:2380'], clientUrls: ['https://c:2379'], isLearner: false },
      { id: '3', name: '', peerUrls: ['https://a:2380'], clientUrls: [], isLearner: true },
    ]
    const served = parse(await (await rig.request('/config')).text()) as Record<string, unknown>
    assert.is(served['name'], 'p-etcd-main-0')
    assert.is(served['initial-cluster'], 'p-etcd-main-0=https://a:2380,p-etcd-main-1=https://b:2380,p-etcd-main-2=https://c:2380')
    assert.is(served['initial-cluster-state'], 'existing')
    rig.etcd.members_ = rig.etcd.members_.slice(0, 2).map((m) => ({ ...m, isLearner: false }))
    rig.etcd.members_ = [rig.etcd.members_[0]!, { id: '9', name: 'p-etcd-main-0', peerUrls: ['https://a:2380'], clientUrls: [], isLearner: false }]
    const again = parse(await (await rig.request('/config')).text()) as Record<string, unknown>
    assert.is(again['initial-cluster'], 'p-etcd-main-0=https://a:2380,p-etcd-main-1=https://b:2380', 'entries that are not members are dropped')
    assert.is(again['initial-cluster-state'], 'new')
    rig.etcd.fail()
    const down = parse(await (await rig.request('/config')).text()) as Record<string, unknown>
    assert.is(down['initial-cluster-state'], 'new', 'member list unreachable: new, initial-cluster unchanged')
    assert.match(String(down['initial-cluster']), 'p-etcd-main-2')
  } finally {
    await rig.close()
  }
})

test('/config: invalid ConfigMap or missing POD_NAME → 500 with an empty body, counted as a failure', async () => {
  const rig = await routeRig({ configMap: 'name: [unclosed' })
  try {
    const res = await rig.request('/config')
    assert.is(res.status, 500)
    assert.is(await res.text(), '')
    await writeFile(join(rig.dir, 'etcd.conf.yaml'), CONFIG_MAP.replace(/advertise-client-urls:\n {2}etcd-main-0:/, 'advertise-client-urls:\n  other:'))
    assert.is((await rig.request('/config')).status, 500)
    assert.match(await rig.runtime.ctx.metrics.registry.metrics(), 'steward_component_failures_total{component="etcd-config"} 2')
  } finally {
    await rig.close()
  }
  const noPod = await routeRig({ podName: '' })
  try {
    assert.is((await noPod.request('/config')).status, 500)
  } finally {
    await noPod.close()
  }
})

test('/healthz: 503 {"health":false} until the leader\'s Status probe succeeds, then 200; followers and failed probes 503', async () => {
  const rig = await routeRig()
  try {
    const health = async () => {
      const res = await rig.request('/healthz')
      return `${res.status} ${await res.text()}`
    }
    assert.is(await health(), '503 {"health":false}')
    await rig.runtime.ctx.leadership.check()
    assert.is(await health(), '200 {"health":true}')
    rig.etcd.leaderId = '2'
    await rig.runtime.ctx.leadership.check()
    assert.is(await health(), '503 {"health":false}')
    rig.etcd.leaderId = '1'
    await rig.runtime.ctx.leadership.check()
    rig.etcd.fail()
    await rig.runtime.ctx.leadership.check()
    assert.is(await health(), '503 {"health":false}')
    assert.match(await rig.runtime.ctx.metrics.registry.metrics(), 'steward_component_failures_total{component="leadership"} 1')
  } finally {
    await rig.close()
  }
})

test('/metrics: etcdbr_* names and labels Gardener uses, pre-initialised, plus process_* defaults', async () => {
  const rig = await routeRig()
  try {
    const res = await rig.request('/metrics')
    assert.is(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', 'text/plain')
    const text = await res.text()
    for (const line of [
      'etcdbr_snapshot_latest_revision{kind="Full"} 0',
      'etcdbr_snapshot_latest_timestamp{kind="Incr"} 0',
      'etcdbr_snapshot_required{kind="Incr"} 0',
      'etcdbr_snapshot_gc_total{kind="Chunk",succeeded="false"} 0',
      'etcdbr_snapshot_duration_seconds_count{kind="Full",succeeded="true"} 0',
      'etcdbr_restoration_duration_seconds_count{restore="single_member",succeeded="false"} 0',
      'etcdbr_validation_duration_seconds_count{succeeded="true"} 0',
      'etcdbr_defragmentation_duration_seconds_count{succeeded="true",endpoint=""} 0',
      'etcdbr_snapshotter_failure{error=""} 0',
      'etcdbr_is_learner 0',
      'etcdbr_add_learner_duration_seconds_count{succeeded="true"} 0',
      'etcdbr_member_remove_duration_seconds_count{succeeded="true"} 0',
      'etcdbr_member_promote_duration_seconds_count{succeeded="true"} 0',
      'etcdbr_is_learner_count_total{succeeded="true"} 0',
    ]) {
      assert.ok(text.includes(line), `missing ${line}`)
    }
    for (const name of ['etcdbr_cluster_size', 'etcdbr_network_received_bytes', 'etcdbr_network_transmitted_bytes', 'process_resident_memory_bytes', 'process_cpu_seconds_total', 'process_max_fds', 'process_open_fds']) {
      assert.ok(new RegExp(`^${name} `, 'm').test(text), `missing ${name}`)
    }
  } finally {
    await rig.close()
  }
})

test('/snapshot/latest: Snapshot JSON of the latest set, with immutabilityExpriyTime and listed prefixes', async () => {
  const rig = await routeRig()
  try {
    const res = await rig.request('/snapshot/latest', { method: 'POST' })
    assert.is(res.status, 200)
    const text = await res.text()
    assert.ok(text.startsWith('{"fullSnapshot":{"createdOn":"2026-11-22T'), text.slice(0, 80))
    const body = JSON.parse(text) as { fullSnapshot: Record<string, unknown>; deltaSnapshots: Record<string, unknown>[] }
    assert.equal(Object.keys(body.fullSnapshot), ['createdOn', 'immutabilityExpriyTime', 'versionID', 'kind', 'snapDir', 'snapName', 'prefix', 'compressionSuffix', 'startRevision', 'lastRevision', 'isChunk', 'isFinal'])
    assert.equal(body.fullSnapshot, {
      createdOn: new Date(1795373610 * 1000).toISOString().replace('.000Z', 'Z'),
      immutabilityExpriyTime: '0001-01-01T00:00:00Z',
      versionID: null,
      kind: 'Full',
      snapDir: '',
      snapName: 'Full-00000000-00000022-1795373610.gz',
      prefix: 'etcd-main/v2/',
      compressionSuffix: '.gz',
      startRevision: 0,
      lastRevision: 22,
      isChunk: false,
      isFinal: false,
    })
    assert.equal(body.deltaSnapshots.map((d) => d['snapName']), ['Incr-00000023-00000032-1795373611.gz', 'Incr-00000033-00000037-1795373611.gz', 'Incr-00000038-00000042-1795373612.gz', 'Incr-00000043-00000105-1795373612.gz'])
  } finally {
    await rig.close()
  }
})

test('/snapshot/*: no store → 405; final=maybe → 400; follower whose leader cannot be reached → 405', async () => {
  const none = await routeRig({ store: 'none' })
  try {
    for (const path of ['/snapshot/full', '/snapshot/delta', '/snapshot/latest']) assert.is((await none.request(path)).status, 405, path)
  } finally {
    await none.close()
  }
  const rig = await routeRig()
  try {
    const bad = await rig.request('/snapshot/full?final=maybe')
    assert.is(bad.status, 400)
    assert.match(await bad.text(), 'final')
    // A follower: the leader (member 2) advertises an unreachable client URL.
    rig.etcd.leaderId = '2'
    rig.etcd.members_ = [{ id: '2', name: 'etcd-main-1', peerUrls: [], clientUrls: ['http://127.0.0.1:9'], isLearner: false }]
    assert.is((await rig.request('/snapshot/full?final=true', { method: 'POST' })).status, 405)
    assert.is((await rig.request('/snapshot/delta')).status, 405)
  } finally {
    await rig.close()
  }
})

test('/snapshot/latest: a failing store is 500 with the reason as text, whatever the error code (etcdbrctl\'s answer, not the code\'s own status)', async () => {
  const rig = await routeRig()
  try {
    // STORE_NOT_FOUND stands for 503 in ERROR_CODES; etcdbrctl's clients get 500 for every failure.
    rig.runtime.ctx.store!.latestSet = () => Promise.reject(new StewardError('STORE_NOT_FOUND', 'snapstore:local', 'the container does not exist'))
    const res = await rig.request('/snapshot/latest')
    assert.is(res.status, 500)
    assert.match(await res.text(), 'the container does not exist')
  } finally {
    await rig.close()
  }
})

test('unknown paths are 404', async () => {
  const rig = await routeRig({ store: 'none' })
  try {
    assert.is((await rig.request('/nope')).status, 404)
    assert.is((await rig.request('/debug/pprof/heap')).status, 404, 'profiling only with --enable-profiling')
  } finally {
    await rig.close()
  }
})

test.run()
