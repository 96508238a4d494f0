/** The EtcdMember status fields and DEP-04 transitions computed from one etcd Status answer. */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { MAX_TRANSITIONS, formatTime, memberState, memberStatusFields, nextTransitions, type MemberTransition, type ObservedMember } from '../../../src/lib/k8s/etcd-member.ts'

const test = suite('EtcdMember status')
// IDs beyond 2^53, as etcd's are.
const LEADER: ObservedMember = { memberId: '10276657743932975437', clusterId: '14841639068965178418', leaderId: '10276657743932975437', isLearner: false, dbSizeBytes: 24576, dbSizeInUseBytes: 16384 }
const FOLLOWER: ObservedMember = { ...LEADER, leaderId: '42' }
const LEARNER: ObservedMember = { ...FOLLOWER, isLearner: true }
const NOW = new Date('2026-12-01T17:21:45.678Z')

test('fields: hex IDs without padding (the lease holder format), sizes in bytes as integers', () => {
  assert.equal(memberStatusFields(LEADER, true), { id: '8e9e05c52164694d', clusterID: 'cdf818194e3a8c32', peerTLSEnabled: true, dbSize: 24576, dbSizeInUse: 16384 })
})

test('state: Started/Leader, Started/Follower, Starting/Learner; leader ID 0 is not leading', () => {
  assert.equal(memberState(LEADER), { state: 'Started', subState: 'Leader' })
  assert.equal(memberState(FOLLOWER), { state: 'Started', subState: 'Follower' })
  assert.equal(memberState(LEARNER), { state: 'Starting', subState: 'Learner' })
  assert.equal(memberState({ ...LEADER, memberId: '0', leaderId: '0' }), { state: 'Started', subState: 'Follower' })
})

test('transitionTime is a metav1.Time: whole seconds, UTC', () => {
  assert.is(formatTime(NOW), '2026-12-01T17:21:45Z')
})

test('transitions: appended only on a change, with the proposal\'s reason codes', () => {
  const first = nextTransitions([], LEADER, NOW)!
  assert.equal(first.map((t) => [t.state, t.subState, t.reason, t.transitionTime]), [['Started', 'Leader', 'MemberStatusObserved', '2026-12-01T17:21:45Z']])
  assert.is(first[0]!.message, 'member 8e9e05c52164694d leads cluster cdf818194e3a8c32')
  assert.is(nextTransitions(first, LEADER, NOW), null, 'same state: nothing to append')
  const lost = nextTransitions(first, FOLLOWER, NOW)!
  assert.is(lost.at(-1)!.reason, 'LostClusterLeadership')
  assert.is(lost.at(-1)!.message, 'member 8e9e05c52164694d is a voting member; member 2a leads')
  assert.is(nextTransitions(lost, LEADER, NOW)!.at(-1)!.reason, 'GainedClusterLeadership')
  const learner = nextTransitions([], LEARNER, NOW)!
  assert.equal([learner[0]!.state, learner[0]!.subState, learner[0]!.reason], ['Starting', 'Learner', 'JoinedAsLearner'])
  assert.is(nextTransitions(learner, FOLLOWER, NOW)!.at(-1)!.reason, 'PromotedAsVotingMember')
  // A predecessor steward does not write (e.g. druid's New) gives steward's own reason.
  const afterNew = nextTransitions([{ state: 'New', subState: 'New', reason: 'ClusterScaledUp', transitionTime: '2026-12-01T17:00:00Z' }], FOLLOWER, NOW)!
  assert.is(afterNew.at(-1)!.reason, 'MemberStatusObserved')
  assert.is(afterNew.length, 2, 'earlier transitions are kept')
  // No leader known (an election): no transition for a voting member; a learner is still a learner.
  assert.is(nextTransitions(first, { ...LEADER, leaderId: '0' }, NOW), null)
  assert.is(nextTransitions([], { ...LEADER, leaderId: '0' }, NOW), null)
  assert.is(nextTransitions([], { ...LEARNER, leaderId: '0' }, NOW)!.at(-1)!.subState, 'Learner')
})

test(`transitions: only the last ${MAX_TRANSITIONS} are kept`, () => {
  let list: MemberTransition[] = []
  for (let i = 0; i < MAX_TRANSITIONS + 5; i++) list = nextTransitions(list, i % 2 === 0 ? LEADER : FOLLOWER, new Date(NOW.getTime() + i * 1000))!
  assert.is(list.length, MAX_TRANSITIONS)
  assert.is(list.at(-1)!.transitionTime, formatTime(new Date(NOW.getTime() + (MAX_TRANSITIONS + 4) * 1000)))
})

test.run()
