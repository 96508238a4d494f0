/**
 * Lifecycle wrapper around the etcd3 client, with the workarounds the research notes
 * (`etcd-defrag-and-etcd3.md` §2) prove necessary:
 *  - one `Etcd3` instance per endpoint (etcd3 routes each call to a random host otherwise);
 *  - no retry policy and no circuit breaker (etcd3's defaults retry non-idempotent calls);
 *  - a deadline on every unary call (etcd3 ignores `dialTimeout`);
 *  - snapshots with the auth token attached (etcd3's own `maintenance.snapshot()` drops it).
 * The snapshot stream and the revision read before it go over steward's lean HTTP/2 gRPC
 * transport (`wire/`), which streams at etcdctl's speed; etcd3 (and grpc-js) are loaded only
 * when a command needs another call, so `steward snapshot` never loads them.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { Readable } from 'node:stream'
import type { Etcd3, IOptions } from 'etcd3'
import { StewardError, messageOf } from '../errors.ts'
import type { EtcdConnectionConfig } from './config.ts'
import { etcdError } from './errors.ts'
import { METHODS, decodeAuthenticateToken, decodeHeaderRevision, encodeAuthenticateRequest, encodeRangeRequest, encodeSnapshotRequest, SNAPSHOT_BLOB_FIELD } from './wire/messages.ts'
import { WireChannel, type CallOptions } from './wire/transport.ts'

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
  /** Cluster ID, decimal string (from the response header). */
  readonly clusterId: string
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
  readonly #credentials: TlsCredentials | undefined
  readonly #channels = new Map<string, WireChannel>()
  readonly #clients = new Map<string, Etcd3>()
  readonly #tokens = new Map<string, Promise<string>>()
  #closed = false

  private constructor(config: EtcdConnectionConfig, credentials: TlsCredentials | undefined) {
    this.config = config
    this.#credentials = credentials
  }

  /**
   * Prepares the clients of every endpoint. Reads TLS files eagerly, so a wrong path fails
   * here. Does not contact etcd.
   * @throws StewardError `CONFIG_INVALID` (no endpoints, mixed schemes), `ETCD_TLS` (unreadable TLS files)
   */
  static async create(config: EtcdConnectionConfig): Promise<EtcdClient> {
    if (config.endpoints.length === 0) {
      throw new StewardError('CONFIG_INVALID', 'etcd', 'no etcd endpoint given', { hints: ['pass --endpoints http://127.0.0.1:2379'] })
    }
    return new EtcdClient(config, await readTlsFiles(config))
  }

  /** Endpoints in the order given. */
  get endpoints(): readonly string[] {
    return [...this.config.endpoints]
  }

  /**
   * The etcd3 client of one endpoint (for calls this wrapper does not cover). The first call
   * loads etcd3 and grpc-js.
   */
  clientFor(endpoint: string): Etcd3 {
    this.#assertOpen()
    if (!this.config.endpoints.includes(endpoint)) throw new StewardError('INTERNAL', 'etcd', `no client for endpoint ${endpoint}`)
    let client = this.#clients.get(endpoint)
    if (!client) {
      client = buildClient(loadClientLibraries(), endpoint, this.config, this.#credentials)
      this.#clients.set(endpoint, client)
    }
    return client
  }

  /**
   * Runs `fn` against the endpoints in order until one succeeds; rethrows the last failure
   * (mapped by {@link etcdError}) when none does. For idempotent reads only.
   */
  async onFirstAvailable<T>(action: string, fn: (client: Etcd3, endpoint: string) => Promise<T>): Promise<{ value: T; endpoint: string }> {
    return this.#firstAvailable(action, (endpoint) => fn(this.clientFor(endpoint), endpoint))
  }

  /**
   * etcd's current revision (the header revision of a one-key, keys-only range).
   * @throws StewardError `ETCD_UNREACHABLE`, `ETCD_TLS`, `ETCD_AUTH`
   */
  async currentRevision(): Promise<{ revision: number; endpoint: string }> {
    const request = encodeRangeRequest(Buffer.from([0]), 1, true)
    const { value, endpoint } = await this.#firstAvailable('reading the revision', (endpoint) =>
      this.#authorized(endpoint, async (channel, options) => decodeHeaderRevision(await channel.unary(METHODS.range, request, { ...options, timeoutMs: this.#callMs })),
    ))
    return { revision: value, endpoint }
  }

  /** `Maintenance.Status` of one endpoint. @throws StewardError `ETCD_*` */
  async status(endpoint: string): Promise<MemberStatus> {
    try {
      const s = await this.clientFor(endpoint).maintenance.status()
      return {
        endpoint,
        memberId: String(s.header.member_id),
        clusterId: String(s.header.cluster_id),
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
   * stream are {@link StewardError}s; after `signal` aborts, the stream fails with its reason.
   * @throws StewardError `ETCD_AUTH` / `ETCD_UNREACHABLE` when authentication fails
   */
  async snapshot(endpoint: string, signal?: AbortSignal): Promise<SnapshotSource> {
    this.#assertOpen()
    const options = await this.#callOptions(endpoint)
    // A deep buffer here keeps HTTP/2 flow control from stalling on every downstream pause
    // (measured: 2.5x slower with the default 16 KiB); memory stays bounded by it.
    const stream = this.#channel(endpoint).serverStreamField(METHODS.snapshot, encodeSnapshotRequest(), SNAPSHOT_BLOB_FIELD, {
      ...options,
      timeoutMs: this.config.snapshotTimeoutSeconds * 1000,
      signal,
      highWaterMark: SNAPSHOT_BUFFER_BYTES,
      // After an abort, the abort's reason passes through unchanged.
      mapError: (error) => (signal?.aborted ? (error as Error) : etcdError(error, 'streaming the snapshot', endpoint)),
    })
    return { endpoint, stream }
  }

  /** Closes every client. Safe to call twice. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const client of this.#clients.values()) client.close()
    for (const channel of this.#channels.values()) channel.close()
  }

  get #callMs(): number {
    return this.config.connectionTimeoutSeconds * 1000
  }

  async #firstAvailable<T>(action: string, fn: (endpoint: string) => Promise<T>): Promise<{ value: T; endpoint: string }> {
    this.#assertOpen()
    let last: StewardError | undefined
    for (const endpoint of this.config.endpoints) {
      try {
        return { value: await fn(endpoint), endpoint }
      } catch (error) {
        last = etcdError(error, action, endpoint)
        if (last.code === 'ETCD_AUTH' || last.code === 'ETCD_TLS') throw last
      }
    }
    throw last ?? new StewardError('INTERNAL', 'etcd', `${action}: no endpoints`)
  }

  #channel(endpoint: string): WireChannel {
    this.#assertOpen()
    let channel = this.#channels.get(endpoint)
    if (!channel) {
      channel = new WireChannel({ endpoint: wireUrl(endpoint, this.#credentials), tls: wireTls(this.#credentials, this.config), flowControlWindowBytes: FLOW_CONTROL_WINDOW_BYTES, maxMessageBytes: MAX_RECEIVE_BYTES })
      this.#channels.set(endpoint, channel)
    }
    return channel
  }

  /** Call options carrying the auth token when a user is configured (authenticating once per endpoint). */
  async #callOptions(endpoint: string): Promise<Pick<CallOptions, 'metadata'>> {
    const { username, password } = this.config
    if (!username) return {}
    let token = this.#tokens.get(endpoint)
    if (!token) {
      const request = encodeAuthenticateRequest(username, password ?? '')
      token = this.#channel(endpoint).unary(METHODS.authenticate, request, { timeoutMs: this.#callMs }).then(decodeAuthenticateToken)
      token.catch(() => this.#tokens.delete(endpoint))
      this.#tokens.set(endpoint, token)
    }
    return { metadata: { token: await token } }
  }

  /** Runs a wire call with auth; an expired token is renewed once. */
  async #authorized<T>(endpoint: string, fn: (channel: WireChannel, options: Pick<CallOptions, 'metadata'>) => Promise<T>): Promise<T> {
    const channel = this.#channel(endpoint)
    try {
      return await fn(channel, await this.#callOptions(endpoint))
    } catch (error) {
      if (!this.config.username || !/invalid auth token/i.test(messageOf(error))) throw error
      this.#tokens.delete(endpoint)
      return fn(channel, await this.#callOptions(endpoint))
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new StewardError('INTERNAL', 'etcd', 'the etcd client was used after close()')
  }
}

// --- internal helpers ---

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
  checkTlsContents(config, ca, cert, key)
  const tls = config.endpoints.some((e) => e.startsWith('https://'))
  if (!ca && !cert && !tls) return undefined
  // A missing CA means the system roots (grpc-js treats a null root certificate that way).
  return { rootCertificate: ca ?? (null as unknown as Buffer), ...(key ? { privateKey: key } : {}), ...(cert ? { certChain: cert } : {}) }
}

/**
 * Each TLS file holds what its flag needs, so a swapped file is an `ETCD_TLS` naming the flag
 * before any connection (grpc-js would otherwise fail later with an unclassified error):
 * certificates in --cacert and --cert, a private key in --key that matches --cert.
 */
function checkTlsContents(config: EtcdConnectionConfig, ca: Buffer | undefined, cert: Buffer | undefined, key: Buffer | undefined): void {
  const fail = (flag: string, path: string | undefined, what: string, cause?: unknown) =>
    new StewardError('ETCD_TLS', 'etcd', `${flag} file ${path ?? ''} ${what}`.replace(/ {2,}/g, ' '), {
      ...(cause === undefined ? {} : { cause }),
      hints: ['--cacert takes the CA certificate, --cert the client certificate, --key its private key (PEM)'],
    })
  const certificate = (buffer: Buffer, flag: string, path: string | undefined) => {
    try {
      return new X509Certificate(buffer)
    } catch (error) {
      throw fail(flag, path, 'does not hold a PEM certificate', error)
    }
  }
  if (ca) certificate(ca, '--cacert', config.caFile)
  if (!key || !cert) return
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key)
  } catch (error) {
    const holdsCert = key.toString('latin1').includes('-----BEGIN CERTIFICATE')
    throw fail('--key', config.keyFile, holdsCert ? 'holds a certificate, not a private key' : 'does not hold an unencrypted PEM private key', error)
  }
  if (!certificate(cert, '--cert', config.certFile).checkPrivateKey(privateKey)) {
    throw fail('--key', config.keyFile, `does not match the certificate in --cert ${config.certFile ?? ''}`)
  }
}

