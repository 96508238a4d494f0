/**
 * What a member of a harness etcd cluster logged, read from its own zap JSON lines: when each
 * member was defragmented ("defragmenting" / "finished defragmenting directory") and whether it
 * led at a moment (raft's "became leader|follower|… at term N"). Lets tests judge maintenance from
 * etcd's side rather than from what steward says it did.
 */
import type { EtcdCluster } from './etcd.ts'

export interface Interval {
  member: number
  start: number
  end: number
}

export interface LogLine {
  ts: number
  msg: string
}

/** The member's JSON log lines with a time and a message, in order. */
export function logLines(cluster: EtcdCluster, member: number): LogLine[] {
  const out: LogLine[] = []
  for (const line of cluster.memberLog(member).split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const parsed = JSON.parse(line) as { ts?: string; msg?: string }
      if (parsed.ts && parsed.msg) out.push({ ts: Date.parse(parsed.ts), msg: parsed.msg })
    } catch {
      // a line cut by the ring buffer
    }
  }
  return out
}

/** Defragmentations of every member as its own log records them, by start time. */
export function defragIntervals(cluster: EtcdCluster): Interval[] {
  const out: Interval[] = []
  for (let member = 0; member < cluster.members.length; member++) {
    let start: number | undefined
    for (const line of logLines(cluster, member)) {
      if (line.msg === 'defragmenting') start = line.ts
      if (line.msg === 'finished defragmenting directory' && start !== undefined) {
        out.push({ member, start, end: line.ts })
        start = undefined
      }
    }
  }
  return out.sort((a, b) => a.start - b.start)
}

/** Whether the member led at time `t`, per the raft state changes in its own log. */
export function ledAt(cluster: EtcdCluster, member: number, t: number): boolean {
  let leader: boolean | undefined
  for (const line of logLines(cluster, member)) {
    if (line.ts > t) break
    const m = /became (leader|follower|candidate|pre-candidate) at term/.exec(line.msg)
    if (m) leader = m[1] === 'leader'
  }
  // A log cut before the member's first raft state line would make every answer "follower".
  if (leader === undefined) throw new Error(`member ${member}'s log holds no raft state change before ${new Date(t).toISOString()}`)
  return leader
}
