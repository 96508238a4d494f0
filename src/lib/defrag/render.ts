/**
 * How `steward defrag` shows a run to a person: one stderr line per event (etcd-defrag's order)
 * and a table of members with their sizes before and after. `--json` prints the result instead.
 */
import type { DefragEvent, DefragResult } from './defrag.ts'
import { hexId } from './members.ts'

/** The member table and the closing line, as lines of text. */
export function renderDefragTable(result: DefragResult): string[] {
  const rows = [['ENDPOINT', 'MEMBER', 'LEADER', 'ACTION', 'BEFORE', 'AFTER', 'TOOK']]
  for (const m of result.members) {
    rows.push([
      m.endpoint,
      m.memberId ? hexId(m.memberId) : '-',
      m.wasLeader ? (m.leaderMovedTo ? `moved to ${hexId(m.leaderMovedTo)}` : 'yes') : 'no',
      m.action,
      m.before ? sizes(m.before) : '-',
      m.after ? sizes(m.after) : '-',
      m.startedAt !== undefined && m.finishedAt !== undefined ? `${m.finishedAt - m.startedAt}ms` : '-',
    ])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const lines = rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd())
  const done = result.members.filter((m) => m.action === 'defragmented').length
  lines.push(result.failures > 0 ? `${result.failures} of ${result.members.length} member(s) failed.` : `${result.dryRun ? 'Dry run: ' : ''}${done} of ${result.members.length} member(s) defragmented.`)
  return lines
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)}MiB`
}

function sizes(s: { dbSizeBytes: number; dbSizeInUseBytes: number }): string {
  return `${mib(s.dbSizeBytes)} (${mib(s.dbSizeInUseBytes)} in use)`
}

/** One stderr line per event, in etcd-defrag's order. */
export function describeDefragEvent(event: DefragEvent): string {
  switch (event.type) {
    case 'health':
      return `health endpoint=${event.health.endpoint} health=${event.health.healthy} took=${event.health.tookMs}ms${event.health.error ? ` error=${event.health.error}` : ''}`
    case 'status': {
      const s = event.status
      return `status endpoint=${s.endpoint} dbSize=${s.dbSizeBytes} dbSizeInUse=${s.dbSizeInUseBytes} memberId=${hexId(s.memberId)} leader=${hexId(s.leaderId)} revision=${s.revision} term=${s.raftTerm} index=${s.raftIndex}`
    }
    case 'lock-waiting':
      return `waiting for the maintenance lock ${event.name}`
    case 'lock-taken':
      return `maintenance lock taken (lease ${hexId(event.leaseId)}) after ${event.waitedMs}ms`
    case 'lock-skipped':
      return `maintenance lock ${event.reason}`
    case 'compaction':
      return event.error ? `compaction to revision ${event.revision} at ${event.endpoint} failed: ${event.error}` : `compacted to revision ${event.revision} (physical) at ${event.endpoint}`
    case 'plan':
      return `${event.endpoints.length} member(s) to consider, leader last: ${event.endpoints.join(', ')}`
    case 'member-start': {
      const s = event.status
      return `[before defragmentation] endpoint=${s.endpoint} dbSize=${s.dbSizeBytes} dbSizeInUse=${s.dbSizeInUseBytes} leader=${s.leaderId === s.memberId}`
    }
    case 'member-skip':
      return `skipping ${event.endpoint}: ${event.reason}`
    case 'leader-move':
      return event.error ? `moving leadership away from ${hexId(event.from)} failed: ${event.error}` : `leadership moved from ${hexId(event.from)} to ${hexId(event.to)}`
    case 'defragmenting':
      return `defragmenting ${event.endpoint}`
    case 'defragmented':
      return event.error
        ? `defragmenting ${event.endpoint} failed after ${event.tookMs}ms: ${event.error}`
        : `finished defragmenting ${event.endpoint} in ${event.tookMs}ms${event.after ? ` [after defragmentation] dbSize=${event.after.dbSizeBytes} dbSizeInUse=${event.after.dbSizeInUseBytes}` : ''}`
    case 'wait':
      return `waiting ${event.ms}ms before the next member`
    case 'disalarm':
      return `auto-disalarm: ${event.note}`
  }
}
