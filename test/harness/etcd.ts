/**
 * Starts REAL etcd clusters (1 or 3 members) on free loopback ports with temp data dirs, for
 * integration tests. Every process is tracked and torn down on stop(), in withEtcdCluster's
 * finally, and on process exit/SIGINT/SIGTERM (see processes.ts).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { runEtcdTool } from '../../src/lib/etcd/binaries.ts'
import { cleanEnv, isLeader, lostPortRace, spawnMember, waitHealthy, type MemberProcess } from './etcd-member.ts'
import { getFreePorts } from './ports.ts'
import { hasExited, terminate, trackTempDir, untrackTempDir } from './processes.ts'
import type { TlsMaterial } from './tls.ts'
import { makeTempDir, removeDir } from './tmp.ts'

export type { TlsMaterial } from './tls.ts'

export interface EtcdMember {
  name: string
  clientUrl: string
  peerUrl: string
  /** Plain-http /health and /metrics listener (always http, even with `tls`). */
  metricsUrl: string
  dataDir: string
  pid: number
}

/** Options of {@link EtcdCluster.etcdctl}; by default every credential the cluster needs is passed. */
export interface EtcdctlOptions {
  /** Client URLs to talk to [all members]. */
  endpoints?: string[]
  /** Pass the client certificate and key (with `tls`) [true]. The CA is always passed with `tls`. */
  clientCert?: boolean
  /** Pass `--user=root --password=…` (with `auth`) [true]. */
  auth?: boolean
  /** Kill etcdctl after this many seconds [30]. */
  timeoutSeconds?: number
}

export interface EtcdCluster {
  members: EtcdMember[]
  /** Client URLs. */
  endpoints: string[]
  tls: TlsMaterial | undefined
  auth: { rootPassword: string } | undefined
  /** Stops all members (SIGTERM, SIGKILL after 10 s) and removes the harness's temp dirs unless `keepDataDirs`. Idempotent. */
  stop(options?: { keepDataDirs?: boolean }): Promise<void>
  /** SIGKILLs one member and waits until it is gone (survivors may be leaderless for a moment: see waitHealthy). */
  kill(memberIndex: number): Promise<void>
  /**
   * Polls /health of `members` (indexes; default: every member still running) until all are
   * healthy, i.e. a leader is elected and serves reads. Bounded by `timeoutSeconds` [30].
   * @throws Error with the members' output tails
   */
  waitHealthy(options?: { members?: number[]; timeoutSeconds?: number }): Promise<void>
  /** The member's own output (its zap JSON log lines) kept so far (the last 1 MiB). */
  memberLog(memberIndex: number): string
  /** Runs etcdctl against the cluster with endpoint/TLS/auth flags; resolves stdout. @throws StewardError TOOL_FAILED */
  etcdctl(args: string[], options?: EtcdctlOptions): Promise<string>
}

export interface StartEtcdOptions {
  members?: 1 | 3
  /** Serve client URLs over https with --client-cert-auth (peers stay on http). */
  tls?: TlsMaterial
  /** After start: user root with this password, role root, auth enabled. */
  auth?: { rootPassword: string }
  /** --quota-backend-bytes, bytes. */
  quotaBackendBytes?: number
  /** Appended to every member's etcd arguments. */
  extraArgs?: string[]
  /** Existing data dirs (e.g. from `etcdutl snapshot restore`), one per member; never removed by stop(). */
  dataDirs?: string[]
  /** Member name with one member, name prefix (`<name>-<i>`) with three ['default' / 'etcd']. Must match a restore's --name. */
  name?: string
  /** --initial-cluster [built from the names and chosen peer URLs]. */
  initialCluster?: string
  /** --initial-cluster-token [unique per start]. */
  initialClusterToken?: string
  /** Overall start-up deadline, seconds [30]. */
  startTimeoutSeconds?: number
  /** Loopback address of each member's client URL ['127.0.0.1'], e.g. 127.0.0.2 so per-member sidecars can share one port. */
  clientHosts?: string[]
}

