/**
 * The initialization state etcd-wrapper polls (docs/serve.md "/initialization"):
 * `New` → `Progress` (on start) → `Successful` | `Failed`; reading a finished status once
 * resets it to `New`, so the wrapper can start again. The wrapper re-triggers only on `New`,
 * so after a failure steward waits (exponential backoff, `--backoff-*`) while still answering
 * `Progress`, and reports `Failed` only when the wait is over: a persistent failure no longer
 * repeats the whole initialization every second.
 */
import type { ValidationMode } from '../../../bootstrap/bootstrap.ts'
import { backoffSeconds, sleep, type Clock } from '../../clock.ts'

export type InitializationStatus = 'New' | 'Progress' | 'Successful' | 'Failed'
export type { ValidationMode } from '../../../bootstrap/bootstrap.ts'

export interface InitializationStateOptions {
  readonly clock: Clock
  readonly backoff: { readonly multiplier: number; readonly thresholdSeconds: number }
  /** Called when an initialization fails (for logs and metrics). */
  readonly onFailure?: (error: unknown, failures: number, waitSeconds: number) => void
}

export class InitializationState {
  readonly #options: InitializationStateOptions
  #status: InitializationStatus = 'New'
  #failures = 0
  #running: Promise<void> | null = null

  constructor(options: InitializationStateOptions) {
    this.#options = options
  }

  /** Consecutive failures so far (0 after a success). */
  get failures(): number {
    return this.#failures
  }

  /** The in-flight initialization, for shutdown and tests. */
  get running(): Promise<void> | null {
    return this.#running
  }

  /** The status without the read-reset (logs, tests). */
  peek(): InitializationStatus {
    return this.#status
  }

  /** The status as `/initialization/status` reports it; a finished status resets to `New`. */
  read(): InitializationStatus {
    const status = this.#status
    if (status === 'Successful' || status === 'Failed') this.#status = 'New'
    return status
  }

  /**
   * Starts `initialize(mode)` in the background when the status is `New`; otherwise does
   * nothing (etcd-backup-restore's `/initialization/start` is a no-op then).
   * @returns whether a run started
   */
  start(mode: ValidationMode, initialize: (mode: ValidationMode, signal: AbortSignal) => Promise<void>, signal: AbortSignal): boolean {
    if (this.#status !== 'New') return false
    this.#status = 'Progress'
    this.#running = (async () => {
      try {
        await initialize(mode, signal)
        this.#failures = 0
        this.#status = 'Successful'
      } catch (error) {
        this.#failures += 1
        const wait = backoffSeconds(this.#failures, this.#options.backoff.multiplier, this.#options.backoff.thresholdSeconds)
        this.#options.onFailure?.(error, this.#failures, wait)
        await sleep(this.#options.clock, wait * 1000, signal).catch(() => undefined)
        this.#status = 'Failed'
      } finally {
        this.#running = null
      }
    })()
    return true
  }
}

/** `mode` query value → mode; anything but `sanity` means `full` (etcd-backup-restore). */
export function parseMode(value: string | undefined): ValidationMode {
  return value === 'sanity' ? 'sanity' : 'full'
}

