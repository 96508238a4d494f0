/**
 * This member's name and whether its peers talk TLS, read once from druid's etcd ConfigMap
 * (`ETCD_CONF` / `--etcd-config-file`) for the components that describe the member to
 * Kubernetes (member lease, EtcdMember status; docs/kubernetes.md).
 */
import { peerTlsEnabled } from '../../../k8s/member-lease.ts'
import type { ServeContext } from '../../component.ts'
import { memberName, readEtcdConfigMap, urlsOf } from './render.ts'

export interface MemberIdentity {
  /** `<member-name-prefix>-<POD_NAME>` or `POD_NAME`. */
  readonly name: string
  /** Whether the member's `initial-advertise-peer-urls` are https. */
  readonly tlsEnabled: boolean
}

/**
 * A reader of this member's identity that reads the ConfigMap on first use and keeps the answer;
 * a failed read is forgotten, so the next call reads again.
 * @throws StewardError from reading the ConfigMap (`CONFIG_INVALID`…), as a rejected promise
 */
export function memberIdentityReader(ctx: ServeContext): () => Promise<MemberIdentity> {
  let identity: Promise<MemberIdentity> | null = null
  return () => {
    identity ??= readEtcdConfigMap(ctx.options.etcdConfigPath).then((config) => {
      const name = memberName(config, ctx.options.podName)
      const peerUrls = urlsOf(config, 'initial-advertise-peer-urls', name).split(',').filter(Boolean)
      return { name, tlsEnabled: peerTlsEnabled(peerUrls) }
    })
    identity.catch(() => (identity = null))
    return identity
  }
}
