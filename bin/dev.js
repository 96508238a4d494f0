#!/usr/bin/env -S node --expose-gc --max-semi-space-size=4
// Development entry: loads the commands from src/ (TypeScript, run directly by Node 24's type
// stripping) and ignores the built manifest, so an edit needs no build. bin/run.js runs dist/.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Plugin, execute } from '@oclif/core'

const root = fileURLToPath(new URL('..', import.meta.url))
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
pjson.oclif = { ...pjson.oclif, commands: './src/commands' }
const plugin = new Plugin({ root, pjson, isRoot: true, ignoreManifest: true })
await plugin.load()
await execute({ development: true, dir: import.meta.url, loadOptions: { root, plugins: new Map([[pjson.name, plugin]]) } })
