/**
 * The pipelined replay of `apply.ts` against an in-memory model of etcd's MVCC rules (one
 * revision per applied write transaction, create/mod revisions and versions, compares on
 * `mod_revision` and `version`, a failed compare changes nothing), with a transport that
 * delivers transactions to the model in a random order and answers them in another. The
 * replayed history must equal the source's revision by revision; without compares the same
 * transport must break it (so the reordering is real).
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { applyDeltaEvents, guardFor, type CommitGroup, type CommitResult } from '../../../src/lib/delta/apply.ts'
import type { DeltaEvent } from '../../../src/lib/delta/decode.ts'
import { isStewardError, type StewardError } from '../../../src/lib/errors.ts'
import type { TxnGuard } from '../../../src/lib/etcd/wire/messages.ts'
import { prng } from '../../harness/prng.ts'

const test = suite('delta replay with transactions in flight (reordered, model etcd)')

interface Kv {
  value: string
  create: number
  mod: number
  version: number
}

type Op = { type: 'put'; key: string; value: string } | { type: 'delete'; key: string }

/** etcd's MVCC rules for write-only transactions, with a log of what each revision did. */
class ModelEtcd {
  revision: number
  readonly kvs = new Map<string, Kv>()
  /** Per revision applied here: the ops with the create revision and version they produced. */
  readonly log = new Map<number, string>()

  constructor(revision: number, kvs?: Map<string, Kv>) {
    this.revision = revision
    for (const [k, v] of kvs ?? []) this.kvs.set(k, { ...v })
  }

  txn(ops: readonly Op[], guard?: { key: string; modRevision?: number; version?: number }): CommitResult {
    if (guard) {
      const kv = this.kvs.get(guard.key)
      const holds = guard.modRevision !== undefined ? (kv?.mod ?? 0) === guard.modRevision : (kv?.version ?? 0) === guard.version
      if (!holds) return { revision: this.revision, succeeded: false }
    }
    // etcd writes nothing (and adds no revision) for a txn whose deletes all miss.
    if (ops.every((op) => op.type === 'delete' && !this.kvs.has(op.key))) return { revision: this.revision, succeeded: true }
    const revision = ++this.revision
    const done: string[] = []
    for (const op of ops) {
      const kv = this.kvs.get(op.key)
      if (op.type === 'put') {
        const next = kv ? { value: op.value, create: kv.create, mod: revision, version: kv.version + 1 } : { value: op.value, create: revision, mod: revision, version: 1 }
        this.kvs.set(op.key, next)
        done.push(`put ${op.key}=${op.value} c${next.create} v${next.version}`)
      } else {
        if (!kv) continue
        this.kvs.delete(op.key)
        done.push(`del ${op.key}`)
      }
    }
    this.log.set(revision, done.join('; '))
    return { revision, succeeded: true }
  }

