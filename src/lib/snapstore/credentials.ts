/**
 * Credential files as etcd-backup-restore reads them (research notes §4): for a provider
 * whose variables are `<P>NAME_APPLICATION_CREDENTIALS` (a directory) and
 * `<P>NAME_APPLICATION_CREDENTIALS_JSON` (a JSON file), with `<P>` the store's env prefix
 * (`''`, `SOURCE_`, `SECONDARY_`):
 *   1. the `_JSON` variable is set → that file is parsed as a JSON object;
 *   2. else the directory variable is set and the directory has a `*.json` file → the first one
 *      (in name order) is parsed as JSON (legacy behaviour);
 *   3. else the directory variable is set → one file per field, file name = field name.
 * File contents are used verbatim (no trimming), as etcd-backup-restore does.
 */
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { StewardError, messageOf } from '../errors.ts'

/** Field name → value; values from JSON keep their JSON type (string, boolean, number). */
export type CredentialFields = Readonly<Record<string, unknown>>

export interface CredentialSource {
  /** Fields read, or `null` when neither variable is set (use the SDK's default chain). */
  readonly fields: CredentialFields | null
  /** Where they came from, for messages (`AWS_APPLICATION_CREDENTIALS_JSON=/path`). */
  readonly origin: string | null
  /** Directory the fields came from (mode 3), for fields that are file paths (e.g. S3 `token`). */
  readonly directory: string | null
}

/**
 * Reads a provider's credential fields.
 * @param baseName e.g. `AWS_APPLICATION_CREDENTIALS`
 * @param fieldNames fields to read in directory mode (missing files are skipped)
 * @throws StewardError `CONFIG_INVALID` when a named file or directory cannot be read or parsed
 */
export async function readCredentialFields(
  envPrefix: string,
  baseName: string,
  fieldNames: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<CredentialSource> {
  const jsonVar = `${envPrefix}${baseName}_JSON`
  const dirVar = `${envPrefix}${baseName}`
  const jsonPath = env[jsonVar]
  if (jsonPath) return { fields: await readJsonObject(jsonPath, jsonVar), origin: `${jsonVar}=${jsonPath}`, directory: null }
  const dir = env[dirVar]
  if (!dir) return { fields: null, origin: null, directory: null }
  let names: string[]
  try {
    names = (await readdir(dir)).sort()
  } catch (error) {
    throw invalid(dirVar, `cannot read directory ${dir}: ${messageOf(error)}`)
  }
  const firstJson = names.find((n) => n.endsWith('.json'))
  if (firstJson) return { fields: await readJsonObject(join(dir, firstJson), dirVar), origin: `${dirVar}=${dir}`, directory: dir }
  const fields: Record<string, string> = {}
  for (const field of fieldNames) {
    if (!names.includes(field)) continue
    fields[field] = await readFile(join(dir, field), 'utf8')
  }
  return { fields, origin: `${dirVar}=${dir}`, directory: dir }
}

/** Go `strconv.ParseBool` semantics for boolean credential fields; `undefined` stays `undefined`. */
export function parseGoBool(value: unknown, field: string): boolean | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (typeof value === 'boolean') return value
  const text = String(value)
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false
  throw new StewardError('CONFIG_INVALID', 'credentials', `field ${field} must be a boolean (true/false/1/0), got ${JSON.stringify(text)}`)
}

async function readJsonObject(path: string, variable: string): Promise<CredentialFields> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw invalid(variable, `cannot read ${path}: ${messageOf(error)}`)
  }
  try {
    const value: unknown = JSON.parse(text)
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as CredentialFields
  } catch (error) {
    throw invalid(variable, `${path} is not valid JSON: ${messageOf(error)}`)
  }
  throw invalid(variable, `${path} must hold a JSON object`)
}

function invalid(variable: string, message: string): StewardError {
  return new StewardError('CONFIG_INVALID', 'credentials', `${variable}: ${message}`)
}
