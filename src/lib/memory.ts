/**
 * Keeps streaming memory bounded. Streamed snapshots allocate a new buffer per gRPC message,
 * file chunk or upload part; their memory lives outside V8's heap and is only returned when the
 * small wrapper objects are collected. V8 lets tens of MiB of such garbage pile up before it
 * collects, and buffers that outlive a few young-generation collections (upload parts in
 * flight, chunks waiting in a stream buffer) move to the old generation, which is collected
 * even more rarely; that garbage, not live data, dominated steward's peak RSS.
 *
 * When the process runs with `--expose-gc` (bin/run.js sets it), the releaser returned by
 * {@link garbageReleaser} runs a cheap young-generation collection every `minorEveryBytes`
 * streamed, and a full collection only when the resident set actually passes a ceiling.
 * Full collections are not cheap (tens of milliseconds each with oclif and the gRPC client
 * loaded; on a fixed schedule they cost a 320 MiB snapshot about 0.3 s of CPU), so the ceiling
 * decides, not the byte count. When a full collection cannot bring RSS under the ceiling (the
 * live set is simply larger), the ceiling moves up to the new floor plus a margin, so the
 * releaser never collects in a loop. Without `--expose-gc` it does nothing.
 */

/** Bytes streamed between two young-generation collections. */
export const MINOR_EVERY_BYTES = 8 * 1024 * 1024
/** Resident set (bytes) above which a full collection runs. */
export const RSS_CEILING_BYTES = 112 * 1024 * 1024
/** Margin (bytes) kept above the post-collection RSS when the ceiling has to move up. */
const CEILING_MARGIN_BYTES = 24 * 1024 * 1024

type GcFunction = (options?: { type?: 'minor' | 'major' }) => void

export interface ReleaserOptions {
  /** Bytes streamed between young-generation collections [{@link MINOR_EVERY_BYTES}]. */
  readonly minorEveryBytes?: number
  /** RSS in bytes above which a full collection runs [{@link RSS_CEILING_BYTES}]. */
  readonly rssCeilingBytes?: number
}

/**
 * Returns a function to call with the running byte count of a stream; every
 * `minorEveryBytes` it collects the young generation and, when the process's RSS is above the
 * ceiling, the whole heap.
 */
export function garbageReleaser(options: ReleaserOptions = {}): (totalBytes: number) => void {
  const gc = (globalThis as { gc?: GcFunction }).gc
  if (typeof gc !== 'function') return () => undefined
  const minorEvery = options.minorEveryBytes ?? MINOR_EVERY_BYTES
  let ceiling = options.rssCeilingBytes ?? RSS_CEILING_BYTES
  let next = minorEvery
  return (totalBytes) => {
    if (totalBytes < next) return
    next = totalBytes + minorEvery
    if (process.memoryUsage.rss() <= ceiling) {
      gc({ type: 'minor' })
      return
    }
    gc({ type: 'major' })
    const floor = process.memoryUsage.rss()
    if (floor + CEILING_MARGIN_BYTES > ceiling) ceiling = floor + CEILING_MARGIN_BYTES
  }
}
