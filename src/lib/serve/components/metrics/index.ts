/**
 * `/metrics` (any method): the runtime's prom-client registry in Prometheus text format —
 * `etcdbr_*` metrics (docs/serve.md "Metrics"), `steward_*` job and failure counters, and the
 * default `process_*` / `nodejs_*` metrics. Served by every member, leader or not. Also keeps
 * `etcdbr_cluster_size` (entries of `initial-cluster`) and `etcdbr_is_learner` current.
 */
import type { ComponentDefinition } from '../../component.ts'
import { initialClusterEntries, readEtcdConfigMap } from '../etcd-config/render.ts'

const NAME = 'metrics'

export const metricsComponent: ComponentDefinition = {
  name: NAME,
  enabled: () => true,
  create(ctx) {
    const { registry } = ctx.metrics
    const unsubscribe = ctx.leadership.on((event) => {
      if (event.type !== 'probe') return
      if (event.status) ctx.metrics.isLearner.set(event.status.isLearner ? 1 : 0)
      // etcd not answering is expected before the wrapper starts it: counted, logged at debug.
      if (event.error) {
        ctx.metrics.componentFailures.inc({ component: 'leadership' })
        ctx.logger.debug({ component: 'leadership', err: event.error }, `etcd Status probe failed: ${event.error.reason}`)
      }
    })
    ctx.app.all('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType }))
    return {
      name: NAME,
      async start() {
        try {
          ctx.metrics.clusterSize.set(initialClusterEntries(await readEtcdConfigMap(ctx.options.etcdConfigPath)).length)
        } catch {
          // No ConfigMap (steward serve outside druid): the size stays 0; /config reports the file's problem.
        }
      },
      stop: () => void unsubscribe(),
    }
  },
}
