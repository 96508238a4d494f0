/**
 * Transport fault cases shared by the cloud drivers' tests (S3, ABS, GCS), injected by the
 * fault proxy in front of each driver's server: server-error and throttling bursts are retried,
 * a request that gets no answer times out and is retried (or, when it never gets one, fails with
 * `STORE_FAILED` after the driver's attempts instead of hanging), and a download whose body
 * stalls is broken off and resumed.
 */
import { Readable } from 'node:stream'
import * as assert from 'uvu/assert'
import type { Snapstore } from '../../../src/lib/snapstore/types.ts'
import type { FaultProxy } from '../../harness/fault-proxy.ts'
import type { ContractContext } from './contract.ts'
import { bodyOf, expectError, MiB, sha256Of } from './helpers.ts'

export interface TransportFaultOptions {
  /** Driver name in the test titles, e.g. `S3`. */
  readonly driver: string
  /** The fault proxy in front of the driver's server. */
  proxy(): FaultProxy
  /**
   * A second store on the same container as `store`, through the proxy, whose per-request
   * timeout and download idle timeout are `timeoutMs`, with `maxAttempts` attempts per request.
   */
  openTimed(store: Snapstore, timeoutMs: number, maxAttempts: number): Snapstore
  /** Requests a one-part put of a small body takes when nothing fails (1 for S3/ABS/GCS). */
  readonly smallPutRequests: number
}

/** Registers the cases through `test` (a driver's contract suite; call from its `extra`). */
export function transportFaultCases(test: (name: string, handler: (context: ContractContext) => Promise<void>) => void, options: TransportFaultOptions): void {
  for (const status of [500, 429] as const) {
    test(`${options.driver}: a burst of HTTP ${status} on a put is retried`, async ({ store }) => {
      const proxy = options.proxy()
      const before = proxy.requests()
      proxy.failNext(2, status)
      await store.put(`t${status}/v2/Full-00000000-00000001-1700000000`, Readable.from([Buffer.from('after the burst')]))
      assert.is(proxy.requests() - before, 2 + options.smallPutRequests, 'two refused attempts, then the put')
      assert.is((await sha256Of(store, `t${status}/v2/Full-00000000-00000001-1700000000`)).length, 64)
    })
  }

  test(`${options.driver}: a request that gets no answer times out and is retried`, async ({ store }) => {
    const proxy = options.proxy()
    const timed = options.openTimed(store, 500, 3)
    try {
      const before = proxy.requests()
      proxy.hangNext(1)
      await timed.put('th/v2/Full-00000000-00000001-1700000000', Readable.from([Buffer.from('answered at last')]))
      assert.is(proxy.requests() - before, 1 + options.smallPutRequests, 'the unanswered attempt, then the put')
      assert.ok(await store.head('th/v2/Full-00000000-00000001-1700000000'))
    } finally {
      proxy.hangNext(0)
      await timed.dispose?.()
    }
  })

  test(`${options.driver}: a server that never answers fails the request with STORE_FAILED, it does not hang`, async ({ store }) => {
    const proxy = options.proxy()
    const timed = options.openTimed(store, 300, 2)
    proxy.hangNext(1000)
    try {
      await expectError(timed.head('tn/v2/Full-00000000-00000001-1700000000'), 'STORE_FAILED')
    } finally {
      proxy.hangNext(0)
      await timed.dispose?.()
    }
  })

  test(`${options.driver}: a download whose body stalls is broken off and resumed`, async ({ store }) => {
    const proxy = options.proxy()
    const key = 'ts/v2/Full-00000000-00000001-1700000000'
    const { body, sha256 } = bodyOf(3 * MiB + 17)
    await store.put(key, body)
    const timed = options.openTimed(store, 500, 3)
    try {
      proxy.stallNextResponseAfter(MiB)
      assert.is(await sha256Of(timed, key), sha256)
    } finally {
      await timed.dispose?.()
    }
  })
}
