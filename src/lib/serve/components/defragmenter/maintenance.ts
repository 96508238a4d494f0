/**
 * What the defragmenter and the alarms components share: a lazily opened {@link MaintenanceEtcd}
 * (the seam of `src/lib/defrag/`, opened from `--endpoints` with the sidecar's TLS, auth and
 * `--etcd-defrag-timeout`), the maintenance lock's settings, the operations' deps over the
 * serve {@link Clock}, and this member's quota from druid's ConfigMap.
 */
import { hostname } from 'node:os'
import type { MaintenanceEtcd } from '../../../defrag/etcd.ts'
import type { DefragDeps, DefragEvent, LockOptions } from '../../../defrag/defrag.ts'
import type { EtcdConnectionConfig } from '../../../etcd/config.ts'
import { messageOf } from '../../../errors.ts'
import { sleep } from '../../clock.ts'
import type { ServeContext } from '../../component.ts'
import { readEtcdConfigMap } from '../etcd-config/render.ts'

/** Opens the maintenance seam (tests pass a fake). */
export type MaintenanceOpener = (config: EtcdConnectionConfig) => Promise<MaintenanceEtcd>

/** etcd's default `--quota-backend-bytes` (2 GiB), used when the ConfigMap names none. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3

/** The lock `steward defrag` takes by default, so one-shot runs and sidecars exclude each other (docs/defrag.md). */
export const SERVE_LOCK_NAME = 'steward-maintenance'
/** Lease TTL of the lock, seconds: how long a killed sidecar blocks the others. */
export const SERVE_LOCK_TTL_SECONDS = 60

/** One connection per component, opened on first use and closed on stop. */
export class LazyMaintenance {
  readonly #open: MaintenanceOpener
  readonly #config: EtcdConnectionConfig
  #etcd: Promise<MaintenanceEtcd> | null = null

  constructor(open: MaintenanceOpener, config: EtcdConnectionConfig) {
    this.#open = open
    this.#config = config
  }

  /** @throws what the opener throws (the next call tries again) */
  get(): Promise<MaintenanceEtcd> {
    if (!this.#etcd) {
      this.#etcd = this.#open(this.#config)
      this.#etcd.catch(() => (this.#etcd = null))
    }
    return this.#etcd
  }

  async close(): Promise<void> {
    const etcd = this.#etcd
    this.#etcd = null
    if (etcd) (await etcd.catch(() => null))?.close()
  }
}

/** The lock settings of a sidecar; `holder` names the pod (or host) and process. */
export function serveLock(ctx: ServeContext, component: string): LockOptions {
  return { name: SERVE_LOCK_NAME, ttlSeconds: SERVE_LOCK_TTL_SECONDS, holder: `${ctx.options.podName ?? hostname()}/${process.pid} serve ${component}` }
}

/** `deps` of defragment()/recoverNospace(): time from the serve clock, progress as info lines tagged with `component`. */
export function maintenanceDeps(ctx: ServeContext, etcd: MaintenanceEtcd, component: string): DefragDeps {
  return {
    etcd,
    now: () => ctx.clock.now(),
    sleep: (ms, signal) => sleep(ctx.clock, ms, signal),
    onEvent: (event: DefragEvent) => ctx.logger.info({ component, event }, `${component}: ${event.type}`),
  }
}

/**
 * This member's backend quota, bytes: `quota-backend-bytes` of druid's ConfigMap (`ETCD_CONF`),
 * else etcd's default 2 GiB (also when the file cannot be read; logged at debug).
 */
export async function quotaBytes(ctx: ServeContext): Promise<number> {
  try {
    const value = Number((await readEtcdConfigMap(ctx.options.etcdConfigPath))['quota-backend-bytes'])
    return Number.isFinite(value) && value > 0 ? value : DEFAULT_QUOTA_BYTES
  } catch (error) {
    ctx.logger.debug({ err: error }, `no quota from ${ctx.options.etcdConfigPath} (${messageOf(error)}); using 2 GiB`)
    return DEFAULT_QUOTA_BYTES
  }
}
