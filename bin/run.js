#!/usr/bin/env -S node --expose-gc --max-semi-space-size=4
// --expose-gc lets steward collect garbage while streaming (src/lib/memory.ts), so the
// short-lived buffers of a streamed snapshot, upload or delta restore are freed soon after use.
// --max-semi-space-size=4 (MiB) caps V8's young generation: a delta restore peaked at 140 MiB
// RSS with Node's default and 127 MiB with 4, at the same speed; smaller values slowed
// `steward snapshot` by a quarter (measured: 1 MiB 1.3 s, 2 MiB 1.4 s, 4 MiB and default
// 1.05 s for 320 MiB). The flags apply when steward runs as a program (`steward`,
// `./bin/run.js`); `node bin/run.js` uses Node's defaults, and memory.ts then obtains the gc
// function at run time (V8 cannot change the young generation's size once started), which keeps
// the bounds: docs/benchmarks.md measures both launch styles.
import * as nodeModule from 'node:module'

const [major] = process.versions.node.split('.').map(Number)
if ((major ?? 0) < 24) {
  process.stderr.write(`steward needs Node.js 24 or later; this is Node.js ${process.versions.node}.\nRun it through npm (npm run, npx steward), which uses the Node 24 the project installs, or put node_modules/.bin on PATH.\n`)
  process.exit(1)
}

// Node's on-disk code cache (in the OS temp dir; skipped silently if unwritable) saves about
// 30 ms of every start after the first, most of it compiling oclif and the etcd client.
nodeModule.enableCompileCache?.()
const { execute } = await import('@oclif/core')
await execute({ dir: import.meta.url })
