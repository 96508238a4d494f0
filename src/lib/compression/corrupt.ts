/**
 * Turns codec failures into `SNAPSHOT_CORRUPT` StewardErrors, so callers see one error code
 * whatever the codec (zlib, zstd or LZW).
 */
import type { Duplex } from 'node:stream'
import { StewardError, isStewardError, messageOf } from '../errors.ts'

/** A `SNAPSHOT_CORRUPT` error for compressed data `codec` could not decode. */
export function corruptError(codec: string, reason: string, cause?: unknown): StewardError {
  return new StewardError('SNAPSHOT_CORRUPT', 'compression', `${codec} data is corrupt: ${reason}`, {
    cause,
    details: { codec },
    hints: ['the snapshot object is damaged or truncated; restore from an older snapshot set'],
  })
}

/**
 * Makes every error the stream is destroyed with a `SNAPSHOT_CORRUPT` StewardError (keeping the
 * original as `cause`). StewardErrors and aborts pass through unchanged, so an error that
 * `pipeline` forwards from another stream keeps its meaning.
 */
export function relabelErrors<T extends Duplex>(stream: T, codec: string): T {
  const destroy = stream.destroy.bind(stream)
  stream.destroy = (error?: Error | null): T => {
    const passThrough = error === undefined || error === null || isStewardError(error) || error.name === 'AbortError'
    destroy(passThrough ? (error ?? undefined) : corruptError(codec, messageOf(error), error))
    return stream
  }
  return stream
}
