import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { garbageReleaser } from '../../src/lib/memory.ts'

type Gc = (options?: { type?: 'minor' | 'major' }) => void

function withFakeGc(fn: (calls: string[]) => void): void {
  const holder = globalThis as { gc?: Gc }
  const original = holder.gc
  const calls: string[] = []
  holder.gc = (options) => void calls.push(options?.type ?? 'major')
  try {
    fn(calls)
  } finally {
    if (original) holder.gc = original
    else delete holder.gc
  }
}

test('without --expose-gc the releaser does nothing', () => {
  const holder = globalThis as { gc?: Gc }
  const original = holder.gc
  delete holder.gc
  try {
    const release = garbageReleaser({ minorEveryBytes: 1 })
    for (let i = 1; i < 10; i++) release(i * 100)
  } finally {
    if (original) holder.gc = original
  }
})

test('young-generation collections every minorEveryBytes while RSS is under the ceiling', () => {
  withFakeGc((calls) => {
    const release = garbageReleaser({ minorEveryBytes: 100, rssCeilingBytes: Number.MAX_SAFE_INTEGER })
    for (let bytes = 0; bytes <= 1000; bytes += 10) release(bytes)
    assert.equal(calls, Array(10).fill('minor'))
  })
})

test('a full collection above the ceiling; the ceiling then moves above the floor, so no loop', () => {
  withFakeGc((calls) => {
    const release = garbageReleaser({ minorEveryBytes: 100, rssCeilingBytes: 1 })
    for (let bytes = 100; bytes <= 1000; bytes += 100) release(bytes)
    assert.is(calls[0], 'major')
    assert.ok(calls.slice(1).every((c) => c === 'minor'), `later calls: ${calls.join(',')}`)
    assert.is(calls.length, 10)
  })
})

test.run()
