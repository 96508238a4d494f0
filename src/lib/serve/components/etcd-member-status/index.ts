/**
 * The EtcdMember status component (`--enable-etcd-member-status`, off by default): keeps this
 * member's `druid.gardener.cloud/v1alpha1` EtcdMember (namespace `POD_NAMESPACE`, named like the
 * member and its lease) current, as etcd-druid's DEP-04 proposal describes (docs/kubernetes.md
 * "EtcdMember"). Every `--k8s-heartbeat-duration`, and at once when the leadership observer first
 * reaches etcd or sees this member's role change, it asks etcd for its Status on the first `--endpoints` entry and,
 * only when etcd answers, merge-patches the `status` subresource with the IDs, `peerTLSEnabled`,
 * the DB sizes and — when the (state, subState) changed — one more transition.
 *
 * 404 (no CRD, or druid created no EtcdMember) and 403 (the Role has no `patch` on
 * `etcdmembers/status`) turn the component off for the life of the process with ONE warning
 * naming resource, verb and the fix; the leases are unaffected. Any other failure is counted in
 * `steward_etcd_member_status_updates_total{outcome="failed"}` and retried on the next heartbeat
 * (a warning when failures start, an info line when they end). Each update (Status plus at most
 * two patches) shares one 10 s budget.
 */
import { Counter, Gauge } from 'prom-client'
import { isStewardError, messageOf } from '../../../errors.ts'
import { memberState, memberStatusFields, nextTransitions, type EtcdMemberApi, type MemberSubState, type MemberTransition } from '../../../k8s/etcd-member.ts'
import type { ComponentDefinition, ServeContext } from '../../component.ts'
import { etcdMemberApiFor } from '../../k8s.ts'
import { memberIdentityReader } from '../etcd-config/identity.ts'

const NAME = 'etcd-member-status'
/**
 * Upper bound of one update (Status and the patches), milliseconds. Not tied to the heartbeat:
 * a heartbeat trigger during a slow update is skipped by the scheduler, never stacked.
 */
const BUDGET_MS = 10_000

/** The one warning that turns the component off: what happened and what to do. */
function offMessage(status: 403 | 404, failure: string): string {
  if (status === 404) {
    return (
      `EtcdMember status updates are off: ${failure}. The EtcdMember CRD is not installed or druid has not created this member's EtcdMember: ` +
      'install the CRD and have druid create EtcdMembers (etcd-druid HEAD does neither yet), or drop --enable-etcd-member-status; restart the sidecar to try again. Leases are not affected.'
    )
  }
  return (
    `EtcdMember status updates are off: ${failure}. The sidecar's Role grants no patch on etcdmembers/status: ` +
    'add the rule {apiGroups: [druid.gardener.cloud], resources: [etcdmembers/status], verbs: [patch]} to the Role (docs/kubernetes.md "EtcdMember"), or drop --enable-etcd-member-status; restart the sidecar to try again. Leases are not affected.'
  )
}

