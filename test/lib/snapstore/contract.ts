/**
 * The snapstore contract: one uvu suite every driver runs (Local, S3, GCS, ABS).
 * A driver's test file calls {@link snapstoreContract} with a factory that opens a fresh,
 * empty store, and may add its own cases through `extra`.
 */
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { suite, type Test } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError } from '../../../src/lib/errors.ts'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'

export interface ContractContext {
  store: Snapstore
}

export interface ContractOptions {
  /** Opens a fresh store whose container exists and is empty. */
  open(): Promise<Snapstore>
  /** Removes whatever `open` created. */
  cleanup?(store: Snapstore): Promise<void>
  /** Size of the "large object" case, in bytes; large enough to span several parts. @default 12 MiB */
  largeObjectBytes?: number
  /**
   * Uploads of `key` the server still holds open or half-done, asked of the server directly:
   * S3 multipart uploads, ABS staged (uncommitted) blocks, GCS resumable sessions, Local
   * partial files. A failed or aborted put must leave none.
   */
  pendingUploads(store: Snapstore, key: string): Promise<number>
  /** Driver-specific cases, registered after the shared ones. */
  extra?(test: Test<ContractContext>): void
}

/** Builds the contract suite for one driver; call `.run()` on the result. */
export function snapstoreContract(label: string, options: ContractOptions): Test<ContractContext> {
  const test = suite<ContractContext>(`snapstore contract: ${label}`, {} as ContractContext)

  test.before.each(async (ctx) => {
    ctx.store = await options.open()
  })
  test.after.each(async (ctx) => {
    await options.cleanup?.(ctx.store)
    await ctx.store.dispose?.()
  })

  test('an empty store lists nothing', async ({ store }) => {
    assert.equal(await keysOf(store, ''), [])
  })

  test('put then head, get and list return the same bytes', async ({ store }) => {
    const body = Buffer.from('hello snapstore')
    const info = await store.put('etcd-main/v2/Full-00000000-00000010-1700000000.gz', Readable.from([body]))
    assert.is(info.sizeBytes, body.length)
    const head = await store.head('etcd-main/v2/Full-00000000-00000010-1700000000.gz')
    assert.ok(head)
    assert.is(head.sizeBytes, body.length)
    assert.equal(await readAll(store, 'etcd-main/v2/Full-00000000-00000010-1700000000.gz'), body)
    assert.equal(await keysOf(store, 'etcd-main/'), ['etcd-main/v2/Full-00000000-00000010-1700000000.gz'])
  })

  test('a missing key: get and head are null, delete is harmless', async ({ store }) => {
    assert.is(await store.get('nope/v2/Full-00000000-00000001-1'), null)
    assert.is(await store.head('nope/v2/Full-00000000-00000001-1'), null)
    await store.delete('nope/v2/Full-00000000-00000001-1')
  })

  test('put overwrites an existing key', async ({ store }) => {
    await store.put('p/v2/a', Readable.from([Buffer.from('one')]))
    await store.put('p/v2/a', Readable.from([Buffer.from('second')]))
    assert.equal((await readAll(store, 'p/v2/a')).toString(), 'second')
  })

  test('delete removes the object from get, head and list', async ({ store }) => {
    await store.put('p/v2/x', Readable.from([Buffer.from('x')]))
    await store.delete('p/v2/x')
    assert.is(await store.head('p/v2/x'), null)
    assert.is(await store.get('p/v2/x'), null)
    assert.equal(await keysOf(store, 'p/'), [])
  })

  test('listing under a prefix does not include sibling prefixes', async ({ store }) => {
    await store.put('prod/v2/Full-00000000-00000001-1700000000', Readable.from([Buffer.from('a')]))
    await store.put('prod-old/v2/Full-00000000-00000001-1700000000', Readable.from([Buffer.from('b')]))
    assert.equal(await keysOf(store, 'prod/'), ['prod/v2/Full-00000000-00000001-1700000000'])
  })

  test('v1 and v2 layouts and chunk names round-trip', async ({ store }) => {
    const keys = [
      'etcd-main/v1/Backup-1518427675/Full-00000000-00030009-1518427675',
      'etcd-main/v1/Backup-1518427675/Incr-00030010-00030020-1518427700.gz',
      'etcd-main/v2/Full-00000000-00030009-1518427675.gz.final',
      'etcd-main/v2/Incr-1189843863-1189847828-1785034625.gz',
      'etcd-main/v2/Full-00000000-00040000-1518427800/0000000001',
    ]
    for (const key of keys) await store.put(key, Readable.from([Buffer.from(key)]))
    assert.equal(await keysOf(store, 'etcd-main/'), [...keys].sort())
    for (const key of keys) assert.equal((await readAll(store, key)).toString(), key)
  })

  test('a large object spanning several parts keeps its bytes', async ({ store }) => {
    const size = options.largeObjectBytes ?? 12 * 1024 * 1024
    const chunk = randomBytes(1024 * 1024)
    const source = Readable.from(
      (function* () {
        for (let sent = 0; sent < size; sent += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, size - sent))
      })(),
    )
    const expected = createHash('sha256')
    for (let sent = 0; sent < size; sent += chunk.length) expected.update(chunk.subarray(0, Math.min(chunk.length, size - sent)))
    const info = await store.put('big/v2/Full-00000000-00000099-1700000000', source)
    assert.is(info.sizeBytes, size)
    const stream = await store.get('big/v2/Full-00000000-00000099-1700000000')
    assert.ok(stream)
    const actual = createHash('sha256')
    for await (const part of stream) actual.update(part as Buffer)
    assert.is(actual.digest('hex'), expected.digest('hex'))
  })

  test('concurrent writers of different keys all land', async ({ store }) => {
    const keys = Array.from({ length: 8 }, (_, i) => `c/v2/Incr-${String(i * 10 + 1).padStart(8, '0')}-${String(i * 10 + 10).padStart(8, '0')}-1700000000`)
    await Promise.all(keys.map((key) => store.put(key, Readable.from([Buffer.from(key.repeat(100))]))))
    assert.equal(await keysOf(store, 'c/'), [...keys].sort())
    for (const key of keys) assert.is((await readAll(store, key)).toString(), key.repeat(100))
  })

  // Stores differ in who wins (S3, GCS, Local: the last to finish; Azure discards every staged
  // block of a blob on any commit, so the later writer may fail), never in mixing bodies.
  test('concurrent writers of the same key never mix: the object is a successful writer\'s whole body', async ({ store }) => {
    const key = 's/v2/Full-00000000-00000007-1700000000'
    const bodies = [randomBody(6 * MiB + 1), randomBody(6 * MiB + 2)]
    const outcomes = await Promise.allSettled(bodies.map((body) => store.put(key, Readable.from(chunksOf(body)))))
    const succeeded = bodies.filter((_, i) => outcomes[i]!.status === 'fulfilled')
    assert.ok(succeeded.length >= 1, 'at least one writer succeeds')
    const stored = await readAll(store, key)
    assert.ok(succeeded.some((body) => body.equals(stored)), 'the object is exactly the body of a writer that succeeded')
    assert.is(await options.pendingUploads(store, key), 0)
  })

  test('a body that fails after more than one part leaves no visible object and no pending upload', async ({ store }) => {
    const key = 'f/v2/Full-00000000-00000005-1700000000'
    const source = randomBody(6 * MiB)
    const failing = Readable.from(
      (async function* () {
        yield* chunksOf(source)
        throw new Error('source broke')
      })(),
    )
    const error = await rejectionOf(store.put(key, failing))
    assert.not.ok(isStewardError(error, 'ABORTED'), 'a broken body is a failure, not an abort')
    assert.is(await store.head(key), null)
    assert.equal(await keysOf(store, 'f/'), [])
    assert.is(await options.pendingUploads(store, key), 0)
  })

  test('an aborted put leaves no visible object and no pending upload', async ({ store }) => {
    const key = 'a/v2/Full-00000000-00000006-1700000000'
    const controller = new AbortController()
    const source = randomBody(6 * MiB)
    const slow = Readable.from(
      (async function* () {
        yield* chunksOf(source)
        controller.abort() // asked for more than one part: abort while the upload is open
        yield source.subarray(0, MiB)
      })(),
    )
    const error = await rejectionOf(store.put(key, slow, { signal: controller.signal }))
    assert.ok(isStewardError(error, 'ABORTED'), `expected ABORTED, got ${String(error)}`)
    assert.is(await store.head(key), null)
    assert.equal(await keysOf(store, 'a/'), [])
    assert.is(await options.pendingUploads(store, key), 0)
  })

  test('unsafe keys are refused', async ({ store }) => {
    for (const key of ['../escape', 'a/../../b', '/abs', 'a//b']) {
      let refused = false
      try {
        await store.put(key, Readable.from([Buffer.from('x')]))
      } catch {
        refused = true
      }
      assert.ok(refused, `key ${key} must be refused`)
    }
  })

  options.extra?.(test)
  return test
}

const MiB = 1024 * 1024

/** `size` random bytes. */
function randomBody(size: number): Buffer {
  return randomBytes(size)
}

/** `data` in 1 MiB pieces, as a stream delivers it. */
function* chunksOf(data: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += MiB) yield data.subarray(offset, Math.min(data.length, offset + MiB))
}

/** The error `promise` rejects with; fails the test when it resolves. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  assert.unreachable('the put must reject')
  return undefined
}

/** Sorted keys listed under `prefix`. */
export async function keysOf(store: Snapstore, prefix: string): Promise<string[]> {
  const keys: string[] = []
  for await (const info of store.list(prefix)) keys.push(info.key)
  return keys.sort()
}

/** The whole object as a Buffer; fails the test when it is missing. */
export async function readAll(store: Snapstore, key: string): Promise<Buffer> {
  const stream = await store.get(key)
  assert.ok(stream, `${key} should exist`)
  const parts: Buffer[] = []
  for await (const part of stream) parts.push(part as Buffer)
  return Buffer.concat(parts)
}