/** Attempts when a chosen port was taken between picking and binding it. */
const START_ATTEMPTS = 4
/** Grace between SIGTERM and SIGKILL on stop, ms. */
const STOP_GRACE_MS = 10_000
/** Lines of each member's output in a start-up error. */
const LOG_TAIL_LINES = 40

class PortRaceError extends Error {}

/**
 * Starts a cluster and resolves once every member's /health says healthy (bounded by
 * `startTimeoutSeconds`). Retries the whole start with new ports when a port was taken.
 * @throws Error carrying each member's output tail when start-up fails
 */
export async function startEtcdCluster(options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options)
    } catch (error) {
      if (!(error instanceof PortRaceError) || attempt >= START_ATTEMPTS) throw error
    }
  }
}

/** Starts a cluster, runs `fn` with it and always stops it (also when `fn` throws). */
export async function withEtcdCluster<T>(options: StartEtcdOptions, fn: (cluster: EtcdCluster) => Promise<T>): Promise<T> {
  const cluster = await startEtcdCluster(options)
  try {
    return await fn(cluster)
  } finally {
    await cluster.stop()
  }
}

function memberNames(count: number, name: string | undefined): string[] {
  if (count === 1) return [name ?? 'default']
  return Array.from({ length: count }, (_, i) => `${name ?? 'etcd'}-${i}`)
}

async function startOnce(options: StartEtcdOptions): Promise<EtcdCluster> {
  const count = options.members ?? options.dataDirs?.length ?? 1
  if (options.dataDirs && options.dataDirs.length !== count) throw new Error(`dataDirs has ${options.dataDirs.length} entries for ${count} members`)
  const names = memberNames(count, options.name)
  const ports = await getFreePorts(count * 3)
  const root = await makeTempDir('steward-etcd-')
  trackTempDir(root)
  const scheme = options.tls ? 'https' : 'http'
  const members: EtcdMember[] = []
  const processes: MemberProcess[] = []
  const port = (i: number) => ports[i] ?? 0
  const peerUrls = names.map((_, i) => `http://127.0.0.1:${port(i * 3 + 1)}`)
  const initialCluster = options.initialCluster ?? names.map((n, i) => `${n}=${peerUrls[i]}`).join(',')
  const token = options.initialClusterToken ?? `steward-${process.pid}-${randomBytes(6).toString('hex')}`
  for (const [i, name] of names.entries()) {
    const clientUrl = `${scheme}://${options.clientHosts?.[i] ?? '127.0.0.1'}:${port(i * 3)}`
    const peerUrl = peerUrls[i] ?? ''
    const metricsUrl = `http://127.0.0.1:${port(i * 3 + 2)}`
    const dataDir = options.dataDirs?.[i] ?? join(root, name)
    const args = [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--listen-metrics-urls=${metricsUrl}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      '--initial-cluster-state=new',
      ...(options.tls
        ? [`--cert-file=${options.tls.certFile}`, `--key-file=${options.tls.keyFile}`, `--trusted-ca-file=${options.tls.caFile}`, '--client-cert-auth']
        : []),
      ...(options.quotaBackendBytes === undefined ? [] : [`--quota-backend-bytes=${options.quotaBackendBytes}`]),
      ...(options.extraArgs ?? []),
    ]
    const proc = spawnMember(name, args, metricsUrl)
    processes.push(proc)
    members.push({ name, clientUrl, peerUrl, metricsUrl, dataDir, pid: proc.child.pid ?? -1 })
  }
  const cluster = makeCluster(members, processes, root, options)
  try {
    await allHealthy(processes, options.startTimeoutSeconds ?? 30)
    if (options.auth) await enableAuth(cluster, options.auth.rootPassword)
    return cluster
  } catch (error) {
    await cluster.stop()
    if (processes.some(lostPortRace)) throw new PortRaceError('a chosen port was taken')
    throw new Error(`etcd cluster failed to start: ${(error as Error).message}\n${outputTails(processes)}`, { cause: error })
  }
}

