/**
 * etcd-backup-restore's credential rules for the ABS driver (`./abs.ts`, research notes §4.2):
 * turns a {@link StoreConfig} plus the environment into {@link AbsSnapstoreOptions}.
 */
import type { TokenCredential } from '@azure/core-auth'
import { StewardError } from '../../errors.ts'
import type { StoreConfig } from '../config.ts'
import { readCredentialFields } from '../credentials.ts'
import { fieldReader } from './_shared/fields.ts'
import type { AbsSnapstoreOptions } from './abs.ts'

const COMPONENT = 'snapstore:ABS'
/** Azurite's default blob endpoint, used with `emulatorEnabled` when no endpoint override is given. */
const AZURITE_DEFAULT_HOST = 'http://127.0.0.1:10000'
/** Fields of `AZURE_APPLICATION_CREDENTIALS` (a directory has one file per field). */
const ABS_FIELDS = ['storageAccount', 'storageKey', 'domain', 'emulatorEnabled'] as const
/** The package that provides Azure's default credential chain (a dependency, imported only when used). */
const IDENTITY_PACKAGE = '@azure/identity'

/**
 * The ABS driver's options for a {@link StoreConfig}, finding credentials as etcd-backup-restore
 * does (research notes §4.2): `<P>AZURE_APPLICATION_CREDENTIALS_JSON` (a JSON file) or
 * `<P>AZURE_APPLICATION_CREDENTIALS` (a directory, one file per field, or a `*.json` file in
 * it), with `<P>` the store's env prefix. Fields: `storageAccount` and `storageKey` (required;
 * Shared Key auth), `domain` (instead of `blob.core.windows.net`), `emulatorEnabled` (true:
 * an Azurite account URL, `http://127.0.0.1:10000/<storageAccount>` unless an endpoint override
 * is given).
 *
 * Without those variables, Microsoft Entra ID auth through `@azure/identity`'s
 * `DefaultAzureCredential` (environment, workload identity, managed identity, Azure CLI) is used
 * for the account named by `<P>AZURE_STORAGE_ACCOUNT`.
 * `config.endpointOverride` (`--store-endpoint-override`) is the account URL; the container URL
 * is `<override>/<container>`.
 * @throws StewardError `CONFIG_INVALID` naming the variable and field at fault
 */
export async function absOptionsFor(config: StoreConfig, env: NodeJS.ProcessEnv): Promise<AbsSnapstoreOptions> {
  const base = { container: config.container, blockSize: config.minChunkSize, maxParallelUploads: config.maxParallelChunkUploads }
  const source = await readCredentialFields(config.envPrefix, 'AZURE_APPLICATION_CREDENTIALS', ABS_FIELDS, env)
  if (source.fields) {
    const f = fieldReader(source.fields, source.origin ?? 'AZURE_APPLICATION_CREDENTIALS', COMPONENT)
    const accountName = f.required('storageAccount')
    const accountKey = f.required('storageKey')
    const domain = f.text('domain')
    const emulator = f.bool('emulatorEnabled') ?? false
    const endpoint = config.endpointOverride ?? (emulator ? `${AZURITE_DEFAULT_HOST}/${accountName}` : undefined)
    return { ...base, accountName, accountKey, ...(domain ? { domain } : {}), ...(endpoint ? { endpoint } : {}) }
  }
  const accountVar = `${config.envPrefix}AZURE_STORAGE_ACCOUNT`
  const accountName = env[accountVar]
  const variables = `${config.envPrefix}AZURE_APPLICATION_CREDENTIALS_JSON or ${config.envPrefix}AZURE_APPLICATION_CREDENTIALS`
  if (!accountName) {
    throw new StewardError('CONFIG_INVALID', COMPONENT, `no Azure credentials: set ${variables} (fields storageAccount, storageKey), or ${accountVar} for Microsoft Entra ID auth`, {
      hints: ['a JSON file {"storageAccount": "...", "storageKey": "..."}, or a directory with files storageAccount and storageKey (no trailing newline)'],
    })
  }
  const tokenCredential = await defaultAzureCredential(variables)
  return { ...base, accountName, tokenCredential, ...(config.endpointOverride ? { endpoint: config.endpointOverride } : {}) }
}

/**
 * `@azure/identity`'s `DefaultAzureCredential`. The package is a dependency of steward but is
 * imported only here, so start-up never pays for it; a broken install still gets a clear error.
 * @param variables the credential-file variables to name when it is not
 * @param load imports the package (replaceable in tests)
 * @throws StewardError `CONFIG_INVALID` when the package is missing, telling which variables to set
 */
export async function defaultAzureCredential(variables: string, load: () => Promise<unknown> = () => import(IDENTITY_PACKAGE)): Promise<TokenCredential> {
  let identity: { DefaultAzureCredential?: new () => TokenCredential }
  try {
    identity = (await load()) as typeof identity
  } catch (error) {
    throw new StewardError('CONFIG_INVALID', COMPONENT, `no Azure credential files are configured and ${IDENTITY_PACKAGE} is not installed, so Microsoft Entra ID auth is unavailable`, {
      cause: error,
      hints: [`set ${variables} (fields storageAccount, storageKey)`, `or reinstall steward (npm ci) so ${IDENTITY_PACKAGE} is present for DefaultAzureCredential`],
    })
  }
  if (typeof identity.DefaultAzureCredential !== 'function') {
    throw new StewardError('CONFIG_INVALID', COMPONENT, `${IDENTITY_PACKAGE} has no DefaultAzureCredential export`, { hints: [`set ${variables} instead`] })
  }
  return new identity.DefaultAzureCredential()
}
