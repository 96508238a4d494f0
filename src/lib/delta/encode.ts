/**
 * Writer side of the delta snapshot format etcd-backup-restore uses (research notes
 * `etcd-backup-restore.md` §3.2):
 *
 *   '[' event ',' event ... ']'  followed by 32 raw bytes: SHA-256 of the JSON text
 *
 * Each event is the compact JSON Go's `encoding/json` produces for
 * `{EtcdEvent *clientv3.Event "etcdEvent"; Time time.Time "time"}`, byte for byte:
 *  - field order is Go's struct order: `etcdEvent{type, kv{key, create_revision,
 *    mod_revision, version, value, lease}}`, then `time`;
 *  - every protobuf field is `omitempty`: a PUT has no `type`, a DELETE's `kv` carries only
 *    `key` and `mod_revision`, an empty value has no `value` key, a zero lease no `lease`;
 *  - bytes are standard base64 with padding; int64 fields are decimal digits, emitted verbatim
 *    from etcd's decimal strings so lease IDs above 2^53 keep every digit;
 *  - `time` is RFC 3339 with nanoseconds, trailing fractional zeros trimmed (Go's
 *    `time.RFC3339Nano`), always UTC (`Z`) here.
 */
import { createHash, type Hash } from 'node:crypto'
import { StewardError } from '../errors.ts'

/** One watch event, as the delta format stores it. int64 fields are decimal strings. */
export interface WatchEvent {
  readonly type: 'put' | 'delete'
  readonly key: Uint8Array
  /** Empty for deletes and for puts of an empty value. */
  readonly value: Uint8Array
  /** Decimal; `'0'` for deletes. */
  readonly createRevision: string
  /** Decimal; the revision of the write that produced the event. */
  readonly modRevision: string
  /** Decimal; `'0'` for deletes. */
  readonly version: string
  /** Lease ID, decimal (int64, may exceed 2^53); `'0'` when none. */
  readonly lease: string
}

/** When the event was received: nanoseconds since the Unix epoch, or an RFC 3339 string written verbatim. */
export type EventTime = bigint | string

const INT64 = /^-?\d+$/

/**
 * Converts an event of the `etcd3` client (int64 as decimal strings, `type` `'Put'`/`'Delete'`
 * or 0/1, bytes as Buffers) into a {@link WatchEvent}.
 * @throws StewardError `INTERNAL` for an event without a key-value
 */
export function fromEtcd3Event(event: {
  type: string | number
  kv?: { key?: Uint8Array; value?: Uint8Array; create_revision?: string | number; mod_revision?: string | number; version?: string | number; lease?: string | number } | null
}): WatchEvent {
  const kv = event.kv
  if (!kv) throw new StewardError('INTERNAL', 'delta', 'etcd sent a watch event without a key-value')
  const isDelete = event.type === 'Delete' || event.type === 'DELETE' || event.type === 1
  return {
    type: isDelete ? 'delete' : 'put',
    key: kv.key ?? Buffer.alloc(0),
    value: kv.value ?? Buffer.alloc(0),
    createRevision: String(kv.create_revision ?? '0'),
    modRevision: String(kv.mod_revision ?? '0'),
    version: String(kv.version ?? '0'),
    lease: String(kv.lease ?? '0'),
  }
}

/**
 * Formats a time as Go's `time.RFC3339Nano` in UTC: `2026-01-02T03:04:05.123456789Z`, with
 * trailing fractional zeros trimmed and no fraction at all for whole seconds.
 * @param epochNs nanoseconds since the Unix epoch (may be negative only for pre-1970 times)
 */
export function formatRfc3339Nano(epochNs: bigint): string {
  const seconds = epochNs >= 0n ? epochNs / 1_000_000_000n : -((-epochNs + 999_999_999n) / 1_000_000_000n)
  const nanos = epochNs - seconds * 1_000_000_000n
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19)
  const fraction = nanos === 0n ? '' : `.${nanos.toString().padStart(9, '0').replace(/0+$/, '')}`
  return `${base}${fraction}Z`
}

const wallAnchorNs = BigInt(Date.now()) * 1_000_000n
const monotonicAnchor = process.hrtime.bigint()

/**
 * The current wall-clock time in nanoseconds since the epoch, with sub-millisecond resolution
 * (the wall clock read once at start-up, advanced by the monotonic clock).
 */
export function nowEpochNs(): bigint {
  return wallAnchorNs + (process.hrtime.bigint() - monotonicAnchor)
}

function int64Field(name: string, value: string, out: string[]): void {
  if (!INT64.test(value)) throw new StewardError('INTERNAL', 'delta', `event field ${name} is not a decimal int64: ${JSON.stringify(value)}`)
  if (/^-?0+$/.test(value)) return
  // Strip leading zeros the way a Go int64 would print the number.
  const digits = value.startsWith('-') ? `-${value.slice(1).replace(/^0+/, '')}` : value.replace(/^0+/, '')
  out.push(`"${name}":${digits}`)
}

/**
 * The JSON text of one event exactly as Go's `encoding/json` writes etcd-backup-restore's
 * event wrapper (§3.2). Base64 and RFC 3339 text need no JSON escaping, so the text is
 * assembled directly; `time` given as a string is validated to need none either.
 * @throws StewardError `INTERNAL` for a non-decimal int64 field or a time string that is not plain text
 */
