/**
 * Connection flags of the maintenance commands (`defrag`, `alarm`), spelled as etcdctl and
 * etcd-defrag spell them (`--user`, `--password`, `--command-timeout`, `--dial-timeout`, …) next
 * to steward's own (`--etcd-username`, …), and their resolution into an
 * {@link EtcdConnectionConfig}. See docs/defrag.md "Flags".
 */
import { Flags } from '@oclif/core'
import type { ConfigFile } from '../config/file.ts'
import { parseDuration } from '../config/duration.ts'
import { resolveEtcdConnection } from '../config/resolve.ts'
import type { EtcdConnectionConfig } from '../etcd/config.ts'
import { StewardError } from '../errors.ts'
import { etcdFlags } from './flags.ts'
import { ignoredFlags } from './ignored-flags.ts'

/**
 * etcdctl/etcd-defrag connection flags steward accepts and ignores, with the shared mechanism
 * (src/lib/cli/ignored-flags.ts: one help group, a warning when given, values still checked).
 */
export const maintenanceIgnoredFlags = ignoredFlags({
  'dial-timeout': { type: 'duration', env: 'ETCD_DEFRAG_DIAL_TIMEOUT', compatibleWith: 'etcd-defrag', reason: 'etcd3 has no separate dial phase; connections are bounded by --command-timeout' },
  'keepalive-time': { type: 'duration', compatibleWith: 'etcd-defrag', reason: 'every call is bounded by --command-timeout instead of gRPC keepalives' },
  'keepalive-timeout': { type: 'duration', compatibleWith: 'etcd-defrag', reason: 'every call is bounded by --command-timeout instead of gRPC keepalives' },
  'insecure-transport': { type: 'boolean', compatibleWith: 'etcd-defrag', reason: 'plaintext is used exactly when the endpoints are http://' },
})

export const maintenanceConnectionFlags = {
  endpoints: etcdFlags.endpoints,
  cacert: etcdFlags.cacert,
  cert: etcdFlags.cert,
  key: etcdFlags.key,
  'insecure-skip-tls-verify': etcdFlags['insecure-skip-tls-verify'],
  'etcd-username': etcdFlags['etcd-username'],
  'etcd-password': etcdFlags['etcd-password'],
  user: Flags.string({ summary: 'etcdctl form: user name, or user:password.', env: 'ETCD_DEFRAG_USER', helpGroup: 'ETCD' }),
  password: Flags.string({ summary: 'etcdctl form: password (with --user).', env: 'ETCD_DEFRAG_PASSWORD', helpGroup: 'ETCD' }),
  'command-timeout': Flags.string({ summary: 'Deadline of each etcd call, defragmentation included (Go duration). [default: 30s]', env: 'ETCD_DEFRAG_COMMAND_TIMEOUT', helpGroup: 'ETCD' }),
  ...maintenanceIgnoredFlags,
}

export interface MaintenanceConnectionFlags {
  endpoints?: string[] | undefined
  cacert?: string | undefined
  cert?: string | undefined
  key?: string | undefined
  'insecure-skip-tls-verify'?: boolean | undefined
  'etcd-username'?: string | undefined
  'etcd-password'?: string | undefined
  user?: string | undefined
  password?: string | undefined
  'command-timeout'?: string | undefined
  'dial-timeout'?: string | undefined
}

/** Default `--command-timeout` (etcd-defrag's), seconds. */
export const DEFAULT_COMMAND_TIMEOUT_SECONDS = 30

/**
 * The connection settings: `--user a:b` splits like etcdctl's; `--command-timeout` bounds every
 * call including defragmentation.
 * @throws StewardError CONFIG_INVALID (empty TLS file flags, bad durations, bad endpoints)
 */
export function resolveMaintenanceConnection(flags: MaintenanceConnectionFlags, file: ConfigFile): EtcdConnectionConfig {
  for (const flag of ['cacert', 'cert', 'key'] as const) {
    if (flags[flag] === '') throw new StewardError('CONFIG_INVALID', 'config', `--${flag} is empty`, { hints: [`pass a PEM file to --${flag}, or leave it out`] })
  }
  let username = flags['etcd-username']
  let password = flags['etcd-password']
  if (flags.user !== undefined) {
    const colon = flags.user.indexOf(':')
    username = colon >= 0 && flags.password === undefined ? flags.user.slice(0, colon) : flags.user
    password = colon >= 0 && flags.password === undefined ? flags.user.slice(colon + 1) : flags.password
  }
  if (flags['dial-timeout'] !== undefined) parseDuration(flags['dial-timeout'], '--dial-timeout')
  // etcdctl and etcd-defrag take host:port without a scheme: https when TLS files are given.
  const scheme = flags.cacert || flags.cert ? 'https' : 'http'
  const endpoints = flags.endpoints?.flatMap((e) => e.split(',')).map((e) => e.trim()).filter(Boolean).map((e) => (e.includes('://') ? e : `${scheme}://${e}`))
  const config = resolveEtcdConnection({ ...flags, endpoints, 'etcd-username': username, 'etcd-password': password }, file)
  const commandSeconds = parseDuration(flags['command-timeout'] ?? DEFAULT_COMMAND_TIMEOUT_SECONDS, '--command-timeout')
  if (commandSeconds <= 0) throw new StewardError('CONFIG_INVALID', 'config', '--command-timeout must be greater than 0')
  return { ...config, connectionTimeoutSeconds: commandSeconds, defragTimeoutSeconds: commandSeconds }
}
