/**
 * The optional config file, found by cosmiconfig (`.stewardrc`, `.stewardrc.{json,yaml,yml}`,
 * `steward.config.{json,yaml,yml}`, a `steward` key in package.json, searched from the working
 * directory up) or named with `--config`. Validated with a zod schema: an unknown key or a
 * wrong type fails before any work, naming the file and the key.
 */
import { cosmiconfig } from 'cosmiconfig'
import { StewardError, messageOf } from '../errors.ts'
import type { ConfigFile } from './schema.ts'
import { markConfigFilePath } from './sources.ts'

export type { ConfigFile } from './schema.ts'

export interface LoadedConfigFile {
  readonly config: ConfigFile
  /** Path of the file read, or `null` when none was found. */
  readonly path: string | null
}

/**
 * Finds and validates the config file.
 * @param explicitPath `--config` value; when given, the file must exist.
 * @throws StewardError `CONFIG_INVALID` naming the file and the offending key
 */
export async function loadConfigFile(explicitPath?: string, cwd: string = process.cwd()): Promise<LoadedConfigFile> {
  const explorer = cosmiconfig('steward', { searchStrategy: 'project' })
  let result
  try {
    result = explicitPath ? await explorer.load(explicitPath) : await explorer.search(cwd)
  } catch (error) {
    throw new StewardError('CONFIG_INVALID', 'config', `cannot read config file ${explicitPath ?? ''}: ${messageOf(error)}`.replace('  ', ' '), {
      cause: error,
      hints: ['--config takes a JSON or YAML file'],
    })
  }
  if (!result || result.isEmpty) return { config: {}, path: result?.filepath ?? null }
  // zod is loaded only here: most runs have no config file.
  const { configFileSchema } = await import('./schema.ts')
  const parsed = configFileSchema.safeParse(result.config)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const key = issue?.path.join('.') || '(top level)'
    throw new StewardError('CONFIG_INVALID', 'config', `${result.filepath}: ${key}: ${issue?.message ?? 'invalid'}`, {
      details: { file: result.filepath, key },
      hints: ['valid sections: etcd, store, snapshot, restore (see docs/configuration.md)'],
    })
  }
  markConfigFilePath(parsed.data, result.filepath)
  return { config: parsed.data, path: result.filepath }
}
