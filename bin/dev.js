#!/usr/bin/env node
// Development entry: runs the TypeScript sources directly (Node 24 strips types),
// so there is no build step between an edit and a run.
import { execute } from '@oclif/core'

await execute({ development: true, dir: import.meta.url })
