/**
 * Driver registry: driver id → lazy loader. A driver module is imported only when a store of
 * its kind is opened, so `--help` or the Local driver never load a cloud SDK.
 *
 * Each driver module default-exports its factory and exports
 * `fromStoreConfig(config, env)`, which turns a {@link StoreConfig} (plus credentials found
 * through the environment) into the driver's own options and opens the store, and may export
 * `credentialVariables(config)`: a store opened from credential files is re-opened when they
 * change (`./rotation.ts`).
 */
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import type { StoreConfig } from './config.ts'
import { credentialFingerprint, rotatingSnapstore } from './rotation.ts'
import type { Snapstore, SnapstoreDriverId } from './types.ts'

/** What the registry needs from a driver module. */
export interface SnapstoreDriverModule {
  fromStoreConfig(config: StoreConfig, env: NodeJS.ProcessEnv): Snapstore | Promise<Snapstore>
  /** Environment variables naming the store's credential files or directories, watched for rotation (§4.9). */
  credentialVariables?(config: StoreConfig): readonly string[]
}

/** Loaders keyed by driver id; a test (`test/lib/snapstore/registry.test.ts`) keeps this in step with `drivers/`. */
export const DRIVER_LOADERS: Record<SnapstoreDriverId, () => Promise<SnapstoreDriverModule>> = {
  Local: () => import('./drivers/local.ts'),
  S3: () => import('./drivers/s3.ts'),
  GCS: () => import('./drivers/gcs.ts'),
  ABS: () => import('./drivers/abs.ts'),
  ECS: () => import('./drivers/s3.ts'),
  OCS: () => import('./drivers/s3.ts'),
}

/**
 * Opens the store a {@link StoreConfig} describes.
 * @throws StewardError `CONFIG_INVALID` (bad options or credentials), `STORE_FAILED` (driver failed to load)
 */
export async function openSnapstore(config: StoreConfig, env: NodeJS.ProcessEnv = process.env): Promise<Snapstore> {
  let module: SnapstoreDriverModule
  try {
    module = await DRIVER_LOADERS[config.provider]()
  } catch (error) {
    if (isStewardError(error)) throw error
    throw new StewardError('STORE_FAILED', `snapstore:${config.provider}`, `could not load the ${config.provider} driver: ${messageOf(error)}`, {
      cause: error,
      hints: ['reinstall steward (npm ci) so its optional SDK dependencies are present'],
    })
  }
  // Credential files are fingerprinted before they are read, so a change in between is seen.
  const paths = (module.credentialVariables?.(config) ?? []).map((name) => env[name]).filter((path): path is string => Boolean(path))
  const fingerprint = paths.length > 0 ? await credentialFingerprint(paths) : undefined
  const store = await module.fromStoreConfig(config, env)
  if (fingerprint === undefined) return store
  return rotatingSnapstore(store, paths, fingerprint, async () => module.fromStoreConfig(config, env))
}
