#!/usr/bin/env node
// No V8 flags here: `steward` (this file run as a program, the image's entrypoint) and
// `node bin/run.js` start the same way. The memory settings steward streams with apply at run
// time in both (src/lib/memory.ts): the gc function comes from a vm context with --expose-gc
// turned on, allocation-site pretenuring is turned off, and the young generation stops growing
// at 8 MiB (what the former shebang's --max-semi-space-size=4 gave; Node's default lets it grow
// to 128 MiB here). docs/benchmarks.md measures both launch styles.
import * as nodeModule from 'node:module'

const [major] = process.versions.node.split('.').map(Number)
if ((major ?? 0) < 24) {
  process.stderr.write(`steward needs Node.js 24 or later; this is Node.js ${process.versions.node}.\nRun it through npm (npm run, npx steward), which uses the Node 24 the project installs, or put node_modules/.bin on PATH.\n`)
  process.exit(1)
}

// Node's on-disk code cache (in the OS temp dir; skipped silently if unwritable) saves about
// 30 ms of every start after the first, most of it compiling oclif and the etcd client.
nodeModule.enableCompileCache?.()
// oclif checks its own Node engine range with semver when imported (about 9 ms of every start);
// the check above already requires Node 24. Children (etcd, etcdutl) see the variable unchanged.
const engineWarning = process.env.OCLIF_DISABLE_ENGINE_WARNING
process.env.OCLIF_DISABLE_ENGINE_WARNING = '1'
const { execute } = await import('@oclif/core')
if (engineWarning === undefined) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
else process.env.OCLIF_DISABLE_ENGINE_WARNING = engineWarning
await execute({ dir: import.meta.url })
