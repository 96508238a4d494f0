/**
 * Leadership observer (etcd-backup-restore's leader election, docs/serve.md "Leadership"):
 * every `--reelection-period` it reads this member's `Status` (first `--endpoints` entry,
 * bounded by `--etcd-connection-timeout-leader-election`). This member leads iff its member ID
 * equals the leader ID; leader ID 0 or a failed probe is `Unknown`. Listeners get typed
 * `became-leader` / `lost-leader` events on transitions, plus every probe result.
 */
import type { Logger } from 'pino'
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import { systemClock, type Clock } from './clock.ts'
import type { MemberStatus, ServeEtcd } from './etcd-seam.ts'

export type Role = 'Leader' | 'Follower' | 'Unknown'

export type LeadershipEvent =
  | { readonly type: 'became-leader'; readonly status: MemberStatus }
  | { readonly type: 'lost-leader'; readonly role: Role; readonly reason: string }
  /** Every probe, successful or not (health and metrics read it). */
  | { readonly type: 'probe'; readonly role: Role; readonly status: MemberStatus | null; readonly error: StewardError | null }

export type LeadershipListener = (event: LeadershipEvent) => void

export interface LeadershipOptions {
  /** Seconds between probes (`--reelection-period`). */
  readonly periodSeconds: number
  /** Per-probe timeout, seconds (`--etcd-connection-timeout-leader-election`). */
  readonly timeoutSeconds: number
  readonly clock?: Clock
  readonly logger?: Logger
}

export class LeadershipObserver {
  readonly #etcd: ServeEtcd
  readonly #options: LeadershipOptions
  readonly #clock: Clock
  readonly #listeners = new Set<LeadershipListener>()
  #role: Role = 'Unknown'
  #status: MemberStatus | null = null
  #timer: unknown
  #running = false
  #probing: Promise<Role> | null = null

  constructor(etcd: ServeEtcd, options: LeadershipOptions) {
    this.#etcd = etcd
    this.#options = options
    this.#clock = options.clock ?? systemClock
  }

  get role(): Role {
    return this.#role
  }

  get isLeader(): boolean {
    return this.#role === 'Leader'
  }

  /** The last successful probe's status, or `null`. */
  get lastStatus(): MemberStatus | null {
    return this.#status
  }

  /** Subscribes; returns the unsubscribe function. */
  on(listener: LeadershipListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Probes once and emits the events of any transition. Concurrent calls share one probe.
   * @returns the role after the probe
   */
  check(): Promise<Role> {
    this.#probing ??= this.#probe().finally(() => (this.#probing = null))
    return this.#probing
  }

  /** Probes now, then every period until {@link stop}. */
  start(): void {
    if (this.#running) return
    this.#running = true
    const loop = () => {
      if (!this.#running) return
      void this.check().finally(() => {
        if (this.#running) this.#timer = this.#clock.setTimer(loop, this.#options.periodSeconds * 1000)
      })
    }
    loop()
  }

  /** Stops probing; a leader emits `lost-leader` (its leader-only work must stop). */
  stop(): void {
    this.#running = false
    this.#clock.clearTimer(this.#timer)
    if (this.#role === 'Leader') this.#transition('Unknown', null, 'the sidecar is stopping')
  }

  async #probe(): Promise<Role> {
    const endpoint = this.#etcd.endpoints[0]
    if (!endpoint) throw new StewardError('CONFIG_INVALID', 'leadership', 'no etcd endpoint to probe')
    try {
      const status = await this.#etcd.status(endpoint, this.#options.timeoutSeconds * 1000)
      if (status.leaderId === '0') throw new StewardError('ETCD_REQUEST_FAILED', 'leadership', `${endpoint} reports no leader`)
      this.#status = status
      const role: Role = status.memberId === status.leaderId ? 'Leader' : 'Follower'
      this.#transition(role, status, role === 'Follower' ? `member ${status.leaderId} leads now` : '')
      this.#emit({ type: 'probe', role, status, error: null })
      return role
    } catch (error) {
      const failure = isStewardError(error) ? error : new StewardError('ETCD_UNREACHABLE', 'leadership', messageOf(error), { cause: error })
      this.#transition('Unknown', null, `probing ${endpoint} failed: ${failure.reason}`)
      this.#emit({ type: 'probe', role: 'Unknown', status: null, error: failure })
      return 'Unknown'
    }
  }

  #transition(role: Role, status: MemberStatus | null, reason: string): void {
    const previous = this.#role
    this.#role = role
    if (previous === role) return
    this.#options.logger?.info({ component: 'leadership', from: previous, to: role }, `role ${previous} → ${role}${reason ? ` (${reason})` : ''}`)
    if (role === 'Leader' && status) this.#emit({ type: 'became-leader', status })
    else if (previous === 'Leader') this.#emit({ type: 'lost-leader', role, reason })
  }

  #emit(event: LeadershipEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event)
      } catch (error) {
        this.#options.logger?.error({ component: 'leadership', err: error }, `a leadership listener failed: ${messageOf(error)}`)
      }
    }
  }
}
