#!/usr/bin/env -S node --expose-gc
// --expose-gc lets steward collect garbage while streaming (src/lib/memory.ts), so the
// short-lived buffers of a streamed snapshot or upload are freed soon after use. It applies when
// steward runs as a program (`steward`, `./bin/run.js`); `node bin/run.js` uses Node's defaults.
// (An earlier `--max-semi-space-size=1` cut peak RSS with the grpc-js snapshot stream, but with
// steward's own HTTP/2 transport it only cost CPU: 1.3 s instead of 1.05 s for 320 MiB, and a
// higher peak RSS.)
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