export const etcdMemberStatusComponent: ComponentDefinition = {
  name: NAME,
  enabled: (options) => options.etcdMemberStatus !== null,
  create(ctx: ServeContext) {
    const { heartbeatSeconds } = ctx.options.etcdMemberStatus!
    const updates = new Counter({
      name: 'steward_etcd_member_status_updates_total',
      help: 'EtcdMember status updates by outcome (failed ones are retried on the next heartbeat; 404 and 403 turn the updates off instead).',
      labelNames: ['outcome'],
      registers: [ctx.metrics.registry],
    })
    for (const outcome of ['succeeded', 'failed'] as const) updates.inc({ outcome }, 0)
    const enabledGauge = new Gauge({ name: 'steward_etcd_member_status_enabled', help: '1 while EtcdMember status updates run; 0 once a 404 or 403 turned them off.', registers: [ctx.metrics.registry] })
    enabledGauge.set(1)

    /** The transitions the object holds (from the last patch answer); `null` until the first patch. */
    let recorded: MemberTransition[] | null = null
    let lastUpdate: { at: number; subState: MemberSubState } | null = null
    let off: string | null = null
    let stopped = false
    let etcdDown = false
    let failing = false
    let again = false
    /** Whether etcd answered Status once (the first update runs on the first probe, not a heartbeat later). */
    let observed = false
    /** The sub-state etcd last showed (probe or update): a change triggers ONE update; failed ones wait for the heartbeat. */
    let seenSubState: MemberSubState | null = null

    const memberIdentity = memberIdentityReader(ctx)

    /** A role change seen by the leadership observer: update now (or right after the run in flight). */
    const trigger = () => {
      if (off !== null || stopped) return
      if (ctx.scheduler.isRunning(NAME)) again = true
      else void ctx.scheduler.runNow(NAME).catch(() => undefined)
    }
    // Every probe carries etcd's Status (became-leader / lost-leader come from the same probes, so
    // reading the probes alone sees each change once, learner promotions included).
    const unsubscribe = ctx.leadership.on((event) => {
      if (event.type !== 'probe' || !event.status) return
      const { subState } = memberState(event.status)
      if (!observed || (seenSubState !== null && subState !== seenSubState)) trigger()
      seenSubState = subState
    })

    const turnOff = (api: EtcdMemberApi, name: string, status: 403 | 404, failure: string) => {
      off = `${status === 404 ? 'not found' : 'forbidden'} (HTTP ${status})`
      ctx.scheduler.remove(NAME)
      unsubscribe()
      enabledGauge.set(0)
      ctx.logger.warn(
        { component: NAME, resource: 'etcdmembers/status', verb: 'patch', namespace: api.namespace, name, status },
        offMessage(status, failure),
      )
    }

    const updateOnce = async () => {
      const endpoint = ctx.etcd.endpoints[0]
      if (!endpoint || off !== null || stopped) return
      const started = ctx.clock.now()
      const left = () => Math.max(1, BUDGET_MS - (ctx.clock.now() - started))
      let status
      try {
        status = await ctx.etcd.status(endpoint, BUDGET_MS)
        if (etcdDown) ctx.logger.info({ component: NAME, endpoint }, 'etcd answers again: EtcdMember status updates resume')
        etcdDown = false
        observed = true
        seenSubState = memberState(status).subState
      } catch (error) {
        if (!etcdDown) ctx.logger.warn({ component: NAME, endpoint, err: error }, `etcd does not answer Status (${messageOf(error)}): the EtcdMember status is not updated until it does`)
        etcdDown = true
        return
      }
      let api: EtcdMemberApi | null = null
      let name = ''
      try {
        const member = await memberIdentity()
        name = member.name
        api = await etcdMemberApiFor(ctx)
        const fields = memberStatusFields(status, member.tlsEnabled)
        let transitions = recorded
        let fieldsSent = false
        if (transitions === null) {
          // The transitions already recorded (by an earlier process) come back in the first answer.
          transitions = [...(await api.patchStatus(name, fields, left())).transitions]
          fieldsSent = true
        }
        const next = nextTransitions(transitions, status, new Date(ctx.clock.now()))
        if (next !== null || !fieldsSent) transitions = [...(await api.patchStatus(name, { ...(fieldsSent ? {} : fields), ...(next === null ? {} : { transitions: next }) }, left())).transitions]
        recorded = transitions
        const { subState } = memberState(status)
        lastUpdate = { at: ctx.clock.now(), subState }
        updates.inc({ outcome: 'succeeded' })
        if (failing) ctx.logger.info({ component: NAME, name }, 'EtcdMember status updates succeed again')
        failing = false
        ctx.logger.debug({ component: NAME, name, subState, transition: next?.at(-1)?.reason }, `EtcdMember ${name} status updated (${subState})`)
      } catch (error) {
        if (api !== null && isStewardError(error, 'K8S_NOT_FOUND', 'K8S_FORBIDDEN')) {
          turnOff(api, name, isStewardError(error, 'K8S_NOT_FOUND') ? 404 : 403, error.reason)
          return
        }
        updates.inc({ outcome: 'failed' })
        ctx.metrics.componentFailures.inc({ component: NAME })
        if (!failing) ctx.logger.warn({ component: NAME, name, err: error }, `updating the EtcdMember status failed (retried every heartbeat; counted in steward_etcd_member_status_updates_total): ${messageOf(error)}`)
        failing = true
      }
    }

    ctx.scheduler.add({
      name: NAME,
      trigger: { everySeconds: heartbeatSeconds },
      run: async (signal) => {
        // runNow from a leadership event can land after the scheduler stopped (shutdown): nothing to do then.
        if (signal.aborted) return
        do {
          again = false
          await updateOnce()
        } while (again && off === null && !stopped)
      },
    })

    return {
      name: NAME,
      start() {},
      stop() {
        stopped = true
        unsubscribe()
      },
      health: () =>
        off !== null
          ? { ok: true, detail: `off: the EtcdMember status subresource answered ${off}` }
          : { ok: lastUpdate !== null, detail: lastUpdate ? `updated as ${lastUpdate.subState}` : etcdDown ? 'etcd does not answer Status' : 'not updated yet' },
    }
  },
}
