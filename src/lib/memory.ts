/**
 * Keeps streaming memory bounded. Streamed snapshots allocate a new buffer per gRPC message,
 * file chunk or upload part; their memory lives outside V8's heap and is only returned when the
 * small wrapper objects are collected. V8 waits for tens of MiB of such garbage before it
 * collects, and buffers that outlive a few young-generation collections (upload parts in
 * flight) move to the old generation, which is collected even more rarely; that garbage, not
 * live data, dominated steward's peak RSS. When the process runs with `--expose-gc`
 * (bin/run.js sets it), a cheap young-generation collection every {@link MINOR_EVERY_BYTES} and
 * a full one every {@link MAJOR_EVERY_BYTES} keep it small (the heap itself is a few tens of
 * MiB, so a full collection takes milliseconds). Without the flag this does nothing.
 */

/** Bytes streamed between two young-generation collections. */
export const MINOR_EVERY_BYTES = 8 * 1024 * 1024
/** Bytes streamed between two full collections. */
export const MAJOR_EVERY_BYTES = 64 * 1024 * 1024

type GcFunction = (options?: { type?: 'minor' | 'major' }) => void

/**
 * Returns a function to call with the running byte count of a stream; it collects garbage
 * every `minorEveryBytes` (young generation) and `majorEveryBytes` (whole heap).
 */
export function garbageReleaser(options: { minorEveryBytes?: number; majorEveryBytes?: number } = {}): (totalBytes: number) => void {
  const gc = (globalThis as { gc?: GcFunction }).gc
  if (typeof gc !== 'function') return () => undefined
  const minorEvery = options.minorEveryBytes ?? MINOR_EVERY_BYTES
  const majorEvery = options.majorEveryBytes ?? MAJOR_EVERY_BYTES
  let nextMinor = minorEvery
  let nextMajor = majorEvery
  return (totalBytes) => {
    if (totalBytes >= nextMajor) {
      nextMajor = totalBytes + majorEvery
      nextMinor = totalBytes + minorEvery
      gc({ type: 'major' })
    } else if (totalBytes >= nextMinor) {
      nextMinor = totalBytes + minorEvery
      gc({ type: 'minor' })
    }
  }
}
