/**
 * The component seam of `steward serve`. A component is one concern of the sidecar
 * (initializer, snapshotter, health, …): it registers its HTTP routes, metrics, schedules and
 * leadership listeners on the shared {@link ServeContext} when created, starts, and stops.
 * The runtime starts components in registry order and stops them in reverse
 * (`components/index.ts`: adding a component is one folder and one line there).
 */
import type { Hono } from 'hono'
import type { Logger } from 'pino'
import type { EtcdClient } from '../etcd/client.ts'
import type { BackupStore } from '../snapshot/backup-store.ts'
import type { Clock } from './clock.ts'
import type { ServeEtcd } from './etcd-seam.ts'
import type { LeadershipObserver } from './leadership.ts'
import type { EtcdbrMetrics } from './metrics.ts'
import type { ServeOptions } from './options.ts'
import type { Scheduler } from './scheduler.ts'

/** `/healthz` state: 503 until the leader's etcd probe succeeds (docs/serve.md). */
export class HealthState {
  #healthy = false
  #reason = 'starting'

  get healthy(): boolean {
    return this.#healthy
  }

  get reason(): string {
    return this.#reason
  }

  set(healthy: boolean, reason: string): void {
    this.#healthy = healthy
    this.#reason = reason
  }
}

/** Services components offer each other (looked up by name, e.g. the snapshotter's `snapshots`). */
export class Services {
  readonly #entries = new Map<string, unknown>()

  provide<T>(name: string, service: T): void {
    this.#entries.set(name, service)
  }

  get<T>(name: string): T | undefined {
    return this.#entries.get(name) as T | undefined
  }
}

/** What every component gets: the resources the runtime builds once. */
export interface ServeContext {
  readonly options: ServeOptions
  /** Structural etcd seam (status, member list) for probes. */
  readonly etcd: ServeEtcd
  /** The full client operations (snapshots) run against; `null` in route-only unit tests. */
  readonly etcdClient: EtcdClient | null
  /** `null` when no store is configured. */
  readonly store: BackupStore | null
  readonly logger: Logger
  readonly metrics: EtcdbrMetrics
  readonly app: Hono
  readonly scheduler: Scheduler
  readonly leadership: LeadershipObserver
  readonly health: HealthState
  readonly clock: Clock
  readonly services: Services
}

export interface ComponentHealth {
  readonly ok: boolean
  readonly detail: string
}

export interface Component {
  readonly name: string
  /** Begins the component's work; `signal` aborts at shutdown. Should return promptly (long work runs in the background). */
  start(signal: AbortSignal): Promise<void> | void
  /** Ends the work; in-flight operations finish within the shutdown grace period or are aborted cleanly. */
  stop(): Promise<void> | void
  health?(): ComponentHealth
}

export interface ComponentDefinition {
  readonly name: string
  /** Whether the flags enable it. */
  enabled(options: ServeOptions): boolean
  /** Builds it and registers its routes, metrics, jobs and listeners on `ctx`. */
  create(ctx: ServeContext): Component
}

/** Logs a component failure with its name and counts it in `steward_component_failures_total`. */
export function reportFailure(ctx: ServeContext, component: string, error: unknown, message: string): void {
  ctx.metrics.componentFailures.inc({ component })
  ctx.logger.error({ component, err: error }, message)
}
