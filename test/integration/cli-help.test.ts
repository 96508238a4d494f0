/** Issue 8, small items: unknown commands get a suggestion; --help of read-only commands shows no upload flags. Spawns the built CLI. */
import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runSteward } from '../harness/cli.ts'
import { editDistance, suggestCommand } from '../../src/lib/cli/command-not-found.ts'

const test = suite('CLI help and unknown commands')

test('an unknown command suggests the nearest one (restor → restore), exit 2, JSON under --json', async () => {
  const text = await runSteward(['restor'])
  assert.is(text.code, 2, text.stderr)
  assert.match(text.stderr, 'unknown command "restor"; did you mean "steward restore"?')
  const json = await runSteward(['snapshot', 'lst', '--json'])
  assert.is(json.code, 2, json.stderr)
  const error = (json.json as { error: { code: string; message: string; details: { suggestion: string } } }).error
  assert.is(error.code, 'CONFIG_INVALID')
  assert.is(error.details.suggestion, 'snapshot list')
})

test('an unknown command far from every known one gets the list of commands, no guess', async () => {
  const result = await runSteward(['frobnicate'])
  assert.is(result.code, 2)
  assert.not.match(result.stderr, 'did you mean')
  // Every command in the manifest is listed (sorted), whatever commands exist by then.
  const manifest = JSON.parse(readFileSync(new URL('../../oclif.manifest.json', import.meta.url), 'utf8')) as { commands: Record<string, unknown> }
  const ids = Object.keys(manifest.commands).map((id) => id.replaceAll(':', ' '))
  const listed = /commands: (.*)/.exec(result.stderr)?.[1]?.split(', ') ?? []
  for (const id of ['restore', 'snapshot', 'snapshot list', 'validate', ...ids]) assert.ok(listed.includes(id), `${id} listed in: ${result.stderr}`)
  assert.equal(listed, [...listed].sort(), 'sorted')
})

test('suggestCommand: typos, swaps and prefixes match; unrelated words do not', () => {
  const known = ['restore', 'snapshot', 'snapshot list', 'validate']
  assert.is(suggestCommand('valdiate', known), 'validate')
  assert.is(suggestCommand('snap', known), 'snapshot')
  assert.is(suggestCommand('snapshot lsit', known), 'snapshot list')
  assert.is(suggestCommand('compact', known), undefined)
  assert.is(editDistance('ab', 'ba'), 1)
})

for (const command of [['snapshot', 'list'], ['validate'], ['restore']]) {
  test(`${command.join(' ')} --help shows no upload-only flags (still accepted with a warning)`, async () => {
    const result = await runSteward([...command, '--help'])
    assert.is(result.code, 0, result.stderr)
    for (const flag of ['--max-parallel-chunk-uploads', '--min-chunk-size', '--snapstore-temp-directory']) assert.not.ok(result.stdout.includes(flag), `${flag} in:\n${result.stdout}`)
    assert.ok(result.stdout.includes('--store-prefix'))
  })
}

test('snapshot --help keeps the upload flags', async () => {
  const result = await runSteward(['snapshot', '--help'])
  assert.ok(result.stdout.includes('--max-parallel-chunk-uploads') && result.stdout.includes('--min-chunk-size'))
})

test.run()
