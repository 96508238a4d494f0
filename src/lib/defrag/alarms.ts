/**
 * Alarms: listing, disarming, and the NOSPACE recovery a serve component runs when the alarm
 * list shows NOSPACE (docs/defrag.md "Alarms"). CORRUPT is reported and never acted on: a
 * corrupted member needs an operator, and compaction or defragmentation could destroy the
 * evidence.
 */
import { StewardError, isStewardError } from '../errors.ts'
import { defragment, type DefragDeps, type DefragOptions, type DefragResult } from './defrag.ts'
import type { ActiveAlarm, MaintenanceEtcd } from './etcd.ts'
import { describeAlarms } from './health.ts'

/**
 * The cluster's active alarms, asked at the first endpoint that answers.
 * @throws StewardError ETCD_* when no endpoint answers
 */
export async function listAlarms(etcd: MaintenanceEtcd, endpoints: readonly string[]): Promise<{ endpoint: string; alarms: ActiveAlarm[] }> {
  let last: unknown
  for (const endpoint of endpoints) {
    try {
      return { endpoint, alarms: await etcd.alarms(endpoint) }
    } catch (error) {
      last = error
      if (isStewardError(error, 'ETCD_AUTH', 'ETCD_TLS')) throw error
    }
  }
  throw last ?? new StewardError('CONFIG_INVALID', 'alarm', 'no endpoint given')
}

/**
 * Disarms the active alarms (like `etcdctl alarm disarm`), optionally only those of type
 * `only` (e.g. `NOSPACE`). Resolves the alarms that were disarmed.
 * @throws StewardError ETCD_* when listing or a deactivation fails
 */
export async function disarmAlarms(etcd: MaintenanceEtcd, endpoints: readonly string[], only?: string): Promise<ActiveAlarm[]> {
  const { endpoint, alarms } = await listAlarms(etcd, endpoints)
  const chosen = alarms.filter((a) => !only || a.alarm === only.toUpperCase())
  for (const alarm of chosen) await etcd.disarm(endpoint, alarm)
  return chosen
}

export interface NospaceRecoveryOptions extends Omit<DefragOptions, 'autoDisalarm' | 'disalarmThreshold' | 'rule' | 'dryRun' | 'compaction'> {
  /** Disarm once every member's physical size is at or below this ratio of the quota. (0, 1) */
  readonly threshold: number
}

export interface NospaceRecoveryResult {
  /** What the alarm list held before anything was done. */
  readonly alarms: readonly ActiveAlarm[]
  /** `none` (no NOSPACE), `recovered` (defragmented and disarmed), `still-full` (defragmented, usage above the threshold, left armed). */
  readonly outcome: 'none' | 'recovered' | 'still-full'
  readonly defrag?: DefragResult | undefined
  readonly disarmed: readonly string[]
  readonly note: string
}

/**
 * On NOSPACE: compacts and defragments every member (followers first, leader last, under the
 * maintenance lock when etcd can still grant its lease; see defragment()), then disarms NOSPACE
 * if every member is at or below `threshold` × quota. Does nothing without a NOSPACE alarm.
 * @throws StewardError ALARM_ACTIVE when CORRUPT (or another non-NOSPACE alarm) is active:
 *   nothing is touched; DEFRAG_FAILED when a member's defragmentation failed; anything defragment() throws
 */
export async function recoverNospace(deps: DefragDeps, options: NospaceRecoveryOptions, signal?: AbortSignal): Promise<NospaceRecoveryResult> {
  const { alarms } = await listAlarms(deps.etcd, options.endpoints)
  const other = alarms.filter((a) => a.alarm !== 'NOSPACE')
  if (other.length > 0) {
    throw new StewardError('ALARM_ACTIVE', 'alarm', `not recovering: ${describeAlarms(other)} is active and needs an operator (steward never acts on it)`, {
      details: { alarms: other },
      hints: ['see docs/defrag.md "Alarms" for what CORRUPT means and how to replace the member'],
    })
  }
  if (!alarms.some((a) => a.alarm === 'NOSPACE')) return { alarms, outcome: 'none', disarmed: [], note: 'no NOSPACE alarm' }
  const result = await defragment(deps, { ...options, cluster: true, compaction: true, dryRun: false, autoDisalarm: true, disalarmThreshold: options.threshold }, signal)
  if (result.failures > 0) {
    throw new StewardError('DEFRAG_FAILED', 'alarm', `NOSPACE recovery: ${result.failures} member(s) failed to defragment; the alarm stays armed`, { details: { members: result.members } })
  }
  const disarmed = result.disalarm?.disarmed ?? []
  return { alarms, outcome: disarmed.length > 0 ? 'recovered' : 'still-full', defrag: result, disarmed, note: result.disalarm?.note ?? '' }
}
