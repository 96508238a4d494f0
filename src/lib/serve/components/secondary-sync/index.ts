/**
 * The secondary-sync component (`--secondary-backup-sync-enabled`, etcd-backup-restore's
 * dual-site backup sync; docs/serve.md "Secondary store"). While this member leads:
 *
 * - on becoming leader and every `--secondary-backup-sync-period` (job `secondary-backup-sync`),
 *   every backup of the primary store (full snapshot + its deltas) is copied to the secondary
 *   store with the copy-backups library (`src/lib/copy/copy.ts`: streamed between the drivers,
 *   10 at a time, objects already there with the same size skipped, `.final` dropped);
 * - every `--garbage-collection-period` (job `secondary-garbage-collection`, when the garbage
 *   collector is enabled) a garbage collector of its own collects the secondary store with the
 *   same policy flags as the primary's.
 *
 * Runs never overlap; leadership loss and shutdown abort them. A failure is one log line with
 * the component name and `steward_component_failures_total{component="secondary-sync"}`;
 * the schedule continues. The secondary store is opened on the first sync (a failure to open
 * it is such a failure, retried next period) and closed on stop.
 */
import { StewardError, isStewardError, messageOf } from '../../../errors.ts'
import { copyBackups } from '../../../copy/copy.ts'
import { BackupStore } from '../../../snapshot/backup-store.ts'
import { openSnapstore } from '../../../snapstore/registry.ts'
import { reportFailure, type ComponentDefinition } from '../../component.ts'
import { LeaderGarbageCollector } from '../garbage-collector/collector.ts'

const NAME = 'secondary-sync'
/** Scheduler job names (`steward_job_runs_total{schedule}`). */
export const SYNC_JOB = 'secondary-backup-sync'
export const SECONDARY_GC_JOB = 'secondary-garbage-collection'

/**
 * Whether every object a copy failed on is gone from the primary store now (the primary's
 * garbage collector deleted it between the listing and the copy): nothing is left to sync then.
 */
async function onlyCollectedMeanwhile(primary: BackupStore, error: unknown): Promise<boolean> {
  if (!isStewardError(error, 'STORE_FAILED')) return false
  const failed = error.context['failed']
  if (!Array.isArray(failed) || failed.length === 0) return false
  try {
    const present = new Set((await primary.list()).map((o) => o.name.replace(/\.final$/, '')))
    return failed.every((f: { name?: unknown }) => typeof f.name === 'string' && !present.has(f.name))
  } catch {
    return false
  }
}

export const secondarySyncComponent: ComponentDefinition = {
  name: NAME,
  enabled: (options) => options.secondary !== null && options.store !== null,
  create(ctx) {
    const secondary = ctx.options.secondary!
    const primary = ctx.store
    let store: Promise<BackupStore> | null = null
    let term: AbortController | null = null
    let last: { ok: boolean; detail: string } | null = null
    const open = (): Promise<BackupStore> => {
      store ??= openSnapstore(secondary.store).then((snapstore) => new BackupStore(snapstore, secondary.store.prefix))
      // A failed open is retried on the next run.
      return store.catch((error: unknown) => {
        store = null
        throw error
      })
    }
    // The sync and the secondary's garbage collection take turns, so the collector never plans
    // over a listing the copy is still filling.
    let turn: Promise<unknown> = Promise.resolve()
    const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = turn.then(fn)
      turn = run.catch(() => undefined)
      return run
    }
    const collector = new LeaderGarbageCollector(ctx, { component: NAME, settings: ctx.options.garbageCollection })

    const sync = async (signal: AbortSignal): Promise<void> => {
      const current = term
      if (!primary || !current || current.signal.aborted || !ctx.leadership.isLeader) return
      const runSignal = AbortSignal.any([signal, current.signal])
      try {
        const destination = await open()
        const result = await copyBackups({ source: primary, destination, now: () => new Date(ctx.clock.now()) }, { maxBackupsToCopy: -1, maxBackupAgeDays: -1, parallel: 10 }, runSignal)
        const c = result.counts
        const detail = `synced ${result.source} → ${result.destination}: ${c.copied + c.replaced} object(s) copied (${(result.copiedBytes / 1024 / 1024).toFixed(1)} MiB), ${c.skipped} already there`
        last = { ok: true, detail }
        if (c.copied + c.replaced > 0) ctx.logger.info({ component: NAME, copied: c.copied + c.replaced, skipped: c.skipped, copiedBytes: result.copiedBytes }, detail)
        else ctx.logger.debug({ component: NAME, skipped: c.skipped }, detail)
      } catch (error) {
        if (runSignal.aborted) {
          ctx.logger.info({ component: NAME }, `secondary sync aborted: ${messageOf(runSignal.reason ?? error)}; objects copied so far are complete`)
          return
        }
        if (isStewardError(error, 'STORE_NOT_FOUND') && primary.snapstore.capabilities.localFiles && error.context['store'] === 'source') {
          ctx.logger.debug({ component: NAME }, `nothing to sync yet: ${messageOf(error)}`)
          return
        }
        if (await onlyCollectedMeanwhile(primary, error)) {
          last = { ok: true, detail: 'synced; objects the garbage collector removed from the primary store meanwhile were not copied' }
          ctx.logger.info({ component: NAME }, last.detail)
          return
        }
        last = { ok: false, detail: messageOf(error) }
        reportFailure(ctx, NAME, error, `secondary sync failed: ${messageOf(error)}; retried next period`)
        throw error
      }
    }

    const unsubscribe = ctx.leadership.on((event) => {
      if (event.type === 'became-leader') {
        term = new AbortController()
        // Sync at once on becoming leader (a sync still running from an earlier term is skipped).
        void ctx.scheduler.runNow(SYNC_JOB)
      } else if (event.type === 'lost-leader') {
        term?.abort(new StewardError('ABORTED', NAME, `leadership lost: ${event.reason}`))
        term = null
      }
    })
    ctx.scheduler.add({ name: SYNC_JOB, trigger: { everySeconds: secondary.periodSeconds }, run: (signal) => exclusive(() => sync(signal)) })
    if (ctx.options.garbageCollection.periodSeconds > 1) {
      ctx.scheduler.add({
        name: SECONDARY_GC_JOB,
        trigger: { everySeconds: ctx.options.garbageCollection.periodSeconds },
        run: (signal) =>
          exclusive(async () => {
            if (!ctx.leadership.isLeader) return
            let destination: BackupStore
            try {
              destination = await open()
            } catch (error) {
              reportFailure(ctx, NAME, error, `opening the secondary store failed: ${messageOf(error)}`)
              throw error
            }
            await collector.collect(destination, signal)
          }),
      })
    }

    return {
      name: NAME,
      start() {},
      async stop() {
        unsubscribe()
        term?.abort(new StewardError('ABORTED', NAME, 'steward is stopping'))
        term = null
        collector.dispose()
        const opened = await store?.catch(() => null)
        store = null
        await opened?.snapstore.dispose?.()
      },
      health: () => (last ? { ...last } : { ok: true, detail: ctx.leadership.isLeader ? 'no sync yet' : 'idle (not the leader)' }),
    }
  },
}
