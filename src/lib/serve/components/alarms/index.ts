/**
 * The alarms component: every `--alarm-check-period` (default 1m; 0 disables it) it reads the
 * cluster's alarm list through this member (`Maintenance.Alarm`, the same call as `steward alarm
 * list`) and exports `steward_etcd_alarms{alarm}` (active alarms by type; NOSPACE and CORRUPT
 * always present).
 *
 * - **NOSPACE**: the steward whose member leads runs `recoverNospace()` (src/lib/defrag/alarms.ts):
 *   compaction, every member defragmented followers first and the leader last (under the
 *   maintenance lock when etcd can still grant its lease), NOSPACE disarmed once every member is
 *   at or below {@link NOSPACE_DISARM_THRESHOLD} of the quota (`quota-backend-bytes` of the
 *   ConfigMap). Only the leader's steward acts, and it keeps leadership where it is for this
 *   run, because under NOSPACE etcd refuses the lock's lease: leadership is what keeps a second
 *   sidecar from starting a concurrent recovery (docs/serve.md "Alarms").
 * - **CORRUPT**: never acted on. Every steward logs an error line on every check while it is
 *   active, the gauge shows it, and the component's health detail names it. `/healthz`'s status
 *   code is unchanged (it says whether this sidecar leads and its etcd answers, as etcdbrctl).
 */
import { Gauge } from 'prom-client'
import { recoverNospace, listAlarms } from '../../../defrag/alarms.ts'
import { openMaintenanceEtcd, type ActiveAlarm } from '../../../defrag/etcd.ts'
import { describeAlarms } from '../../../defrag/health.ts'
import { messageOf } from '../../../errors.ts'
import { reportFailure, type ComponentDefinition, type ServeContext } from '../../component.ts'
import { observeDefragmentations } from '../defragmenter/index.ts'
import { LazyMaintenance, maintenanceDeps, quotaBytes, serveLock, type MaintenanceOpener } from '../defragmenter/maintenance.ts'

const NAME = 'alarms'
/** The scheduler job's name. */
export const ALARM_JOB = 'alarm-check'
/** NOSPACE is disarmed once every member's physical size is at or below this ratio of the quota (etcd-defrag's default). */
export const NOSPACE_DISARM_THRESHOLD = 0.9

interface AlarmState {
  corrupt: ActiveAlarm[]
  lastError: string | null
}

async function check(ctx: ServeContext, maintenance: LazyMaintenance, gauge: Gauge<'alarm'>, state: AlarmState, signal: AbortSignal): Promise<void> {
  let alarms: ActiveAlarm[]
  try {
    const etcd = await maintenance.get()
    alarms = (await listAlarms(etcd, ctx.options.etcd.endpoints)).alarms
    state.lastError = null
  } catch (error) {
    state.lastError = messageOf(error)
    reportFailure(ctx, NAME, error, `reading the alarm list failed: ${messageOf(error)}`)
    throw error
  }
  gauge.reset()
  for (const alarm of ['NOSPACE', 'CORRUPT']) gauge.set({ alarm }, 0)
  for (const a of alarms) gauge.inc({ alarm: a.alarm })

  state.corrupt = alarms.filter((a) => a.alarm === 'CORRUPT')
  if (state.corrupt.length > 0) {
    ctx.logger.error(
      { component: NAME, alarms: state.corrupt },
      `${describeAlarms(state.corrupt)} is active: members' data disagree. steward does not compact, defragment or disarm; replace the corrupted member (docs/defrag.md "Alarms")`,
    )
  }
  if (!alarms.some((a) => a.alarm === 'NOSPACE')) return
  if (!ctx.leadership.isLeader) {
    ctx.logger.warn({ component: NAME }, 'NOSPACE is active; the steward of the leading member recovers it')
    return
  }
  if (state.corrupt.length > 0) {
    ctx.logger.error({ component: NAME }, 'NOSPACE is active but so is CORRUPT: not recovering (an operator must act first)')
    return
  }
  ctx.logger.warn({ component: NAME }, 'NOSPACE is active: compacting, defragmenting every member and disarming once below the threshold')
  const quota = await quotaBytes(ctx)
  try {
    const etcd = await maintenance.get()
    const result = await recoverNospace(
      maintenanceDeps(ctx, etcd, NAME),
      {
        endpoints: ctx.options.etcd.endpoints,
        cluster: true,
        excludeLocalhost: false,
        skipHealthcheckClusterEndpoints: false,
        continueOnError: false,
        quotaBytes: quota,
        moveLeader: false,
        waitBetweenDefragsMs: 0,
        lock: serveLock(ctx, NAME),
        threshold: NOSPACE_DISARM_THRESHOLD,
      },
      signal,
    )
    if (result.defrag) observeDefragmentations(ctx, result.defrag)
    if (result.outcome === 'recovered') ctx.logger.info({ component: NAME, disarmed: result.disarmed }, `NOSPACE recovered: ${result.note}`)
    else ctx.logger.warn({ component: NAME, note: result.note }, `NOSPACE ${result.outcome}: ${result.note}`)
  } catch (error) {
    reportFailure(ctx, NAME, error, `NOSPACE recovery failed: ${messageOf(error)}`)
    throw error
  }
}

/** The definition over a given maintenance seam opener (tests pass a fake; the registry uses the real one). */
export function createAlarmsComponent(open: MaintenanceOpener = openMaintenanceEtcd): ComponentDefinition {
  return {
    name: NAME,
    enabled: (options) => options.alarmCheckPeriodSeconds > 0,
    create(ctx) {
      const maintenance = new LazyMaintenance(open, ctx.options.etcd)
      const gauge = new Gauge({ name: 'steward_etcd_alarms', help: 'Active etcd alarms by type, as the last alarm check read them.', labelNames: ['alarm'], registers: [ctx.metrics.registry] })
      for (const alarm of ['NOSPACE', 'CORRUPT']) gauge.set({ alarm }, 0)
      const state: AlarmState = { corrupt: [], lastError: null }
      ctx.scheduler.add({ name: ALARM_JOB, trigger: { everySeconds: ctx.options.alarmCheckPeriodSeconds }, run: (signal) => check(ctx, maintenance, gauge, state, signal) })
      return {
        name: NAME,
        start() {},
        async stop() {
          await maintenance.close()
        },
        health: () =>
          state.corrupt.length > 0
            ? { ok: false, detail: `${describeAlarms(state.corrupt)} active: needs an operator` }
            : state.lastError
              ? { ok: false, detail: `alarm list unreadable: ${state.lastError}` }
              : { ok: true, detail: 'no CORRUPT alarm' },
      }
    },
  }
}

export const alarmsComponent = createAlarmsComponent()
