/**
 * The initializer: `/initialization/start?mode=full|sanity` and `/initialization/status`
 * (any method, plain-text bodies exactly `New`, `Progress`, `Successful`, `Failed`), the
 * handshake etcd-wrapper runs before it starts etcd (docs/serve.md "Initialization"), and the
 * promotion of this member once it runs as a learner (docs/serve.md "Multi-member bootstrap").
 */
import { messageOf } from '../../../errors.ts'
import { reportFailure, type ComponentDefinition } from '../../component.ts'
import { CLUSTER_SERVICE, clusterAdminFor, type ClusterAdmin } from '../../cluster.ts'
import { initializeMember } from './initialize.ts'
import { LearnerPromoter } from './promoter.ts'
import { InitializationState, parseMode } from './state.ts'

const NAME = 'initializer'

export const initializerComponent: ComponentDefinition = {
  name: NAME,
  enabled: () => true,
  create(ctx) {
    const controller = new AbortController()
    const state = new InitializationState({
      clock: ctx.clock,
      backoff: ctx.options.backoff,
      onFailure: (error, failures, wait) => reportFailure(ctx, NAME, error, `initialization failed (${failures} in a row): ${messageOf(error)}; reporting Failed in ${wait}s`),
    })
    ctx.services.provide('initialization', state)
    const promoter = new LearnerPromoter({ cluster: () => clusterAdminFor(ctx), metrics: ctx.metrics, logger: ctx.logger, timeoutMs: 5000 })
    const unsubscribe = ctx.leadership.on((event) => promoter.onProbe(event))
    const text = (body: string) => ({ body, headers: { 'Content-Type': 'text/plain; charset=utf-8' } })
    ctx.app.all('/initialization/start', (c) => {
      const mode = parseMode(c.req.query('mode'))
      const started = state.start(
        mode,
        async (m, signal) => {
          const outcome = await initializeMember(ctx, m, signal)
          ctx.logger.info({ component: NAME, mode: m, action: outcome.action }, `initialization succeeded: ${outcome.detail}`)
        },
        controller.signal,
      )
      if (started) {
        ctx.health.set(false, 'initializing')
        ctx.logger.info({ component: NAME, mode }, `initialization started (mode ${mode})`)
      }
      return c.body(null, 200)
    })
    ctx.app.all('/initialization/status', (c) => {
      const { body, headers } = text(state.read())
      return c.body(body, 200, headers)
    })
    return {
      name: NAME,
      start() {},
      async stop() {
        unsubscribe()
        controller.abort()
        await state.running
        await promoter.running
        const cluster = ctx.services.get<Promise<ClusterAdmin>>(CLUSTER_SERVICE)
        ctx.services.provide(CLUSTER_SERVICE, undefined)
        await cluster?.then((c) => c.close()).catch(() => undefined)
      },
    }
  },
}
