/**
 * SIGTERM/SIGINT → one AbortSignal for `steward serve`'s runtime (graceful shutdown, docs/serve.md).
 * Never exits the process: a second signal is only logged; the runtime's bounded shutdown
 * (grace period, then abort) ends the run.
 */
import type { Logger } from 'pino'
import { abortOnSignals } from '../cli/signals.ts'

export function shutdownOnSignals(logger: Logger): { signal: AbortSignal; dispose(): void } {
  return abortOnSignals({
    onSignal(name, repeated) {
      if (repeated) logger.warn({ component: 'runtime', signal: name }, `${name} again: already stopping`)
      else logger.info({ component: 'runtime', signal: name }, `${name}: stopping gracefully`)
    },
  })
}
