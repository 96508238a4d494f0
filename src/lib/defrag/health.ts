/**
 * The health check before maintenance (docs/defrag.md "Health"): every member answers a
 * linearizable read (permission denied counts as an answer), and the cluster's alarm list,
 * judged as a whole, holds nothing but NOSPACE (defragmentation is how NOSPACE is recovered).
 */
import { messageOf } from '../errors.ts'
import type { ActiveAlarm, MaintenanceEtcd } from './etcd.ts'
import { hexId } from './members.ts'

export interface EndpointHealth {
  readonly endpoint: string
  readonly healthy: boolean
  /** Time the read took, milliseconds. */
  readonly tookMs: number
  /** Why it is unhealthy (unreachable, alarm list failed, alarms other than NOSPACE). */
  readonly error?: string | undefined
  /** The cluster's alarms as this endpoint lists them. */
  readonly alarms: readonly ActiveAlarm[]
}

/** Checks every endpoint in parallel; never throws (failures are in the result). */
export async function checkHealth(etcd: MaintenanceEtcd, endpoints: readonly string[], now: () => number = Date.now): Promise<EndpointHealth[]> {
  return Promise.all(endpoints.map(async (endpoint): Promise<EndpointHealth> => {
    const started = now()
    try {
      await etcd.probe(endpoint)
    } catch (error) {
      return { endpoint, healthy: false, tookMs: now() - started, error: messageOf(error).replace(/^\[steward\] \[[^\]]*\] /, ''), alarms: [] }
    }
    const tookMs = now() - started
    let alarms: ActiveAlarm[]
    try {
      alarms = await etcd.alarms(endpoint)
    } catch (error) {
      return { endpoint, healthy: false, tookMs, error: `unable to fetch the alarm list: ${messageOf(error)}`, alarms: [] }
    }
    const blocking = alarms.filter((a) => a.alarm !== 'NOSPACE')
    if (blocking.length > 0) {
      return { endpoint, healthy: false, tookMs, error: `active alarm(s): ${describeAlarms(blocking)}`, alarms }
    }
    return { endpoint, healthy: true, tookMs, alarms }
  }))
}

/** `NOSPACE on member 8e9e05c52164694d, …`. */
export function describeAlarms(alarms: readonly ActiveAlarm[]): string {
  return alarms.map((a) => `${a.alarm} on member ${hexId(a.memberId)}`).join(', ')
}
