/** A hand-driven {@link Clock}: timers fire only when a test calls `advance`. */
import type { Clock } from '../../../src/lib/serve/clock.ts'

export class FakeClock implements Clock {
  #now: number
  #next = 1
  readonly #timers = new Map<number, { at: number; fn: () => void }>()

  constructor(start = Date.UTC(2026, 0, 1, 0, 0, 0)) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = this.#next++
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn })
    return id
  }

  clearTimer(handle: unknown): void {
    this.#timers.delete(handle as number)
  }

  /** Pending timers' due times (epoch ms), soonest first. */
  get pending(): number[] {
    return [...this.#timers.values()].map((t) => t.at).sort((a, b) => a - b)
  }

  /** Moves time forward by `ms`, firing due timers in order (and letting promise callbacks run between them). */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0]
      if (!due) break
      this.#timers.delete(due[0])
      this.#now = Math.max(this.#now, due[1].at)
      due[1].fn()
      await flush()
    }
    this.#now = end
    await flush()
  }
}

/** Lets queued promise callbacks run (no timers involved). */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve()
}
