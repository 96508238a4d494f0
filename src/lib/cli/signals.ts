/**
 * SIGTERM/SIGINT → one AbortSignal, for the command layer only (operations take the signal and
 * never handle process signals themselves). The first signal aborts: the work stops, cleans up
 * (temporary etcd, work dirs, pending uploads) and the command exits with `ABORTED` (130), or
 * `steward serve` shuts down gracefully. What a repeated signal does is the caller's choice:
 * one-shot commands exit at once (the default), serve only logs it and lets its bounded
 * shutdown finish. The listeners stay registered until `dispose()`, so other handlers (the
 * temporary etcd's guard) see that someone handles the signal.
 */
export interface SignalHandling {
  /** Called on every signal; `repeated` is true once the signal has already aborted. */
  onSignal?(name: NodeJS.Signals, repeated: boolean): void
}

/** Exits at once on a repeated signal (one-shot commands: the user insists). */
const exitOnRepeat: Required<SignalHandling>['onSignal'] = (_name, repeated) => {
  if (repeated) process.exit(130)
}

export function abortOnSignals(handling: SignalHandling = {}): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const onSignal = handling.onSignal ?? exitOnRepeat
  const stop = (name: NodeJS.Signals) => {
    onSignal(name, controller.signal.aborted)
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
