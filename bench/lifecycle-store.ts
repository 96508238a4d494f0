/**
 * A Local store of many small snapshot objects, shared by bench/lifecycle.ts and
 * bench/json-output.ts: hourly full snapshots (the 20 KiB etcdbrctl fixture database), each
 * followed by up to `deltasPerFull` deltas of 5 events written with steward's delta encoder
 * (SHA-256 trailer), so every object lists, plans and verifies.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodeEvent } from '../src/lib/delta/encode.ts'
import { formatSnapshotName } from '../src/lib/snapshot/name.ts'

const FULL = fileURLToPath(new URL('../fixtures/etcdbr-v2/none/etcd-main/v2/Full-00000000-00000022-1795373644', import.meta.url))

/** One delta object (JSON events + SHA-256 trailer) covering revisions `start`..`last`. */
function delta(start: number, last: number, at: Date): Buffer {
  const events: string[] = []
  for (let revision = start; revision <= last; revision++) {
    events.push(encodeEvent({ type: 'put', key: Buffer.from(`/registry/bench/${revision % 50}`), value: Buffer.from(`value-${revision}`), createRevision: String(start), modRevision: String(revision), version: '1', lease: '0' }, BigInt(at.getTime()) * 1_000_000n))
  }
  const json = Buffer.from(`[${events.join(',')}]`)
  return Buffer.concat([json, createHash('sha256').update(json).digest()])
}

export interface LifecycleStore {
  /** Objects written. */
  readonly objects: number
  /** Bytes written. */
  readonly bytes: number
  /** Full snapshots (backups) among them. */
  readonly backups: number
}

/**
 * Writes `objects` snapshot objects under `<dir>/etcd-main/v2` (use `--store file://<dir>
 * --store-prefix etcd-main`), the newest an hour before now.
 */
export async function buildLifecycleStore(dir: string, objects: number, deltasPerFull: number): Promise<LifecycleStore> {
  const v2 = join(dir, 'etcd-main', 'v2')
  await mkdir(v2, { recursive: true })
  const full = await readFile(FULL)
  const now = Date.now()
  const backups = Math.ceil(objects / (deltasPerFull + 1))
  let revision = 22
  let written = 0
  let bytes = 0
  for (let b = 0; b < backups && written < objects; b++) {
    const at = new Date(now - (backups - b) * 3_600_000)
    const fullName = formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision: revision, createdOn: at, compressionSuffix: '' })
    await writeFile(join(v2, fullName), full)
    written++
    bytes += full.length
    for (let d = 1; d <= deltasPerFull && written < objects; d++) {
      const start = revision + 1
      revision += 5
      const when = new Date(at.getTime() + d * 120_000)
      const body = delta(start, revision, when)
      await writeFile(join(v2, formatSnapshotName({ kind: 'Incr', startRevision: start, lastRevision: revision, createdOn: when, compressionSuffix: '' })), body)
      written++
      bytes += body.length
    }
  }
  return { objects: written, bytes, backups }
}
