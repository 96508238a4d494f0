/**
 * Compression policies and streaming codecs for snapshot objects. The policy a writer uses is
 * recorded only as the object name's suffix, and readers pick the codec from that suffix alone
 * (research notes `etcd-backup-restore.md` §3.3):
 *
 * | policy | suffix  | codec                                                         |
 * |--------|---------|---------------------------------------------------------------|
 * | gzip   | `.gz`   | node:zlib gzip, default level, no file name, mtime 0           |
 * | zlib   | `.zlib` | node:zlib deflate with zlib wrapper, default level            |
 * | lzw    | `.Z`    | Go `compress/lzw`, LSB, literal width 8 (see `lzw.ts`)        |
 * | zstd   | `.zst`  | zstd via `zstd-napi` (steward only; etcd-backup-restore can't read it) |
 * | none   | `''`    | stored as is                                                  |
 *
 * Every codec streams. gzip, zlib and LZW also honour backpressure inside one input chunk, so
 * memory stays bounded even for data that expands a lot; zstd-napi's DecompressStream expands a
 * whole input chunk at once (bounded by chunk size × compression ratio).
 */
import { PassThrough, type Transform } from 'node:stream'
import { createDeflate, createGunzip, createGzip, createInflate } from 'node:zlib'
import { StewardError } from '../errors.ts'
import type { CompressionSuffix } from '../snapshot/name.ts'
import { relabelErrors } from './corrupt.ts'
import { createLzwDecoder, createLzwEncoder } from './lzw.ts'
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

/**
 * A Transform that compresses everything written to it with `policy` (`none` gives a
 * PassThrough). The output is complete once the stream ends.
 */
export function createCompressor(policy: CompressionPolicy): Transform {
  switch (policy) {
    case 'gzip':
      return createGzip()
    case 'zlib':
      return createDeflate()
    case 'lzw':
      return createLzwEncoder()
    case 'zstd':
      return createZstdEncoder()
    case 'none':
      return new PassThrough()
  }
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
