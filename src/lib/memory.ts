/**
 * Keeps streaming memory bounded. Streamed snapshots allocate a new buffer per gRPC message,
 * file chunk or upload part; their memory lives outside V8's heap and is only returned when the
 * small wrapper objects are collected. V8 lets tens of MiB of such garbage pile up before it
 * collects, and buffers that outlive a few young-generation collections (upload parts in
 * flight, chunks waiting in a stream buffer) move to the old generation, which is collected
 * even more rarely; that garbage, not live data, dominated steward's peak RSS.
 *
 * The releaser returned by {@link garbageReleaser} runs a cheap young-generation collection
 * every `minorEveryBytes` streamed, and a full collection only when the resident set actually passes a ceiling.
 * Full collections are not cheap (tens of milliseconds each with oclif and the gRPC client
 * loaded; on a fixed schedule they cost a 320 MiB snapshot about 0.3 s of CPU), so the ceiling
 * decides, not the byte count. When a full collection cannot bring RSS under the ceiling (the
 * live set is simply larger), the ceiling moves up to the new floor plus a margin, so the
 * releaser never collects in a loop. It needs V8's `gc` function, which {@link collector} obtains
 * at run time (bin/run.js passes no V8 flags), so the bound holds however steward is
 * started (`node bin/run.js` peaked at 182–187 MiB on a 471 MiB snapshot without it, 127 MiB
 * with it, docs/benchmarks.md). Only if the runtime refuses does the releaser do nothing.
 */
import { PerformanceObserver } from 'node:perf_hooks'
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let pretenuringOff = false

/**
 * Turns off V8's allocation-site pretenuring (once). Streaming allocates a buffer per HTTP/2
 * read and per message from the same few sites; when some of them live a little while (queued
 * for a write), V8 starts allocating them straight in the old generation, and their bytes then
 * start a full mark-compact every ~12 MiB streamed. Measured with --trace-gc on a 1.6 GiB
 * `steward snapshot --compression none` (bin/run.js): 161 mark-compacts without, 37–70 with,
 * same peak RSS. Unlike the young generation's size, this flag takes effect at run time.
 */
function avoidPretenuring(): void {
  if (pretenuringOff) return
  pretenuringOff = true
  try {
    setFlagsFromString('--no-allocation-site-pretenuring')
  } catch {
    // an embedder that refuses flags keeps V8's default
  }
}

/**
 * Size in bytes of V8's young generation ("new space", both semi-spaces) past which it may not
 * grow: 8 MiB, what `--max-semi-space-size=4` gives. Node's default lets it grow to 128 MiB on
 * this 24 GiB machine (its limit scales with the heap limit), and a long stream, whose buffers
 * survive a collection or two, grows it step by step: 16–32 MiB of it was committed at the peak
 * of a gzip S3 upload under `node bin/run.js` (docs/benchmarks.md).
 */
export const YOUNG_GENERATION_CAP_BYTES = 8 * 1024 * 1024

/** The cap in force (bytes), once {@link capYoungGeneration} ran; `undefined` before. */
let youngGenerationCap: number | undefined
/** Whether the young generation reached the cap and its growth is frozen. */
let youngGenerationFrozen = false

/** Freezes the young generation's growth if it reached the cap; returns whether it is frozen. */
function freezeYoungGenerationIfFull(): boolean {
  if (youngGenerationFrozen || youngGenerationCap === undefined) return youngGenerationFrozen
  const newSpace = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0
  if (newSpace < youngGenerationCap) return false
  youngGenerationFrozen = true
  try {
    setFlagsFromString('--semi-space-growth-factor=1')
  } catch {
    // an embedder that refuses flags keeps V8's growth
  }
  return true
}

/**
 * Stops V8's young generation from growing once it reached `capBytes` (once per process; the
 * same whichever way steward was started). V8 reads its maximum young-generation size only at
 * start-up (`--max-semi-space-size`, which a shebang can pass but `node bin/run.js` cannot), but
 * reads `--semi-space-growth-factor` each time it grows the young generation, so a factor of 1
 * set at run time freezes it at its current size. The size is checked after collections: by a
 * `gc` performance observer, whose entries arrive a little later (after a long synchronous
 * stretch the young generation may have doubled once or twice more), and at every tick of a
 * {@link garbageReleaser}, right after its own collection, so a stream stops it at the cap.
 */
export function capYoungGeneration(capBytes: number = YOUNG_GENERATION_CAP_BYTES): void {
  if (youngGenerationCap !== undefined) return
  youngGenerationCap = capBytes
  if (freezeYoungGenerationIfFull()) return
  const observer = new PerformanceObserver(() => {
    if (freezeYoungGenerationIfFull()) observer.disconnect()
  })
  observer.observe({ entryTypes: ['gc'] })
}

/**
 * Bytes streamed between two young-generation collections. 4 MiB rather than 8: an S3 upload of
 * a 1.6 GiB snapshot peaked at 140–146 MiB instead of 144–155 MiB (both launch styles), with
 * the same CPU time within noise (docs/benchmarks.md).
 */
export const MINOR_EVERY_BYTES = 4 * 1024 * 1024
/** Resident set (bytes) above which a full collection runs. */
export const RSS_CEILING_BYTES = 112 * 1024 * 1024
/** Margin (bytes) kept above the post-collection RSS when the ceiling has to move up. */
const CEILING_MARGIN_BYTES = 24 * 1024 * 1024

type GcFunction = (options?: { type?: 'minor' | 'major' }) => void

/** The gc found through the vm fallback (`null`: none). */
let runtimeGc: GcFunction | null | undefined

/**
 * V8's `gc` function: the global one when Node runs with `--expose-gc`,
 * otherwise obtained by turning `--expose-gc` on at run time and reading `gc` from a fresh vm
 * context, which V8 sets up with the flag now on. Works however steward is started
 * (`node bin/run.js`, another entrypoint); `undefined` if the runtime refuses.
 */
export function collector(): GcFunction | undefined {
  const global = (globalThis as { gc?: GcFunction }).gc
  if (typeof global === 'function') return global
  if (runtimeGc === undefined) {
    try {
      setFlagsFromString('--expose-gc')
      const found: unknown = runInNewContext('gc')
      runtimeGc = typeof found === 'function' ? (found as GcFunction) : null
    } catch {
      runtimeGc = null
    }
  }
  return runtimeGc ?? undefined
}

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
  const gc = collector()
  if (gc === undefined) return () => undefined
  avoidPretenuring()
  const minorEvery = options.minorEveryBytes ?? MINOR_EVERY_BYTES
  let ceiling = options.rssCeilingBytes ?? RSS_CEILING_BYTES
  let next = minorEvery
  return (totalBytes) => {
    if (totalBytes < next) return
    next = totalBytes + minorEvery
    if (!youngGenerationFrozen) freezeYoungGenerationIfFull()
    if (process.memoryUsage.rss() <= ceiling) {
      gc({ type: 'minor' })
      return
    }
    gc({ type: 'major' })
    const floor = process.memoryUsage.rss()
    if (floor + CEILING_MARGIN_BYTES > ceiling) ceiling = floor + CEILING_MARGIN_BYTES
  }
}
