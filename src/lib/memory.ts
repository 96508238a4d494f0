/**
 * Keeps streaming memory bounded. Streamed snapshots allocate a new buffer per gRPC message or
 * file chunk; their memory lives outside V8's heap and is only returned when the small wrapper
 * objects are collected. V8 waits for about 64 MiB of such garbage before it collects, which
 * dominated steward's peak RSS. When the process runs with `--expose-gc` (bin/run.js sets it),
 * a cheap young-generation collection every {@link RELEASE_EVERY_BYTES} keeps that garbage small.
 * Without the flag this does nothing.
 */

/** Bytes streamed between two collections. */
export const RELEASE_EVERY_BYTES = 8 * 1024 * 1024

type GcFunction = (options?: { type?: 'minor' | 'major' }) => void

/** Returns a function to call with the running byte count of a stream. */
export function garbageReleaser(): (totalBytes: number) => void {
  const gc = (globalThis as { gc?: GcFunction }).gc
  if (typeof gc !== 'function') return () => undefined
  let next = RELEASE_EVERY_BYTES
  return (totalBytes) => {
    if (totalBytes < next) return
    next = totalBytes + RELEASE_EVERY_BYTES
    gc({ type: 'minor' })
  }
}
