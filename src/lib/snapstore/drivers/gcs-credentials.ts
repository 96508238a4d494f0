/**
 * etcd-backup-restore's credential rules for the GCS driver (`./gcs.ts`, research notes §4.3):
 * turns a {@link StoreConfig} plus the environment into {@link GcsSnapstoreOptions}.
 */
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { StewardError, messageOf } from '../../errors.ts'
import type { StoreConfig } from '../config.ts'
import type { GcsSnapstoreOptions } from './gcs.ts'

const COMPONENT = 'snapstore:GCS'

/**
 * The GCS driver's options for a {@link StoreConfig}, finding credentials as etcd-backup-restore does
 * (research notes §4.3): `<P>GOOGLE_APPLICATION_CREDENTIALS` names a JSON credentials file
 * (`type` `service_account`, or `external_account` for workload identity federation), with
 * `<P>` the store's env prefix; without it, the SDK's default chain is used. The endpoint is
 * `config.endpointOverride`, else the deprecated `storageAPIEndpoint` file next to the
 * credentials file; an `http:` endpoint is an emulator and is used without authentication.
 * @throws StewardError `CONFIG_INVALID` naming the variable and field at fault
 */
export async function gcsOptionsFor(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<GcsSnapstoreOptions> {
  const variable = `${config.envPrefix}GOOGLE_APPLICATION_CREDENTIALS`
  const keyFilename = env[variable] || undefined
  let projectId: string | undefined
  let endpoint = config.endpointOverride
  if (keyFilename) {
    projectId = await checkCredentialsFile(keyFilename, variable)
    endpoint ??= await readOptionalFile(join(dirname(keyFilename), 'storageAPIEndpoint'), variable)
  }
  if (endpoint !== undefined && !URL.canParse(endpoint)) {
    throw new StewardError('CONFIG_INVALID', COMPONENT, `GCS endpoint ${JSON.stringify(endpoint)} is not a URL`, { hints: ['pass --store-endpoint-override http://host:port for an emulator'] })
  }
  return {
    bucket: config.container,
    chunkSize: config.minChunkSize,
    ...(keyFilename ? { keyFilename } : {}),
    ...(projectId ? { projectId } : {}),
    ...(endpoint ? { endpoint } : {}),
  }
}

/** Fields a service account key file must carry. */
const SERVICE_ACCOUNT_FIELDS = ['project_id', 'client_email', 'private_key'] as const
/** Fields a workload identity federation config must carry. */
const EXTERNAL_ACCOUNT_FIELDS = ['audience', 'subject_token_type', 'token_url', 'credential_source'] as const

/**
 * Checks that the credentials file is a JSON object of a supported `type` with its required
 * fields, and returns its project id (for `external_account`, from a `projectID` file beside it).
 * @throws StewardError `CONFIG_INVALID` naming the variable and the field
 */
async function checkCredentialsFile(path: string, variable: string): Promise<string | undefined> {
  const invalid = (message: string): StewardError =>
    new StewardError('CONFIG_INVALID', COMPONENT, `${variable}=${path}: ${message}`, {
      hints: ['point it at a service account key (JSON) or a workload identity federation config'],
      details: { variable, path },
    })
  let json: Record<string, unknown>
  try {
    const value: unknown = JSON.parse(await readFile(path, 'utf8'))
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object')
    json = value as Record<string, unknown>
  } catch (error) {
    throw invalid(`cannot read the credentials file: ${messageOf(error)}`)
  }
  const type = json['type']
  const required = type === 'service_account' ? SERVICE_ACCOUNT_FIELDS : type === 'external_account' ? EXTERNAL_ACCOUNT_FIELDS : null
  if (!required) throw invalid(`field "type" must be "service_account" or "external_account", got ${JSON.stringify(type)}`)
  for (const field of required) {
    if (json[field] === undefined || json[field] === '') throw invalid(`field "${field}" is required for type ${type}`)
  }
  if (type === 'service_account') return typeof json['project_id'] === 'string' ? json['project_id'] : undefined
  return readOptionalFile(join(dirname(path), 'projectID'), variable)
}

/** A file's content (verbatim), or `undefined` when it does not exist. */
async function readOptionalFile(path: string, variable: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')) || undefined
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new StewardError('CONFIG_INVALID', COMPONENT, `${variable}: cannot read ${path}: ${messageOf(error)}`)
  }
}
