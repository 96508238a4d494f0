/**
 * The optional config file, found by cosmiconfig (`.stewardrc`, `.stewardrc.{json,yaml,yml}`,
 * `steward.config.{json,yaml,yml}`, a `steward` key in package.json, searched from the working
 * directory up) or named with `--config`. Validated with a zod schema: an unknown key or a
 * wrong type fails before any work, naming the file and the key.
 */
import { cosmiconfig } from 'cosmiconfig'
import { z } from 'zod'
import { StewardError, messageOf } from '../errors.ts'

const duration = z.union([z.string(), z.number().nonnegative()])
const strings = z.union([z.string(), z.array(z.string())])

/** Schema of the config file; every section and key is optional. */
export const configFileSchema = z.strictObject({
  etcd: z
    .strictObject({
      endpoints: strings.optional(),
      username: z.string().optional(),
      password: z.string().optional(),
      cacert: z.string().optional(),
      cert: z.string().optional(),
      key: z.string().optional(),
      insecureSkipTlsVerify: z.boolean().optional(),
      connectionTimeout: duration.optional(),
      snapshotTimeout: duration.optional(),
      defragTimeout: duration.optional(),
    })
    .optional(),
  store: z
    .strictObject({
      url: z.string().optional(),
      provider: z.string().optional(),
      container: z.string().optional(),
      prefix: z.string().optional(),
      endpointOverride: z.string().optional(),
      minChunkSize: z.number().int().optional(),
      maxParallelChunkUploads: z.number().int().optional(),
      tempDir: z.string().optional(),
    })
    .optional(),
  snapshot: z
    .strictObject({
      compression: z.string().optional(),
    })
    .optional(),
  restore: z
    .strictObject({
      dataDir: z.string().optional(),
      name: z.string().optional(),
      initialCluster: z.string().optional(),
      initialClusterToken: z.string().optional(),
      initialAdvertisePeerUrls: strings.optional(),
      skipHashCheck: z.boolean().optional(),
      tempDir: z.string().optional(),
    })
    .optional(),
})

export type ConfigFile = z.infer<typeof configFileSchema>

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
  const parsed = configFileSchema.safeParse(result.config)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const key = issue?.path.join('.') || '(top level)'
    throw new StewardError('CONFIG_INVALID', 'config', `${result.filepath}: ${key}: ${issue?.message ?? 'invalid'}`, {
      details: { file: result.filepath, key },
      hints: ['valid sections: etcd, store, snapshot, restore (see docs/configuration.md)'],
    })
  }
  return { config: parsed.data, path: result.filepath }
}
