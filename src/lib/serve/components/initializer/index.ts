/**
 * The initializer: `/initialization/start?mode=full|sanity` and `/initialization/status`
 * (any method, plain-text bodies exactly `New`, `Progress`, `Successful`, `Failed`), the
 * handshake etcd-wrapper runs before it starts etcd (docs/serve.md "Initialization"), and the
 * promotion of this member once it runs as a learner (docs/serve.md "Multi-member bootstrap").
 */
import { messageOf } from '../../../errors.ts'
import { reportFailure, type ComponentDefinition } from '../../component.ts'
import { CLUSTER_SERVICE, clusterAdminFor, type ClusterAdmin } from '../../cluster.ts'
import { memberName, readEtcdConfigMap } from '../etcd-config/render.ts'
import { initializeMember } from './initialize.ts'
import { LearnerPromoter } from './promoter.ts'
import { writeSafeGuard } from '../../../bootstrap/safe-guard.ts'
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
    const promoter = new LearnerPromoter({ cluster: () => clusterAdminFor(ctx), metrics: ctx.metrics, logger: ctx.logger, timeoutMs: ctx.options.membershipTimings.callTimeoutMs })
    // Once etcd runs after an initialization of this process, its member and cluster IDs go into
    // the volume's safe-guard marker (written at most once per change).
    let initialized = false
    let guardedIds = ''
    let guarding: Promise<void> = Promise.resolve()
    const unsubscribe = ctx.leadership.on((event) => {
      promoter.onProbe(event)
      if (event.type !== 'probe' || !event.status || !ctx.options.podName || !initialized) return
      const ids = `${event.status.memberId}:${event.status.clusterId}`
      if (ids === guardedIds) return
      guardedIds = ids
      const { memberId, clusterId } = event.status
      guarding = readEtcdConfigMap(ctx.options.etcdConfigPath)
        .then((config) => writeSafeGuard(ctx.options.dataDir, { namespace: ctx.options.podNamespace ?? '', member: memberName(config, ctx.options.podName), memberId, clusterId }))
        .catch((error: unknown) => {
          guardedIds = ''
          ctx.logger.warn({ component: NAME, err: error }, `recording the member ID in the safe-guard marker failed: ${messageOf(error)}`)
        })
    })
    const text = (body: string) => ({ body, headers: { 'Content-Type': 'text/plain; charset=utf-8' } })
    ctx.app.all('/initialization/start', (c) => {
      const mode = parseMode(c.req.query('mode'))
      const started = state.start(
        mode,
        async (m, signal) => {
          const outcome = await initializeMember(ctx, m, signal)
          initialized = true
          guardedIds = ''
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
        await guarding
        const cluster = ctx.services.get<Promise<ClusterAdmin>>(CLUSTER_SERVICE)
        ctx.services.provide(CLUSTER_SERVICE, undefined)
        await cluster?.then((c) => c.close()).catch(() => undefined)
      },
    }
  },
}