  state(): string {
    return [...this.kvs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v.value} c${v.create} m${v.mod} v${v.version}`).join('\n')
  }
}

/**
 * A source history after `base`: single puts (new keys and overwrites), single deletes, keys
 * deleted a few revisions after their creation, multi-op txns and multi-key deletes (a prefix
 * delete), as the watch events a delta holds.
 */
function sourceHistory(seed: number, revisions: number): { base: ModelEtcd; source: ModelEtcd; events: DeltaEvent[] } {
  const random = prng(seed)
  const source = new ModelEtcd(0)
  for (let i = 0; i < 50; i++) source.txn([{ type: 'put', key: `/base/${i}`, value: `b${i}` }])
  const base = new ModelEtcd(source.revision, source.kvs)
  const events: DeltaEvent[] = []
  let next = 0
  const live = () => [...source.kvs.keys()]
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!
  const recent: string[] = []
  while (source.revision < base.revision + revisions) {
    const r = random()
    let ops: Op[]
    if (r < 0.3 || source.kvs.size < 20) ops = [{ type: 'put', key: `/k/${next++}`, value: `n${source.revision}` }]
    else if (r < 0.55) ops = [{ type: 'put', key: pick(live()), value: `o${source.revision}` }]
    else if (r < 0.7) ops = [{ type: 'delete', key: pick(live()) }]
    else if (r < 0.82 && recent.length > 0) {
      // A key created within the last few revisions, deleted now.
      const key = recent.splice(Math.floor(random() * recent.length), 1)[0]!
      ops = source.kvs.has(key) ? [{ type: 'delete', key }] : [{ type: 'put', key, value: `again${source.revision}` }]
    } else if (r < 0.9) {
      const keys = new Set<string>()
      while (keys.size < 2 + Math.floor(random() * 4)) keys.add(random() < 0.5 ? `/k/${next++}` : pick(live()))
      ops = [...keys].map((key) => (source.kvs.has(key) && random() < 0.3 ? { type: 'delete', key } : { type: 'put', key, value: `t${source.revision}` }))
    } else {
      // Several deletes at one revision (a prefix delete).
      const keys = new Set<string>()
      const candidates = live()
      while (keys.size < Math.min(3, candidates.length)) keys.add(pick(candidates))
      ops = [...keys].map((key) => ({ type: 'delete', key }))
    }
    source.txn(ops)
    const revision = source.revision
    for (const op of ops) {
      const kv = source.kvs.get(op.key)
      if (op.type === 'put') recent.push(op.key)
      if (recent.length > 8) recent.shift()
      events.push({
        type: op.type,
        key: Buffer.from(op.key, 'latin1'),
        value: Buffer.from(op.type === 'put' ? op.value : '', 'latin1'),
        modRevision: revision,
        createRevision: op.type === 'put' ? kv!.create : 0,
        version: op.type === 'put' ? kv!.version : 0,
        lease: '0',
        time: undefined,
      })
    }
  }
  return { base, source, events }
}

function toOps(group: readonly DeltaEvent[]): Op[] {
  return group.map((e) => (e.type === 'put' ? { type: 'put', key: e.key.toString('latin1'), value: e.value.toString('latin1') } : { type: 'delete', key: e.key.toString('latin1') }))
}

function toModelGuard(guard: TxnGuard | undefined): { key: string; modRevision?: number; version?: number } | undefined {
  if (!guard) return undefined
  const key = Buffer.from(guard.key).toString('latin1')
  return 'modRevision' in guard ? { key, modRevision: guard.modRevision } : { key, version: guard.version }
}

/**
 * A transport that holds every transaction until a few are waiting, then hands a random one to
 * the model, and answers each after a random number of further deliveries: the order etcd
 * evaluates transactions in and the order answers arrive in both differ from the send order.
 */
function reorderingTransport(model: ModelEtcd, seed: number, options: { useGuards: boolean }): { commit: CommitGroup; stats: { sent: number; reordered: number } } {
  const random = prng(seed)
  const waiting: { ops: Op[]; guard: ReturnType<typeof toModelGuard>; resolve: (r: CommitResult) => void; seq: number }[] = []
  const answers: { result: CommitResult; resolve: (r: CommitResult) => void; after: number }[] = []
  const stats = { sent: 0, reordered: 0 }
  let lastDelivered = 0
  let scheduled = false
  const deliver = () => {
    scheduled = false
    while (waiting.length > 0) {
      const at = Math.floor(random() * waiting.length)
      const [item] = waiting.splice(at, 1)
      if (item!.seq < lastDelivered) stats.reordered++
      lastDelivered = item!.seq
      answers.push({ result: model.txn(item!.ops, options.useGuards ? item!.guard : undefined), resolve: item!.resolve, after: Math.floor(random() * 4) })
      if (random() < 0.5) break
    }
    for (const answer of answers.splice(0)) {
      if (answer.after-- > 0 && waiting.length > 0) answers.push(answer)
      else answer.resolve(answer.result)
    }
    if (waiting.length > 0 || answers.length > 0) schedule()
  }
  const schedule = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(deliver)
  }
  const commit: CommitGroup = (group, guard) =>
    new Promise((resolve) => {
      stats.sent++
      waiting.push({ ops: toOps(group), guard: toModelGuard(guard), resolve, seq: stats.sent })
      schedule()
    })
  return { commit, stats }
}

async function* iterate(events: readonly DeltaEvent[]): AsyncGenerator<DeltaEvent> {
  yield* events
}

const limits = { maxTxnOps: 10_000, maxRequestBytes: 10 * 1024 * 1024 }

for (const seed of [1, 2, 3, 4, 5]) {
  test(`reordered transactions (seed ${seed}) still give the source's revisions, versions and create/mod revisions`, async () => {
    const { base, source, events } = sourceHistory(seed, 1500)
    const replica = new ModelEtcd(base.revision, base.kvs)
    const { commit, stats } = reorderingTransport(replica, seed * 7919, { useGuards: true })
    const result = await applyDeltaEvents(iterate(events), commit, { objectKey: 'Incr-test', currentRevision: base.revision, maxInFlight: 64, ...limits })
    assert.ok(stats.reordered > 100, `the transport reordered ${stats.reordered} transactions`)
    assert.ok(result.resent > 0, 'some transactions arrived before their predecessor and were sent again')
    assert.is(result.revision, source.revision)
    assert.is(replica.revision, source.revision)
    assert.is(result.eventsApplied, events.length)
    for (let r = base.revision + 1; r <= source.revision; r++) assert.is(replica.log.get(r), source.log.get(r), `revision ${r}`)
    assert.is(replica.state(), source.state())
  })
}

