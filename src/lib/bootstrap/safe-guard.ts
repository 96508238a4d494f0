/**
 * The data-volume safe-guard (docs/serve.md "Data volume safe-guard"): before initialization
 * touches a data dir, the markers next to it (in the data volume, the data dir's parent) must
 * name this member's namespace and member:
 *
 * - `safe_guard`: the namespace, as etcd-backup-restore writes it (read and written, so both
 *   tools keep guarding the volume after a switch either way);
 * - `safe_guard_member`: steward's JSON `{namespace, member, memberId?, clusterId?}`; the IDs are
 *   recorded once etcd runs (for operators and logs). etcd-backup-restore checks only the
 *   namespace, so a volume of another member of the same cluster passed its check (its issue
 *   #566); steward refuses it as well.
 *
 * A volume without markers is accepted (fresh volume, or written by an older tool) and marked.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { StewardError } from '../errors.ts'

export const NAMESPACE_MARKER = 'safe_guard'
export const MEMBER_MARKER = 'safe_guard_member'

export interface MemberMarker {
  readonly namespace: string
  readonly member: string
  /** Decimal member ID, once etcd ran. */
  readonly memberId?: string
  /** Decimal cluster ID, once etcd ran. */
  readonly clusterId?: string
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

/** The member marker of `dataDir`'s volume, or `null` (absent or unreadable JSON). */
export async function readMemberMarker(dataDir: string): Promise<MemberMarker | null> {
  const text = await readText(join(dirname(dataDir), MEMBER_MARKER))
  if (text === null) return null
  try {
    const value = JSON.parse(text) as Partial<MemberMarker>
    return typeof value.namespace === 'string' && typeof value.member === 'string' ? (value as MemberMarker) : null
  } catch {
    return null
  }
}

/**
 * Refuses a data volume marked for another namespace or member.
 * @throws StewardError `DATA_DIR_WRONG_MEMBER` naming both owners
 */
export async function checkSafeGuard(dataDir: string, namespace: string | undefined, member: string): Promise<void> {
  const volume = dirname(dataDir)
  const hints = ['the volume of another etcd (or another member) is mounted here: check the PersistentVolumeClaim bound to this pod', `delete ${volume}/${NAMESPACE_MARKER} and ${volume}/${MEMBER_MARKER} only if this volume really belongs to this member`]
  const markedNamespace = (await readText(join(volume, NAMESPACE_MARKER)))?.trim()
  if (namespace && markedNamespace && markedNamespace !== namespace) {
    throw new StewardError('DATA_DIR_WRONG_MEMBER', 'initializer', `data volume ${volume} belongs to namespace ${markedNamespace}, not ${namespace}`, { hints })
  }
  const marker = await readMemberMarker(dataDir)
  if (!marker) return
  if ((namespace && marker.namespace && marker.namespace !== namespace) || marker.member !== member) {
    const ids = marker.memberId ? ` (member ID ${BigInt(marker.memberId).toString(16)}, cluster ID ${BigInt(marker.clusterId ?? '0').toString(16)})` : ''
    throw new StewardError('DATA_DIR_WRONG_MEMBER', 'initializer', `data volume ${volume} belongs to member ${marker.member}${ids} in namespace ${marker.namespace || '(none)'}, not to ${member} in ${namespace ?? '(none)'}`, { hints })
  }
}

/** Writes both markers (atomically, the volume directory created if needed); unchanged markers are not rewritten. */
export async function writeSafeGuard(dataDir: string, marker: MemberMarker): Promise<void> {
  const volume = dirname(dataDir)
  await mkdir(volume, { recursive: true })
  const write = async (name: string, text: string) => {
    const path = join(volume, name)
    if ((await readText(path)) === text) return
    await writeFile(`${path}.tmp`, text, { mode: 0o600 })
    await rename(`${path}.tmp`, path)
  }
  if (marker.namespace) await write(NAMESPACE_MARKER, marker.namespace)
  // IDs recorded earlier for the same member stay until etcd reports new ones.
  const previous = marker.memberId ? null : await readMemberMarker(dataDir)
  const merged = previous && previous.member === marker.member ? { ...marker, memberId: previous.memberId, clusterId: previous.clusterId } : marker
  await write(MEMBER_MARKER, `${JSON.stringify(merged)}\n`)
}