export function encodeEvent(event: WatchEvent, time: EventTime): string {
  const kv: string[] = []
  if (event.key.length > 0) kv.push(`"key":"${Buffer.from(event.key.buffer, event.key.byteOffset, event.key.byteLength).toString('base64')}"`)
  int64Field('create_revision', event.createRevision, kv)
  int64Field('mod_revision', event.modRevision, kv)
  int64Field('version', event.version, kv)
  if (event.value.length > 0) kv.push(`"value":"${Buffer.from(event.value.buffer, event.value.byteOffset, event.value.byteLength).toString('base64')}"`)
  int64Field('lease', event.lease, kv)
  const timeText = typeof time === 'bigint' ? formatRfc3339Nano(time) : time
  if (!/^[0-9A-Za-z:.+-]+$/.test(timeText)) throw new StewardError('INTERNAL', 'delta', `event time is not an RFC 3339 string: ${JSON.stringify(timeText)}`)
  const type = event.type === 'delete' ? '"type":1,' : ''
  return `{"etcdEvent":{${type}"kv":{${kv.join(',')}}},"time":"${timeText}"}`
}

/** Where a {@link DeltaWriter} sends bytes; may return a promise to apply backpressure. */
export interface DeltaSink {
  write(chunk: Buffer): void | Promise<void>
}

/** What a finished delta holds. */
export interface DeltaSummary {
  readonly eventCount: number
  /** Bytes of the JSON text (without the 32-byte digest). */
  readonly jsonBytes: number
  /** mod_revision of the first and last event; `undefined` when there were none. */
  readonly firstRevision: number | undefined
  readonly lastRevision: number | undefined
  /** SHA-256 of the JSON text, hex. */
  readonly sha256: string
}

/**
 * Streams one delta snapshot into a {@link DeltaSink}: `[`, the events separated by `,`, then
 * on {@link finish} `]` and the 32-byte SHA-256 of everything before it. Hashes as it goes, so
 * it never holds the delta itself. Not reusable after `finish`.
 */
export class DeltaWriter {
  readonly #sink: DeltaSink
  readonly #hash: Hash = createHash('sha256')
  #jsonBytes = 0
  #eventCount = 0
  #firstRevision: number | undefined
  #lastRevision: number | undefined
  #finished = false

  constructor(sink: DeltaSink) {
    this.#sink = sink
  }

  /** Bytes of JSON text written so far (what etcd-backup-restore compares with the memory limit). */
  get jsonBytes(): number {
    return this.#jsonBytes
  }

  get eventCount(): number {
    return this.#eventCount
  }

  /** mod_revision of the first event written, if any. */
  get firstRevision(): number | undefined {
    return this.#firstRevision
  }

  /** mod_revision of the last event written, if any. */
  get lastRevision(): number | undefined {
    return this.#lastRevision
  }

  /**
   * Appends events (in watch order) received at `time`.
   * @throws StewardError `INTERNAL` after {@link finish} or for a malformed event
   */
  async add(events: readonly WatchEvent[], time: EventTime): Promise<void> {
    if (this.#finished) throw new StewardError('INTERNAL', 'delta', 'DeltaWriter.add() after finish()')
    if (events.length === 0) return
    const parts: string[] = []
    for (const event of events) {
      parts.push(`${this.#eventCount === 0 && parts.length === 0 ? '[' : ','}${encodeEvent(event, time)}`)
    }
    const revisionOf = (event: WatchEvent) => Number(event.modRevision)
    this.#firstRevision ??= revisionOf(events[0]!)
    this.#lastRevision = revisionOf(events[events.length - 1]!)
    this.#eventCount += events.length
    await this.#emit(Buffer.from(parts.join(''), 'utf8'))
  }

  /**
   * Closes the array and writes the digest. With no events the text is `[]`.
   * @returns what was written
   */
  async finish(): Promise<DeltaSummary> {
    if (this.#finished) throw new StewardError('INTERNAL', 'delta', 'DeltaWriter.finish() called twice')
    await this.#emit(Buffer.from(this.#eventCount === 0 ? '[]' : ']', 'utf8'))
    this.#finished = true
    const digest = this.#hash.digest()
    await this.#sink.write(digest)
    return {
      eventCount: this.#eventCount,
      jsonBytes: this.#jsonBytes,
      firstRevision: this.#firstRevision,
      lastRevision: this.#lastRevision,
      sha256: digest.toString('hex'),
    }
  }

  async #emit(chunk: Buffer): Promise<void> {
    this.#hash.update(chunk)
    this.#jsonBytes += chunk.length
    await this.#sink.write(chunk)
  }
}

/** A {@link DeltaSink} that keeps the chunks in memory (continuous mode buffers a period's events). */
export class MemorySink implements DeltaSink {
  readonly chunks: Buffer[] = []
  bytes = 0

  write(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.bytes += chunk.length
  }
}

/**
 * A {@link DeltaSink} writing into a Node stream, waiting for `drain` when the stream's buffer
 * is full and failing when the stream does.
 */
export function streamSink(stream: NodeJS.WritableStream & { destroyed?: boolean; writableNeedDrain?: boolean }): DeltaSink {
  return {
    write(chunk: Buffer): void | Promise<void> {
      if (stream.destroyed) throw new StewardError('INTERNAL', 'delta', 'the delta output stream was closed early')
      if (stream.write(chunk)) return
      return new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          stream.removeListener('error', onError)
          stream.removeListener('close', onClose)
          resolve()
        }
        const onError = (error: Error) => {
          stream.removeListener('drain', onDrain)
          stream.removeListener('close', onClose)
          reject(error)
        }
        const onClose = () => {
          stream.removeListener('drain', onDrain)
          stream.removeListener('error', onError)
          reject(new StewardError('INTERNAL', 'delta', 'the delta output stream was closed early'))
        }
        stream.once('drain', onDrain)
        stream.once('error', onError)
        stream.once('close', onClose)
      })
    },
  }
}
