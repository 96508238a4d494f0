import { RESTORE_MEMBER_DEFAULTS, type RestoreMemberConfig } from '../restore/etcdutl.ts'
import { TEMP_ETCD_DEFAULTS, type TempEtcdLimits } from '../restore/temp-etcd.ts'
import { StewardError } from '../errors.ts'
import type { ConfigFile } from './file.ts'
import { splitList } from './resolve.ts'
import { fileSource, flagSource } from './sources.ts'

/** Restore member flags, as parsed. */
export interface RestoreMemberFlags {
  name?: string | undefined
  'initial-cluster'?: string | undefined
  'initial-cluster-token'?: string | undefined
  'initial-advertise-peer-urls'?: string[] | undefined
}

/**
 * The identity a restored data dir gets; flags, then config file, then etcd-backup-restore's
 * defaults. Checks that `--name` appears in `--initial-cluster`, as etcd requires.
 * @throws StewardError `CONFIG_INVALID`
 */
export function resolveRestoreMember(flags: RestoreMemberFlags, file: ConfigFile): RestoreMemberConfig {
  const f = file.restore ?? {}
  const member: RestoreMemberConfig = {
    name: flags.name ?? f.name ?? RESTORE_MEMBER_DEFAULTS.name,
    initialCluster: flags['initial-cluster'] ?? f.initialCluster ?? RESTORE_MEMBER_DEFAULTS.initialCluster,
    initialClusterToken: flags['initial-cluster-token'] ?? f.initialClusterToken ?? RESTORE_MEMBER_DEFAULTS.initialClusterToken,
    initialAdvertisePeerUrls: splitList(flags['initial-advertise-peer-urls'] ?? f.initialAdvertisePeerUrls ?? [...RESTORE_MEMBER_DEFAULTS.initialAdvertisePeerUrls]),
  }
  const names = member.initialCluster.split(',').map((entry) => entry.split('=')[0]?.trim())
  if (!names.includes(member.name)) {
    const nameSource = flags.name !== undefined ? flagSource(flags, 'name') : f.name !== undefined ? fileSource(file, 'restore.name') : '--name (default)'
    const clusterSource = flags['initial-cluster'] !== undefined ? flagSource(flags, 'initial-cluster') : f.initialCluster !== undefined ? fileSource(file, 'restore.initialCluster') : '--initial-cluster (default)'
    throw new StewardError('CONFIG_INVALID', 'config', `${nameSource} ${member.name} does not appear in ${clusterSource} ${member.initialCluster}`, {
      hints: ['--initial-cluster lists name=peerURL for every member, including this one'],
    })
  }
  return member
}

/** Limits flags of the temporary etcd (restore, compact, serve), as parsed. */
export interface TempEtcdLimitFlags {
  'embedded-etcd-quota-bytes'?: number | undefined
  'max-request-bytes'?: number | undefined
  'max-txn-ops'?: number | undefined
}

/**
 * The temporary etcd's limits: `--embedded-etcd-quota-bytes` (bytes), `--max-request-bytes`
 * (bytes), `--max-txn-ops` (operations), each falling back to etcd-backup-restore's default
 * ({@link TEMP_ETCD_DEFAULTS}) when absent or 0.
 */
export function resolveTempEtcdLimits(flags: TempEtcdLimitFlags): TempEtcdLimits {
  return {
    quotaBackendBytes: flags['embedded-etcd-quota-bytes'] || TEMP_ETCD_DEFAULTS.quotaBackendBytes,
    maxRequestBytes: flags['max-request-bytes'] || TEMP_ETCD_DEFAULTS.maxRequestBytes,
    maxTxnOps: flags['max-txn-ops'] || TEMP_ETCD_DEFAULTS.maxTxnOps,
  }
}
