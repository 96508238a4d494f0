/** A fake of the structural {@link ServeEtcd} seam and the cluster seam ({@link ClusterAdmin}), scripted by the test. */
import { StewardError } from '../../../src/lib/errors.ts'
import type { ClusterAdmin } from '../../../src/lib/serve/cluster.ts'
import type { ClusterMember, MemberStatus, ServeEtcd } from '../../../src/lib/serve/etcd-seam.ts'

export class FakeEtcd implements ServeEtcd, ClusterAdmin {
  readonly endpoints = ['http://127.0.0.1:2379']
  memberId = '1'
  leaderId = '1'
  isLearner = false
  /** When set, status() rejects with it. */
  down: StewardError | null = null
  members_: ClusterMember[] = [{ id: '1', name: 'etcd-main-0', peerUrls: ['http://a:2380'], clientUrls: ['http://a:2379'], isLearner: false }]
  statusCalls = 0

  async status(endpoint: string): Promise<MemberStatus> {
    this.statusCalls += 1
    if (this.down) throw this.down
    return { endpoint, memberId: this.memberId, clusterId: '42', leaderId: this.leaderId, version: '3.5.0', dbSizeBytes: 1, dbSizeInUseBytes: 1, revision: 1, raftIndex: 1, isLearner: this.isLearner, errors: [] }
  }

  async members(): Promise<ClusterMember[]> {
    if (this.down) throw this.down
    return this.members_
  }

  /** MemberUpdate calls (`<id> <urls>`), kept apart from the cluster {@link calls}. */
  peerUrlUpdates: string[] = []

  async updatePeerUrls(memberId: string, peerUrls: readonly string[]): Promise<void> {
    if (this.down) throw this.down
    this.peerUrlUpdates.push(`${memberId} ${peerUrls.join(',')}`)
    this.members_ = this.members_.map((m) => (m.id === memberId ? { ...m, peerUrls: [...peerUrls] } : m))
  }

  fail(): void {
    this.down = new StewardError('ETCD_UNREACHABLE', 'etcd', 'connection refused')
  }

  /** Cluster calls in order (`add <urls>`, `promote <id>`, `remove <id>`). */
  calls: string[] = []
  /** Errors the next cluster writes reject with, consumed in order. */
  writeErrors: Error[] = []
  #nextId = 100

  #write(call: string): void {
    this.calls.push(call)
    if (this.down) throw this.down
    const error = this.writeErrors.shift()
    if (error) throw error
  }

  async addLearner(peerUrls: readonly string[]): Promise<string> {
    this.#write(`add ${peerUrls.join(',')}`)
    const id = String(this.#nextId++)
    this.members_ = [...this.members_, { id, name: '', peerUrls: [...peerUrls], clientUrls: [], isLearner: true }]
    return id
  }

  async promote(memberId: string): Promise<void> {
    this.#write(`promote ${memberId}`)
    this.members_ = this.members_.map((m) => (m.id === memberId ? { ...m, isLearner: false } : m))
  }

  async remove(memberId: string): Promise<void> {
    this.#write(`remove ${memberId}`)
    this.members_ = this.members_.filter((m) => m.id !== memberId)
  }

  close(): void {}
}
