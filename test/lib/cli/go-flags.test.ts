import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { normalizeGoFlagForms } from '../../../src/lib/cli/go-flags.ts'
import { isStewardError } from '../../../src/lib/errors.ts'

const flags = {
  'compress-snapshots': { type: 'boolean', allowNo: true },
  'insecure-transport': { type: 'boolean' },
  'store-prefix': { type: 'option' },
}

test('--flag=true and every Go true spelling become --flag', () => {
  for (const v of ['true', 'True', 'TRUE', 't', 'T', '1']) {
    assert.equal(normalizeGoFlagForms([`--compress-snapshots=${v}`], flags), ['--compress-snapshots'])
  }
})

test('--flag=false becomes --no-flag, or nothing when the flag has no --no- form', () => {
  for (const v of ['false', 'False', 'FALSE', 'f', 'F', '0']) {
    assert.equal(normalizeGoFlagForms([`--compress-snapshots=${v}`], flags), ['--no-compress-snapshots'])
    assert.equal(normalizeGoFlagForms([`--insecure-transport=${v}`, 'x'], flags), ['x'])
  }
})

test('value flags, unknown flags and everything after -- are left alone', () => {
  const argv = ['--store-prefix=a=b', '--unknown=true', '--', '--compress-snapshots=true']
  assert.equal(normalizeGoFlagForms(argv, flags), argv)
})

test('a value that is not a Go boolean is CONFIG_INVALID naming the flag', () => {
  try {
    normalizeGoFlagForms(['--compress-snapshots=yes'], flags)
    assert.unreachable()
  } catch (error) {
    assert.ok(isStewardError(error, 'CONFIG_INVALID'))
    assert.match((error as Error).message, /--compress-snapshots=yes/)
  }
})

test.run()
