/** Temporary directories under os.tmpdir() for tests. */
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Creates a fresh, empty directory `<os.tmpdir()>/<prefix>XXXXXX` and returns its absolute path. */
export function makeTempDir(prefix = 'steward-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix))
}

/** Removes `dir` recursively; a missing dir is fine. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 })
}

/** Synchronous {@link removeDir}, for process 'exit' handlers. Never throws. */
export function removeDirSync(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true })
  } catch {
    // best effort while the process is exiting
  }
}
