/** Typed access to credential-file fields (`../../credentials.ts`), with errors naming the origin and the field. */
import { StewardError, isStewardError, messageOf } from '../../../errors.ts'
import { parseGoBool, type CredentialFields } from '../../credentials.ts'

/** What {@link fieldReader} returns. */
export interface FieldReader {
  /** A `CONFIG_INVALID` error about these fields. */
  invalid(message: string): StewardError
  /** A string field; `undefined` when absent or empty. */
  text(name: string): string | undefined
  /** A string field that must be present. */
  required(name: string): string
  /** A boolean field (Go `ParseBool` spelling). */
  bool(name: string): boolean | undefined
}

/** A {@link FieldReader} over `fields`, read from `origin` (e.g. `AWS_APPLICATION_CREDENTIALS=/dir`). */
export function fieldReader(fields: CredentialFields, origin: string, component: string): FieldReader {
  const invalid = (message: string): StewardError =>
    new StewardError('CONFIG_INVALID', component, `${origin}: ${message}`, {
      hints: ['credential files are read verbatim: no trailing newline, booleans as true/false'],
      details: { origin },
    })
  const text = (name: string): string | undefined => {
    const value = fields[name]
    if (value === undefined || value === null || value === '') return undefined
    if (typeof value !== 'string') throw invalid(`field "${name}" must be a string`)
    return value
  }
  return {
    invalid,
    text,
    required(name) {
      const value = text(name)
      if (value === undefined) throw invalid(`field "${name}" is required`)
      return value
    },
    bool(name) {
      try {
        return parseGoBool(fields[name], name)
      } catch (error) {
        throw invalid(isStewardError(error) ? error.reason : messageOf(error))
      }
    },
  }
}
