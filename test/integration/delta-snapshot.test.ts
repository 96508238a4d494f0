/**
 * Delta snapshots against real etcd: one-shot deltas, the empty case, the compaction
 * fallback, continuous mode (memory-limit cuts, reconnect, flush on abort). Store contents
 * are decoded with an independent literal reader (trailer check + lossless JSON).
 */
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { Etcd3 } from 'etcd3'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resolveEtcdConnection } from '../../src/lib/config/resolve.ts'
import { runDeltaSnapshots, takeDeltaSnapshot, type ContinuousDeltaResult, type SnapshotEvent } from '../../src/lib/delta/snapshotter.ts'
import { EtcdClient } from '../../src/lib/etcd/client.ts'
import { BackupStore, type StoredSnapshot } from '../../src/lib/snapshot/backup-store.ts'
import { takeFullSnapshot } from '../../src/lib/snapshot/full.ts'
import localSnapstore from '../../src/lib/snapstore/drivers/local.ts'
import { testClient } from '../harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { until } from '../harness/wait.ts'

interface Context {
  cluster: EtcdCluster
  work: string
  client: Etcd3
}

interface LiteralEvent {
  etcdEvent: { type?: string; kv: Record<string, string> }
  time: string
}

const test = suite<Context>('delta snapshots (real etcd)', {} as Context)
let storeCount = 0

test.before(async (ctx) => {
  ctx.cluster = await startEtcdCluster({ members: 1 })
  ctx.work = await mkdtemp(join(tmpdir(), 'steward-delta-'))
  ctx.client = testClient(ctx.cluster.endpoints[0]!)
})

test.after(async (ctx) => {
  ctx.client?.close()
  await ctx.cluster?.stop()
  if (ctx.work) await rm(ctx.work, { recursive: true, force: true })
})

function newStore(work: string): { store: BackupStore; root: string } {
  const root = join(work, `store-${++storeCount}`)
  return { store: new BackupStore(localSnapstore({ root }), 'etcd-main'), root }
}

async function etcdFor(endpoints: string[]): Promise<EtcdClient> {
  return EtcdClient.create(resolveEtcdConnection({ endpoints }, {}))
}

async function revisionOf(client: Etcd3): Promise<number> {
  const response = await client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true })
  return Number(response.header.revision)
}

/** Reads a stored delta: decompress by suffix, check the SHA-256 trailer, parse keeping number digits. */
async function readDelta(root: string, snapshot: StoredSnapshot): Promise<LiteralEvent[]> {
  let body = await readFile(join(root, snapshot.key))
  if (snapshot.compressionSuffix === '.gz') body = gunzipSync(body)
  else assert.is(snapshot.compressionSuffix, '')
  assert.ok(body.length > 32)
  const json = body.subarray(0, body.length - 32)
  assert.is(createHash('sha256').update(json).digest('hex'), body.subarray(body.length - 32).toString('hex'), `trailer of ${snapshot.key}`)
  return JSON.parse(json.toString('utf8'), (_key, value, context?: { source?: string }) =>
    typeof value === 'number' ? (context?.source ?? String(value)) : value,
  ) as LiteralEvent[]
}

function describe(event: LiteralEvent): string {
  const kv = event.etcdEvent.kv
  const key = Buffer.from(kv.key ?? '', 'base64').toString('latin1')
  const value = Buffer.from(kv.value ?? '', 'base64').toString('latin1')
  return event.etcdEvent.type === '1' ? `DEL ${key}@${kv.mod_revision}` : `PUT ${key}=${value}@${kv.mod_revision}`
}

test('no previous snapshot: a delta request takes a full snapshot', async ({ cluster, work, client }) => {
  await client.put('first/key').value('1')
  const { store } = newStore(work)
  const etcd = await etcdFor(cluster.endpoints)
  try {
    const result = await takeDeltaSnapshot(etcd, store, { compression: 'gzip' })
    assert.is(result.outcome, 'full')
    assert.ok(result.fellBackToFull)
    assert.match(result.reason ?? '', /no snapshot/)
    const listing = await store.list()
    assert.is(listing.length, 1)
    assert.is(listing[0]!.kind, 'Full')
  } finally {
    etcd.close()
  }
})

