/** Waiting for a condition in integration tests: polled with a deadline, never a fixed sleep. */

/**
 * Polls `fn` every 200 ms until it returns something other than `undefined` or `false`, and
 * returns that. A throw counts as "not yet" (a server still starting, a file half-written).
 * @throws Error naming `what` when `timeoutMs` passes first
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await fn().catch(() => undefined)
    if (value !== undefined && value !== false) return value as T
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}
