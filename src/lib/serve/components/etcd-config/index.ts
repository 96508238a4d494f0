/**
 * `/config` (any method, usable before initialization): the etcd configuration etcd-wrapper
 * starts etcd from (see `render.ts`). An invalid ConfigMap is a 500 with an empty body and a
 * logged reason, as etcd-backup-restore.
 */
import { messageOf } from '../../../errors.ts'
import { reportFailure, type ComponentDefinition, type ServeContext } from '../../component.ts'
import type { ClusterMember } from '../../etcd-seam.ts'
import { initialClusterEntries, readEtcdConfigMap, renderEtcdConfig } from './render.ts'

const NAME = 'etcd-config'

/** Members through the etcd seam (2 tries), or `null` when they cannot be listed. */
async function listMembers(ctx: ServeContext): Promise<ClusterMember[] | null> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      return await ctx.etcd.members(5000)
    } catch (error) {
      ctx.logger.debug({ component: NAME, err: error }, `listing members failed (attempt ${attempt}): ${messageOf(error)}`)
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
