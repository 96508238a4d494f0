/** Builds a runtime over fakes for in-process route tests (`app.request`). */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { BackupStore } from '../../../src/lib/snapshot/backup-store.ts'
import localSnapstore from '../../../src/lib/snapstore/drivers/local.ts'
import { CLUSTER_SERVICE } from '../../../src/lib/serve/cluster.ts'
import { resolveServeOptions, type ServeFlags } from '../../../src/lib/serve/resolve.ts'
import { Runtime } from '../../../src/lib/serve/runtime.ts'
import { FakeClock } from './fake-clock.ts'
import { FakeEtcd } from './fake-etcd.ts'

export const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'fixtures', 'etcdbr-v2')

export const CONFIG_MAP = `name: etcd-config
data-dir: /var/etcd/data/new.etcd
metrics: basic
snapshot-count: 75000
enable-grpc-gateway: false
quota-backend-bytes: 8589934592
initial-cluster-token: etcd-cluster
initial-cluster-state: new
initial-cluster: etcd-main-0=https://etcd-main-0.etcd-main-peer.shoot.svc:2380
auto-compaction-mode: periodic
auto-compaction-retention: 30m
listen-peer-urls: https://0.0.0.0:2380
listen-client-urls: https://0.0.0.0:2379
initial-advertise-peer-urls:
  etcd-main-0:
  - https://etcd-main-0.etcd-main-peer.shoot.svc:2380
advertise-client-urls:
  etcd-main-0:
  - https://etcd-main-0.etcd-main-peer.shoot.svc:2379
client-transport-security:
  cert-file: /var/etcd/ssl/server/tls.crt
  key-file: /var/etcd/ssl/server/tls.key
  client-cert-auth: true
  trusted-ca-file: /var/etcd/ssl/ca/bundle.crt
  auto-tls: false
next-cluster-version-compatible: true
`

export interface RouteRig {
  runtime: Runtime
  etcd: FakeEtcd
  clock: FakeClock
  dir: string
  request(path: string, init?: RequestInit): Promise<Response>
  close(): Promise<void>
}

/** A runtime with a fake etcd, no etcd client (snapshots cannot be taken), and optionally the gzip fixture store. */
export async function routeRig(options: { store?: 'fixture' | 'none'; flags?: ServeFlags; configMap?: string; podName?: string } = {}): Promise<RouteRig> {
  const dir = await mkdtemp(join(tmpdir(), 'steward-serve-'))
  const confPath = join(dir, 'etcd.conf.yaml')
  await writeFile(confPath, options.configMap ?? CONFIG_MAP)
  const env = { ETCD_CONF: confPath, ...(options.podName === '' ? {} : { POD_NAME: options.podName ?? 'etcd-main-0' }), POD_NAMESPACE: 'shoot', STEWARD_SERVER_HOST: '127.0.0.1' }
  const storeKind = options.store ?? 'fixture'
  const flags: ServeFlags = storeKind === 'fixture' ? { 'storage-provider': 'Local', 'store-container': join(FIXTURES, 'gzip'), 'store-prefix': 'etcd-main', ...options.flags } : { ...options.flags }
  const serveOptions = resolveServeOptions({ 'data-dir': join(dir, 'data'), 'server-port': 0, ...flags }, {}, env)
  const etcd = new FakeEtcd()
  const clock = new FakeClock()
  const store = storeKind === 'fixture' ? new BackupStore(localSnapstore({ root: join(FIXTURES, 'gzip') }), 'etcd-main') : null
  const runtime = await Runtime.create(serveOptions, { etcd, etcdClient: null, store, clock, logger: pino({ level: 'silent' }) })
  // The same fake answers for the cluster (service endpoints) as for this member.
  runtime.ctx.services.provide(CLUSTER_SERVICE, Promise.resolve(etcd))
  return {
    runtime,
    etcd,
    clock,
    dir,
    request: (path, init) => Promise.resolve(runtime.ctx.app.request(path, init)),
    close: () => rm(dir, { recursive: true, force: true }),
  }
}
