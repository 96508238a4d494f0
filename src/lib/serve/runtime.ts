/**
 * The runtime of `steward serve`: builds the shared resources once (etcd client, backup store,
 * logger, one prom-client registry, one Hono app, scheduler, leadership observer), creates the
 * enabled components, serves HTTP, starts the components in order and, when the signal aborts,
 * stops them in reverse order (docs/serve.md "Runtime"). No signal handling or process exit
 * here: the command turns signals into the AbortSignal.
 */
import { Hono } from 'hono'
import type { Logger } from 'pino'
import { EtcdClient } from '../etcd/client.ts'
import { messageOf } from '../errors.ts'
import { logger as rootLogger } from '../log.ts'
import { BackupStore } from '../snapshot/backup-store.ts'
import { openSnapstore } from '../snapstore/registry.ts'
import { systemClock, type Clock } from './clock.ts'
import { HealthState, Services, type Component, type ComponentDefinition, type ServeContext } from './component.ts'
import { COMPONENTS } from './components/index.ts'
import { serveEtcdFrom, type ServeEtcd } from './etcd-seam.ts'
import { listen, type ListeningServer } from './http/server.ts'
import { LeadershipObserver } from './leadership.ts'
import { createMetrics } from './metrics.ts'
import type { ServeOptions } from './options.ts'
import { Scheduler } from './scheduler.ts'

export interface RuntimeDeps {
  /** Replaces the etcd seam built from `options.etcd` (tests). */
  readonly etcd?: ServeEtcd
  readonly etcdClient?: EtcdClient | null
  readonly store?: BackupStore | null
  readonly clock?: Clock
  readonly logger?: Logger
  /** Component definitions [the registry in `components/index.ts`]. */
  readonly components?: readonly ComponentDefinition[]
}

export class Runtime {
  readonly ctx: ServeContext
  readonly components: readonly Component[]
  #server: ListeningServer | null = null
  readonly #ownsEtcd: EtcdClient | null
  readonly #ownsStore: BackupStore | null

  private constructor(ctx: ServeContext, components: Component[], ownsEtcd: EtcdClient | null, ownsStore: BackupStore | null) {
    this.ctx = ctx
    this.components = components
    this.#ownsEtcd = ownsEtcd
    this.#ownsStore = ownsStore
  }

  /**
   * Builds the shared resources and the enabled components (their routes are registered on
   * the app, nothing is started and nothing contacts etcd or the store yet).
   * @throws StewardError `CONFIG_INVALID`, `ETCD_TLS` (unreadable TLS files), `STORE_*` (store driver setup)
   */
  static async create(options: ServeOptions, deps: RuntimeDeps = {}): Promise<Runtime> {
    const log = deps.logger ?? rootLogger()
    const clock = deps.clock ?? systemClock
    const ownsEtcd = deps.etcdClient === undefined && !deps.etcd ? await EtcdClient.create(options.etcd) : null
    const etcdClient = deps.etcdClient ?? ownsEtcd
    let ownsStore: BackupStore | null = null
    try {
      if (deps.store === undefined && options.store) ownsStore = new BackupStore(await openSnapstore(options.store), options.store.prefix)
    } catch (error) {
      ownsEtcd?.close()
      throw error
    }
    const metrics = createMetrics()
    const etcd = deps.etcd ?? serveEtcdFrom(etcdClient!)
    const ctx: ServeContext = {
      options,
      etcd,
      etcdClient,
      store: deps.store ?? ownsStore,
      logger: log,
      metrics,
      app: new Hono(),
      scheduler: new Scheduler({ clock, registry: metrics.registry, logger: log }),
      leadership: new LeadershipObserver(etcd, { periodSeconds: options.reelectionPeriodSeconds, timeoutSeconds: options.leaderElectionTimeoutSeconds, clock, logger: log }),
      health: new HealthState(),
      clock,
      services: new Services(),
    }
    if (options.serverCertFile && options.serverKeyFile) {
      // As etcdbrctl with TLS on: HSTS and CSP on the API routes.
      ctx.app.use(async (c, next) => {
        await next()
        if (/^\/(healthz|initialization\/|snapshot\/)/.test(c.req.path)) {
          c.res.headers.set('Strict-Transport-Security', 'max-age=31536000')
          c.res.headers.set('Content-Security-Policy', "default-src 'self'")
        }
      })
    }
    const components = (deps.components ?? COMPONENTS).filter((d) => d.enabled(options)).map((d) => d.create(ctx))
    return new Runtime(ctx, components, ownsEtcd, ownsStore)
  }

  /** The bound HTTP port once {@link run} listens. */
  get port(): number | null {
    return this.#server?.port ?? null
  }

  /**
   * Serves HTTP, starts the components, probes leadership and arms the schedules; returns
   * after `signal` aborted and everything stopped (schedules, components in reverse order,
   * then the HTTP server and the clients). `onListening` fires once the server accepts requests.
   * @throws StewardError `CONFIG_INVALID` when the server cannot listen (nothing else is started then)
   */
  async run(signal: AbortSignal, onListening?: (port: number) => void): Promise<void> {
    const { ctx } = this
    const started: Component[] = []
    try {
      this.#server = await listen(ctx.app, { host: ctx.options.serverHost, port: ctx.options.serverPort, certFile: ctx.options.serverCertFile, keyFile: ctx.options.serverKeyFile })
      ctx.logger.info({ component: 'runtime', port: this.#server.port, tls: this.#server.tls, components: this.components.map((c) => c.name) }, `steward serve listening on ${ctx.options.serverHost}:${this.#server.port}`)
      onListening?.(this.#server.port)
      for (const component of this.components) {
        if (signal.aborted) break
        await component.start(signal)
        started.push(component)
      }
      if (!signal.aborted) {
        ctx.leadership.start()
        ctx.scheduler.start()
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
      }
    } finally {
      await this.#shutdown(started)
    }
  }

  async #shutdown(started: Component[]): Promise<void> {
    const { ctx } = this
    ctx.logger.info({ component: 'runtime' }, 'stopping: schedules, then components in reverse order, then the HTTP server')
    await ctx.scheduler.stop(ctx.options.shutdownGraceSeconds * 1000)
    for (const component of [...started].reverse()) {
      try {
        await component.stop()
      } catch (error) {
        ctx.logger.error({ component: component.name, err: error }, `stopping ${component.name} failed: ${messageOf(error)}`)
      }
    }
    ctx.leadership.stop()
    await this.#server?.close()
    this.#server = null
    this.#ownsEtcd?.close()
    await this.#ownsStore?.snapstore.dispose?.()
    ctx.logger.info({ component: 'runtime' }, 'stopped')
  }
}
