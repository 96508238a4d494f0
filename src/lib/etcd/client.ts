/**
 * Lifecycle wrapper around the etcd3 client, with the workarounds the research notes
 * (`etcd-defrag-and-etcd3.md` §2) prove necessary:
 *  - one `Etcd3` instance per endpoint (etcd3 routes each call to a random host otherwise);
 *  - no retry policy and no circuit breaker (etcd3's defaults retry non-idempotent calls);
 *  - a deadline on every unary call (etcd3 ignores `dialTimeout`);
 *  - snapshots through the raw gRPC client with the auth metadata attached (etcd3's own
 *    `maintenance.snapshot()` drops the auth token).
 */
import { readFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import type * as grpc from '@grpc/grpc-js'
import { noop } from 'cockatiel'
import type { Etcd3, IOptions } from 'etcd3'
import { StewardError, messageOf } from '../errors.ts'
import type { EtcdConnectionConfig } from './config.ts'
import { etcdError } from './errors.ts'

/** Large ranges and snapshot chunks exceed grpc-js's 4 MiB receive default. */
const MAX_RECEIVE_BYTES = 256 * 1024 * 1024
/** Snapshot bytes buffered between gRPC and the consumer. */
const SNAPSHOT_BUFFER_BYTES = 2 * 1024 * 1024
/**
 * HTTP/2 receive window. The 64 KiB default makes a snapshot stream round-trip-bound (about 1.5x
 * slower than etcdctl); 1 MiB matches etcdctl while peak RSS stays under 150 MiB (larger windows
 * let more garbage buffers pile up between collections).
 */
const FLOW_CONTROL_WINDOW_BYTES = 1024 * 1024

/** Status of one member as `Maintenance.Status` reports it (int64 fields as numbers / decimal strings for IDs). */
export interface MemberStatus {
  readonly endpoint: string
  /** Member ID, decimal string (IDs exceed 2^53). */
  readonly memberId: string
  /** Leader's member ID, decimal string; `'0'` when there is no leader. */
  readonly leaderId: string
  readonly version: string
  /** Backend database size in bytes. */
  readonly dbSizeBytes: number
  /** Bytes of the backend actually in use. */
  readonly dbSizeInUseBytes: number
  /** Current store revision. */
  readonly revision: number
  readonly raftIndex: number
  readonly isLearner: boolean
  /** Alarm and error strings the member reports. */
  readonly errors: readonly string[]
}

/** A snapshot stream together with where it comes from. */
export interface SnapshotSource {
  readonly endpoint: string
  /** Bytes of the bbolt database followed by etcd's 32-byte SHA-256 trailer. */
  readonly stream: Readable
}

export class EtcdClient {
  readonly config: EtcdConnectionConfig
  readonly #clients: Map<string, Etcd3>
  #closed = false

  private constructor(config: EtcdConnectionConfig, clients: Map<string, Etcd3>) {
    this.config = config
    this.#clients = clients
  }

  /**
   * Builds one client per endpoint. Reads TLS files eagerly, so a wrong path fails here.
   * Does not contact etcd.
   * @throws StewardError `CONFIG_INVALID` (no endpoints, mixed schemes), `ETCD_TLS` (unreadable TLS files)
   */
  static async create(config: EtcdConnectionConfig): Promise<EtcdClient> {
    if (config.endpoints.length === 0) {
      throw new StewardError('CONFIG_INVALID', 'etcd', 'no etcd endpoint given', { hints: ['pass --endpoints http://127.0.0.1:2379'] })
    }
    const credentials = await readTlsFiles(config)
    // Loaded here, not at the top: etcd3 and grpc take a noticeable share of start-up, and
    // commands that never talk to etcd (list, restore without deltas, validate) skip them.
    const libraries: ClientLibraries = { etcd3: await import('etcd3'), grpc: await import('@grpc/grpc-js') }
    const clients = new Map<string, Etcd3>()
    for (const endpoint of config.endpoints) clients.set(endpoint, buildClient(libraries, endpoint, config, credentials))
    return new EtcdClient(config, clients)
  }

  /** Endpoints in the order given. */
  get endpoints(): readonly string[] {
    return [...this.#clients.keys()]
  }

  /** The raw etcd3 client of one endpoint (for calls this wrapper does not cover). */
  clientFor(endpoint: string): Etcd3 {
    this.#assertOpen()
    const client = this.#clients.get(endpoint)
    if (!client) throw new StewardError('INTERNAL', 'etcd', `no client for endpoint ${endpoint}`)
    return client
  }

  /**
   * Runs `fn` against the endpoints in order until one succeeds; rethrows the last failure
   * (mapped by {@link etcdError}) when none does. For idempotent reads only.
   */
  async onFirstAvailable<T>(action: string, fn: (client: Etcd3, endpoint: string) => Promise<T>): Promise<{ value: T; endpoint: string }> {
    this.#assertOpen()
    let last: StewardError | undefined
    for (const [endpoint, client] of this.#clients) {
      try {
        return { value: await fn(client, endpoint), endpoint }
      } catch (error) {
        last = etcdError(error, action, endpoint)
        if (last.code === 'ETCD_AUTH' || last.code === 'ETCD_TLS') throw last
      }
    }
    throw last ?? new StewardError('INTERNAL', 'etcd', `${action}: no endpoints`)
  }

  /**
   * etcd's current revision (the header revision of a one-key range).
   * @throws StewardError `ETCD_UNREACHABLE`, `ETCD_TLS`, `ETCD_AUTH`
   */
  async currentRevision(): Promise<{ revision: number; endpoint: string }> {
    const { value, endpoint } = await this.onFirstAvailable('reading the revision', async (client) => {
      const response = await client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true })
      return Number(response.header.revision)
    })
    return { revision: value, endpoint }
  }

  /** `Maintenance.Status` of one endpoint. @throws StewardError `ETCD_*` */
  async status(endpoint: string): Promise<MemberStatus> {
    try {
      const s = await this.clientFor(endpoint).maintenance.status()
      return {
        endpoint,
        memberId: String(s.header.member_id),
        leaderId: String(s.leader),
        version: s.version,
        dbSizeBytes: Number(s.dbSize),
        dbSizeInUseBytes: Number((s as { dbSizeInUse?: string }).dbSizeInUse ?? s.dbSize),
        revision: Number(s.header.revision),
        raftIndex: Number(s.raftIndex),
        isLearner: Boolean((s as { isLearner?: boolean }).isLearner),
        errors: (s as { errors?: string[] }).errors ?? [],
      }
    } catch (error) {
      throw etcdError(error, 'reading member status', endpoint)
    }
  }

  /**
   * Opens `Maintenance.Snapshot` on `endpoint` as a byte stream (database + 32-byte SHA-256
   * trailer), with the auth token attached and the snapshot deadline applied. Errors of the
   * stream are {@link StewardError}s.
   */
  async snapshot(endpoint: string, signal?: AbortSignal): Promise<SnapshotSource> {
    const client = this.clientFor(endpoint)
    // etcd3's maintenance.snapshot() passes its arguments in the wrong order and drops the
    // auth metadata; call the generated gRPC client through the pool instead.
    const pool = (client as unknown as { pool: RawPool }).pool
    let call: RawSnapshotCall
    try {
      call = await pool.withConnection('Maintenance', ({ client: raw, metadata }) =>
        raw.snapshot({}, metadata, { deadline: Date.now() + this.config.snapshotTimeoutSeconds * 1000 }),
      )
    } catch (error) {
      throw etcdError(error, 'starting the snapshot stream', endpoint)
    }
    const onAbort = () => call.cancel()
    signal?.addEventListener('abort', onAbort, { once: true })
    // A deep buffer here keeps gRPC's HTTP/2 flow control from stalling on every downstream
    // pause (measured: 2.5x slower with the default 16 KiB); memory stays bounded by it.
    const stream = Readable.from(blobs(call, endpoint), { objectMode: false, highWaterMark: SNAPSHOT_BUFFER_BYTES })
    stream.once('close', () => {
      signal?.removeEventListener('abort', onAbort)
      // Cancelling makes grpc emit CANCELLED; nobody reads the call any more, so swallow it
      // instead of letting it surface as an uncaught 'error' event.
      call.on('error', () => undefined)
      call.cancel()
    })
    return { endpoint, stream }
  }

  /** Closes every client. Safe to call twice. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const client of this.#clients.values()) client.close()
  }

  #assertOpen(): void {
    if (this.#closed) throw new StewardError('INTERNAL', 'etcd', 'the etcd client was used after close()')
  }
}

// --- internal helpers ---

interface RawSnapshotCall extends NodeJS.EventEmitter, AsyncIterable<{ blob: Buffer }> {
  cancel(): void
}
interface RawPool {
  withConnection<T>(service: string, fn: (ctx: { client: { snapshot(req: object, metadata: grpc.Metadata, options: grpc.CallOptions): RawSnapshotCall }; metadata: grpc.Metadata }) => T | Promise<T>): Promise<T>
}

async function* blobs(call: RawSnapshotCall, endpoint: string): AsyncIterable<Buffer> {
  try {
    for await (const message of call) if (message.blob.length > 0) yield message.blob
  } catch (error) {
    throw etcdError(error, 'streaming the snapshot', endpoint)
  }
}

interface TlsCredentials {
  rootCertificate: Buffer
  privateKey?: Buffer
  certChain?: Buffer
}

async function readTlsFiles(config: EtcdConnectionConfig): Promise<TlsCredentials | undefined> {
  const read = async (path: string | undefined, flag: string) => {
    if (!path) return undefined
    try {
      return await readFile(path)
    } catch (error) {
      throw new StewardError('ETCD_TLS', 'etcd', `cannot read ${flag} file ${path}: ${messageOf(error)}`, {
        cause: error,
        hints: [`pass a readable PEM file to ${flag}`],
      })
    }
  }
  const ca = await read(config.caFile, '--cacert')
  const cert = await read(config.certFile, '--cert')
  const key = await read(config.keyFile, '--key')
  if (Boolean(cert) !== Boolean(key)) {
    throw new StewardError('CONFIG_INVALID', 'etcd', '--cert and --key must be given together', { hints: ['pass both, or neither'] })
  }
  for (const [buffer, flag] of [[ca, '--cacert'], [cert, '--cert'], [key, '--key']] as const) {
    if (buffer && !buffer.toString('latin1').includes('-----BEGIN')) {
      throw new StewardError('ETCD_TLS', 'etcd', `${flag} file is not PEM (no "-----BEGIN" line)`, { hints: [`pass a PEM file to ${flag}`] })
    }
  }
  const tls = config.endpoints.some((e) => e.startsWith('https://'))
  if (!ca && !cert && !tls) return undefined
  // A missing CA means the system roots (grpc-js treats a null root certificate that way).
  return { rootCertificate: ca ?? (null as unknown as Buffer), ...(key ? { privateKey: key } : {}), ...(cert ? { certChain: cert } : {}) }
}

interface ClientLibraries {
  readonly etcd3: typeof import('etcd3')
  readonly grpc: typeof import('@grpc/grpc-js')
}

function buildClient({ etcd3, grpc }: ClientLibraries, endpoint: string, config: EtcdConnectionConfig, credentials: TlsCredentials | undefined): Etcd3 {
  const callMs = config.connectionTimeoutSeconds * 1000
  const defragMs = config.defragTimeoutSeconds * 1000
  const options: IOptions = {
    hosts: endpoint,
    ...(credentials ? { credentials } : {}),
    ...(config.username ? { auth: { username: config.username, password: config.password ?? '', callOptions: () => ({ deadline: Date.now() + callMs }) } } : {}),
    grpcOptions: { 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES, 'grpc.enable_http_proxy': 0, 'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES },
    faultHandling: { host: () => noop, global: noop },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + (ctx.method === 'defragment' ? defragMs : callMs) }),
  }
  if (!config.insecureSkipTlsVerify) return new etcd3.Etcd3(options)
  // etcd3 builds its channel credentials with grpc.credentials.createSsl and offers no
  // verification switch; wrap that call while the client is constructed (synchronously).
  const original = grpc.credentials.createSsl
  grpc.credentials.createSsl = (root, key, cert) =>
    original(root, key, cert, { rejectUnauthorized: false, checkServerIdentity: () => undefined })
  try {
    return new etcd3.Etcd3(options)
  } finally {
    grpc.credentials.createSsl = original
  }
}
