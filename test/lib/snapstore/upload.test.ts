/**
 * The shared part pool (`src/lib/snapstore/drivers/_shared/upload.ts`) against a fake
 * {@link PartSink} whose requests the test settles by hand: nothing sleeps. Between steps the
 * test waits for the event loop to go idle (one `setImmediate`), by which time the uploader,
 * reading an in-memory body, is blocked on the parts in flight.
 */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { partsInFlight, uploadParts, type PartSink, type UploadPartsOptions } from '../../../src/lib/snapstore/drivers/_shared/upload.ts'

const test = suite('upload part pool')

const PART = 1024

interface PendingPart {
  readonly number: number
  readonly bytes: Buffer
  resolve(): void
  reject(error: Error): void
}

/** A sink that records every call and leaves each part's request open until the test settles it. */
function fakeSink() {
  const calls: string[] = []
  const pending: PendingPart[] = []
  const received = new Map<number, Buffer>()
  const buffers = new Set<ArrayBufferLike>()
  let inFlight = 0
  let maxInFlight = 0
  let inFlightAtAbort: number | undefined
  const sink: PartSink = {
    async single(data) {
      calls.push(`single:${data.length}`)
      buffers.add(data.buffer)
      received.set(1, Buffer.from(data))
    },
    async begin() {
      calls.push('begin')
    },
    part(number, data) {
      calls.push(`part:${number}`)
      buffers.add(data.buffer)
      inFlight += 1
      maxInFlight = Math.max(maxInFlight, inFlight)
      const { promise, resolve, reject } = Promise.withResolvers<void>()
      const settle = (): void => {
        inFlight -= 1
        pending.splice(pending.indexOf(entry), 1)
      }
      const entry: PendingPart = {
        number,
        // copied now: the buffer is reused once the request settles
        bytes: Buffer.from(data),
        resolve: () => {
          received.set(number, entry.bytes)
          settle()
          resolve()
        },
        reject: (error) => {
          settle()
          reject(error)
        },
      }
      pending.push(entry)
      return promise
    },
    async complete(count) {
      calls.push(`complete:${count}`)
    },
    async abort() {
      calls.push('abort')
      inFlightAtAbort = inFlight
    },
  }
  return {
    sink,
    calls,
    pending,
    received,
    buffers,
    get maxInFlight() {
      return maxInFlight
    },
    get inFlightAtAbort() {
      return inFlightAtAbort
    },
  }
}

/** Lets every queued promise job and `nextTick` run: the uploader is then waiting on the sink. */
const idle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** `data` as a stream of irregular chunks, so parts straddle chunk boundaries. */
function bodyOf(data: Buffer): Readable {
  const chunks: Buffer[] = []
  const sizes = [300, 1500, 7, 2048, 999]
  for (let offset = 0, i = 0; offset < data.length; i += 1) {
    const size = sizes[i % sizes.length]!
    chunks.push(data.subarray(offset, offset + size))
    offset += size
  }
  return Readable.from(chunks)
}

function options(parallel: number, stopOthers: () => void = () => undefined): UploadPartsOptions {
  return { partSize: PART, parallel, maxParts: 10_000, component: 'test', partName: 'parts', stopOthers }
}

type Outcome = { ok: true; size: number } | { ok: false; error: unknown }

function start(body: Readable, opts: UploadPartsOptions, sink: PartSink): { readonly outcome: Outcome | undefined; done: Promise<Outcome> } {
  let outcome: Outcome | undefined
  const done = uploadParts(body, opts, sink).then(
    (size): Outcome => (outcome = { ok: true, size }),
    (error: unknown): Outcome => (outcome = { ok: false, error }),
  )
  return {
    get outcome() {
      return outcome
    },
    done,
  }
}

for (const [parallel, size] of [
  [1, PART * 4 + 10],
  [3, PART * 9 + 517],
  [3, PART * 6],
  [5, PART * 2 + 1],
] as const) {
  test(`parallel ${parallel}, ${size} bytes: at most ${parallel} parts in flight, ${parallel} buffers at most, parts 1..n hold the body`, async () => {
    const data = randomBytes(size)
    const fake = fakeSink()
    const upload = start(bodyOf(data), options(parallel), fake.sink)
    const expectedParts = Math.ceil(size / PART)
    let step = 0
    while (upload.outcome === undefined) {
      await idle()
      assert.ok(fake.pending.length <= parallel, `${fake.pending.length} parts in flight, parallel is ${parallel}`)
      const started = fake.calls.filter((c) => c.startsWith('part:')).length
      // While parts remain to be sent, the pool is full before the uploader waits.
      if (started < expectedParts) assert.is(fake.pending.length, parallel, `the pool is not full after ${started} parts`)
      if (fake.pending.length === 0) continue
      // Settle out of order: alternately the newest and the oldest request.
      const next = step % 2 === 0 ? fake.pending.at(-1)! : fake.pending[0]!
      step += 1
      next.resolve()
    }
    const outcome = await upload.done
    assert.equal(outcome, { ok: true, size })
    assert.ok(fake.maxInFlight <= parallel, `max in flight ${fake.maxInFlight}`)
    assert.ok(fake.buffers.size <= parallel, `${fake.buffers.size} distinct buffers, parallel is ${parallel}`)
    assert.equal([...fake.received.keys()].sort((a, b) => a - b), Array.from({ length: expectedParts }, (_, i) => i + 1))
    const parts = [...fake.received.entries()].sort(([a], [b]) => a - b).map(([, bytes]) => bytes)
    assert.ok(parts.slice(0, -1).every((p) => p.length === PART), 'every part but the last is a full part')
    assert.ok(Buffer.concat(parts).equals(data), 'the parts, in number order, are the body')
    assert.is(fake.calls[0], 'begin')
    assert.is(fake.calls.at(-1), `complete:${expectedParts}`)
    assert.not.ok(fake.calls.includes('abort'))
  })
}

