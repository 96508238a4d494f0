/**
 * Driver registry: driver id → lazy loader. A driver module is imported only when a store of
 * its kind is opened, so `--help` or the Local driver never load a cloud SDK.
 *
 * Each driver module default-exports its factory and exports
 * `fromStoreConfig(config, env)`, which turns a {@link StoreConfig} (plus credentials found
 * through the environment) into the driver's own options and opens the store.
 */
import { StewardError, isStewardError, messageOf } from '../errors.ts'
import type { StoreConfig } from './config.ts'
import type { Snapstore, SnapstoreDriverId } from './types.ts'

/** What the registry needs from a driver module. */
export interface SnapstoreDriverModule {
  fromStoreConfig(config: StoreConfig, env: NodeJS.ProcessEnv): Snapstore | Promise<Snapstore>
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
  return module.fromStoreConfig(config, env)
}
