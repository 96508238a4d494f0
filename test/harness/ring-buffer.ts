/** A bounded text buffer keeping the most recent output of a child process. */
export interface RingBuffer {
  /** Appends a chunk, dropping the oldest text beyond the bound. */
  push(chunk: Buffer | string): void
  /** Everything kept. */
  text(): string
  /** The last `lines` lines of what is kept. */
  tail(lines: number): string
}

/** A {@link RingBuffer} keeping at most `maxChars` characters (default 64 KiB). */
export function createRingBuffer(maxChars = 64 * 1024): RingBuffer {
  let kept = ''
  return {
    push(chunk) {
      kept += chunk.toString()
      if (kept.length > maxChars * 2) kept = kept.slice(-maxChars)
    },
    text() {
      return kept.length > maxChars ? kept.slice(-maxChars) : kept
    },
    tail(lines) {
      return this.text().trimEnd().split('\n').slice(-lines).join('\n')
    },
  }
}
