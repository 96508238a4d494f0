/** Waiting for a condition in tests: polled with a deadline, never a fixed sleep. */

/**
 * Polls `fn` every `intervalMs` until it returns something other than `undefined` or `false`,
 * and returns that. A throw counts as "not yet" (a server still starting, a file half-written).
 * @param what what is awaited, for the timeout error; a function is called only then (to
 *   describe the state at the deadline: logs, metrics)
 * @param timeoutMs deadline in milliseconds
 * @param intervalMs pause between polls in milliseconds (unit tests over fakes poll faster)
 * @throws Error naming `what` when `timeoutMs` passes first
 */
export async function until<T>(what: string | (() => string), fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await Promise.resolve().then(fn).catch(() => undefined)
    if (value !== undefined && value !== false) return value as T
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}
