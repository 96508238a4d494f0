/**
 * The time seam of the runtime: every timer the scheduler, the leadership observer and the
 * initializer's backoff arm goes through a {@link Clock}, so unit tests drive time by hand
 * (`test/lib/serve/fake-clock.ts`) instead of sleeping.
 */

/** Wall clock and one-shot timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Calls `fn` once after `ms` milliseconds (≥ 0); returns a handle for {@link Clock.clearTimer}. */
  setTimer(fn: () => void, ms: number): unknown
  clearTimer(handle: unknown): void
}

/** The real clock (timers are `unref`'d: only the HTTP server keeps `steward serve` alive). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, Math.max(0, ms)).unref(),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/**
 * Resolves after `ms` on `clock`, or rejects with the signal's reason when `signal` aborts first.
 * Used for backoff waits inside components (never as test synchronisation).
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const onAbort = () => {
      clock.clearTimer(handle)
      reject(signal?.reason)
    }
    const handle = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * etcd-backup-restore's exponential backoff (`--backoff-multiplier`, `--backoff-threshold-time`):
 * the n-th consecutive failure (n ≥ 1) waits multiplier^n seconds, capped at the threshold
 * (2, 4, …, 64, then 128 s with the defaults).
 * @returns seconds to wait
 */
export function backoffSeconds(failures: number, multiplier: number, thresholdSeconds: number): number {
  const raw = multiplier ** Math.max(1, failures)
  return Number.isFinite(raw) ? Math.min(raw, thresholdSeconds) : thresholdSeconds
}