function outputTails(processes: MemberProcess[]): string {
  return processes.map((p) => `--- ${p.name} (exit code ${p.child.exitCode}, signal ${p.child.signalCode}) ---\n${p.log.tail(LOG_TAIL_LINES)}`).join('\n')
}

/** Resolves when every process is healthy; stops polling the others as soon as one fails. */
async function allHealthy(processes: MemberProcess[], timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000
  const giveUp = new AbortController()
  try {
    await Promise.all(processes.map((p) => waitHealthy(p, deadline, giveUp.signal)))
  } finally {
    giveUp.abort()
  }
}

async function enableAuth(cluster: EtcdCluster, password: string): Promise<void> {
  const noAuth = { auth: false }
  await cluster.etcdctl(['user', 'add', 'root', `--new-user-password=${password}`, '--interactive=false'], noAuth)
  await cluster.etcdctl(['user', 'grant-role', 'root', 'root'], noAuth)
  await cluster.etcdctl(['auth', 'enable'], noAuth)
}

function fail(message: string): never {
  throw new Error(message)
}

function makeCluster(members: EtcdMember[], processes: MemberProcess[], root: string, options: StartEtcdOptions): EtcdCluster {
  const { tls, auth } = options
  let stopping: Promise<void> | undefined
  return {
    members,
    endpoints: members.map((m) => m.clientUrl),
    tls,
    auth,
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        // Followers first, then the leader: a leader stopping while peers are shutting down
        // waits ~7 s trying to hand over leadership; alone it stops at once.
        const leader = await Promise.all(processes.map(isLeader))
        const stopAll = (which: MemberProcess[]) => Promise.all(which.map((p) => terminate(p.child, 'SIGTERM', STOP_GRACE_MS)))
        await stopAll(processes.filter((_, i) => !leader[i]))
        await stopAll(processes.filter((_, i) => leader[i]))
        untrackTempDir(root)
        if (!stopOptions.keepDataDirs) await removeDir(root)
      })()
      return stopping
    },
    async kill(memberIndex) {
      const proc = processes[memberIndex] ?? fail(`no member ${memberIndex} (cluster has ${processes.length})`)
      await terminate(proc.child, 'SIGKILL', STOP_GRACE_MS)
    },
    async waitHealthy(waitOptions = {}) {
      const which = waitOptions.members
        ? waitOptions.members.map((i) => processes[i] ?? fail(`no member ${i} (cluster has ${processes.length})`))
        : processes.filter((p) => !hasExited(p.child))
      try {
        await allHealthy(which, waitOptions.timeoutSeconds ?? 30)
      } catch (error) {
        throw new Error(`etcd cluster is not healthy: ${(error as Error).message}\n${outputTails(which)}`, { cause: error })
      }
    },
    memberLog(memberIndex) {
      return (processes[memberIndex] ?? fail(`no member ${memberIndex} (cluster has ${processes.length})`)).log.text()
    },
    async etcdctl(args, ctl = {}) {
      const flags = [`--endpoints=${(ctl.endpoints ?? members.map((m) => m.clientUrl)).join(',')}`, '--dial-timeout=3s', '--command-timeout=10s']
      if (tls) flags.push(`--cacert=${tls.caFile}`)
      if (tls && ctl.clientCert !== false) flags.push(`--cert=${tls.clientCertFile}`, `--key=${tls.clientKeyFile}`)
      if (auth && ctl.auth !== false) flags.push('--user=root', `--password=${auth.rootPassword}`)
      const { stdout } = await runEtcdTool('etcdctl', [...flags, ...args], { env: cleanEnv(), timeoutSeconds: ctl.timeoutSeconds ?? 30 })
      return stdout
    },
  }
}
