/** A fake of the structural {@link ServeEtcd} seam, scripted by the test. */
import { StewardError } from '../../../src/lib/errors.ts'
import type { ClusterMember, MemberStatus, ServeEtcd } from '../../../src/lib/serve/etcd-seam.ts'

export class FakeEtcd implements ServeEtcd {
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

  fail(): void {
    this.down = new StewardError('ETCD_UNREACHABLE', 'etcd', 'connection refused')
  }
}
