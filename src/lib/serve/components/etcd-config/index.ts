/**
 * `/config` (any method, usable before initialization): the etcd configuration etcd-wrapper
 * starts etcd from (see `render.ts`). An invalid ConfigMap is a 500 with an empty body and a
 * logged reason, as etcd-backup-restore.
 */
import { messageOf } from '../../../errors.ts'
import { reportFailure, type ComponentDefinition, type ServeContext } from '../../component.ts'
import { clusterAdminFor } from '../../cluster.ts'
import type { ClusterMember } from '../../etcd-seam.ts'
import { initialClusterEntries, readEtcdConfigMap, renderEtcdConfig } from './render.ts'

const NAME = 'etcd-config'

/**
 * Members through the service endpoints (the cluster; this member's own etcd is not running
 * yet when a learner fetches its config), else through this member's etcd; 2 tries each.
 * `null` when they cannot be listed.
 */
async function listMembers(ctx: ServeContext): Promise<ClusterMember[] | null> {
  const sources: [string, (timeoutMs: number) => Promise<ClusterMember[]>][] = [
    ['the service endpoints', async (t) => (await clusterAdminFor(ctx)).members(t)],
    ['this member', (t) => ctx.etcd.members(t)],
  ]
  for (const [where, list] of sources) {
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        return await list(5000)
      } catch (error) {
        ctx.logger.debug({ component: NAME, err: error }, `listing members through ${where} failed (attempt ${attempt}): ${messageOf(error)}`)
      }
    }
  }
  return null
}

export const etcdConfigComponent: ComponentDefinition = {
  name: NAME,
  enabled: () => true,
  create(ctx) {
    ctx.app.all('/config', async (c) => {
      try {
        const config = await readEtcdConfigMap(ctx.options.etcdConfigPath)
        const members = initialClusterEntries(config).length > 1 ? await listMembers(ctx) : null
        return c.body(renderEtcdConfig(config, ctx.options.podName, members), 200, { 'Content-Type': 'text/plain; charset=utf-8' })
      } catch (error) {
        reportFailure(ctx, NAME, error, `/config failed: ${messageOf(error)}`)
        return c.body(null, 500)
      }
    })
    return { name: NAME, start() {}, stop() {} }
  },
}
