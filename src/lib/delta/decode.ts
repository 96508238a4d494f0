/**
 * Streaming reader of one delta snapshot as etcd-backup-restore writes it (research notes
 * `etcd-backup-restore.md` §3.2): a JSON array of `{"etcdEvent": mvccpb.Event, "time": …}`
 * followed by 32 raw bytes of SHA-256 over the JSON text; the whole blob possibly compressed.
 *
 * Two steps, so that nothing of a damaged delta is ever applied:
 *  1. {@link spoolDelta}: decompressed bytes → temp file, hashing everything but the last 32
 *     bytes on the way; the digest is compared before anything is parsed.
 *  2. {@link readDeltaEvents}: streams the verified file through {@link DeltaArraySplitter}
 *     (an incremental splitter of top-level array elements) and `JSON.parse`s one element at
 *     a time. Memory: one event plus one read chunk, whatever the delta's size.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { StewardError } from '../errors.ts'
import { garbageReleaser } from '../memory.ts'

/** Length of the SHA-256 trailer in bytes. */
export const DELTA_HASH_BYTES = 32

/** One watch event of a delta, decoded. */
export interface DeltaEvent {
  readonly type: 'put' | 'delete'
  readonly key: Buffer
  /** Empty for deletes and for puts of an empty value (Go omits the field then). */
  readonly value: Buffer
  readonly modRevision: number
  /** 0 for deletes. */
  readonly createRevision: number
  /** 0 for deletes. */
  readonly version: number
  /** The lease ID as decimal text (int64 exceeds 2^53); `'0'` when absent. Not used by restore. */
  readonly lease: string
  /** RFC 3339 time the writer received the event, as written; `undefined` when absent. */
  readonly time: string | undefined
}

function corrupt(objectKey: string, why: string, details: Record<string, unknown> = {}): StewardError {
  return new StewardError('SNAPSHOT_CORRUPT', 'delta', `delta snapshot ${objectKey}: ${why}`, {
    details: { key: objectKey, ...details },
    hints: ['the object is damaged in the store; see docs/restore.md for --allow-partial and --fallback-to-older-full'],
  })
}

/**
 * Writes the decompressed delta `source` to `path` (mode 0600) while hashing, then checks the
 * SHA-256 trailer. Memory: O(1).
 * @returns the length of the JSON text in bytes (file length − 32)
 * @throws StewardError `SNAPSHOT_CORRUPT` naming `objectKey` when the trailer is missing (≤ 32
 *   bytes) or does not match; errors of `source` pass through
 */
export async function spoolDelta(source: Readable, path: string, objectKey: string, signal?: AbortSignal): Promise<number> {
  const hash = createHash('sha256')
  let tail = Buffer.alloc(0)
  let total = 0
  // Every decompressed chunk is a fresh buffer outside V8's heap (src/lib/memory.ts).
  const release = garbageReleaser()
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      total += chunk.length
      release(total)
      const joined = tail.length === 0 ? chunk : Buffer.concat([tail, chunk])
      const cut = Math.max(0, joined.length - DELTA_HASH_BYTES)
      if (cut > 0) hash.update(joined.subarray(0, cut))
      tail = Buffer.from(joined.subarray(cut))
      callback(null, chunk)
    },
  })
  await pipeline(source, hasher, createWriteStream(path, { mode: 0o600 }), signal ? { signal } : {})
  if (total <= DELTA_HASH_BYTES) throw corrupt(objectKey, `SHA-256 trailer is missing (${total} bytes)`, { bytes: total })
  const actual = hash.digest()
  if (!actual.equals(tail)) {
    throw corrupt(objectKey, `SHA-256 mismatch: trailer says ${tail.toString('hex')}, content hashes to ${actual.toString('hex')}`, {
      expected: tail.toString('hex'),
      actual: actual.toString('hex'),
    })
  }
  return total - DELTA_HASH_BYTES
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d])

/**
 * Incremental splitter of a JSON array of objects into its elements' texts. Feed chunks with
 * {@link push} (any boundaries, even 1 byte), then call {@link end}. Tracks string, escape and
 * nesting state only; each element is validated later by `JSON.parse`.
 * Errors are plain `Error`s with the byte offset; the caller wraps them.
 */
export class DeltaArraySplitter {
  #state: 'before' | 'expectElement' | 'inElement' | 'expectComma' | 'after' = 'before'
  #depth = 0
  #inString = false
  #escape = false
  #parts: Buffer[] = []
  #offset = 0
  #elements = 0

  /** Elements completed so far. */
  get count(): number {
    return this.#elements
  }

