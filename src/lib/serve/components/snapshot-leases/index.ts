/**
 * The snapshot-leases component (`--enable-snapshot-lease-renewal`): while this steward
 * snapshots (it leads and has a store), keeps druid's full- and delta-snapshot leases at the
 * store's newest revisions (docs/kubernetes.md "Snapshot leases"):
 * - full: after each stored full snapshot and when snapshotting starts, retried every minute
 *   until it succeeds (`full-snapshot-lease` job); never moved backwards;
 * - delta: every `--delta-snapshot-period` (`delta-snapshot-lease` job) whether or not a delta
 *   was stored — what keeps druid's `BackupReady` true on an idle cluster — and after each
 *   stored delta. Each renewal lists the store for the latest set's newest delta.
 * Failures are logged and counted (`steward_component_failures_total{component="snapshot-leases"}`);
 * they never stop snapshotting.
 */
import { messageOf } from '../../../errors.ts'
import { renewDeltaSnapshotLease, updateFullSnapshotLease } from '../../../k8s/snapshot-leases.ts'
import { reportFailure, type ComponentDefinition, type ServeContext } from '../../component.ts'
import { leaseApiFor } from '../../k8s.ts'
import type { Snapshotter } from '../snapshotter/snapshotter.ts'

const NAME = 'snapshot-leases'
/** How often a pending full-lease update is retried (etcd-backup-restore: 1 minute). */
const FULL_RETRY_SECONDS = 60

export const snapshotLeasesComponent: ComponentDefinition = {
  name: NAME,
  enabled: (options) => options.snapshotLeases !== null && options.store !== null,
  create(ctx: ServeContext) {
    const names = ctx.options.snapshotLeases!
    const snapshotter = ctx.services.get<Snapshotter>('snapshotter')
    let fullPending = true
    let fullRunning: Promise<void> | null = null
    let deltaRunning: Promise<void> | null = null

    const updateFull = (): Promise<void> => {
      if (fullRunning) return fullRunning
      fullRunning = (async () => {
        try {
          const set = await ctx.store!.latestSet()
          if (!set.full) return
          const api = await leaseApiFor(ctx)
          const result = await updateFullSnapshotLease(api, names.fullLeaseName, { revision: set.full.lastRevision, createdOn: set.full.createdOn })
          fullPending = false
          ctx.logger.info({ component: NAME, lease: names.fullLeaseName, holderIdentity: result.holderIdentity, outcome: result.outcome }, `full-snapshot lease ${names.fullLeaseName}: ${result.outcome} at revision ${result.holderIdentity}`)
        } catch (error) {
          reportFailure(ctx, NAME, error, `updating the full-snapshot lease ${names.fullLeaseName} failed (retried in ${FULL_RETRY_SECONDS}s): ${messageOf(error)}`)
        } finally {
          fullRunning = null
        }
      })()
      return fullRunning
    }

    const renewDelta = (): Promise<void> => {
      if (deltaRunning) return deltaRunning
      deltaRunning = (async () => {
        try {
          const set = await ctx.store!.latestSet()
          const newest = set.deltas.at(-1)
          const api = await leaseApiFor(ctx)
          const result = await renewDeltaSnapshotLease(api, names.deltaLeaseName, newest?.lastRevision, new Date(ctx.clock.now()))
          ctx.logger.debug({ component: NAME, lease: names.deltaLeaseName, holderIdentity: result.holderIdentity }, `delta-snapshot lease ${names.deltaLeaseName} renewed at revision ${result.holderIdentity}`)
        } catch (error) {
          reportFailure(ctx, NAME, error, `renewing the delta-snapshot lease ${names.deltaLeaseName} failed: ${messageOf(error)}`)
        } finally {
          deltaRunning = null
        }
      })()
      return deltaRunning
    }

    const unsubscribe = snapshotter?.onStored((kind) => {
      if (kind === 'full') {
        fullPending = true
        void updateFull()
      } else void renewDelta()
    })
    const unlead = ctx.leadership.on((event) => {
      if (event.type === 'became-leader') fullPending = true
    })
    ctx.scheduler.add({
      name: 'full-snapshot-lease',
      trigger: { everySeconds: FULL_RETRY_SECONDS },
      run: async () => {
        if (snapshotter?.active && fullPending) await updateFull()
      },
    })
    if (ctx.options.deltaSnapshotPeriodSeconds >= 1) {
      ctx.scheduler.add({
        name: 'delta-snapshot-lease',
        trigger: { everySeconds: ctx.options.deltaSnapshotPeriodSeconds },
        run: async () => {
          if (snapshotter?.active) await renewDelta()
        },
      })
    }

    return {
      name: NAME,
      start() {},
      async stop() {
        unsubscribe?.()
        unlead()
        await Promise.all([fullRunning, deltaRunning])
      },
      health: () => ({ ok: !fullPending || !snapshotter?.active, detail: fullPending ? 'full-snapshot lease update pending' : 'snapshot leases up to date' }),
    }
  },
}
