import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import localSnapstore, { PARTIAL_PREFIX } from '../../../src/lib/snapstore/drivers/local.ts'
import { isStewardError } from '../../../src/lib/errors.ts'
import { keysOf, snapstoreContract } from './contract.ts'

const roots = new Map<object, string>()

snapstoreContract('Local', {
  async open() {
    const root = await mkdtemp(join(tmpdir(), 'steward-local-'))
    const store = localSnapstore({ root })
    roots.set(store, root)
    return store
  },
  async pendingUploads(store, key) {
    const dir = join(roots.get(store)!, ...key.split('/').slice(0, -1))
    const names = await readdir(dir).catch(() => [] as string[])
    return names.filter((name) => name.startsWith(PARTIAL_PREFIX) && name.endsWith(key.split('/').pop()!)).length
  },
  async cleanup(store) {
    await rm(roots.get(store)!, { recursive: true, force: true })
  },
  extra(test) {
    test('Local: hidden partial files of a killed writer are not listed', async ({ store }) => {
      const root = roots.get(store)!
      await mkdir(join(root, 'p', 'v2'), { recursive: true })
      await writeFile(join(root, 'p', 'v2', `${PARTIAL_PREFIX}abc-Full-00000000-00000001-1700000000`), 'half')
      assert.equal(await keysOf(store, ''), [])
    })

    test('Local: a failed put removes its temp file', async ({ store }) => {
      const root = roots.get(store)!
      const { Readable } = await import('node:stream')
      const body = new Readable({ read() { this.destroy(new Error('boom')) } })
      await store.put('q/v2/x', body).catch(() => undefined)
      assert.equal(await readdir(join(root, 'q', 'v2')), [])
    })

    test('Local: listing a missing root is STORE_NOT_FOUND', async () => {
      const missing = localSnapstore({ root: join(tmpdir(), `steward-missing-${process.pid}-${Date.now()}`) })
      try {
        await keysOf(missing, '')
        assert.unreachable('listing must fail')
      } catch (error) {
        assert.ok(isStewardError(error, 'STORE_NOT_FOUND'))
      }
    })
  },
}).run()
