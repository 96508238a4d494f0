/**
 * The initializer's call into the one bootstrap implementation (`src/lib/bootstrap`, also run
 * by `steward bootstrap`): the runtime's store, metrics, logger, clock, cluster seam and lease
 * client become the bootstrap's dependencies.
 */
import { bootstrapMember, type BootstrapDeps, type BootstrapOutcome, type ValidationMode } from '../../../bootstrap/bootstrap.ts'
import type { MembershipTimings } from '../../../bootstrap/timings.ts'
import { clusterAdminFor } from '../../cluster.ts'
import type { ServeContext } from '../../component.ts'
import { leaseApiFor } from '../../k8s.ts'

export type { BootstrapOutcome as InitializationOutcome } from '../../../bootstrap/bootstrap.ts'

/** {@link BootstrapDeps} of a serve runtime; `timings` replaces the flags' membership timings (tests). */
export function bootstrapDepsOf(ctx: ServeContext, timings?: MembershipTimings): BootstrapDeps {
  const { options } = ctx
  return {
    options: { ...options, membershipTimings: timings ?? options.membershipTimings },
    store: ctx.store,
    cluster: () => clusterAdminFor(ctx),
    memberLeases: options.memberLease ? () => leaseApiFor(ctx) : undefined,
    metrics: ctx.metrics,
    logger: ctx.logger,
    clock: ctx.clock,
  }
}

/**
 * One initialization of `/initialization/start`: {@link bootstrapMember} with the runtime's resources.
 * @throws as {@link bootstrapMember}
 */
export function initializeMember(ctx: ServeContext, mode: ValidationMode, signal: AbortSignal, timings?: MembershipTimings): Promise<BootstrapOutcome> {
  return bootstrapMember(bootstrapDepsOf(ctx, timings), mode, signal)
}
