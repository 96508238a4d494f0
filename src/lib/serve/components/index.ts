/**
 * The component registry of `steward serve`, in start order (stopped in reverse). Adding a
 * component = one folder under `components/` exporting a {@link ComponentDefinition}, plus one
 * line here. The garbage collector and the defragmenter register here once their operations
 * exist (they read `options.garbageCollection`, `options.defragmentationSchedule`).
 */
import type { ComponentDefinition } from '../component.ts'
import { alarmsComponent } from './alarms/index.ts'
import { defragmenterComponent } from './defragmenter/index.ts'
import { etcdConfigComponent } from './etcd-config/index.ts'
import { healthComponent } from './health/index.ts'
import { initializerComponent } from './initializer/index.ts'
import { metricsComponent } from './metrics/index.ts'
import { profilingComponent } from './profiling/index.ts'
import { snapshotterComponent } from './snapshotter/index.ts'

export const COMPONENTS: readonly ComponentDefinition[] = [
  metricsComponent,
  healthComponent,
  etcdConfigComponent,
  initializerComponent,
  snapshotterComponent,
  profilingComponent,
  defragmenterComponent,
  alarmsComponent,
]
