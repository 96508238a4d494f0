/**
 * Paginated-listing fault cases shared by the cloud drivers' tests (S3, ABS, GCS): a 503 burst
 * between pages is retried, and a later page that keeps failing throws `STORE_FAILED` instead of
 * returning a short list (garbage collection must never act on a partial listing).
 */
import { Readable } from 'node:stream'
import * as assert from 'uvu/assert'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'
import type { FaultProxy } from '../../harness/fault-proxy.ts'
import type { ContractContext } from './contract.ts'
import { expectError } from './helpers.ts'

export interface ListingFaultOptions {
  /** Driver name in the test titles, e.g. `S3`. */
  readonly driver: string
  /** The fault proxy in front of the driver's server. */
  proxy(): FaultProxy
  /** A second store on the same container as `store`, through the proxy, with these options. */
  openPaged(store: Snapstore, options: { listPageSize: number; retry?: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number } }): Snapstore
  /** What the partial-listing error must name (the bucket or container). */
  location(store: Snapstore): RegExp
  /** Objects listed in the burst case. */
  readonly burstObjects: number
  /** 503s answered in the burst (fewer than the driver's attempts). */
  readonly burstFailures: number
  /** Attempts of the driver's retry policy in the failing-page case. */
  readonly failingPageAttempts: number
}

/** Registers the two cases through `test` (a driver's contract suite, or a wrapper of it; call from its `extra`). */
export function listingFaultCases(test: (name: string, handler: (context: ContractContext) => Promise<void>) => void, options: ListingFaultOptions): void {
  test(`${options.driver}: a 503 burst in the middle of a paginated listing is retried`, async ({ store }) => {
    const proxy = options.proxy()
    const paged = options.openPaged(store, { listPageSize: 2 })
    const keys = Array.from({ length: options.burstObjects }, (_, i) => `l/v2/Incr-${String(i + 1).padStart(8, '0')}-${String(i + 1).padStart(8, '0')}-1700000000`)
    for (const key of keys) await paged.put(key, Readable.from([Buffer.from(key)]))
    const seen: string[] = []
    for await (const info of paged.list('l/')) {
      if (seen.length === 0) proxy.failNext(options.burstFailures, 503) // first page done; fail the next page
      seen.push(info.key)
    }
    assert.equal(seen.sort(), keys)
    await paged.dispose?.()
  })

  test(`${options.driver}: a listing whose later page keeps failing throws STORE_FAILED, never a short list`, async ({ store }) => {
    const proxy = options.proxy()
    const paged = options.openPaged(store, { listPageSize: 2, retry: { maxAttempts: options.failingPageAttempts, baseDelayMs: 1, maxDelayMs: 5 } })
    for (let i = 0; i < 5; i++) await paged.put(`k/v2/o${i}`, Readable.from([Buffer.from('x')]))
    const seen: string[] = []
    try {
      const error = await expectError(
        (async () => {
          for await (const info of paged.list('k/')) {
            if (seen.length === 0) proxy.failNext(1000, 500)
            seen.push(info.key)
          }
        })(),
        'STORE_FAILED',
      )
      assert.ok(seen.length < 5, 'the listing did not complete')
      assert.match(error.message, /partial listing/)
      assert.match(error.message, options.location(store))
    } finally {
      proxy.failNext(0)
      await paged.dispose?.()
    }
  })
}
