/**
 * SIGTERM/SIGINT → one AbortSignal for `steward serve`'s runtime (graceful shutdown, docs/serve.md).
 * Never exits the process: a second signal is only logged; the runtime's bounded shutdown
 * (grace period, then abort) ends the run.
 */
import type { Logger } from 'pino'

export function shutdownOnSignals(logger: Logger): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController()
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.warn({ component: 'runtime', signal: name }, `${name} again: already stopping`)
      return
    }
    logger.info({ component: 'runtime', signal: name }, `${name}: stopping gracefully`)
    controller.abort()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    },
  }
}
