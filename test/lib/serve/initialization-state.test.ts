import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InitializationState, parseMode } from '../../../src/lib/serve/components/initializer/state.ts'
import { FakeClock, flush } from './fake-clock.ts'

const test = suite('serve initialization state (wrapper handshake)')

test('New → Progress → Successful; reading a finished status resets it to New', async () => {
  const state = new InitializationState({ clock: new FakeClock(), backoff: { multiplier: 2, thresholdSeconds: 128 } })
  assert.is(state.read(), 'New')
  let finish: (() => void) | undefined
  const modes: string[] = []
  assert.ok(state.start('sanity', (mode) => { modes.push(mode); return new Promise<void>((r) => (finish = r)) }, new AbortController().signal))
  assert.is(state.read(), 'Progress')
  assert.not.ok(state.start('full', async () => {}, new AbortController().signal), 'start is a no-op unless New')
  finish!()
  await flush()
  assert.is(state.read(), 'Successful')
  assert.is(state.read(), 'New')
  assert.equal(modes, ['sanity'])
})

test('a failure keeps answering Progress during the backoff, then Failed once, then New', async () => {
  const clock = new FakeClock()
  const failures: number[] = []
  const state = new InitializationState({ clock, backoff: { multiplier: 2, thresholdSeconds: 128 }, onFailure: (_, n, wait) => failures.push(n, wait) })
  state.start('full', async () => { throw new Error('store unreachable') }, new AbortController().signal)
  await flush()
  assert.is(state.read(), 'Progress')
  await clock.advance(1999)
  assert.is(state.read(), 'Progress')
  await clock.advance(1)
  assert.is(state.read(), 'Failed')
  assert.is(state.read(), 'New')
  state.start('full', async () => { throw new Error('still down') }, new AbortController().signal)
  await flush()
  await clock.advance(3999)
  assert.is(state.read(), 'Progress')
  await clock.advance(1)
  assert.is(state.read(), 'Failed')
  assert.equal(failures, [1, 2, 2, 4])
})

test('mode: sanity, anything else full', () => {
  assert.is(parseMode('sanity'), 'sanity')
  assert.is(parseMode('full'), 'full')
  assert.is(parseMode(undefined), 'full')
  assert.is(parseMode('bogus'), 'full')
})

test.run()