test('one-shot delta holds exactly the events after the full snapshot; a second one is empty', async ({ cluster, work, client }) => {
  const { store, root } = newStore(work)
  const etcd = await etcdFor(cluster.endpoints)
  try {
    await client.put('delta/overwrite').value('v1')
    const full = await takeFullSnapshot(etcd, store, { compression: 'gzip' })
    const R = full.revision
    await client.put('delta/a').value('A')
    await client.put('delta/overwrite').value('v2')
    await client.put('delta/empty').value('')
    await client.put(Buffer.from([0xff, 0xfe, 0x00, 0x01])).value(Buffer.from([0xc3, 0x28, 0x00]))
    await client.delete().key('delta/a')
    // One txn: three events sharing a revision.
    await client.kv.txn({
      compare: [],
      success: [
        { request_put: { key: Buffer.from('delta/txn1'), value: Buffer.from('t1') } },
        { request_put: { key: Buffer.from('delta/txn2'), value: Buffer.from('t2') } },
        { request_delete_range: { key: Buffer.from('delta/overwrite') } },
      ],
      failure: [],
    })
    const lease = client.lease(3600, { autoKeepAlive: false })
    const leaseId = await lease.grant()
    await client.kv.put({ key: Buffer.from('delta/leased'), value: Buffer.from('L'), lease: leaseId })
    lease.release()
    const current = await revisionOf(client)
    assert.is(current, R + 7)

    const result = await takeDeltaSnapshot(etcd, store, { compression: 'gzip' })
    assert.is(result.outcome, 'stored')
    assert.not.ok(result.fellBackToFull)
    assert.is(result.deltas.length, 1)
    const delta = result.deltas[0]!
    assert.is(delta.startRevision, R + 1)
    assert.is(delta.lastRevision, current)
    assert.match(delta.name, new RegExp(`^Incr-${String(R + 1).padStart(8, '0')}-${String(current).padStart(8, '0')}-\\d{10}\\.gz$`))
    assert.is(delta.eventCount, 9)

    const listing = await store.list()
    assert.equal(listing.map((s) => s.kind), ['Full', 'Incr'])
    const events = await readDelta(root, listing[1]!)
    assert.equal(events.map(describe), [
      `PUT delta/a=A@${R + 1}`,
      `PUT delta/overwrite=v2@${R + 2}`,
      `PUT delta/empty=@${R + 3}`,
      `PUT \xff\xfe\x00\x01=\xc3\x28\x00@${R + 4}`,
      `DEL delta/a@${R + 5}`,
      `PUT delta/txn1=t1@${R + 6}`,
      `PUT delta/txn2=t2@${R + 6}`,
      `DEL delta/overwrite@${R + 6}`,
      `PUT delta/leased=L@${R + 7}`,
    ])
    assert.not.ok('value' in events[2]!.etcdEvent.kv, 'empty value omitted')
    assert.equal(Object.keys(events[4]!.etcdEvent.kv), ['key', 'mod_revision'])
    assert.is(events[8]!.etcdEvent.kv.lease, BigInt(leaseId).toString(), 'lease digits kept')
    assert.is(events[1]!.etcdEvent.kv.version, '2')

    const again = await takeDeltaSnapshot(etcd, store, { compression: 'gzip' })
    assert.is(again.outcome, 'empty')
    assert.is(again.deltas.length, 0)
    assert.is((await store.list()).length, 2, 'nothing stored for an empty delta')
  } finally {
    etcd.close()
  }
})

test('one-shot with a small memory limit stores several consecutive deltas', async ({ cluster, work, client }) => {
  const { store, root } = newStore(work)
  const etcd = await etcdFor(cluster.endpoints)
  try {
    const full = await takeFullSnapshot(etcd, store, { compression: 'none' })
    for (let i = 0; i < 30; i++) await client.put(`split/${i}`).value('x'.repeat(100))
    const current = await revisionOf(client)
    const result = await takeDeltaSnapshot(etcd, store, { compression: 'none', memoryLimitBytes: 1000 })
    assert.ok(result.deltas.length >= 3, `several deltas (${result.deltas.length})`)
    let expected = full.revision + 1
    for (const delta of result.deltas) {
      assert.is(delta.startRevision, expected)
      expected = delta.lastRevision + 1
    }
    assert.is(expected, current + 1)
    const listing = (await store.list()).filter((s) => s.kind === 'Incr')
    const all = (await Promise.all(listing.map((s) => readDelta(root, s)))).flat()
    assert.equal(all.map((e) => Number(e.etcdEvent.kv.mod_revision)), Array.from({ length: 30 }, (_, i) => full.revision + 1 + i))
  } finally {
    etcd.close()
  }
})

