/**
 * Whether the leader's steward must take a full snapshot when it starts snapshotting, or may
 * continue the chain with a delta (etcd-backup-restore's rule, docs/serve.md "Snapshotter").
 */
import type { Cron } from 'croner'
import { nextCronRun } from '../../scheduler.ts'

/**
 * Hours between full snapshots the schedule implies: 24 by default; 168 when the day-of-week
 * field is restricted; N when both day fields are `*` and the hour field has a `/N` step.
 */
export function scheduleWindowHours(schedule: string): number {
  const fields = schedule.trim().split(/\s+/)
  if (fields.length !== 5) return 24
  const [, hour, dom, , dow] = fields as [string, string, string, string, string]
  if (dow !== '*') return 168
  const step = /\/(\d+)$/.exec(hour)
  if (dom === '*' && step) return Number(step[1])
  return 24
}

export interface PreviousFull {
  readonly createdOn: Date
  readonly isFinal: boolean
}

/**
 * @param previous the newest full snapshot in the store, or `null`
 * @param lastAttemptFailed the previous full snapshot attempt of this process failed
 * @returns the reason a full snapshot is required, or `null` when a delta may continue the chain
 */
export function fullSnapshotRequired(previous: PreviousFull | null, schedule: string, cron: Cron, nowMs: number, lastAttemptFailed = false): string | null {
  if (!previous) return 'the store holds no full snapshot'
  if (previous.isFinal) return 'the newest full snapshot is final (taken before hibernation or migration)'
  if (lastAttemptFailed) return 'the last full snapshot attempt failed'
  const windowMs = scheduleWindowHours(schedule) * 3600_000
  const age = nowMs - previous.createdOn.getTime()
  if (age > windowMs) return `the newest full snapshot is older than the schedule's window of ${windowMs / 3600_000}h`
  const next = nextCronRun(cron, nowMs)
  if (next === null) return null
  // Not missed: the previous full was taken at the slot one window before the next one.
  if (Math.floor((next - windowMs) / 1000) === Math.floor(previous.createdOn.getTime() / 1000)) return null
  return next - nowMs + age > windowMs ? 'a scheduled full snapshot was missed' : null
}
