/** Issue 8, small items: unknown commands get a suggestion; --help of read-only commands shows no upload flags. Spawns the built CLI. */
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
  assert.match(result.stderr, 'commands: help, restore, snapshot, snapshot list, validate')
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
