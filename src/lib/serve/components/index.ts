/**
 * The component registry of `steward serve`, in start order (stopped in reverse). Adding a
 * component = one folder under `components/` exporting a {@link ComponentDefinition}, plus one
 * line here.
 */
import type { ComponentDefinition } from '../component.ts'
import { garbageCollectorComponent } from './garbage-collector/index.ts'
import { alarmsComponent } from './alarms/index.ts'
import { defragmenterComponent } from './defragmenter/index.ts'
import { etcdConfigComponent } from './etcd-config/index.ts'
import { etcdMemberStatusComponent } from './etcd-member-status/index.ts'
import { healthComponent } from './health/index.ts'
import { initializerComponent } from './initializer/index.ts'
import { memberLeaseComponent } from './member-lease/index.ts'
import { metricsComponent } from './metrics/index.ts'
import { peerUrlsComponent } from './peer-urls/index.ts'
import { secondarySyncComponent } from './secondary-sync/index.ts'
import { profilingComponent } from './profiling/index.ts'
import { snapshotLeasesComponent } from './snapshot-leases/index.ts'
import { snapshotterComponent } from './snapshotter/index.ts'

export const COMPONENTS: readonly ComponentDefinition[] = [
  metricsComponent,
  healthComponent,
  etcdConfigComponent,
  initializerComponent,
  peerUrlsComponent,
  snapshotterComponent,
  garbageCollectorComponent,
  secondarySyncComponent,
  snapshotLeasesComponent,
  memberLeaseComponent,
  etcdMemberStatusComponent,
  profilingComponent,
  defragmenterComponent,
  alarmsComponent,
]
