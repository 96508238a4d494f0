/**
 * The snapshotter component: the leader-only snapshot work of {@link Snapshotter}, the
 * `full-snapshot` cron job (`--schedule`), and the routes `/snapshot/full[?final=]`,
 * `/snapshot/delta`, `/snapshot/latest` (any method; JSON bodies as etcd-backup-restore,
 * docs/serve.md). A steward that does not snapshot forwards `/snapshot/full` and
 * `/snapshot/delta` to the leader's steward; without a store they answer 405.
 */
import type { Context } from 'hono'
import { messageOf } from '../../../errors.ts'
import { parseSnapshotKey } from '../../../snapshot/name.ts'
import { reportFailure, type ComponentDefinition, type ServeContext } from '../../component.ts'
import { forwardToLeader } from '../../http/forward.ts'
import { snapshotJson } from './snapshot-json.ts'
import { Snapshotter } from './snapshotter.ts'

const NAME = 'snapshotter'
const TEXT = { 'Content-Type': 'text/plain; charset=utf-8' }

/** Go's `strconv.ParseBool`; `undefined` for anything else. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false
  return undefined
}

function json(c: Context, value: unknown): Response {
  return c.body(JSON.stringify(value), 200, TEXT)
}

/** Answers locally when this steward snapshots, else forwards (405 when impossible). */
async function localOrForward(ctx: ServeContext, snapshotter: Snapshotter, c: Context, local: () => Promise<Response>): Promise<Response> {
  if (!ctx.store) return c.body(null, 405)
  if (!snapshotter.active) {
    const url = new URL(c.req.url)
    const forwarded = await forwardToLeader(ctx, c.req.method, `${url.pathname}${url.search}`)
    if (forwarded) return c.body(new Uint8Array(forwarded.body), forwarded.status as 200, forwarded.contentType ? { 'Content-Type': forwarded.contentType } : {})
  }
  try {
    return await local()
  } catch (error) {
    reportFailure(ctx, NAME, error, `${c.req.path} failed: ${messageOf(error)}`)
    return c.body(messageOf(error), 500, TEXT)
  }
}

export const snapshotterComponent: ComponentDefinition = {
  name: NAME,
  enabled: () => true,
  create(ctx) {
    const snapshotter = new Snapshotter(ctx)
    ctx.services.provide('snapshotter', snapshotter)
    const unsubscribe = ctx.leadership.on((event) => {
      if (event.type === 'became-leader') snapshotter.begin()
      else if (event.type === 'lost-leader') void snapshotter.end(`leadership lost: ${event.reason}`)
    })
    if (ctx.store) {
      ctx.scheduler.add({
        name: 'full-snapshot',
        trigger: { cron: ctx.options.fullSnapshotSchedule },
        run: async (signal) => {
          if (snapshotter.active) await snapshotter.full(false, signal)
        },
      })
    }

    ctx.app.all('/snapshot/full', async (c) => {
      const finalText = c.req.query('final')
      const final = finalText === undefined || finalText === '' ? false : parseGoBool(finalText)
      if (final === undefined) return c.body(`invalid value for final: ${JSON.stringify(finalText)} (use true or false)`, 400, TEXT)
      return localOrForward(ctx, snapshotter, c, async () => {
        const result = await snapshotter.full(final)
        return json(c, snapshotJson(parseSnapshotKey(result.key)!, result.reusedExisting))
      })
    })
    ctx.app.all('/snapshot/delta', (c) =>
      localOrForward(ctx, snapshotter, c, async () => {
        const delta = await snapshotter.delta()
        return json(c, delta ? snapshotJson(parseSnapshotKey(delta.key)!, false) : null)
      }),
    )
    ctx.app.all('/snapshot/latest', async (c) => {
      if (!ctx.store) return c.body(null, 405)
      try {
        const set = await ctx.store.latestSet()
        return json(c, {
          fullSnapshot: set.full ? snapshotJson(set.full, true) : null,
          deltaSnapshots: set.deltas.length > 0 ? set.deltas.map((d) => snapshotJson(d, true)) : null,
        })
      } catch (error) {
        reportFailure(ctx, NAME, error, `/snapshot/latest failed: ${messageOf(error)}`)
        return c.body(messageOf(error), 500, TEXT)
      }
    })

    return {
      name: NAME,
      start() {},
      async stop() {
        unsubscribe()
        await snapshotter.end('steward is stopping', ctx.options.shutdownGraceSeconds * 1000)
      },
      health: () => ({ ok: true, detail: snapshotter.active ? 'snapshotting (leader)' : 'idle (not the leader or no store)' }),
    }
  },
}
