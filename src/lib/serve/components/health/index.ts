/**
 * `/healthz` (any method): `{"health":true}` with 200 once this member's steward leads and its
 * etcd `Status` probe succeeded; `{"health":false}` with 503 before that, on followers, after a
 * failed probe, and while an initialization runs (etcd-backup-restore's behaviour; followers
 * forward snapshot requests only to a leader whose `/healthz` is true).
 */
import type { ComponentDefinition } from '../../component.ts'

const NAME = 'health'

export const healthComponent: ComponentDefinition = {
  name: NAME,
  enabled: () => true,
  create(ctx) {
    const unsubscribe = ctx.leadership.on((event) => {
      if (event.type !== 'probe') return
      if (event.role === 'Leader') ctx.health.set(true, 'leader; etcd answers Status')
      else ctx.health.set(false, event.role === 'Follower' ? 'follower' : `etcd probe failed: ${event.error?.reason ?? 'unknown'}`)
    })
    ctx.app.all('/healthz', (c) => c.body(JSON.stringify({ health: ctx.health.healthy }), ctx.health.healthy ? 200 : 503, { 'Content-Type': 'application/json' }))
    return {
      name: NAME,
      start() {},
      stop() {
        unsubscribe()
        ctx.health.set(false, 'stopping')
      },
      health: () => ({ ok: ctx.health.healthy, detail: ctx.health.reason }),
    }
  },
}
