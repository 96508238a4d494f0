import { Writable } from 'node:stream'
import { pino } from 'pino'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createProgress, LOG_EVERY_MS } from '../../../src/lib/cli/progress.ts'

const test = suite('progress')

const MiB = 1048576
const ESC = String.fromCharCode(27)

/** A stream that keeps what is written; `isTTY` and `columns` as a terminal (or a pipe) has them. */
class CaptureStream extends Writable {
  readonly chunks: string[] = []
  readonly isTTY: boolean
  readonly columns: number | undefined
  constructor(isTTY: boolean, columns?: number) {
    super()
    this.isTTY = isTTY
    this.columns = columns
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(chunk.toString())
    done()
  }
  get text(): string {
    return this.chunks.join('')
  }
}

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance(ms: number): void } {
  let time = 1_000_000
  return { now: () => time, advance: (ms) => (time += ms) }
}

/** Text as a terminal would show it, escape sequences removed. */
function visible(text: string): string {
  return text.replace(new RegExp(`${ESC}(\\[[0-9;?]*[A-Za-z]|[78])`, 'g'), '')
}

const noLog = {
  info(): void {
    throw new Error('the terminal mode must not log progress')
  },
}

test('terminal: a bar on the stream, with bytes done, total, percentage and speed', () => {
  const tty = new CaptureStream(true, 120)
  const clock = manualClock()
  const progress = createProgress('snapshot', { json: false, stream: tty, now: clock.now, log: noLog as never })
  try {
    progress.update(1 * MiB, 4 * MiB)
    const first = visible(tty.text)
    assert.match(first, 'snapshot [')
    assert.match(first, '25%')
    assert.match(first, '1.0 MiB of 4.0 MiB')
    assert.ok(tty.text.includes(`${ESC}[?25l`), 'the cursor is hidden while the bar runs')
    clock.advance(1000)
    progress.update(3 * MiB, 4 * MiB)
  } finally {
    progress.stop() // also stops the bar's redraw timer, so a failure cannot hang the run
  }
  const all = visible(tty.text)
  assert.match(all, '75%')
  assert.match(all, '3.0 MiB of 4.0 MiB')
  assert.match(all, '3.0 MiB/s')
  assert.ok(tty.text.endsWith(`${ESC}[2K`), 'the bar is cleared on stop')
  assert.ok(tty.text.includes(`${ESC}[?25h`), 'the cursor is shown again')
  assert.not.ok(tty.text.includes('\n'), 'the bar redraws one line')
})

test('terminal: without a total, a running count of bytes, never a bar at 100% (from 0 MiB on)', () => {
  const tty = new CaptureStream(true, 120)
  const clock = manualClock()
  const progress = createProgress('snapshot', { json: false, stream: tty, now: clock.now, log: noLog as never })
  try {
    progress.update(0)
    clock.advance(1000)
    progress.update(2 * MiB)
  } finally {
    progress.stop()
  }
  const all = visible(tty.text)
  assert.match(all, 'snapshot: 0.0 MiB |')
  assert.match(all, 'snapshot: 2.0 MiB | 2.0 MiB/s')
  assert.not.match(all, '%')
  assert.not.match(all, ' of ')
})

test('terminal: a known total starting at 0 MiB shows 0%, not 100%', () => {
  const tty = new CaptureStream(true, 120)
  const progress = createProgress('restore', { json: false, stream: tty, now: manualClock().now, log: noLog as never })
  try {
    progress.update(0, 8 * MiB)
  } finally {
    progress.stop()
  }
  const all = visible(tty.text)
  assert.match(all, '0%')
  assert.not.match(all, '100%')
})

test('terminal: stop before any update writes nothing', () => {
  const tty = new CaptureStream(true, 120)
  createProgress('snapshot', { json: false, stream: tty, log: noLog as never }).stop()
  assert.is(tty.text, '')
})

test(`no terminal: JSON log lines, at most one per ${LOG_EVERY_MS / 1000} s, no escape codes`, () => {
  const pipe = new CaptureStream(false)
  const clock = manualClock()
  const log = pino({ base: null, timestamp: false }, pipe)
  const progress = createProgress('snapshot', { json: false, stream: pipe, now: clock.now, log })
  progress.update(1 * MiB, 4 * MiB)
  clock.advance(LOG_EVERY_MS - 1)
  progress.update(2 * MiB, 4 * MiB) // too soon: dropped
  clock.advance(1)
  progress.update(3 * MiB, 4 * MiB)
  clock.advance(LOG_EVERY_MS)
  progress.update(5 * MiB)
  progress.stop()
  assert.not.ok(pipe.text.includes(ESC), 'no ANSI escape codes')
  const lines = pipe.text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
  assert.equal(
    lines.map((l) => [l['msg'], l['bytes'], l['totalBytes'], l['label'], l['level']]),
    [
      ['snapshot: 1.0 MiB of 4.0 MiB', 1 * MiB, 4 * MiB, 'snapshot', 30],
      ['snapshot: 3.0 MiB of 4.0 MiB', 3 * MiB, 4 * MiB, 'snapshot', 30],
      ['snapshot: 5.0 MiB', 5 * MiB, undefined, 'snapshot', 30],
    ],
  )
})

test('--json on a terminal: no bar; progress goes to the log only', () => {
  const tty = new CaptureStream(true, 120)
  const messages: string[] = []
  const log = { info: (_fields: object, message: string) => void messages.push(message) }
  const progress = createProgress('snapshot', { json: true, stream: tty, now: manualClock().now, log: log as never })
  progress.update(1 * MiB, 2 * MiB)
  progress.stop()
  assert.is(tty.text, '')
  assert.equal(messages, ['snapshot: 1.0 MiB of 2.0 MiB'])
})

test.run()
