/**
 * Compression policies and streaming codecs for snapshot objects. The policy a writer uses is
 * recorded only as the object name's suffix, and readers pick the codec from that suffix alone
 * (research notes `etcd-backup-restore.md` §3.3):
 *
 * | policy | suffix  | codec                                                         |
 * |--------|---------|---------------------------------------------------------------|
 * | gzip   | `.gz`   | node:zlib gzip, level 6, no file name, mtime 0                 |
 * | zlib   | `.zlib` | node:zlib deflate with zlib wrapper, level 6                  |
 * | lzw    | `.Z`    | Go `compress/lzw`, LSB, literal width 8 (see `lzw.ts`)        |
 * | zstd   | `.zst`  | zstd via `zstd-napi` (steward only; etcd-backup-restore can't read it) |
 * | none   | `''`    | stored as is                                                  |
 *
 * Every codec streams. gzip, zlib and LZW also honour backpressure inside one input chunk, so
 * memory stays bounded even for data that expands a lot; zstd-napi's DecompressStream expands a
 * whole input chunk at once (bounded by chunk size × compression ratio).
 *
 * Full snapshots compress gzip and zlib on several threads ({@link createSnapshotCompressor},
 * `parallel.ts`); deltas (small objects) use the serial streams. `--compression-level` applies
 * to gzip, zlib and zstd full snapshots.
 */
import { PassThrough, type Transform } from 'node:stream'
import { createDeflate, createGunzip, createGzip, createInflate } from 'node:zlib'
import { StewardError } from '../errors.ts'
import type { CompressionSuffix } from '../snapshot/name.ts'
import { relabelErrors } from './corrupt.ts'
import { createLzwDecoder, createLzwEncoder } from './lzw.ts'
import { DEFAULT_COMPRESSION_LEVEL, ParallelDeflate, defaultCompressionWorkers, parallelDeflateHeldBytes } from './parallel.ts'
import { createZstdDecoder, createZstdEncoder } from './zstd.ts'

export const COMPRESSION_POLICIES = ['gzip', 'zlib', 'lzw', 'zstd', 'none'] as const
export type CompressionPolicy = (typeof COMPRESSION_POLICIES)[number]

const SUFFIX_OF: Readonly<Record<CompressionPolicy, CompressionSuffix>> = {
  gzip: '.gz',
  zlib: '.zlib',
  lzw: '.Z',
  zstd: '.zst',
  none: '',
}

/** The object-name suffix for a policy: `.gz`, `.zlib`, `.Z`, `.zst`, or `''` for `none`. */
export function suffixForPolicy(policy: CompressionPolicy): CompressionSuffix {
  return SUFFIX_OF[policy]
}

/**
 * The policy whose data carries `suffix` (case-sensitive, with the dot; `''` is `none`).
 * @throws StewardError `COMPRESSION_UNSUPPORTED` naming the suffix and the valid ones.
 */
export function policyForSuffix(suffix: string): CompressionPolicy {
  const policy = COMPRESSION_POLICIES.find((candidate) => SUFFIX_OF[candidate] === suffix)
  if (policy !== undefined) return policy
  const valid = COMPRESSION_POLICIES.map((candidate) => `'${SUFFIX_OF[candidate]}' (${candidate})`).join(', ')
  throw new StewardError('COMPRESSION_UNSUPPORTED', 'compression', `unsupported compression suffix '${suffix}'; steward reads ${valid}`, {
    details: { suffix, supported: COMPRESSION_POLICIES.map((candidate) => SUFFIX_OF[candidate]) },
  })
}

/** How hard and on how many threads to compress. */
export interface CompressionTuning {
  /** gzip/zlib 1–9 [6], zstd 1–19 [3]; not accepted for lzw and none. */
  readonly level?: number | undefined
  /** Blocks compressed at once by {@link createSnapshotCompressor} (gzip, zlib) [available cores]. */
  readonly workers?: number | undefined
}

