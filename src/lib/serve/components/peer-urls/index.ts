/**
 * Peer-URL updates (docs/serve.md "Peer-URL updates"), once per start of the sidecar as
 * etcd-backup-restore does: on the first leadership probe that reaches etcd, this member's
 * peer URLs in etcd's member list (the member is the probe's member ID) are compared with its
 * `initial-advertise-peer-urls` in the etcd config. When they differ (e.g. peer TLS was turned
 * on: `http://` → `https://`), `MemberUpdate` sets the configured ones; then, only with
 * `--use-etcd-wrapper`, `POST /stop` to etcd-wrapper (port 9095 on the host of the first
 * `--endpoints`) restarts etcd so it listens and advertises with them. A failed step is
 * retried on the next probe (every `--reelection-period`); a stop that never succeeds keeps
 * being retried while etcd runs.
 *
 * Observed through: log lines (`component: peer-urls`), `steward_peer_url_updates_total{succeeded}`,
 * `steward_etcd_wrapper_stops_total{succeeded}`, and `steward_component_failures_total{component="peer-urls"}`.
 */
import { Counter } from 'prom-client'
import { messageOf } from '../../../errors.ts'
import { reportFailure, type ComponentDefinition, type ServeContext } from '../../component.ts'
import type { MemberStatus } from '../../etcd-seam.ts'
import { memberName, readEtcdConfigMap, urlsOf } from '../etcd-config/render.ts'
import { stopEtcdWrapper, wrapperStopUrl } from './wrapper.ts'

const NAME = 'peer-urls'
/** Per-call timeout of MemberList / MemberUpdate and of the wrapper's /stop, ms (as the leadership probe's order of magnitude). */
const CALL_TIMEOUT_MS = 10_000

type Step = 'check' | 'stop' | 'done'

const sameUrls = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().every((url, i) => url === [...b].sort()[i])

/**
 * Compares and, when they differ, updates this member's peer URLs.
 * @returns `updated`, `in-sync`, or `skipped` (no `POD_NAME`, no readable etcd config, or no URLs for this member in it)
 * @throws StewardError `ETCD_*` (member list or update)
 */
export async function reconcilePeerUrls(ctx: ServeContext, status: MemberStatus): Promise<'updated' | 'in-sync' | 'skipped'> {
  const { options, logger } = ctx
  if (!options.podName) {
    logger.info({ component: NAME }, 'POD_NAME is not set: this member\'s configured peer URLs are unknown, so they are not compared with etcd\'s')
    return 'skipped'
  }
  let config
  try {
    config = await readEtcdConfigMap(options.etcdConfigPath)
  } catch (error) {
    // A sidecar without druid's config (standalone serve) has nothing to compare with.
    logger.info({ component: NAME, err: error }, `peer URLs are not compared: ${messageOf(error)}`)
    return 'skipped'
  }
  const name = memberName(config, options.podName)
  const configured = urlsOf(config, 'initial-advertise-peer-urls', name).split(',').filter(Boolean)
  if (configured.length === 0) {
    logger.info({ component: NAME, member: name }, `the etcd config lists no initial-advertise-peer-urls for ${name}: peer URLs are not compared`)
    return 'skipped'
  }
  const self = (await ctx.etcd.members(CALL_TIMEOUT_MS)).find((m) => m.id === status.memberId)
  if (!self) throw new Error(`member ${status.memberId} is not in its own member list`)
  if (sameUrls(self.peerUrls, configured)) {
    logger.info({ component: NAME, member: name, peerUrls: configured }, `peer URLs of ${name} match the etcd config`)
    return 'in-sync'
  }
  logger.info({ component: NAME, member: name, memberId: status.memberId, from: self.peerUrls, to: configured }, `peer URLs of ${name} changed in the etcd config: updating the member from ${self.peerUrls.join(',')} to ${configured.join(',')}`)
  await ctx.etcd.updatePeerUrls(status.memberId, configured, CALL_TIMEOUT_MS)
  return 'updated'
}

export const peerUrlsComponent: ComponentDefinition = {
  name: NAME,
  enabled: () => true,
  create(ctx) {
    const registers = [ctx.metrics.registry]
    const updates = new Counter({ name: 'steward_peer_url_updates_total', help: 'MemberUpdate calls that set this member\'s peer URLs from the etcd config, by outcome.', labelNames: ['succeeded'], registers })
    const stops = new Counter({ name: 'steward_etcd_wrapper_stops_total', help: 'POST /stop requests to etcd-wrapper after a peer-URL update, by outcome.', labelNames: ['succeeded'], registers })
    let step: Step = 'check'
    let running: Promise<void> | null = null

    const advance = async (status: MemberStatus): Promise<void> => {
      if (step === 'check') {
        let outcome: Awaited<ReturnType<typeof reconcilePeerUrls>>
        try {
          outcome = await reconcilePeerUrls(ctx, status)
        } catch (error) {
          updates.inc({ succeeded: 'false' })
          reportFailure(ctx, NAME, error, `checking or updating this member's peer URLs failed: ${messageOf(error)}; tried again on the next probe`)
          return
        }
        if (outcome === 'updated') {
          updates.inc({ succeeded: 'true' })
          ctx.logger.info({ component: NAME, memberId: status.memberId }, ctx.options.useEtcdWrapper ? 'peer URLs updated; asking etcd-wrapper to restart etcd' : 'peer URLs updated; etcd uses them after its next restart (--use-etcd-wrapper is off)')
        }
        step = outcome === 'updated' && ctx.options.useEtcdWrapper ? 'stop' : 'done'
      }
      if (step === 'stop') {
        const endpoint = ctx.options.etcd.endpoints[0] ?? 'http://127.0.0.1:2379'
        const url = wrapperStopUrl(endpoint, ctx.options.etcdWrapperPort, Boolean(ctx.options.serverCertFile && ctx.options.serverKeyFile))
        try {
          await stopEtcdWrapper(url, { caFile: ctx.options.etcd.caFile, timeoutMs: CALL_TIMEOUT_MS })
        } catch (error) {
          stops.inc({ succeeded: 'false' })
          reportFailure(ctx, NAME, error, `${messageOf(error)}; tried again on the next probe`)
          return
        }
        stops.inc({ succeeded: 'true' })
        ctx.logger.info({ component: NAME, url }, `sent POST ${url}: etcd-wrapper restarts etcd with the new peer URLs`)
        step = 'done'
      }
    }

    const unsubscribe = ctx.leadership.on((event) => {
      if (event.type !== 'probe' || !event.status || step === 'done' || running) return
      running = advance(event.status).finally(() => (running = null))
    })
    return {
      name: NAME,
      start() {},
      async stop() {
        unsubscribe()
        await running
      },
    }
  },
}