test('a compacted start revision falls back to a full snapshot', async ({ cluster, work, client }) => {
  const { store } = newStore(work)
  const etcd = await etcdFor(cluster.endpoints)
  try {
    await takeFullSnapshot(etcd, store, { compression: 'gzip' })
    for (let i = 0; i < 5; i++) await client.put(`compact/${i}`).value(String(i))
    const current = await revisionOf(client)
    await client.kv.compact({ revision: String(current), physical: true })
    const result = await takeDeltaSnapshot(etcd, store, { compression: 'gzip' })
    assert.is(result.outcome, 'full')
    assert.ok(result.fellBackToFull)
    assert.match(result.reason ?? '', /compacted/)
    assert.is(result.full?.revision, current)
    assert.equal((await store.list()).map((s) => s.kind), ['Full', 'Full'])
  } finally {
    etcd.close()
  }
})

/** A TCP proxy whose open connections can be cut, to break the watch stream. */
async function startTcpProxy(target: string): Promise<{ url: string; cut: () => number; close: () => Promise<void> }> {
  const url = new URL(target)
  const sockets = new Set<Socket>()
  const server: Server = createServer((inbound) => {
    const outbound = connect(Number(url.port), url.hostname)
    sockets.add(inbound)
    sockets.add(outbound)
    const drop = () => {
      inbound.destroy()
      outbound.destroy()
      sockets.delete(inbound)
      sockets.delete(outbound)
    }
    inbound.on('error', drop).on('close', drop)
    outbound.on('error', drop).on('close', drop)
    inbound.pipe(outbound)
    outbound.pipe(inbound)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      const count = sockets.size
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      return count
    },
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

test('continuous: memory-limit cuts, continuous ranges, no txn split, reconnect without loss, flush on abort', async ({ cluster, work, client }) => {
  const { store, root } = newStore(work)
  const proxy = await startTcpProxy(cluster.endpoints[0]!)
  // The full snapshot goes direct; the watch goes through the proxy, which the test cuts.
  const direct = await etcdFor(cluster.endpoints)
  await takeFullSnapshot(direct, store, { compression: 'gzip' }).finally(() => direct.close())
  const etcd = await etcdFor([proxy.url])
  const controller = new AbortController()
  const events: SnapshotEvent[] = []
  let watched = 0
  let running: Promise<ContinuousDeltaResult> | undefined
  try {
    running = runDeltaSnapshots(etcd, store, {
      compression: 'gzip',
      periodSeconds: 3600,
      memoryLimitBytes: 1500,
      signal: controller.signal,
      onEvent: (event) => {
        events.push(event)
        if (event.type === 'watched') watched = event.lastRevision
      },
    })
    const full = (await store.list())[0]!
    const txnRevisions: number[] = []
    for (let round = 0; round < 12; round++) {
      await client.put(`cont/${round}`).value('y'.repeat(150))
      const txn = await client.kv.txn({
        compare: [],
        success: [0, 1, 2, 3].map((i) => ({ request_put: { key: Buffer.from(`cont/txn-${round}-${i}`), value: Buffer.from('z'.repeat(80)) } })),
        failure: [],
      })
      txnRevisions.push(Number(txn.header.revision))
      if (round === 5) {
        // Break the watch stream once it has seen this round, then keep writing.
        const seen = Number(txn.header.revision)
        await until('the watch to reach the txn', () => (watched >= seen ? true : undefined))
        assert.ok(proxy.cut() > 0, 'connections were cut')
      }
    }
    const current = await revisionOf(client)
    await until('the watch to reach the last write', () => (watched >= current ? true : undefined))
    controller.abort()
    const result = await running
    running = undefined

    assert.ok(result.reconnects >= 1, 'the watch was re-created')
    assert.ok(events.some((e) => e.type === 'reconnect'))
    assert.is(result.fulls.length, 0)
    assert.ok(result.deltas.length >= 3, `several deltas (${result.deltas.length})`)
    assert.ok(events.some((e) => e.type === 'delta' && e.trigger === 'memory-limit'))
    assert.is(result.lastRevision, current)

    const listing = await store.list()
    const deltas = listing.filter((s) => s.kind === 'Incr')
    assert.is(deltas.length, result.deltas.length)
    let expected = full.lastRevision + 1
    const revisionsByDelta: number[][] = []
    for (const delta of deltas) {
      assert.is(delta.startRevision, expected, `${delta.name} continues the chain`)
      const content = await readDelta(root, delta)
      const revisions = content.map((e) => Number(e.etcdEvent.kv.mod_revision))
      assert.is(revisions.at(-1), delta.lastRevision)
      revisionsByDelta.push(revisions)
      expected = delta.lastRevision + 1
    }
    assert.is(expected, current + 1, 'the last delta reaches the last write (flushed on abort)')
    const all = revisionsByDelta.flat()
    // Every revision exactly once per event: 1 put + 4 txn events per round.
    assert.is(all.length, 12 * 5)
    const distinct = [...new Set(all)]
    assert.equal(distinct, Array.from({ length: 24 }, (_, i) => full.lastRevision + 1 + i))
    for (const revision of txnRevisions) {
      const holders = revisionsByDelta.filter((revisions) => revisions.includes(revision))
      assert.is(holders.length, 1, `txn at ${revision} is in one delta`)
      assert.is(holders[0]!.filter((r) => r === revision).length, 4)
    }
  } finally {
    controller.abort()
    await running?.catch(() => undefined)
    etcd.close()
    await proxy.close()
  }
})

test('continuous: initial full on an empty store, the period cuts a delta and skips empty periods; nothing pending → nothing stored on abort', async ({ cluster, work, client }) => {
  const { store } = newStore(work)
  const etcd = await etcdFor(cluster.endpoints)
  const controller = new AbortController()
  const events: SnapshotEvent[] = []
  let running: Promise<ContinuousDeltaResult> | undefined
  try {
    running = runDeltaSnapshots(etcd, store, { compression: 'gzip', periodSeconds: 0.2, signal: controller.signal, onEvent: (e) => events.push(e) })
    const full = await until('the initial full snapshot', () => {
      const event = events.find((e) => e.type === 'full')
      return event?.type === 'full' ? event.snapshot : undefined
    })
    await client.put('period/a').value('1')
    const current = await revisionOf(client)
    const delta = await until('a period delta', async () => (await store.list()).find((s) => s.kind === 'Incr'))
    assert.is(delta.startRevision, full.revision + 1)
    assert.is(delta.lastRevision, current)
    controller.abort()
    const result = await running
    running = undefined
    assert.is(result.deltas.length, 1, 'empty periods and the empty shutdown store nothing')
    assert.is(result.fulls.length, 1, 'one initial full snapshot')
    assert.ok(events.some((e) => e.type === 'delta' && e.trigger === 'period'))
  } finally {
    controller.abort()
    await running?.catch(() => undefined)
    etcd.close()
  }
})

test('continuous: a shutdown right after writes still stores everything etcd had committed (catch-up), without a full snapshot', async ({ cluster, work, client }) => {
  const { store } = newStore(work)
  const etcd = await etcdFor(cluster.endpoints)
  // A full snapshot first, so the run below only watches.
  await takeFullSnapshot(etcd, store, { compression: 'gzip' })
  const controller = new AbortController()
  const events: SnapshotEvent[] = []
  try {
    for (let i = 0; i < 60; i++) await client.put(`catchup/${i}`).value(`v${i}`.repeat(20))
    const target = await revisionOf(client)
    // Stop at once: the signal arrives before the watch has even opened, so only the
    // shutdown catch-up can store these events.
    const running = runDeltaSnapshots(etcd, store, { compression: 'gzip', periodSeconds: 3600, memoryLimitBytes: 4000, signal: controller.signal, onEvent: (e) => events.push(e) })
    controller.abort()
    const result = await running
    assert.is(result.lastRevision, target, 'the store reaches the revision etcd had at the signal')
    assert.is(result.fulls.length, 0)
    const listing = (await store.list()).filter((s) => s.kind === 'Incr')
    assert.ok(listing.length >= 2, `the memory limit still splits the caught-up events (${listing.length} deltas)`)
    assert.is(listing.at(-1)!.lastRevision, target)
    for (let i = 1; i < listing.length; i++) assert.is(listing[i]!.startRevision, listing[i - 1]!.lastRevision + 1, 'continuous ranges')
    assert.ok(events.every((e) => e.type !== 'catch-up-failed'))
  } finally {
    controller.abort()
    etcd.close()
  }
})

test.run()
