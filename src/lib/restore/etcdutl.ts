/**
 * etcd's own restore logic, run as `etcdutl snapshot restore` (research notes §6.2): copies
 * the database into `member/snap/db`, strips and checks the SHA-256 trailer, rewrites cluster
 * membership from `--initial-cluster`/`--initial-cluster-token`, and writes a fresh WAL.
 */
import { runEtcdTool } from '../etcd/binaries.ts'
import { StewardError, isStewardError } from '../errors.ts'

/** Member identity a restored data dir is given (etcd-backup-restore's defaults in brackets). */
export interface RestoreMemberConfig {
  /** Member name [`default`]. */
  readonly name: string
  /** `name=peerURL,…` of every member [`default=http://localhost:2380`]. */
  readonly initialCluster: string
  /** Cluster token [`etcd-cluster`]. */
  readonly initialClusterToken: string
  /** This member's peer URLs [`http://localhost:2380`]. */
  readonly initialAdvertisePeerUrls: readonly string[]
}

/** etcdutl failures that are the data dir's filesystem, not etcdutl: (stderr pattern, reason, hint). */
const DATA_DIR_CAUSES: readonly (readonly [RegExp, string, string])[] = [
  [/no space left on device/i, 'no space left on device [ENOSPC]', 'free space on the data dir\'s volume or use a larger one'],
  [/read-only file system/i, 'read-only file system [EROFS]', 'mount the volume read-write'],
  [/permission denied/i, 'permission denied [EACCES]', 'check the owner and mode of the data dir\'s parent'],
  [/input\/output error/i, 'input/output error [EIO]', 'the disk failed; check the kernel log (dmesg)'],
]

export const RESTORE_MEMBER_DEFAULTS: RestoreMemberConfig = {
  name: 'default',
  initialCluster: 'default=http://localhost:2380',
  initialClusterToken: 'etcd-cluster',
  initialAdvertisePeerUrls: ['http://localhost:2380'],
}

/**
 * Restores the snapshot file at `snapshotPath` into `dataDir` (which must not exist or be empty).
 * @param skipHashCheck pass when the trailer was already verified while streaming
 * @param source the snapshot's object key, for messages
 * @throws StewardError `SNAPSHOT_CORRUPT` when etcdutl finds a SHA-256 mismatch,
 *   `DATA_DIR_WRITE_FAILED` when it cannot write `dataDir` (no space, read-only, permission),
 *   else `TOOL_FAILED` with etcdutl's stderr
 */
export async function etcdutlRestore(snapshotPath: string, dataDir: string, member: RestoreMemberConfig, skipHashCheck: boolean, signal?: AbortSignal, source: string = snapshotPath): Promise<void> {
  const args = [
    'snapshot',
    'restore',
    snapshotPath,
    '--data-dir',
    dataDir,
    '--name',
    member.name,
    '--initial-cluster',
    member.initialCluster,
    '--initial-cluster-token',
    member.initialClusterToken,
    '--initial-advertise-peer-urls',
    member.initialAdvertisePeerUrls.join(','),
  ]
  if (skipHashCheck) args.push('--skip-hash-check')
  try {
    await runEtcdTool('etcdutl', args, signal ? { signal } : {})
  } catch (error) {
    if (isStewardError(error, 'TOOL_FAILED') && /expected sha256/i.test(`${error.message} ${JSON.stringify(error.context)}`)) {
      throw new StewardError('SNAPSHOT_CORRUPT', 'snapshot', `${source} fails its SHA-256 check (etcdutl: content does not match the trailer)`, { cause: error, details: { source } })
    }
    const osCause = isStewardError(error, 'TOOL_FAILED') ? DATA_DIR_CAUSES.find(([pattern]) => pattern.test(`${error.message} ${JSON.stringify(error.context)}`)) : undefined
    if (osCause) {
      throw new StewardError('DATA_DIR_WRITE_FAILED', 'restore', `etcdutl cannot write the restored data dir ${dataDir}: ${osCause[1]}`, {
        cause: error,
        details: { dataDir },
        hints: [osCause[2], 'etcd\'s WAL preallocates 64 MiB: the volume needs the database size plus that'],
      })
    }
    throw error
  }
}
