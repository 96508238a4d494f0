/**
 * The member-lease component (`--enable-member-lease-renewal`): every `--k8s-heartbeat-duration`
 * asks etcd for its Status on the first `--endpoints` entry and, only when it answers, renews
 * this member's lease (named like the member: `<member-name-prefix>-<POD_NAME>` or `POD_NAME`)
 * with `<memberID hex>:<clusterID hex>:Leader|Member`, renewTime and the `tls-enabled`
 * annotation computed once from the ConfigMap's peer URLs (docs/kubernetes.md "Member lease").
 * Each attempt (Status plus the two API calls) is bounded by a short timeout — the heartbeat,
 * at most 10 s — not the 5-minute etcd connection timeout druid passes.
 */
import { messageOf } from '../../../errors.ts'
import { memberHolderIdentity, renewMemberLease } from '../../../k8s/member-lease.ts'
import { reportFailure, type ComponentDefinition, type ServeContext } from '../../component.ts'
import { leaseApiFor } from '../../k8s.ts'
import { memberIdentityReader } from '../etcd-config/identity.ts'

const NAME = 'member-lease'
/** Upper bound of one renewal attempt, milliseconds. */
const MAX_ATTEMPT_MS = 10_000

export const memberLeaseComponent: ComponentDefinition = {
  name: NAME,
  enabled: (options) => options.memberLease !== null,
  create(ctx: ServeContext) {
    const { heartbeatSeconds } = ctx.options.memberLease!
    const attemptMs = Math.min(heartbeatSeconds * 1000, MAX_ATTEMPT_MS)
    let lastRenewal: { at: number; holderIdentity: string } | null = null
    let etcdDown = false

    const memberIdentity = memberIdentityReader(ctx)

    ctx.scheduler.add({
      name: 'member-lease',
      trigger: { everySeconds: heartbeatSeconds },
      run: async () => {
        const endpoint = ctx.etcd.endpoints[0]
        if (!endpoint) return
        let status
        try {
          status = await ctx.etcd.status(endpoint, attemptMs)
          if (etcdDown) ctx.logger.info({ component: NAME, endpoint }, 'etcd answers again: member lease renewals resume')
          etcdDown = false
        } catch (error) {
          if (!etcdDown) ctx.logger.warn({ component: NAME, endpoint, err: error }, `etcd does not answer Status (${messageOf(error)}): the member lease is not renewed until it does`)
          etcdDown = true
          return
        }
        try {
          const { name, tlsEnabled } = await memberIdentity()
          const holderIdentity = memberHolderIdentity(status.memberId, status.clusterId, status.memberId === status.leaderId && status.leaderId !== '0')
          const api = await leaseApiFor(ctx)
          await renewMemberLease(api, name, { holderIdentity, tlsEnabled, now: new Date(ctx.clock.now()) }, attemptMs)
          lastRenewal = { at: ctx.clock.now(), holderIdentity }
          ctx.logger.debug({ component: NAME, lease: name, holderIdentity }, `member lease ${name} renewed as ${holderIdentity}`)
        } catch (error) {
          reportFailure(ctx, NAME, error, `renewing the member lease failed: ${messageOf(error)}`)
        }
      },
    })

    return {
      name: NAME,
      start() {},
      stop() {},
      health: () => ({ ok: lastRenewal !== null, detail: lastRenewal ? `renewed as ${lastRenewal.holderIdentity}` : etcdDown ? 'etcd does not answer Status' : 'not renewed yet' }),
    }
  },
}