test('a failed part: stopOthers once, no further parts, abort only after every request settled, never complete', async () => {
  const fake = fakeSink()
  let stops = 0
  const upload = start(bodyOf(randomBytes(PART * 10)), options(3, () => (stops += 1)), fake.sink)
  await idle()
  assert.equal(fake.pending.map((p) => p.number), [1, 2, 3])
  const failure = new Error('part 2 failed for good')
  fake.pending.find((p) => p.number === 2)!.reject(failure)
  await idle()
  assert.is(stops, 1)
  assert.not.ok(fake.calls.includes('abort'), 'abort waits for parts 1 and 3')
  assert.equal(fake.pending.map((p) => p.number), [1, 3])
  fake.pending[0]!.resolve()
  await idle()
  assert.not.ok(fake.calls.includes('abort'), 'abort waits for part 3')
  // stopOthers cancels the request still in flight: it fails too, and stopOthers is not called again.
  fake.pending[0]!.reject(new Error('cancelled'))
  const outcome = await upload.done
  assert.equal(outcome, { ok: false, error: failure })
  assert.is(stops, 1)
  assert.equal(fake.calls, ['begin', 'part:1', 'part:2', 'part:3', 'abort'])
  assert.is(fake.inFlightAtAbort, 0)
})

test('a failed body: abort after the parts in flight settled, never complete', async () => {
  const fake = fakeSink()
  const broken = new Error('etcd stream broke')
  async function* source(): AsyncGenerator<Buffer> {
    yield randomBytes(PART * 2 + 5)
    throw broken
  }
  const upload = start(Readable.from(source()), options(3), fake.sink)
  await idle()
  assert.equal(fake.pending.map((p) => p.number), [1, 2])
  assert.not.ok(fake.calls.includes('abort'))
  fake.pending[1]!.resolve()
  await idle()
  assert.not.ok(fake.calls.includes('abort'))
  fake.pending[0]!.resolve()
  const outcome = await upload.done
  assert.equal(outcome, { ok: false, error: broken })
  assert.equal(fake.calls, ['begin', 'part:1', 'part:2', 'abort'])
  assert.is(fake.inFlightAtAbort, 0)
})

for (const size of [0, 1, PART - 1, PART]) {
  test(`a body of ${size} bytes (at most one part) goes up in one single() call`, async () => {
    const data = randomBytes(size)
    const fake = fakeSink()
    let stops = 0
    const outcome = await start(bodyOf(data), options(3, () => (stops += 1)), fake.sink).done
    assert.equal(outcome, { ok: true, size })
    assert.equal(fake.calls, [`single:${size}`])
    assert.ok(fake.received.get(1)!.equals(data))
    assert.is(stops, 0)
  })
}

test('partsInFlight: other stages\' bytes come out of the part buffers, never below 2 parts (or the configured count)', () => {
  const MiB = 1024 * 1024
  assert.is(partsInFlight(5, 5 * MiB), 5)
  assert.is(partsInFlight(5, 5 * MiB, 0), 5)
  // 2 compression workers hold at most 11 MiB: 3 parts of 5 MiB fewer
  assert.is(partsInFlight(5, 5 * MiB, 11 * MiB), 2)
  assert.is(partsInFlight(5, 5 * MiB, 10 * MiB), 3)
  assert.is(partsInFlight(10, 5 * MiB, 11 * MiB), 7)
  assert.is(partsInFlight(5, 5 * MiB, 100 * MiB), 2)
  assert.is(partsInFlight(1, 5 * MiB, 11 * MiB), 1)
})

test('heldElsewhereBytes lowers the parts in flight and the buffers allocated', async () => {
  const data = randomBytes(PART * 8 + 3)
  const fake = fakeSink()
  // 5 configured, 2.5 parts' worth held elsewhere: 3 fewer, so 2
  const upload = start(bodyOf(data), { ...options(5), heldElsewhereBytes: PART * 2.5 }, fake.sink)
  while (upload.outcome === undefined) {
    await idle()
    assert.ok(fake.pending.length <= 2, `${fake.pending.length} parts in flight`)
    fake.pending[0]?.resolve()
  }
  assert.equal(await upload.done, { ok: true, size: data.length })
  assert.is(fake.maxInFlight, 2)
  assert.ok(fake.buffers.size <= 2, `${fake.buffers.size} distinct buffers`)
})

test.run()
