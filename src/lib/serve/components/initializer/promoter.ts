/**
 * Learner promotion (docs/serve.md "Multi-member bootstrap"): on every leadership probe
 * (`--reelection-period`) whose `Status` says this member is a learner, `MemberPromote` its
 * member ID through the service endpoints. etcd refuses while the learner is behind the leader
 * ("can only promote a learner member which is in sync with leader"): that is logged and tried
 * again next period, not a failure. "not a learner" means an earlier try got through.
 * `etcdbr_is_learner` follows the probes; `etcdbr_member_promote_duration_seconds` times each try.
 */
import type { Logger } from 'pino'
import { messageOf } from '../../../errors.ts'
import type { ClusterAdmin } from '../../cluster.ts'
import type { LeadershipEvent } from '../../leadership.ts'
import type { EtcdbrMetrics } from '../../metrics.ts'
import { isLearnerNotReady, isNotLearner } from '../../../bootstrap/membership.ts'

export interface PromoterDeps {
  readonly cluster: () => Promise<ClusterAdmin>
  readonly metrics: EtcdbrMetrics
  readonly logger: Logger
  /** Per-call timeout, ms. */
  readonly timeoutMs: number
}

export class LearnerPromoter {
  readonly #deps: PromoterDeps
  #inFlight: Promise<void> | null = null
  #promoted = new Set<string>()

  constructor(deps: PromoterDeps) {
    this.#deps = deps
  }

  /** The in-flight promotion, for shutdown and tests. */
  get running(): Promise<void> | null {
    return this.#inFlight
  }

  /** Leadership listener: starts one promotion try when a probe shows a learner (none while one runs). */
  onProbe(event: LeadershipEvent): void {
    if (event.type !== 'probe' || !event.status?.isLearner || this.#inFlight) return
    const memberId = event.status.memberId
    this.#inFlight = this.#promote(memberId).finally(() => (this.#inFlight = null))
  }

  async #promote(memberId: string): Promise<void> {
    const { metrics, logger } = this.#deps
    const started = performance.now()
    const observe = (succeeded: boolean) => metrics.memberPromoteDuration.observe({ succeeded: String(succeeded) }, (performance.now() - started) / 1000)
    try {
      await (await this.#deps.cluster()).promote(memberId, this.#deps.timeoutMs)
      observe(true)
      metrics.isLearner.set(0)
      metrics.isLearnerCountTotal.inc({ succeeded: 'true' })
      this.#promoted.add(memberId)
      logger.info({ component: 'initializer', memberId }, `promoted this learner (member ID ${memberId}) to a voting member`)
    } catch (error) {
      if (isNotLearner(error)) {
        observe(true)
        logger.info({ component: 'initializer', memberId }, `member ${memberId} is already a voting member`)
        return
      }
      observe(false)
      if (isLearnerNotReady(error)) logger.info({ component: 'initializer', memberId }, `learner ${memberId} is not in sync with the leader yet; promotion is tried again next period`)
      else {
        metrics.isLearnerCountTotal.inc({ succeeded: 'false' })
        logger.warn({ component: 'initializer', memberId, err: error }, `promoting learner ${memberId} failed: ${messageOf(error)}; tried again next period`)
      }
    }
  }
}