interface ClientLibraries {
  readonly etcd3: typeof import('etcd3')
  readonly grpc: typeof import('@grpc/grpc-js')
  readonly noop: typeof import('cockatiel').noop
}

/**
 * etcd3, grpc-js and cockatiel, loaded on first use (synchronously: all three are CommonJS).
 * They take a noticeable share of start-up, and `steward snapshot` never needs them.
 */
function loadClientLibraries(): ClientLibraries {
  const require = createRequire(import.meta.url)
  return { etcd3: require('etcd3'), grpc: require('@grpc/grpc-js'), noop: (require('cockatiel') as typeof import('cockatiel')).noop }
}

/** The wire channel's URL: https whenever TLS material is configured (as etcd3 does). */
function wireUrl(endpoint: string, credentials: TlsCredentials | undefined): string {
  const url = new URL(endpoint.includes('://') ? endpoint : `http://${endpoint}`)
  return `${credentials ? 'https' : 'http'}://${url.host}`
}

function wireTls(credentials: TlsCredentials | undefined, config: EtcdConnectionConfig): ConstructorParameters<typeof WireChannel>[0]['tls'] {
  if (!credentials) return undefined
  return { ca: credentials.rootCertificate ?? undefined, cert: credentials.certChain, key: credentials.privateKey, rejectUnauthorized: !config.insecureSkipTlsVerify }
}

function buildClient({ etcd3, grpc, noop }: ClientLibraries, endpoint: string, config: EtcdConnectionConfig, credentials: TlsCredentials | undefined): Etcd3 {
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
