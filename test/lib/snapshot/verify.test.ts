/** The SHA-256 trailer checks of a full snapshot: streaming (FullSnapshotVerifier) and in place (verifySnapshotFile) agree. */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError } from '../../../src/lib/errors.ts'
import { FullSnapshotVerifier, verifySnapshotFile } from '../../../src/lib/snapshot/verify.ts'

const work = await mkdtemp(join(tmpdir(), 'steward-verify-'))

/** A bbolt-looking body (magic at offset 16) of `pages` × 512 bytes plus its SHA-256. */
function snapshotBytes(pages: number): Buffer {
  const body = randomBytes(pages * 512)
  body.writeUInt32LE(0xed0cdaed, 16)
  return Buffer.concat([body, createHash('sha256').update(body).digest()])
}

async function streamCheck(bytes: Buffer): Promise<unknown> {
  try {
    const chunks = [bytes.subarray(0, 1000), bytes.subarray(1000)]
    await pipeline(Readable.from(chunks), new FullSnapshotVerifier({ source: 'x' }), new Writable({ write: (_c, _e, done) => done() }))
    return undefined
  } catch (error) {
    return error
  }
}

async function fileCheck(bytes: Buffer, name: string): Promise<unknown> {
  const path = join(work, name)
  await writeFile(path, bytes)
  try {
    await verifySnapshotFile(path, 'x')
    return undefined
  } catch (error) {
    return error
  }
}

test('a good snapshot passes both checks, larger than the 1 MiB read buffer too', async () => {
  for (const pages of [1, 2049, 4100]) {
    const bytes = snapshotBytes(pages)
    assert.is(await streamCheck(bytes), undefined)
    assert.is(await fileCheck(bytes, `good-${pages}`), undefined)
  }
})

test('one flipped bit fails both checks with SNAPSHOT_CORRUPT and the same message', async () => {
  const bytes = snapshotBytes(3000)
  bytes[1_200_000] = bytes[1_200_000]! ^ 1
  const streamed = await streamCheck(bytes)
  const inPlace = await fileCheck(bytes, 'flipped')
  assert.ok(isStewardError(streamed, 'SNAPSHOT_CORRUPT'))
  assert.ok(isStewardError(inPlace, 'SNAPSHOT_CORRUPT'))
  assert.is((inPlace as Error).message, (streamed as Error).message)
  assert.match((inPlace as Error).message, /fails its SHA-256 check/)
  assert.ok(isStewardError(await fileCheck(Buffer.alloc(10), 'short'), 'SNAPSHOT_CORRUPT'))
})

test.after(async () => {
  await rm(work, { recursive: true, force: true })
})

test.run()
