/** The credential-rotation wrapper (src/lib/snapstore/rotation.ts) around stand-in stores. */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { credentialFingerprint, rotatingSnapstore } from '../../../src/lib/snapstore/rotation.ts'
import type { ObjectInfo, Snapstore } from '../../../src/lib/snapstore/types.ts'

/** A store that answers `head` with its own name and records whether it was disposed. */
function standIn(name: string): Snapstore & { disposed: boolean } {
  const store = {
    driver: 'S3' as const,
    location: `s3://${name}`,
    capabilities: { streamingUpload: true, localFiles: false },
    disposed: false,
    put: async (key: string): Promise<ObjectInfo> => ({ key, sizeBytes: 0, lastModified: new Date(0) }),
    get: async () => null,
    head: async (key: string): Promise<ObjectInfo> => ({ key: `${name}:${key}`, sizeBytes: 0, lastModified: new Date(0) }),
    async *list() {
      yield { key: `${name}:listed`, sizeBytes: 0, lastModified: new Date(0) }
    },
    delete: async () => undefined,
    async dispose() {
      store.disposed = true
    },
  }
  return store
}

const test = suite<{ dir: string }>('snapstore credential rotation', { dir: '' })
test.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'steward-rotation-'))
})
test.after.each(async (ctx) => {
  await rm(ctx.dir, { recursive: true, force: true })
})

test('the fingerprint changes when a credential file or a file of a credential directory changes', async ({ dir }) => {
  const file = join(dir, 'creds.json')
  const folder = join(dir, 'creds')
  await writeFile(file, '{"a":1}')
  await mkdir(folder)
  await writeFile(join(folder, 'accessKeyID'), 'one')
  const first = await credentialFingerprint([file, folder])
  assert.is(await credentialFingerprint([file, folder]), first, 'stable while nothing changes')
  await writeFile(join(folder, 'secretAccessKey'), 'added')
  const second = await credentialFingerprint([file, folder])
  assert.is.not(second, first, 'a file added to the directory')
  await writeFile(file, '{"a":12}')
  assert.is.not(await credentialFingerprint([file, folder]), second, 'the file rewritten')
  assert.match(await credentialFingerprint([join(dir, 'gone')]), /missing/)
})

test('operations use the first store until the files change, then one re-opened store', async ({ dir }) => {
  const file = join(dir, 'creds.json')
  await writeFile(file, 'old')
  const first = standIn('first')
  let opened = 0
  const stores: ReturnType<typeof standIn>[] = []
  const store = rotatingSnapstore(first, [file], await credentialFingerprint([file]), async () => {
    opened += 1
    const next = standIn(`reopened-${opened}`)
    stores.push(next)
    return next
  })
  assert.is((await store.head('k'))?.key, 'first:k')
  assert.is(opened, 0)
  await writeFile(file, 'rotated')
  const [a, b] = await Promise.all([store.head('k'), store.head('k')])
  assert.is(a?.key, 'reopened-1:k')
  assert.is(b?.key, 'reopened-1:k', 'concurrent operations share the one re-open')
  const listed: string[] = []
  for await (const info of store.list('')) listed.push(info.key)
  assert.equal(listed, ['reopened-1:listed'])
  assert.is(opened, 1)
  await store.dispose?.()
  assert.ok(first.disposed && stores[0]!.disposed, 'the replaced store and the current one are disposed')
})

test('a failed re-open fails the operation that noticed it; the next one tries again', async ({ dir }) => {
  const file = join(dir, 'creds.json')
  await writeFile(file, 'old')
  let attempts = 0
  const store = rotatingSnapstore(standIn('first'), [file], await credentialFingerprint([file]), async () => {
    attempts += 1
    if (attempts === 1) throw new Error('half-written file')
    return standIn('second')
  })
  await writeFile(file, 'half')
  try {
    await store.put('k', Readable.from([Buffer.from('x')]))
    assert.unreachable('the put must fail while the credentials cannot be read')
  } catch (error) {
    assert.match(String(error), /half-written file/)
  }
  assert.is((await store.head('k'))?.key, 'second:k')
  assert.is(attempts, 2)
})

test.run()
