/**
 * Preload (`node --import test/harness/record-imports.ts …`) that writes every module specifier
 * the process resolves to the file named by STEWARD_RECORD_IMPORTS when it exits. Used to
 * prove that cloud SDKs are only loaded when a store of their kind is used.
 */
import { writeFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const seen = new Set<string>()
registerHooks({
  resolve(specifier, context, nextResolve) {
    seen.add(specifier)
    return nextResolve(specifier, context)
  },
})
process.on('exit', () => {
  const target = process.env['STEWARD_RECORD_IMPORTS']
  if (target) writeFileSync(target, JSON.stringify([...seen]))
})
