/**
 * Small real filesystems for fault tests: a size-limited tmpfs gives a real ENOSPC, a read-only
 * one a real EROFS. Mounting needs root (CAP_SYS_ADMIN); {@link canMountTmpfs} says whether
 * this machine allows it, and tests that need it print why they did not run otherwise.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let allowed: boolean | undefined

/** Whether `mount -t tmpfs` works here (checked once, by mounting and unmounting a probe). */
export async function canMountTmpfs(): Promise<boolean> {
  if (allowed !== undefined) return allowed
  const probe = await mkdtemp(join(tmpdir(), 'steward-tmpfs-probe-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' })
    execFileSync('umount', [probe], { stdio: 'ignore' })
    allowed = true
  } catch {
    allowed = false
  } finally {
    await rm(probe, { recursive: true, force: true })
  }
  return allowed
}

/**
 * Mounts a tmpfs of `sizeBytes` (read-only with `readOnly`) on a fresh temp dir, runs `fn` with
 * its path, and always unmounts and removes it.
 */
export async function withTmpfs<T>(sizeBytes: number, fn: (dir: string) => Promise<T>, options: { readOnly?: boolean } = {}): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'steward-tmpfs-'))
  const opts = [`size=${Math.max(4096, sizeBytes)}`, 'mode=0755', ...(options.readOnly ? ['ro'] : [])].join(',')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { stdio: 'pipe' })
    try {
      return await fn(dir)
    } finally {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' })
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
