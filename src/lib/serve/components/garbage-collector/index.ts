/**
 * The garbage-collector component: while this member leads, the `garbage-collection` interval
 * job collects the primary store every `--garbage-collection-period` with
 * `--garbage-collection-policy`, `--max-backups` and `--delta-snapshot-retention-period`
 * (etcd-backup-restore's server GC; docs/serve.md "Garbage collector", docs/gc.md). Enabled when
 * a store is configured and the period is longer than 1 s. Runs never overlap (the scheduler
 * skips a trigger during a run); shutdown and leadership loss abort a run between deletions.
 */
import type { ComponentDefinition } from '../../component.ts'
import { LeaderGarbageCollector } from './collector.ts'

const NAME = 'garbage-collector'
/** The scheduler job's name (`steward_job_runs_total{schedule}`). */
export const GC_JOB = 'garbage-collection'

export const garbageCollectorComponent: ComponentDefinition = {
  name: NAME,
  enabled: (options) => options.store !== null && options.garbageCollection.periodSeconds > 1,
  create(ctx) {
    const collector = new LeaderGarbageCollector(ctx, { component: NAME, settings: ctx.options.garbageCollection })
    ctx.services.provide('garbage-collector', collector)
    const store = ctx.store
    if (store) {
      ctx.scheduler.add({
        name: GC_JOB,
        trigger: { everySeconds: ctx.options.garbageCollection.periodSeconds },
        run: async (signal) => {
          await collector.collect(store, signal)
        },
      })
    }
    return {
      name: NAME,
      start() {},
      stop() {
        collector.dispose()
      },
      health: () => {
        const last = collector.last
        return last ? { ok: last.ok, detail: last.detail } : { ok: true, detail: ctx.leadership.isLeader ? 'no run yet' : 'idle (not the leader)' }
      },
    }
  },
}
