/**
 * Data of bench/delta-restore.ts: fills the source etcd up to a database size, writes the
 * delta workload (puts of 100–1000-byte values, overwrites, deletes, multi-op txns), hashes a
 * whole key space page by page, and reads a store's deltas back with the project's decoder.
 */
import { createHash, randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import type { Etcd3, IRequestOp } from 'etcd3'
import { readDeltaEvents, spoolDelta } from '../src/lib/delta/decode.ts'
import type { BackupStore, StoredSnapshot } from '../src/lib/snapshot/backup-store.ts'
import { testClient } from '../test/harness/data.ts'
import { prng } from '../test/harness/prng.ts'

/** Keys of the base fill; the event workload overwrites some of them. */
export const BASE_PREFIX = '/registry/base/'
const EVENT_PREFIX = '/registry/events/'
const BASE_VALUE_BYTES = 8 * 1024

function baseKey(i: number): string {
  return `${BASE_PREFIX}${String(i).padStart(8, '0')}`
}

function eventKey(i: number): string {
  return `${EVENT_PREFIX}ns-${String(i % 64).padStart(2, '0')}/obj-${String(i).padStart(8, '0')}`
}

/**
 * Puts 8 KiB random (incompressible) values, 64 in flight, until etcd's dbSize reaches
 * `mebibytes` MiB. @returns the number of base keys and the final dbSize
 */
export async function fillBase(endpoint: string, mebibytes: number): Promise<{ keys: number; dbSizeBytes: number }> {
  const client = testClient(endpoint)
  try {
    const target = mebibytes * 1048576
    const batch = 1024
    let keys = 0
    for (;;) {
      const dbSizeBytes = Number((await client.maintenance.status()).dbSize)
      if (dbSizeBytes >= target) return { keys, dbSizeBytes }
      const end = keys + batch
      let next = keys
      const worker = async () => {
        while (next < end) {
          const i = next++
          await client.put(baseKey(i)).value(randomBytes(BASE_VALUE_BYTES))
        }
      }
      await Promise.all(Array.from({ length: 64 }, worker))
      keys = end
    }
  } finally {
    client.close()
  }
}

export interface WorkloadStats {
  /** Events written (every op below makes exactly one event). */
  events: number
  puts: number
  deletes: number
  /** Transactions of 2–8 operations (one revision, several events). */
  txns: number
  /** Overwrites of keys of the full snapshot. */
  baseOverwrites: number
  seconds: number
}

/**
 * Writes at least `events` watch events with `workers` concurrent writers. Each writer owns a
 * disjoint slice of the key space (key index ≡ writer mod workers), so it knows which of its
 * keys exist: every delete hits a live key and every op yields exactly its events. Mix per
 * step: 12 % txn of 2–8 distinct keys (puts, 20 % deletes of live keys), 10 % delete, 5 %
 * overwrite of a base key, the rest puts to random keys (new or overwrites). Values are
 * 100–1000 random bytes.
 */
export async function writeEvents(endpoint: string, options: { events: number; baseKeys: number; workers?: number; onProgress?: (written: number) => void }): Promise<WorkloadStats> {
  const workers = options.workers ?? 32
  const keySpace = Math.max(workers * 16, Math.floor(options.events / 4))
  const exists = new Uint8Array(keySpace)
  const pool = randomBytes(4 * 1024 * 1024)
  const stats: WorkloadStats = { events: 0, puts: 0, deletes: 0, txns: 0, baseOverwrites: 0, seconds: 0 }
  let reserved = 0
  let reported = 0
  const step = Math.max(1, Math.floor(options.events / 10))
  const client: Etcd3 = testClient(endpoint)
  const started = performance.now()
  const writer = async (w: number) => {
    const random = prng(0x5eed + w)
    const value = () => {
      const length = 100 + Math.floor(random() * 901)
      const at = Math.floor(random() * (pool.length - length))
      return pool.subarray(at, at + length)
    }
    const ownKeys = Math.floor((keySpace - 1 - w) / workers) + 1
    const ownKey = () => w + workers * Math.floor(random() * ownKeys)
    const live: number[] = []
    const livePosition = new Map<number, number>()
    const markLive = (k: number) => {
      if (exists[k]) return
      exists[k] = 1
      livePosition.set(k, live.length)
      live.push(k)
    }
    const markGone = (k: number) => {
      exists[k] = 0
      const at = livePosition.get(k)!
      const last = live.pop()!
      if (last !== k) {
        live[at] = last
        livePosition.set(last, at)
      }
      livePosition.delete(k)
    }
    const ownBase = Math.floor((options.baseKeys - 1 - w) / workers) + 1
    while (reserved < options.events) {
      const r = random()
      if (r < 0.12) {
        const size = 2 + Math.floor(random() * 7)
        const keys = new Set<number>()
        while (keys.size < Math.min(size, ownKeys)) keys.add(ownKey())
        reserved += keys.size
        const ops: IRequestOp[] = []
        const after: (() => void)[] = []
        for (const k of keys) {
          if (exists[k] && random() < 0.2) {
            ops.push({ request_delete_range: { key: Buffer.from(eventKey(k)) } })
            after.push(() => markGone(k))
            stats.deletes++
          } else {
            ops.push({ request_put: { key: Buffer.from(eventKey(k)), value: value() } })
            after.push(() => markLive(k))
            stats.puts++
          }
        }
        await client.kv.txn({ compare: [], success: ops, failure: [] })
        for (const done of after) done()
        stats.txns++
        stats.events += keys.size
      } else if (r < 0.22 && live.length > 0) {
        const k = live[Math.floor(random() * live.length)]!
        reserved++
        await client.delete().key(eventKey(k))
        markGone(k)
        stats.deletes++
        stats.events++
      } else if (r < 0.27 && ownBase > 0) {
        reserved++
        await client.put(baseKey(w + workers * Math.floor(random() * ownBase))).value(value())
        stats.baseOverwrites++
        stats.puts++
        stats.events++
      } else {
        const k = ownKey()
        reserved++
        await client.put(eventKey(k)).value(value())
        markLive(k)
        stats.puts++
        stats.events++
      }
      if (options.onProgress && stats.events - reported >= step) {
        reported = stats.events
        options.onProgress(stats.events)
      }
    }
  }
  try {
    await Promise.all(Array.from({ length: workers }, (_, w) => writer(w)))
  } finally {
    client.close()
  }
  stats.seconds = (performance.now() - started) / 1000
  return stats
}

/** etcd's current revision. */
export async function currentRevision(client: Etcd3): Promise<number> {
  const response = await client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true })
  return Number(response.header.revision)
}

