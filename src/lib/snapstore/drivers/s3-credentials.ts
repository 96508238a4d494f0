/**
 * etcd-backup-restore's credential rules for the S3 driver (`./s3.ts`) and its S3-based
 * providers ECS and OCS (research notes §4.1, §4.6, §4.7): turns a {@link StoreConfig} plus the
 * environment into {@link S3SnapstoreOptions}.
 */
import { join } from 'node:path'
import { StewardError } from '../../errors.ts'
import { logger } from '../../log.ts'
import type { StoreConfig } from '../config.ts'
import { parseGoBool, readCredentialFields, type CredentialFields } from '../credentials.ts'
import { fieldReader } from './_shared/fields.ts'
import type { S3ProviderId, S3SnapstoreOptions } from './s3.ts'

/** Fields of `AWS_APPLICATION_CREDENTIALS` (a directory has one file per field). */
const S3_FIELDS = [
  'accessKeyID',
  'secretAccessKey',
  'region',
  'endpoint',
  's3ForcePathStyle',
  'insecureSkipVerify',
  'trustedCaCert',
  'sseCustomerKey',
  'sseCustomerAlgorithm',
  'roleARN',
  'token',
  'tokenPath',
  'requestChecksumCalculation',
  'responseChecksumValidation',
] as const
/** Fields of `OPENSHIFT_APPLICATION_CREDENTIALS`. */
const OCS_FIELDS = ['endpoint', 'region', 'accessKeyID', 'secretAccessKey', 'disableSSL', 'insecureSkipVerify'] as const
/** ECS has a fixed region (research notes §4.6). */
const ECS_REGION = 'US-Standard'

/** Receives a warning about the credentials (deprecated fields); `details` are log fields. */
export type CredentialWarning = (message: string, details: Readonly<Record<string, unknown>>) => void

/** Default {@link CredentialWarning}: a `warn` line of the process logger. */
const logWarning: CredentialWarning = (message, details) => logger().warn({ component: 'snapstore:S3', ...details }, message)

/**
 * The S3 driver's options for a {@link StoreConfig} with provider `S3`, `ECS` or `OCS`, finding
 * credentials as etcd-backup-restore does (research notes §4.1, §4.6, §4.7):
 * - `S3`: `<P>AWS_APPLICATION_CREDENTIALS_JSON` (file) or `<P>AWS_APPLICATION_CREDENTIALS`
 *   (directory); `region` is then required, and either `accessKeyID` + `secretAccessKey` or
 *   `roleARN` + `token` (directory: the `token` file; JSON: `tokenPath`). With neither variable
 *   set, the AWS SDK default chain is used (process environment, shared files, IRSA, metadata).
 * - `ECS`: `ECS_ENDPOINT`, `ECS_ACCESS_KEY_ID`, `ECS_SECRET_ACCESS_KEY` (never prefixed),
 *   optional `ECS_DISABLE_SSL`, `ECS_INSECURE_SKIP_VERIFY`; region `US-Standard`, path-style.
 * - `OCS`: `<P>OPENSHIFT_APPLICATION_CREDENTIALS[_JSON]` with `endpoint`, `region`,
 *   `accessKeyID`, `secretAccessKey` (required), `disableSSL`, `insecureSkipVerify`; path-style.
 * `config.endpointOverride` (`--store-endpoint-override`) wins over any endpoint found in
 * credentials and turns on path-style addressing unless `s3ForcePathStyle` says otherwise.
 * The S3 `endpoint` field is deprecated (as in etcd-backup-restore): it is still used, and
 * `warn` is told to suggest `--store-endpoint-override` instead.
 * @param warn receives warnings; default: the process logger
 * @throws StewardError `CONFIG_INVALID` naming the variable and field at fault
 */
export async function s3OptionsFor(config: StoreConfig, env: NodeJS.ProcessEnv, warn: CredentialWarning = logWarning): Promise<S3SnapstoreOptions> {
  const provider: S3ProviderId = config.provider === 'ECS' || config.provider === 'OCS' ? config.provider : 'S3'
  const base: S3SnapstoreOptions = {
    provider,
    bucket: config.container,
    partSize: config.minChunkSize,
    queueSize: config.maxParallelChunkUploads,
  }
  if (provider === 'ECS') return { ...base, ...ecsOptions(config, env) }
  if (provider === 'OCS') return { ...base, ...(await ocsOptions(config, env)) }
  return { ...base, ...(await s3Options(config, env, warn)) }
}

