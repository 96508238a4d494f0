#!/usr/bin/env -S node --max-semi-space-size=1 --expose-gc
// The flags keep V8's young generation small and let steward collect it while streaming
// (src/lib/memory.ts), so the short-lived buffers of a streamed snapshot are freed soon after use. With the default size their garbage, not live data,
// set peak memory (measured on a 320 MiB snapshot: 195 MiB peak RSS by default, ~100 MiB with
// 1 MiB), and the run was no slower. It applies when steward is run as a program (`steward`,
// `./bin/run.js`); `node bin/run.js` uses Node's defaults.
import { execute } from '@oclif/core'

await execute({ dir: import.meta.url })
