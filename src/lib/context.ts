/**
 * Opening and closing what a command works with. Every command builds its resources through
 * these helpers and releases them in `finally`, so clients never outlive the command.
 */
import type { ConfigFile } from './config/file.ts'
import { resolveEtcdConnection, resolveStore, type EtcdFlags, type StoreFlags } from './config/resolve.ts'
import { EtcdClient } from './etcd/client.ts'
import { BackupStore } from './snapshot/backup-store.ts'
import { openSnapstore } from './snapstore/registry.ts'

/** Opens the backup store the flags and config file describe. */
export async function openBackupStore(flags: StoreFlags, file: ConfigFile): Promise<BackupStore> {
  const config = resolveStore(flags, file)
  return new BackupStore(await openSnapstore(config), config.prefix)
}

/**
 * Opens the backup store when one is configured (flag, environment or config file), else
 * returns `undefined`: for commands where a store is optional (`validate`).
 */
export async function openBackupStoreIfConfigured(flags: StoreFlags, file: ConfigFile): Promise<BackupStore | undefined> {
  // `!== undefined`: an explicitly empty --storage-provider is a store (Local), see resolveStore.
  const configured = Boolean(flags.store || file.store?.url) || flags['storage-provider'] !== undefined || file.store?.provider !== undefined
  return configured ? openBackupStore(flags, file) : undefined
}

/** Builds the etcd client the flags and config file describe (no connection yet). */
export async function openEtcd(flags: EtcdFlags, file: ConfigFile): Promise<EtcdClient> {
  return EtcdClient.create(resolveEtcdConnection(flags, file))
}

/** Runs `fn` and releases `resources` afterwards, whatever happens. */
export async function using<T>(resources: readonly (BackupStore | EtcdClient | undefined)[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } finally {
    for (const resource of resources) {
      if (resource instanceof EtcdClient) resource.close()
      else await resource?.snapstore.dispose?.()
    }
  }
}