async function s3Options(config: StoreConfig, env: NodeJS.ProcessEnv, warn: CredentialWarning): Promise<Partial<S3SnapstoreOptions>> {
  const source = await readCredentialFields(config.envPrefix, 'AWS_APPLICATION_CREDENTIALS', S3_FIELDS, env)
  if (!source.fields) {
    // No credential files: the SDK default chain finds credentials; an endpoint override
    // (S3-compatible server) still needs some region to sign with.
    const region = env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'] ?? (config.endpointOverride ? 'us-east-1' : undefined)
    return { ...(region ? { region } : {}), ...(config.endpointOverride ? { endpoint: config.endpointOverride } : {}) }
  }
  const f = s3FieldReader(source.fields, source.origin ?? 'AWS_APPLICATION_CREDENTIALS', 'S3')
  const region = f.required('region')
  const options: { -readonly [K in keyof S3SnapstoreOptions]?: S3SnapstoreOptions[K] } = { region }
  const accessKeyId = f.text('accessKeyID')
  const roleArn = f.text('roleARN')
  if (accessKeyId) {
    options.credentials = { accessKeyId, secretAccessKey: f.required('secretAccessKey') }
  } else if (roleArn) {
    const tokenFile = source.directory && source.fields['token'] !== undefined ? join(source.directory, 'token') : f.text('tokenPath')
    if (!tokenFile) throw f.invalid(`field "roleARN" needs a web-identity token (${source.directory ? 'a "token" file' : '"tokenPath"'})`)
    options.webIdentity = { roleArn, tokenFile }
  } else {
    throw f.invalid('needs either "accessKeyID" and "secretAccessKey", or "roleARN" and a token')
  }
  const deprecatedEndpoint = f.text('endpoint')
  if (deprecatedEndpoint) {
    const origin = source.origin ?? 'AWS_APPLICATION_CREDENTIALS'
    warn(
      config.endpointOverride
        ? `${origin}: field "endpoint" is deprecated and ignored here, since --store-endpoint-override is given; remove the field`
        : `${origin}: field "endpoint" is deprecated; pass --store-endpoint-override ${deprecatedEndpoint} instead`,
      { origin, field: 'endpoint', endpoint: deprecatedEndpoint },
    )
  }
  const endpoint = config.endpointOverride ?? deprecatedEndpoint
  if (endpoint) options.endpoint = endpoint
  const pathStyle = f.bool('s3ForcePathStyle')
  if (pathStyle !== undefined) options.forcePathStyle = pathStyle
  const insecure = f.bool('insecureSkipVerify')
  if (insecure !== undefined) options.insecureSkipVerify = insecure
  const ca = f.text('trustedCaCert')
  if (ca) options.trustedCaCert = ca
  const sseKey = f.text('sseCustomerKey')
  const sseAlgorithm = f.text('sseCustomerAlgorithm')
  if (!sseKey !== !sseAlgorithm) throw f.invalid('"sseCustomerKey" and "sseCustomerAlgorithm" must be given together')
  if (sseKey && sseAlgorithm) {
    options.sseCustomerKey = sseKey
    options.sseCustomerAlgorithm = sseAlgorithm
  }
  const requestChecksum = f.checksumMode('requestChecksumCalculation')
  if (requestChecksum) options.requestChecksumCalculation = requestChecksum
  const responseChecksum = f.checksumMode('responseChecksumValidation')
  if (responseChecksum) options.responseChecksumValidation = responseChecksum
  return options
}

function ecsOptions(config: StoreConfig, env: NodeJS.ProcessEnv): Partial<S3SnapstoreOptions> {
  const need = (name: string): string => {
    const value = env[name]
    if (!value) {
      throw new StewardError('CONFIG_INVALID', 'snapstore:ECS', `environment variable ${name} is required for provider ECS`, {
        hints: ['set ECS_ENDPOINT, ECS_ACCESS_KEY_ID and ECS_SECRET_ACCESS_KEY (ECS variables are never prefixed)'],
      })
    }
    return value
  }
  const disableSsl = parseGoBool(env['ECS_DISABLE_SSL'], 'ECS_DISABLE_SSL') ?? false
  const insecure = parseGoBool(env['ECS_INSECURE_SKIP_VERIFY'], 'ECS_INSECURE_SKIP_VERIFY') ?? false
  const endpoint = config.endpointOverride ?? withScheme(need('ECS_ENDPOINT'), disableSsl)
  return {
    region: ECS_REGION,
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: need('ECS_ACCESS_KEY_ID'), secretAccessKey: need('ECS_SECRET_ACCESS_KEY') },
    insecureSkipVerify: insecure,
  }
}

async function ocsOptions(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<Partial<S3SnapstoreOptions>> {
  const source = await readCredentialFields(config.envPrefix, 'OPENSHIFT_APPLICATION_CREDENTIALS', OCS_FIELDS, env)
  if (!source.fields) {
    throw new StewardError('CONFIG_INVALID', 'snapstore:OCS', `provider OCS needs ${config.envPrefix}OPENSHIFT_APPLICATION_CREDENTIALS or ${config.envPrefix}OPENSHIFT_APPLICATION_CREDENTIALS_JSON`, {
      hints: ['point it at a directory with files endpoint, region, accessKeyID, secretAccessKey (or at a JSON file with those keys)'],
    })
  }
  const f = s3FieldReader(source.fields, source.origin ?? 'OPENSHIFT_APPLICATION_CREDENTIALS', 'OCS')
  const endpoint = f.required('endpoint')
  const region = f.required('region')
  const credentials = { accessKeyId: f.required('accessKeyID'), secretAccessKey: f.required('secretAccessKey') }
  const disableSsl = f.bool('disableSSL') ?? false
  return {
    region,
    endpoint: config.endpointOverride ?? withScheme(endpoint, disableSsl),
    forcePathStyle: true,
    credentials,
    insecureSkipVerify: f.bool('insecureSkipVerify') ?? false,
  }
}

/** The shared field reader plus S3's checksum-mode fields. */
function s3FieldReader(fields: CredentialFields, origin: string, provider: S3ProviderId) {
  const f = fieldReader(fields, origin, `snapstore:${provider}`)
  return {
    ...f,
    checksumMode(name: string): 'WHEN_SUPPORTED' | 'WHEN_REQUIRED' | undefined {
      const value = f.text(name)?.toUpperCase()
      if (value === undefined) return undefined
      if (value === 'WHEN_SUPPORTED' || value === 'WHEN_REQUIRED') return value
      throw f.invalid(`field "${name}" must be when_supported or when_required`)
    },
  }
}

/** An endpoint without a scheme gets `http://` when SSL is disabled, else `https://`. */
function withScheme(endpoint: string, disableSsl: boolean): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `${disableSsl ? 'http' : 'https'}://${endpoint}`
}
