/**
 * zstd streams through the `zstd-napi` bindings (steward's own `.zst` policy; etcd-backup-restore
 * has no zstd). Compression uses the library's default level (3) unless `--compression-level` says otherwise.
 */
import { createRequire } from 'node:module'
import type { Transform, TransformCallback } from 'node:stream'
import { corruptError, relabelErrors } from './corrupt.ts'

type ZstdLibrary = typeof import('zstd-napi')
let library: ZstdLibrary | undefined
let decoderClass: (new () => Transform) | undefined

/** The native binding, loaded on first use (most commands never touch zstd). */
function zstd(): ZstdLibrary {
  library ??= createRequire(import.meta.url)('zstd-napi') as ZstdLibrary
  return library
}

/** A Transform that writes one zstd frame holding everything written to it, at `level` [the library's default, 3]. */
export function createZstdEncoder(level?: number): Transform {
  return new (zstd().CompressStream)(level === undefined ? {} : { compressionLevel: level })
}

/**
 * A Transform that decompresses zstd frames. Corrupt or truncated input, including no input at
 * all, makes the stream error with `SNAPSHOT_CORRUPT`.
 */
export function createZstdDecoder(): Transform {
  decoderClass ??= defineDecoder(zstd())
  return relabelErrors(new decoderClass(), 'zstd')
}

/** `DecompressStream` accepts an input with no bytes at all; a valid `.zst` object always has a frame. */
function defineDecoder({ DecompressStream }: ZstdLibrary): new () => Transform {
  return class ZstdDecoder extends DecompressStream {
    #sawInput = false

    override _transform(chunk: unknown, encoding: string, done: TransformCallback): void {
      if (chunk instanceof Uint8Array && chunk.length > 0) this.#sawInput = true
      super._transform(chunk, encoding, done)
    }

    override _flush(done: TransformCallback): void {
      if (!this.#sawInput) {
        done(corruptError('zstd', 'the data is empty'))
        return
      }
      super._flush(done)
    }
  }
}
