/** Helpers the cloud driver suites (s3, abs, gcs) share. */
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import * as assert from 'uvu/assert'
import { isStewardError, type StewardError } from '../../../src/lib/errors.ts'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'
import { keysOf, readAll } from './contract.ts'

export const MiB = 1024 * 1024
/** Short delays so retry cases run fast; same shape as production. */
export const FAST_RETRY = { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 50 }

/** A body of `size` pseudo-random bytes and its SHA-256. */
export function bodyOf(size: number): { body: Readable; sha256: string } {
  const chunk = randomBytes(MiB)
  const hash = createHash('sha256')
  const parts: Buffer[] = []
  for (let sent = 0; sent < size; sent += chunk.length) parts.push(chunk.subarray(0, Math.min(chunk.length, size - sent)))
  for (const part of parts) hash.update(part)
  return { body: Readable.from(parts), sha256: hash.digest('hex') }
}

/** A body that delivers `bytes` pseudo-random bytes in 1 MiB chunks, then fails with `source broke`. */
export function failingAfter(bytes: number): Readable {
  const chunk = randomBytes(MiB)
  return Readable.from(
    (async function* () {
      for (let sent = 0; sent < bytes; sent += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, bytes - sent))
      throw new Error('source broke')
    })(),
  )
}

/** SHA-256 of an object's bytes. */
export async function sha256Of(store: Snapstore, key: string): Promise<string> {
  return createHash('sha256').update(await readAll(store, key)).digest('hex')
}

/** Awaits `promise` and returns the StewardError (of one of `codes`) it must reject with. */
export async function expectError(promise: Promise<unknown>, ...codes: StewardError['code'][]): Promise<StewardError> {
  try {
    await promise
  } catch (error) {
    assert.ok(isStewardError(error, ...codes), `expected StewardError ${codes.join('/')}, got ${String(error)}`)
    return error
  }
  assert.unreachable(`expected StewardError ${codes.join('/')}`)
  throw new Error('unreachable')
}

/** Puts and lists one object, then deletes it: proves the store reaches its server with the credentials it read. */
export async function roundTrip(store: Snapstore, key: string): Promise<void> {
  try {
    await store.put(key, Readable.from([Buffer.from(key)]))
    assert.equal(await keysOf(store, key), [key])
    await store.delete(key)
  } finally {
    await store.dispose?.()
  }
}
