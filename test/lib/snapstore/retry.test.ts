import { Readable } from 'node:stream'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { TRUNCATED_BODY, type ByteSource, isRetryableError, resumableStream, retryDelayMs, sleep, withRetry } from '../../../src/lib/snapstore/retry.ts'

const NO_WAIT = { baseDelayMs: 0, maxDelayMs: 0 }

const classify = suite('retry: which errors are retried')

classify('throttling, 5xx and broken connections are retryable', () => {
  const retryable: unknown[] = [
    Object.assign(new Error('slow down'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } }),
    Object.assign(new Error('too many'), { $metadata: { httpStatusCode: 429 } }),
    Object.assign(new Error('boom'), { $metadata: { httpStatusCode: 500 } }),
    Object.assign(new Error('bad gateway'), { statusCode: 502 }),
    Object.assign(new Error('gcs'), { code: 503 }),
    Object.assign(new Error('azure'), { response: { status: 504 } }),
    Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }),
    Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }),
    new Error('socket hang up'),
    Object.assign(new Error('short'), { code: TRUNCATED_BODY }),
    new Error('wrapped', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }),
  ]
  for (const error of retryable) assert.ok(isRetryableError(error), String(error))
})

classify('client errors, aborts and plain failures are not retryable', () => {
  const final: unknown[] = [
    Object.assign(new Error('missing'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }),
    Object.assign(new Error('denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
    Object.assign(new Error('not implemented'), { $metadata: { httpStatusCode: 501 } }),
    Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ECONNRESET' }),
    new Error('something else'),
    'a string',
    undefined,
  ]
  for (const error of final) assert.not.ok(isRetryableError(error), String(error))
})

const backoff = suite('retry: backoff with full jitter')

backoff('the delay is random below an exponentially growing, capped ceiling', () => {
  const policy = { baseDelayMs: 100, maxDelayMs: 1000 }
  assert.is(retryDelayMs(0, policy, () => 0), 0)
  assert.is(retryDelayMs(0, policy, () => 0.999999), 99)
  assert.is(retryDelayMs(1, policy, () => 0.999999), 199)
  assert.is(retryDelayMs(3, policy, () => 0.5), 400)
  assert.is(retryDelayMs(10, policy, () => 0.999999), 999, 'capped at maxDelayMs')
})

backoff('withRetry retries retryable failures until success', async () => {
  const seen: number[] = []
  const result = await withRetry(
    async (attempt) => {
      seen.push(attempt)
      if (attempt < 2) throw Object.assign(new Error('busy'), { $metadata: { httpStatusCode: 503 } })
      return 'ok'
    },
    { ...NO_WAIT, maxAttempts: 5 },
  )
  assert.is(result, 'ok')
  assert.equal(seen, [0, 1, 2])
})

backoff('withRetry stops at a non-retryable error and after maxAttempts', async () => {
  let calls = 0
  const denied = Object.assign(new Error('denied'), { $metadata: { httpStatusCode: 403 } })
  await withRetry(async () => {
    calls++
    throw denied
  }, NO_WAIT).then(
    () => assert.unreachable(),
    (error: unknown) => assert.is(error, denied),
  )
  assert.is(calls, 1)

  calls = 0
  const retries: number[] = []
  await withRetry(
    async () => {
      calls++
      throw Object.assign(new Error(`reset ${calls}`), { code: 'ECONNRESET' })
    },
    { ...NO_WAIT, maxAttempts: 3, onRetry: (_e, retry) => retries.push(retry) },
  ).then(
    () => assert.unreachable(),
    (error: unknown) => assert.match(String(error), /reset 3/),
  )
  assert.is(calls, 3)
  assert.equal(retries, [0, 1])
})

backoff('an abort during the backoff wait rejects at once with an AbortError', async () => {
  const controller = new AbortController()
  let calls = 0
  const pending = withRetry(
    async () => {
      calls++
      throw Object.assign(new Error('busy'), { code: 'ECONNRESET' })
    },
    // abort once the 59 s wait has started: the microtask runs inside sleep()
    { baseDelayMs: 60_000, maxDelayMs: 60_000, signal: controller.signal, random: () => 0.99, onRetry: () => queueMicrotask(() => controller.abort()) },
  )
  await pending.then(
    () => assert.unreachable(),
    (error: unknown) => assert.is((error as Error).name, 'AbortError'),
  )
  assert.is(calls, 1)
  await sleep(5, AbortSignal.abort()).then(
    () => assert.unreachable(),
    (error: unknown) => assert.is((error as Error).name, 'AbortError'),
  )
})

const resume = suite('retry: resumable downloads')

const OBJECT = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251))

/** An object source whose bodies break after `breakAfter` bytes for the first `breaks` opens. */
function flaky(breaks: number, breakAfter: number, error: () => unknown = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })) {
  const offsets: number[] = []
  let opened = 0
  const open = async (offset: number): Promise<AsyncIterable<Uint8Array>> => {
    offsets.push(offset)
    const broken = opened++ < breaks
    return (async function* () {
      const end = broken ? Math.min(OBJECT.length, offset + breakAfter) : OBJECT.length
      for (let at = offset; at < end; at += 64) yield OBJECT.subarray(at, Math.min(end, at + 64))
      if (broken) throw error()
    })()
  }
  return { open, offsets }
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const part of stream) parts.push(part as Buffer)
  return Buffer.concat(parts)
}

resume('a body that breaks is re-opened from the offset reached', async () => {
  const source = flaky(2, 300)
  const bytes = await collect(resumableStream(source.open, { ...NO_WAIT, expectedBytes: OBJECT.length }))
  assert.ok(bytes.equals(OBJECT))
  assert.equal(source.offsets, [0, 300, 600])
})

resume('a body that ends early without an error is resumed too', async () => {
  let opened = 0
  const offsets: number[] = []
  const open = async (offset: number): Promise<ByteSource> => {
    offsets.push(offset)
    const end = opened++ === 0 ? 400 : OBJECT.length
    return [OBJECT.subarray(offset, end)]
  }
  const bytes = await collect(resumableStream(open, { ...NO_WAIT, expectedBytes: OBJECT.length }))
  assert.ok(bytes.equals(OBJECT))
  assert.equal(offsets, [0, 400])
})

resume('failures without progress are bounded; the final error is mapped', async () => {
  const source = flaky(99, 0)
  const stream = resumableStream(source.open, { ...NO_WAIT, maxAttempts: 3, expectedBytes: OBJECT.length, mapError: (e) => new Error(`mapped: ${String(e)}`) })
  await collect(stream).then(
    () => assert.unreachable(),
    (error: unknown) => assert.match(String(error), /mapped: .*ECONNRESET/),
  )
  assert.is(source.offsets.length, 3)
})

resume('a non-retryable error is not retried', async () => {
  const source = flaky(1, 100, () => Object.assign(new Error('changed'), { name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } }))
  await collect(resumableStream(source.open, NO_WAIT)).then(
    () => assert.unreachable(),
    (error: unknown) => assert.match(String(error), /changed/),
  )
  assert.equal(source.offsets, [0])
})

resume('the first body can be handed in already open', async () => {
  const source = flaky(0, 0)
  const first = Readable.from([OBJECT.subarray(0, 200)])
  const bytes = await collect(resumableStream(source.open, { ...NO_WAIT, first, expectedBytes: OBJECT.length }))
  assert.ok(bytes.equals(OBJECT))
  assert.equal(source.offsets, [200])
})

classify.run()
backoff.run()
resume.run()