/**
 * SHA-256 over every key and value (length-prefixed, in key order), read in pages of 512 keys
 * pinned to one revision, so a database of any size can be hashed.
 */
export async function hashKeyspace(endpoint: string): Promise<{ revision: number; keys: number; hash: string }> {
  const client = testClient(endpoint)
  try {
    const hash = createHash('sha256')
    const revision = await currentRevision(client)
    const length = Buffer.alloc(4)
    let from = Buffer.from([0])
    let keys = 0
    for (;;) {
      const page = await client.kv.range({ key: from, range_end: Buffer.from([0]), limit: 512, revision })
      for (const kv of page.kvs) {
        for (const part of [kv.key, kv.value]) {
          length.writeUInt32BE(part.length)
          hash.update(length).update(part)
        }
      }
      keys += page.kvs.length
      const last = page.kvs.at(-1)
      if (!page.more || !last) break
      from = Buffer.concat([last.key, Buffer.from([0])])
    }
    return { revision, keys, hash: hash.digest('hex') }
  } finally {
    client.close()
  }
}

/** One revision of the deltas, ready to send as one transaction. */
export interface RevisionGroup {
  readonly revision: number
  readonly ops: IRequestOp[]
}

export interface DecodedDeltas {
  readonly groups: RevisionGroup[]
  readonly events: number
  /** Bytes of the deltas' JSON text (decompressed, without trailers). */
  readonly jsonBytes: number
  /** Revisions with more than one event (txns). */
  readonly multiEventRevisions: number
  readonly deleteEvents: number
}

/**
 * Reads `deltas` (in order) with the project's decoder (spoolDelta: decompress + SHA-256
 * check into `scratch`; readDeltaEvents: streaming parse) and groups the events by revision,
 * as the transactions a plain client would send. Events at or below `baseRevision` are skipped.
 */
export async function decodeDeltas(store: BackupStore, deltas: readonly StoredSnapshot[], baseRevision: number, scratch: string): Promise<DecodedDeltas> {
  const groups: RevisionGroup[] = []
  let events = 0
  let jsonBytes = 0
  let deleteEvents = 0
  try {
    for (const delta of deltas) {
      const bytes = await spoolDelta(await store.open(delta), scratch, delta.key)
      jsonBytes += bytes
      for await (const event of readDeltaEvents(scratch, bytes, delta.key)) {
        if (event.modRevision <= baseRevision) continue
        const op: IRequestOp = event.type === 'put' ? { request_put: { key: event.key, value: event.value } } : { request_delete_range: { key: event.key } }
        const last = groups.at(-1)
        if (last && last.revision === event.modRevision) last.ops.push(op)
        else groups.push({ revision: event.modRevision, ops: [op] })
        if (event.type === 'delete') deleteEvents++
        events++
      }
    }
  } finally {
    await rm(scratch, { force: true })
  }
  return { groups, events, jsonBytes, multiEventRevisions: groups.filter((g) => g.ops.length > 1).length, deleteEvents }
}
