/**
 * An AbortSignal that fires on the first SIGTERM or SIGINT, for long-running commands: the work
 * stops, cleans up (temporary etcd, work dirs) and the command exits with `ABORTED` (130). A
 * second signal exits at once. The listeners stay registered until `dispose()`, so other
 * handlers (the temporary etcd's guard) see that someone handles the signal.
 */
export function abortOnSignals(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const stop = () => {
    if (controller.signal.aborted) process.exit(130)
    controller.abort()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
    },
  }
}
