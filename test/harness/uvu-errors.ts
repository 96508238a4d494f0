/**
 * uvu's reporter reads `err.details` as a string; StewardError's `details` is an object, so a
 * StewardError escaping a test makes the reporter throw and the suite end early, silently and
 * with exit code 0. Wrap test bodies with {@link reportable} to rethrow such errors as plain Errors.
 */

/** `error` if uvu can report it, else a plain Error with the same message (original as `cause`). */
export function toReportable(error: unknown): unknown {
  if (error instanceof Error && 'details' in error && typeof error.details !== 'string' && !error.name.startsWith('Assertion')) {
    const plain = new Error(error.message, { cause: error })
    if (error.stack) plain.stack = error.stack.replace(/^.*$/m, `Error: ${error.message.split('\n')[0]}`)
    return plain
  }
  return error
}

/** Wraps a uvu test body so every error it throws is reportable (see {@link toReportable}). */
export function reportable<C>(fn: (context: C) => unknown): (context: C) => Promise<void> {
  return async (context) => {
    try {
      await fn(context)
    } catch (error) {
      throw toReportable(error)
    }
  }
}