test('the same transport without compares breaks the revisions (the reordering is real)', async () => {
  const { base, events } = sourceHistory(1, 1500)
  const replica = new ModelEtcd(base.revision, base.kvs)
  const { commit } = reorderingTransport(replica, 7919, { useGuards: false })
  try {
    await applyDeltaEvents(iterate(events), commit, { objectKey: 'Incr-test', currentRevision: base.revision, maxInFlight: 64, ...limits })
    assert.unreachable('the replay should have failed')
  } catch (error) {
    assert.ok(isStewardError(error, 'TOOL_FAILED'), String(error))
    assert.match((error as Error).message, /mismatched revision/)
  }
})

test('one transaction in flight: no compares, nothing resent', async () => {
  const { base, source, events } = sourceHistory(9, 300)
  const replica = new ModelEtcd(base.revision, base.kvs)
  const guards: (TxnGuard | undefined)[] = []
  const commit: CommitGroup = async (group, guard) => {
    guards.push(guard)
    return replica.txn(toOps(group), toModelGuard(guard))
  }
  const result = await applyDeltaEvents(iterate(events), commit, { objectKey: 'Incr-test', currentRevision: base.revision, maxInFlight: 1, ...limits })
  assert.is(result.resent, 0)
  assert.ok(guards.every((g) => g === undefined))
  assert.is(replica.state(), source.state())
})

test('guards: put predecessor, delete predecessor, a deleted key created within the window waits', () => {
  const put = (key: string, revision: number): DeltaEvent => ({ type: 'put', key: Buffer.from(key), value: Buffer.from('v'), modRevision: revision, createRevision: revision, version: 1, lease: '0', time: undefined })
  const del = (key: string, revision: number): DeltaEvent => ({ type: 'delete', key: Buffer.from(key), value: Buffer.alloc(0), modRevision: revision, createRevision: 0, version: 0, lease: '0', time: undefined })
  // The lowest revision not applied needs no compare.
  assert.is(guardFor(11, { events: [put('/a', 10)] }, 10), undefined)
  // A put at r-1: mod_revision of that key (a multi-op group: its first put).
  assert.equal(guardFor(12, { events: [del('/x', 11), put('/a', 11), put('/b', 11)] }, 9), { key: Buffer.from('/a'), modRevision: 11 })
  // Deletes only at r-1, the key untouched since what is applied: version == 0.
  assert.equal(guardFor(12, { events: [del('/a', 11)], deleteGuard: { key: Buffer.from('/a'), lastTouch: 0 } }, 5), { key: Buffer.from('/a'), version: 0 })
  assert.equal(guardFor(12, { events: [del('/a', 11)], deleteGuard: { key: Buffer.from('/a'), lastTouch: 8 } }, 8), { key: Buffer.from('/a'), version: 0 })
  // Created at 9 (not yet applied) and deleted at 11: version == 0 also holds before 9, so wait.
  assert.is(guardFor(12, { events: [del('/a', 11)], deleteGuard: { key: Buffer.from('/a'), lastTouch: 9 } }, 8), 'wait')
})

test('a failing transaction stops the replay after every answer is in', async () => {
  const { base, events } = sourceHistory(3, 400)
  let inFlight = 0
  let sent = 0
  const commit: CommitGroup = async (group) => {
    sent++
    inFlight++
    await new Promise((resolve) => setImmediate(resolve))
    inFlight--
    if (group[0]!.modRevision === base.revision + 20) throw new Error('etcdserver: mvcc: database space exceeded')
    return { revision: group[0]!.modRevision, succeeded: true }
  }
  try {
    await applyDeltaEvents(iterate(events), commit, { objectKey: 'Incr-test', currentRevision: base.revision, maxInFlight: 16, ...limits })
    assert.unreachable('should fail')
  } catch (error) {
    assert.ok(isStewardError(error, 'TOOL_FAILED'), String(error))
    assert.match((error as Error).message, `revision ${base.revision + 20}`)
    assert.equal([...(error as StewardError).hints], ['raise --embedded-etcd-quota-bytes'])
  }
  assert.is(inFlight, 0, 'no answer outstanding when it throws')
  assert.ok(sent < 60, `stopped sending (${sent} sent)`)
})

test.run()
