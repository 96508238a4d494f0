/**
 * `--enable-profiling`: `/debug/pprof/heap` answers a V8 heap snapshot (open it in Chrome
 * DevTools → Memory). etcd-backup-restore exposes Go's pprof at the same prefix; Go profiles
 * have no Node equivalent, so only the heap is offered.
 */
import { getHeapSnapshot } from 'node:v8'
import { Readable } from 'node:stream'
import type { ComponentDefinition } from '../../component.ts'

const NAME = 'profiling'

export const profilingComponent: ComponentDefinition = {
  name: NAME,
  enabled: (options) => options.enableProfiling,
  create(ctx) {
    ctx.app.all('/debug/pprof/heap', (c) =>
      c.body(Readable.toWeb(getHeapSnapshot()) as ReadableStream, 200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': 'attachment; filename="steward.heapsnapshot"' }),
    )
    ctx.app.all('/debug/pprof', (c) => c.text('heap: /debug/pprof/heap (V8 heap snapshot)\n'))
    return { name: NAME, start() {}, stop() {} }
  },
}