  /** Splits `chunk`, returning the elements it completed (UTF-8 text). */
  push(chunk: Buffer): string[] {
    const out: string[] = []
    let start = -1
    // Next backslash at or after the scan position (-1: none left in the chunk; -2: not looked up
    // yet). Strings (base64 keys and values: most of a delta) are skipped with indexOf instead
    // of byte by byte.
    let backslash = -2
    for (let i = 0; i < chunk.length; i++) {
      if (this.#state === 'inElement') {
        if (this.#inString) {
          if (this.#escape) {
            this.#escape = false
            continue
          }
          const quote = chunk.indexOf(0x22, i)
          if (backslash !== -1 && backslash < i) backslash = chunk.indexOf(0x5c, i)
          if (backslash !== -1 && (quote === -1 || backslash < quote)) {
            i = backslash
            this.#escape = true
          } else if (quote === -1) {
            i = chunk.length
          } else {
            i = quote
            this.#inString = false
          }
          continue
        }
        const b = chunk[i]!
        if (b === 0x22) this.#inString = true
        else if (b === 0x7b || b === 0x5b) this.#depth++
        else if (b === 0x7d || b === 0x5d) {
          if (--this.#depth === 0) {
            this.#parts.push(chunk.subarray(start === -1 ? 0 : start, i + 1))
            out.push(Buffer.concat(this.#parts).toString('utf8'))
            this.#parts = []
            start = -1
            this.#elements++
            this.#state = 'expectComma'
          }
        }
        continue
      }
      const b = chunk[i]!
      if (WS.has(b)) continue
      if (this.#state === 'before') {
        if (b !== 0x5b) this.#fail(i, 'the delta does not start with "["')
        this.#state = 'expectElement'
      } else if (this.#state === 'expectElement') {
        if (b === 0x5d && this.#elements === 0) this.#state = 'after'
        else if (b === 0x7b) {
          this.#state = 'inElement'
          this.#depth = 1
          start = i
        } else this.#fail(i, `expected an event object, found ${JSON.stringify(String.fromCharCode(b))}`)
      } else if (this.#state === 'expectComma') {
        if (b === 0x2c) this.#state = 'expectElement'
        else if (b === 0x5d) this.#state = 'after'
        else this.#fail(i, `expected "," or "]", found ${JSON.stringify(String.fromCharCode(b))}`)
      } else this.#fail(i, 'bytes after the closing "]"')
    }
    if (this.#state === 'inElement') this.#parts.push(Buffer.from(chunk.subarray(start === -1 ? 0 : start)))
    this.#offset += chunk.length
    return out
  }

  /** Checks that the array was closed. */
  end(): void {
    if (this.#state !== 'after') throw new Error(`the JSON array is truncated after ${this.#offset} bytes (${this.#elements} complete events)`)
  }

  #fail(index: number, why: string): never {
    throw new Error(`${why} at byte ${this.#offset + index}`)
  }
}

interface RawEvent {
  etcdEvent?: { type?: unknown; kv?: { key?: unknown; value?: unknown; mod_revision?: unknown; create_revision?: unknown; version?: unknown; lease?: unknown } }
  time?: unknown
}

/**
 * `JSON.parse` of one element. int64 `lease` IDs can exceed 2^53, where a JS number loses
 * digits; only then is the exact text taken from the source (a reviver would keep it always,
 * but makes every parse several times slower).
 */
function parseElement(text: string): RawEvent {
  const raw = JSON.parse(text) as RawEvent
  const kv = raw.etcdEvent?.kv
  if (kv && typeof kv.lease === 'number' && !Number.isSafeInteger(kv.lease)) {
    const exact = /"lease"\s*:\s*(-?\d+)/.exec(text)
    if (exact) kv.lease = exact[1]
  }
  return raw
}

function revisionField(value: unknown, name: string, required: boolean): number {
  if (value === undefined && !required) return 0
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (required ? 1 : 0)) throw new Error(`bad ${name} ${JSON.stringify(value)}`)
  return value
}

function base64Field(value: unknown, name: string, required: boolean): Buffer {
  if (value === undefined && !required) return Buffer.alloc(0)
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) throw new Error(`bad ${name} (not standard base64)`)
  return Buffer.from(value, 'base64')
}

/**
 * Decodes one element's text into a {@link DeltaEvent}.
 * @throws Error describing the bad field (callers wrap it into `SNAPSHOT_CORRUPT`)
 */
export function decodeDeltaElement(text: string): DeltaEvent {
  const raw = parseElement(text)
  const event = raw.etcdEvent
  if (typeof event !== 'object' || event === null) throw new Error('event without "etcdEvent"')
  const kv = event.kv
  if (typeof kv !== 'object' || kv === null) throw new Error('event without "kv"')
  const typeCode = event.type ?? 0
  if (typeCode !== 0 && typeCode !== 1) throw new Error(`unknown event type ${JSON.stringify(typeCode)}`)
  const lease = kv.lease === undefined ? '0' : String(kv.lease)
  return {
    type: typeCode === 1 ? 'delete' : 'put',
    key: base64Field(kv.key, 'key', true),
    value: base64Field(kv.value, 'value', false),
    modRevision: revisionField(kv.mod_revision, 'mod_revision', true),
    createRevision: revisionField(kv.create_revision, 'create_revision', false),
    version: revisionField(kv.version, 'version', false),
    lease,
    time: typeof raw.time === 'string' ? raw.time : undefined,
  }
}

/**
 * Decodes the JSON text of a delta, chunk by chunk, yielding events in order.
 * @throws StewardError `SNAPSHOT_CORRUPT` naming `objectKey` (bad JSON, bad field, truncated array)
 */
export async function* decodeDeltaEvents(chunks: AsyncIterable<Buffer>, objectKey: string): AsyncGenerator<DeltaEvent> {
  const splitter = new DeltaArraySplitter()
  const step = <T>(what: () => T): T => {
    try {
      return what()
    } catch (error) {
      throw corrupt(objectKey, `invalid JSON: ${(error as Error).message}`, { event: splitter.count })
    }
  }
  for await (const chunk of chunks) {
    for (const text of step(() => splitter.push(chunk))) yield step(() => decodeDeltaElement(text))
  }
  step(() => splitter.end())
}

/**
 * Events of a delta spooled and verified by {@link spoolDelta}: reads the first `jsonBytes`
 * bytes of `path` (the trailer is excluded).
 * @throws StewardError `SNAPSHOT_CORRUPT` naming `objectKey`
 */
export function readDeltaEvents(path: string, jsonBytes: number, objectKey: string): AsyncGenerator<DeltaEvent> {
  const stream = createReadStream(path, { start: 0, end: jsonBytes - 1, highWaterMark: 256 * 1024 })
  return decodeDeltaEvents(stream as AsyncIterable<Buffer>, objectKey)
}