const LEVEL_RANGE: Readonly<Partial<Record<CompressionPolicy, readonly [number, number]>>> = { gzip: [1, 9], zlib: [1, 9], zstd: [1, 19] }

/**
 * Checks a tuning against a policy.
 * @throws StewardError `CONFIG_INVALID` naming `--compression-level` / `--compression-workers` and the valid values
 */
export function checkCompressionTuning(policy: CompressionPolicy, tuning: CompressionTuning): void {
  const { level, workers } = tuning
  if (level !== undefined) {
    const range = LEVEL_RANGE[policy]
    if (!range) throw new StewardError('CONFIG_INVALID', 'compression', `--compression-level: ${policy} has no levels (levels apply to gzip and zlib, 1–9, and zstd, 1–19)`)
    if (!Number.isInteger(level) || level < range[0] || level > range[1]) {
      throw new StewardError('CONFIG_INVALID', 'compression', `--compression-level: ${level} is not a ${policy} level (valid: ${range[0]}–${range[1]})`)
    }
  }
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 256)) {
    throw new StewardError('CONFIG_INVALID', 'compression', `--compression-workers: ${workers} is not a thread count (valid: 1–256)`)
  }
}

/**
 * A Transform that compresses everything written to it with `policy` (`none` gives a
 * PassThrough), as one serial stream. The output is complete once the stream ends.
 */
export function createCompressor(policy: CompressionPolicy, tuning: CompressionTuning = {}): Transform {
  switch (policy) {
    case 'gzip':
      return createGzip({ level: tuning.level ?? DEFAULT_COMPRESSION_LEVEL })
    case 'zlib':
      return createDeflate({ level: tuning.level ?? DEFAULT_COMPRESSION_LEVEL })
    case 'lzw':
      return createLzwEncoder()
    case 'zstd':
      return createZstdEncoder(tuning.level)
    case 'none':
      return new PassThrough()
  }
}

/**
 * The compressor for a full snapshot: gzip and zlib in independent blocks on `tuning.workers`
 * threads (`parallel.ts`: concatenated gzip members, one zlib stream), the others as
 * {@link createCompressor}.
 */
export function createSnapshotCompressor(policy: CompressionPolicy, tuning: CompressionTuning = {}): Transform {
  if (policy !== 'gzip' && policy !== 'zlib') return createCompressor(policy, tuning)
  return new ParallelDeflate(policy, { ...(tuning.level === undefined ? {} : { level: tuning.level }), ...(tuning.workers === undefined ? {} : { workers: tuning.workers }) })
}

/**
 * Bytes of buffers the compressor of {@link createSnapshotCompressor} holds at most: for gzip
 * and zlib the blocks in flight ({@link parallelDeflateHeldBytes}, 11 MiB with 2 workers); 0 for
 * the serial codecs, whose few hundred KiB of state are not counted.
 */
export function snapshotCompressorHeldBytes(policy: CompressionPolicy, tuning: CompressionTuning = {}): number {
  if (policy !== 'gzip' && policy !== 'zlib') return 0
  return parallelDeflateHeldBytes(tuning.workers ?? defaultCompressionWorkers())
}

/**
 * A Transform that decompresses data stored under a name with `suffix` (see {@link policyForSuffix}).
 * Corrupt or truncated input makes the stream error with StewardError `SNAPSHOT_CORRUPT`.
 * @throws StewardError `COMPRESSION_UNSUPPORTED` for an unknown suffix (synchronously).
 */
export function createDecompressor(suffix: string): Transform {
  const policy = policyForSuffix(suffix)
  switch (policy) {
    case 'gzip':
      return relabelErrors(createGunzip(), 'gzip')
    case 'zlib':
      return relabelErrors(createInflate(), 'zlib')
    case 'lzw':
      return createLzwDecoder()
    case 'zstd':
      return createZstdDecoder()
    case 'none':
      return new PassThrough()
  }
}
