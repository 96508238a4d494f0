/**
 * The metrics `steward serve` exposes on `/metrics`: etcd-backup-restore's `etcdbr_*` names,
 * types and labels (docs/serve.md "Metrics"; Gardener's alerts and recording rules read
 * them), on one prom-client registry with the default `process_*` / `nodejs_*` collectors.
 * Label combinations are pre-initialised to zero as etcd-backup-restore does, so alerts see
 * series from the start.
 */
import { readFileSync } from 'node:fs'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export const SNAPSHOT_KINDS = ['Full', 'Incr'] as const
export type SnapshotKindLabel = (typeof SNAPSHOT_KINDS)[number]
const BOOLS = ['true', 'false'] as const

export interface EtcdbrMetrics {
  readonly registry: Registry
  readonly snapshotGcTotal: Counter<'kind' | 'succeeded'>
  readonly snapshotLatestRevision: Gauge<'kind'>
  readonly snapshotLatestTimestamp: Gauge<'kind'>
  readonly snapshotRequired: Gauge<'kind'>
  readonly snapshotDuration: Histogram<'kind' | 'succeeded'>
  readonly validationDuration: Histogram<'succeeded'>
  readonly restorationDuration: Histogram<'restore' | 'succeeded'>
  readonly defragmentationDuration: Histogram<'succeeded' | 'endpoint'>
  readonly latestDeltasTotal: Gauge
  readonly latestDeltasRevisionsTotal: Gauge
  readonly snapshotterFailure: Counter<'error'>
  readonly clusterSize: Gauge
  readonly isLearner: Gauge
  readonly isLearnerCountTotal: Counter<'succeeded'>
  readonly addLearnerDuration: Histogram<'succeeded'>
  readonly memberRemoveDuration: Histogram<'succeeded'>
  readonly memberPromoteDuration: Histogram<'succeeded'>
  /** Failures of any component, by component (steward's own; every failure log line has one). */
  readonly componentFailures: Counter<'component'>
}

/** Sums one column of `/proc/self/net/dev` over all interfaces (Linux; 0 elsewhere). */
function netDevColumn(column: number): number {
  try {
    const lines = readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2)
    let sum = 0
    for (const line of lines) {
      const fields = line.split(':')[1]?.trim().split(/\s+/)
      const value = Number(fields?.[column])
      if (Number.isFinite(value)) sum += value
    }
    return sum
  } catch {
    return 0
  }
}

/** Builds the registry with every metric (call once per runtime). */
export function createMetrics(): EtcdbrMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const m: EtcdbrMetrics = {
    registry,
    snapshotGcTotal: new Counter({ name: 'etcdbr_snapshot_gc_total', help: 'Total number of garbage collected snapshots.', labelNames: ['kind', 'succeeded'], registers }),
    snapshotLatestRevision: new Gauge({ name: 'etcdbr_snapshot_latest_revision', help: 'Revision number of latest snapshot taken.', labelNames: ['kind'], registers }),
    snapshotLatestTimestamp: new Gauge({ name: 'etcdbr_snapshot_latest_timestamp', help: 'Timestamp of latest snapshot taken (unix seconds).', labelNames: ['kind'], registers }),
    snapshotRequired: new Gauge({ name: 'etcdbr_snapshot_required', help: 'Whether a snapshot of this kind is required (1) or not (0).', labelNames: ['kind'], registers }),
    snapshotDuration: new Histogram({ name: 'etcdbr_snapshot_duration_seconds', help: 'Total latency distribution of saving snapshot to object store.', labelNames: ['kind', 'succeeded'], registers }),
    validationDuration: new Histogram({ name: 'etcdbr_validation_duration_seconds', help: 'Total latency distribution of validating data directory.', labelNames: ['succeeded'], registers }),
    restorationDuration: new Histogram({ name: 'etcdbr_restoration_duration_seconds', help: 'Total latency distribution of restoring from snapshot.', labelNames: ['restore', 'succeeded'], registers }),
    defragmentationDuration: new Histogram({ name: 'etcdbr_defragmentation_duration_seconds', help: 'Total latency distribution of defragmentation of etcd members.', labelNames: ['succeeded', 'endpoint'], registers }),
    latestDeltasTotal: new Gauge({ name: 'etcdbr_snapstore_latest_deltas_total', help: 'Total number of delta snapshots taken since the latest full snapshot.', registers }),
    latestDeltasRevisionsTotal: new Gauge({ name: 'etcdbr_snapstore_latest_deltas_revisions_total', help: 'Total number of revisions stored in delta snapshots taken since the latest full snapshot.', registers }),
    snapshotterFailure: new Counter({ name: 'etcdbr_snapshotter_failure', help: 'Total number of snapshotter errors.', labelNames: ['error'], registers }),
    clusterSize: new Gauge({ name: 'etcdbr_cluster_size', help: 'Size of the etcd cluster (entries of initial-cluster).', registers }),
    isLearner: new Gauge({ name: 'etcdbr_is_learner', help: 'Whether this member is a learner (1) or not (0).', registers }),
    isLearnerCountTotal: new Counter({ name: 'etcdbr_is_learner_count_total', help: 'Total number of times this member was a learner.', labelNames: ['succeeded'], registers }),
    addLearnerDuration: new Histogram({ name: 'etcdbr_add_learner_duration_seconds', help: 'Total latency distribution of adding a learner.', labelNames: ['succeeded'], registers }),
    memberRemoveDuration: new Histogram({ name: 'etcdbr_member_remove_duration_seconds', help: 'Total latency distribution of removing a member.', labelNames: ['succeeded'], registers }),
    memberPromoteDuration: new Histogram({ name: 'etcdbr_member_promote_duration_seconds', help: 'Total latency distribution of promoting a learner.', labelNames: ['succeeded'], registers }),
    componentFailures: new Counter({ name: 'steward_component_failures_total', help: 'Failures of steward serve components, by component.', labelNames: ['component'], registers }),
  }
  new Counter({ name: 'etcdbr_network_transmitted_bytes', help: 'Bytes transmitted over the network (all interfaces of the pod).', registers, collect() { this.reset(); this.inc(netDevColumn(8)) } })
  new Counter({ name: 'etcdbr_network_received_bytes', help: 'Bytes received over the network (all interfaces of the pod).', registers, collect() { this.reset(); this.inc(netDevColumn(0)) } })
  for (const kind of ['Full', 'Incr', 'Chunk']) for (const succeeded of BOOLS) m.snapshotGcTotal.inc({ kind, succeeded }, 0)
  for (const kind of SNAPSHOT_KINDS) {
    m.snapshotLatestRevision.set({ kind }, 0)
    m.snapshotLatestTimestamp.set({ kind }, 0)
    m.snapshotRequired.set({ kind }, 0)
    for (const succeeded of BOOLS) m.snapshotDuration.zero({ kind, succeeded })
  }
  for (const succeeded of BOOLS) {
    m.validationDuration.zero({ succeeded })
    m.defragmentationDuration.zero({ succeeded, endpoint: '' })
    m.isLearnerCountTotal.inc({ succeeded }, 0)
    m.addLearnerDuration.zero({ succeeded })
    m.memberRemoveDuration.zero({ succeeded })
    m.memberPromoteDuration.zero({ succeeded })
    for (const restore of ['single_member', 'single_node']) m.restorationDuration.zero({ restore, succeeded })
  }
  m.snapshotterFailure.inc({ error: '' }, 0)
  m.latestDeltasTotal.set(0)
  m.latestDeltasRevisionsTotal.set(0)
  m.isLearner.set(0)
  return m
}
