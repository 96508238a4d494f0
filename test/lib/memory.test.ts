import { spawnSync } from 'node:child_process'
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

test('without --expose-gc, collector() still finds a gc that collects (as under `node bin/run.js`)', () => {
  const script = `
    import { collector } from ${JSON.stringify(new URL('../../src/lib/memory.ts', import.meta.url).href)}
    if (typeof globalThis.gc === 'function') throw new Error('gc exposed already')
    const gc = collector()
    let target = { big: new Array(1000).fill(1) }
    const ref = new WeakRef(target)
    target = null
    await new Promise((resolve) => setImmediate(resolve)) // WeakRef targets live until the job ends
    gc({ type: 'major' })
    gc({ type: 'minor' })
    process.stdout.write(typeof gc + ' ' + String(ref.deref() === undefined))`
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  assert.is(result.status, 0, result.stderr)
  assert.is(result.stdout.trim(), 'function true')
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

test('capYoungGeneration: a stream (garbageReleaser ticks) keeps the young generation at the cap, set at run time', () => {
  // Each child streams: it allocates objects, a third of which survive a collection or two (which
  // makes V8 grow its young generation; Node's default lets it reach tens of MiB), and calls the
  // releaser with the running byte count, as the snapshot and upload streams do.
  const run = (cap: boolean): number => {
    const script = `
      import { getHeapSpaceStatistics } from 'node:v8'
      import { capYoungGeneration, garbageReleaser } from ${JSON.stringify(new URL('../../src/lib/memory.ts', import.meta.url).href)}
      if (${cap}) capYoungGeneration(2 * 1024 * 1024)
      const release = garbageReleaser({ minorEveryBytes: 1 })
      const keep = []
      for (let round = 1; round <= 400; round++) {
        for (let i = 0; i < 10000; i++) {
          const o = { a: i, b: 'x' + i }
          if (i % 3 === 0) keep.push(o)
          if (keep.length > 200000) keep.length = 0
        }
        release(round)
      }
      process.stdout.write(String(getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size))
    `
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    assert.is(child.status, 0, child.stderr)
    return Number(child.stdout)
  }
  const MiB = 1024 * 1024
  const uncapped = run(false)
  assert.ok(uncapped > 8 * MiB, `without the cap the young generation grew to ${uncapped / MiB} MiB (the case the cap is for)`)
  const capped = run(true)
  assert.ok(capped <= 4 * MiB, `capped at 2 MiB, the young generation is ${capped / MiB} MiB`)
})

test.run()
