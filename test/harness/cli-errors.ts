/** Assertions on a failed CLI run. */
import * as assert from 'uvu/assert'
import { ERROR_CODES, type ErrorCode } from '../../src/lib/errors.ts'
import type { CliResult } from './cli.ts'

/**
 * A `--json` run that failed with `code`: its exit code, `{"error": {"code", "message"}}` on
 * stdout with a message matching `mentions`, and no stack trace on stderr.
 */
export function expectCliError(result: CliResult, code: ErrorCode, mentions: RegExp): void {
  assert.is(result.code, ERROR_CODES[code].exit, `exit code for ${code}; stderr: ${result.stderr} stdout: ${result.stdout}`)
  const error = (result.json as { error?: { code: string; message: string } } | undefined)?.error
  assert.ok(error, `--json prints {"error": …}; got ${result.stdout}`)
  assert.is(error.code, code)
  assert.match(error.message, mentions)
  assert.not.match(result.stderr, /\n\s+at /, 'no stack trace')
}
