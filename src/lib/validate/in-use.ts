/**
 * Which processes have a file open, read from /proc (Linux). A running etcd keeps its bbolt
 * database (`member/snap/db`) open for its whole life, so this tells whether a data dir is in
 * use without taking bbolt's lock. On systems without /proc it finds nothing.
 */
import { readdir, readFile, readlink, realpath } from 'node:fs/promises'

export interface FileUser {
  readonly pid: number
  /** The process's command line, space-separated. */
  readonly command: string
}

/** Processes other than this one that have `path` open. */
export async function processesUsing(path: string): Promise<FileUser[]> {
  let target: string
  try {
    target = await realpath(path)
  } catch {
    return []
  }
  let pids: string[]
  try {
    pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
  } catch {
    return []
  }
  const users: FileUser[] = []
  for (const pid of pids) {
    let fds: string[]
    try {
      fds = await readdir(`/proc/${pid}/fd`)
    } catch {
      continue // gone, or not ours to look at
    }
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
      if (link !== target) continue
      const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean).join(' ')
      users.push({ pid: Number(pid), command })
      break
    }
  }
  return users
}
