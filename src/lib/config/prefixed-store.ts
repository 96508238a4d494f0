/**
 * A second store described by prefixed flags and environment — the source of `copy-backups`
 * (`--source-*`, `SOURCE_*`) and, later, serve's secondary store (`--secondary-*`, `SECONDARY_*`) —
 * resolved as etcd-backup-restore completes it (research notes §10.5): the provider and temp dir
 * default to the main store's; the prefix defaults to the main store's prefix; the container comes
 * from the flag, then `<ENV>STORAGE_CONTAINER`. Credentials are read from `<ENV>`-prefixed
 * variables by the drivers (`StoreConfig.envPrefix`, `snapstore/credentials.ts`).
 */
import { StewardError, isStewardError } from '../errors.ts'
import type { StoreConfig } from '../snapstore/config.ts'
import { resolveStore, type StoreFlags } from './resolve.ts'

/** The store flags under a prefix, as parsed (`source-storage-provider`, …). */
export type PrefixedStoreFlags<P extends string> = { [K in keyof StoreFlags as `${P}-${K & string}`]?: StoreFlags[K] }

/**
 * @param flagPrefix `source` or `secondary`
 * @param envPrefix `SOURCE_` or `SECONDARY_`
 * @param main the main (destination) store, whose provider, prefix and temp dir fill in
 * @throws StewardError `CONFIG_INVALID` naming the prefixed flag or variable
 */
export function resolvePrefixedStore<P extends 'source' | 'secondary'>(flags: PrefixedStoreFlags<P>, flagPrefix: P, envPrefix: 'SOURCE_' | 'SECONDARY_', main: StoreConfig, env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const get = <K extends keyof StoreFlags>(name: K): StoreFlags[K] => (flags as Record<string, unknown>)[`${flagPrefix}-${name}`] as StoreFlags[K]
  const url = get('store')
  const plain: StoreFlags = {
    store: url,
    'storage-provider': url ? get('storage-provider') : (get('storage-provider') ?? main.provider),
    'store-container': get('store-container'),
    'store-prefix': get('store-prefix') ?? (url ? undefined : main.prefix),
    'store-endpoint-override': get('store-endpoint-override'),
    'max-parallel-chunk-uploads': get('max-parallel-chunk-uploads'),
    'min-chunk-size': get('min-chunk-size'),
    'snapstore-temp-directory': get('snapstore-temp-directory') ?? main.tempDir,
  }
  try {
    const config = resolveStore(plain, {}, { STORAGE_CONTAINER: env[`${envPrefix}STORAGE_CONTAINER`] })
    return { ...config, envPrefix }
  } catch (error) {
    if (!isStewardError(error, 'CONFIG_INVALID')) throw error
    const rename = (text: string) => text.replace(/--(store|storage-provider)\b/g, `--${flagPrefix}-$1`).replace(/\bSTORAGE_CONTAINER\b/g, `${envPrefix}STORAGE_CONTAINER`)
    throw new StewardError('CONFIG_INVALID', 'config', `${flagPrefix} store: ${rename(error.reason)}`, { cause: error, hints: error.hints.map(rename) })
  }
}
