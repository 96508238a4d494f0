/** An AbortSignal that fires on SIGTERM or SIGINT, for long-running commands. */
export function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const stop = () => controller.abort()
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
    },
  }
}
