/**
 * The defragmenter component: on `--defragmentation-schedule` (etcd-backup-restore's 5-field
 * cron) every steward defragments ITS OWN member (`--endpoints`) with `defragment()` of
 * `src/lib/defrag/`: health check of every member first, the cluster's maintenance lock (so at
 * most one member of the cluster is defragmented at any moment, whichever sidecar or one-shot
 * run asks), no compaction (etcd's auto-compaction and the compaction Job own that), and with
 * `--move-leader` (default on) leadership moved to a healthy, up-to-date member before a leading
 * member is defragmented. Each defragment call is bounded by `--etcd-defrag-timeout`.
 *
 * Unlike etcd-backup-restore, which defragments every member from the leader's sidecar only,
 * each sidecar looks after its own member (docs/serve.md "Defragmenter"). A failed run is one
 * error line tagged `defragmenter`, `steward_component_failures_total{component="defragmenter"}`
 * and, for a defragment call that failed, `etcdbr_defragmentation_duration_seconds{succeeded="false"}`;
 * the next slot tries again. Runs never overlap (the scheduler skips a slot while one runs).
 */
import { defragFailure, defragment, type DefragResult } from '../../../defrag/defrag.ts'
import { openMaintenanceEtcd } from '../../../defrag/etcd.ts'
import { messageOf } from '../../../errors.ts'
import { reportFailure, type ComponentDefinition, type ServeContext } from '../../component.ts'
import { LazyMaintenance, maintenanceDeps, quotaBytes, serveLock, type MaintenanceOpener } from './maintenance.ts'

const NAME = 'defragmenter'
/** The scheduler job's name (`steward_job_runs_total{schedule="defragmentation"}`). */
export const DEFRAG_JOB = 'defragmentation'

/** Records `etcdbr_defragmentation_duration_seconds{succeeded,endpoint}` for every defragment call of a run. */
export function observeDefragmentations(ctx: ServeContext, result: DefragResult): void {
  for (const m of result.members) {
    if (m.startedAt === undefined || m.finishedAt === undefined) continue
    ctx.metrics.defragmentationDuration.observe({ succeeded: String(m.action === 'defragmented'), endpoint: m.endpoint }, (m.finishedAt - m.startedAt) / 1000)
  }
}

/** One scheduled run: defragments this member; throws after reporting when it failed. */
async function runOnce(ctx: ServeContext, maintenance: LazyMaintenance, signal: AbortSignal): Promise<void> {
  const endpoints = ctx.options.etcd.endpoints
  let result: DefragResult
  try {
    const etcd = await maintenance.get()
    result = await defragment(
      maintenanceDeps(ctx, etcd, NAME),
      {
        endpoints,
        cluster: false,
        excludeLocalhost: false,
        skipHealthcheckClusterEndpoints: false,
        compaction: false,
        continueOnError: false,
        quotaBytes: await quotaBytes(ctx),
        dryRun: false,
        moveLeader: ctx.options.moveLeader,
        waitBetweenDefragsMs: 0,
        autoDisalarm: false,
        disalarmThreshold: 0.9,
        lock: serveLock(ctx, NAME),
      },
      signal,
    )
  } catch (error) {
    reportFailure(ctx, NAME, error, `defragmentation of ${endpoints.join(', ')} failed: ${messageOf(error)}`)
    throw error
  }
  observeDefragmentations(ctx, result)
  if (result.failures > 0) {
    const error = defragFailure(result)
    reportFailure(ctx, NAME, error, `defragmentation failed: ${error.message}`)
    throw error
  }
  const done = result.members.filter((m) => m.action === 'defragmented')
  if (done.length === 0) {
    ctx.logger.info({ component: NAME }, `nothing defragmented (${result.members.length === 0 ? 'this member is a learner' : 'skipped'})`)
    return
  }
  for (const m of done) {
    ctx.logger.info(
      { component: NAME, endpoint: m.endpoint, memberId: m.memberId, before: m.before, after: m.after, tookMs: (m.finishedAt ?? 0) - (m.startedAt ?? 0), leaderMovedTo: m.leaderMovedTo },
      `defragmented ${m.endpoint}: ${m.before?.dbSizeBytes} → ${m.after?.dbSizeBytes} bytes${m.leaderMovedTo ? ' (leadership moved away first)' : ''}`,
    )
  }
}

/** The definition over a given maintenance seam opener (tests pass a fake; the registry uses the real one). */
export function createDefragmenterComponent(open: MaintenanceOpener = openMaintenanceEtcd): ComponentDefinition {
  return {
    name: NAME,
    enabled: () => true,
    create(ctx) {
      const maintenance = new LazyMaintenance(open, ctx.options.etcd)
      ctx.scheduler.add({ name: DEFRAG_JOB, trigger: { cron: ctx.options.defragmentationSchedule }, run: (signal) => runOnce(ctx, maintenance, signal) })
      return {
        name: NAME,
        start() {
          ctx.logger.info({ component: NAME, schedule: ctx.options.defragmentationSchedule, moveLeader: ctx.options.moveLeader }, `defragmenting this member on "${ctx.options.defragmentationSchedule}" under the maintenance lock`)
        },
        async stop() {
          // The scheduler stops (and waits for an in-flight run) before components stop.
          await maintenance.close()
        },
      }
    },
  }
}

export const defragmenterComponent = createDefragmenterComponent()
