/**
 * Merges settings in order of precedence — command-line flag, then environment variable
 * (oclif fills a flag from its variable, so both arrive as the flag), then config file, then
 * default — and validates each one, naming in any error where the bad value came from: the
 * flag, the variable, or the file and key (see sources.ts).
 */
import { tmpdir } from 'node:os'
import { COMPRESSION_POLICIES, checkCompressionTuning, type CompressionPolicy, type CompressionTuning } from '../compression/index.ts'
import { StewardError } from '../errors.ts'
import { ETCD_CONNECTION_DEFAULTS, type EtcdConnectionConfig } from '../etcd/config.ts'
import { STORE_DEFAULTS, type StoreConfig } from '../snapstore/config.ts'
import { SNAPSTORE_DRIVERS, type SnapstoreDriverId } from '../snapstore/types.ts'
import { parseStoreUrl } from '../snapstore/url.ts'
import { parseDuration } from './duration.ts'
import type { ConfigFile } from './file.ts'
import { fileSource, flagSource, pick } from './sources.ts'

/** Flags of the etcd connection group, as parsed. */
export interface EtcdFlags {
  endpoints?: string[] | undefined
  'etcd-username'?: string | undefined
  'etcd-password'?: string | undefined
  cacert?: string | undefined
  cert?: string | undefined
  key?: string | undefined
  'insecure-skip-tls-verify'?: boolean | undefined
  'etcd-connection-timeout'?: string | undefined
  'etcd-snapshot-timeout'?: string | undefined
}

/** Flags of the store group, as parsed. */
export interface StoreFlags {
  store?: string | undefined
  'storage-provider'?: string | undefined
  'store-container'?: string | undefined
  'store-prefix'?: string | undefined
  'store-endpoint-override'?: string | undefined
  'max-parallel-chunk-uploads'?: number | undefined
  'min-chunk-size'?: number | undefined
  'snapstore-temp-directory'?: string | undefined
}

/** Flags of the compression group, as parsed. */
export interface CompressionFlags {
  compression?: string | undefined
  'compress-snapshots'?: boolean | undefined
  'compression-policy'?: string | undefined
  'compression-level'?: number | undefined
  'compression-workers'?: number | undefined
}

/** @throws StewardError `CONFIG_INVALID` */
export function resolveEtcdConnection(flags: EtcdFlags, file: ConfigFile): EtcdConnectionConfig {
  const f = file.etcd ?? {}
  const endpointsSetting = pick<string | readonly string[]>(flags, 'endpoints', flags.endpoints, file, 'etcd.endpoints', f.endpoints, [...ETCD_CONNECTION_DEFAULTS.endpoints])
  const endpoints = splitList(endpointsSetting.value)
  for (const endpoint of endpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) {
      throw new StewardError('CONFIG_INVALID', 'config', `${endpointsSetting.source}: ${JSON.stringify(endpoint)} is not a client URL`, {
        hints: ['use http://host:port or https://host:port, comma-separated for several members'],
      })
    }
  }
  if (new Set(endpoints.map((e) => e.split(':')[0])).size > 1) {
    throw new StewardError('CONFIG_INVALID', 'config', `${endpointsSetting.source} mixes http:// and https:// URLs`, { hints: ['use one scheme for all endpoints'] })
  }
  const duration = (flag: string, flagValue: string | undefined, key: string, fileValue: string | number | undefined, fallback: number): number => {
    const setting = pick<string | number>(flags, flag, flagValue, file, key, fileValue, fallback)
    return positive(parseDuration(setting.value, setting.source), setting.source)
  }
  const connectionTimeoutSeconds = duration('etcd-connection-timeout', flags['etcd-connection-timeout'], 'etcd.connectionTimeout', f.connectionTimeout, ETCD_CONNECTION_DEFAULTS.connectionTimeoutSeconds)
  return {
    endpoints: endpoints.map((e) => e.replace(/\/$/, '')),
    username: flags['etcd-username'] ?? f.username,
    password: flags['etcd-password'] ?? f.password,
    caFile: flags.cacert ?? f.cacert,
    certFile: flags.cert ?? f.cert,
    keyFile: flags.key ?? f.key,
    insecureSkipTlsVerify: flags['insecure-skip-tls-verify'] ?? f.insecureSkipTlsVerify ?? false,
    connectionTimeoutSeconds,
    snapshotTimeoutSeconds: duration('etcd-snapshot-timeout', flags['etcd-snapshot-timeout'], 'etcd.snapshotTimeout', f.snapshotTimeout, ETCD_CONNECTION_DEFAULTS.snapshotTimeoutSeconds),
    defragTimeoutSeconds: f.defragTimeout === undefined ? ETCD_CONNECTION_DEFAULTS.defragTimeoutSeconds : positive(parseDuration(f.defragTimeout, fileSource(file, 'etcd.defragTimeout')), fileSource(file, 'etcd.defragTimeout')),
  }
}

/**
 * Resolves where the backups are. `--store URL` and `--storage-provider`/`--store-container`
 * are alternatives; `--store-prefix` applies to both.
 * @throws StewardError `CONFIG_INVALID` (no store, unknown provider, conflicting flags)
 */
export function resolveStore(flags: StoreFlags, file: ConfigFile, env: NodeJS.ProcessEnv = process.env): StoreConfig {
  const f = file.store ?? {}
  const url = flags.store ?? (flags['storage-provider'] !== undefined ? undefined : f.url)
  // An explicitly empty provider means Local, as in etcd-backup-restore outside its `server`
  // command. A future `serve` command must not reuse this: there `""` means "no backups".
  const rawProvider = flags['storage-provider'] ?? (flags.store ? undefined : f.provider)
  const providerSource = flags['storage-provider'] !== undefined ? flagSource(flags, 'storage-provider') : fileSource(file, 'store.provider')
  const providerText = rawProvider === '' ? 'Local' : rawProvider
  if (url && providerText) {
    const urlSource = flags.store !== undefined ? flagSource(flags, 'store') : fileSource(file, 'store.url')
    throw new StewardError('CONFIG_INVALID', 'config', `${urlSource} and ${providerSource} are alternatives (--store or --storage-provider); give one of them`, {
      hints: ['e.g. --store s3://bucket/prefix, or --storage-provider S3 --store-container bucket --store-prefix prefix'],
    })
  }
  let provider: SnapstoreDriverId
  let container: string
  let prefix: string
  if (url) {
    const urlSource = flags.store !== undefined ? flagSource(flags, 'store') : fileSource(file, 'store.url')
    if (flags['store-container']) {
      // The URL names the container; a second one would be dropped silently.
      throw new StewardError('CONFIG_INVALID', 'config', `${urlSource} and --store-container both name the container; pass one of them`, {
        hints: ['e.g. --store s3://bucket/prefix, or --storage-provider S3 --store-container bucket --store-prefix prefix'],
      })
    }
    const location = parseStoreUrl(url, urlSource)
    provider = location.provider
    container = location.container
    prefix = flags['store-prefix'] ?? (location.prefix || f.prefix || '')
  } else if (providerText) {
    if (!(SNAPSTORE_DRIVERS as readonly string[]).includes(providerText)) {
      throw new StewardError('CONFIG_INVALID', 'config', `${providerSource}: unknown provider ${JSON.stringify(providerText)} (valid: ${SNAPSTORE_DRIVERS.join(', ')}; case-sensitive, as etcd-backup-restore)`)
    }
    provider = providerText as SnapstoreDriverId
    // Flag, then environment, then file; as in etcd-backup-restore, STORAGE_CONTAINER fills in
    // when --store-container is empty, so an empty value counts as unset at each step.
    container = flags['store-container'] || env['STORAGE_CONTAINER'] || f.container || ''
    prefix = flags['store-prefix'] ?? f.prefix ?? ''
    if (!container && provider !== 'Local') {
      throw new StewardError('CONFIG_INVALID', 'config', `--store-container is required for provider ${provider}`, {
        hints: ['pass --store-container <bucket> or set STORAGE_CONTAINER'],
      })
    }
  } else {
    throw new StewardError('CONFIG_INVALID', 'config', 'no backup store given', {
      hints: ['pass --store file:///var/backups/etcd (or s3://, gs://, azblob://), or --storage-provider with --store-container'],
    })
  }
  const endpointSetting = pick<string | undefined>(flags, 'store-endpoint-override', flags['store-endpoint-override'], file, 'store.endpointOverride', f.endpointOverride, undefined)
  const endpointOverride = endpointSetting.value
  if (endpointOverride !== undefined && !URL.canParse(endpointOverride)) {
    throw new StewardError('CONFIG_INVALID', 'config', `${endpointSetting.source}: ${JSON.stringify(endpointOverride)} is not a URL`)
  }
  const chunk = pick(flags, 'min-chunk-size', flags['min-chunk-size'], file, 'store.minChunkSize', f.minChunkSize, STORE_DEFAULTS.minChunkSize)
  const minChunkSize = chunk.value
  if (minChunkSize < STORE_DEFAULTS.minChunkSize) {
    throw new StewardError('CONFIG_INVALID', 'config', `${chunk.source}: ${minChunkSize} is below the minimum of ${STORE_DEFAULTS.minChunkSize} bytes (5 MiB)`)
  }
  const parallel = pick(flags, 'max-parallel-chunk-uploads', flags['max-parallel-chunk-uploads'], file, 'store.maxParallelChunkUploads', f.maxParallelChunkUploads, STORE_DEFAULTS.maxParallelChunkUploads)
  const maxParallelChunkUploads = parallel.value
  if (maxParallelChunkUploads < 1) {
    throw new StewardError('CONFIG_INVALID', 'config', `${parallel.source}: must be at least 1, got ${maxParallelChunkUploads}`)
  }
  return {
    provider,
    container,
    prefix: prefix.replace(/^\/+|\/+$/g, ''),
    endpointOverride,
    minChunkSize,
    maxParallelChunkUploads,
    tempDir: flags['snapstore-temp-directory'] ?? f.tempDir ?? tmpdir(),
    envPrefix: '',
  }
}

/**
 * Compression for new snapshots: `--compression`; else etcd-backup-restore's
 * `--compress-snapshots` (default true) with `--compression-policy` (default gzip). Both forms
 * may be given only when they agree (`--compression gzip --compression-policy gzip`).
 * @throws StewardError `CONFIG_INVALID` (unknown policy, or the two forms disagree)
 */
export function resolveCompression(flags: CompressionFlags, file: ConfigFile): CompressionPolicy {
  if (flags.compression !== undefined && (flags['compress-snapshots'] !== undefined || flags['compression-policy'] !== undefined)) {
    const compression = checkPolicy(flags.compression, flagSource(flags, 'compression'))
    const etcdbr = flags['compress-snapshots'] === false ? 'none' : checkPolicy(flags['compression-policy'] ?? 'gzip', '--compression-policy')
    const etcdbrText = [flags['compress-snapshots'] === undefined ? '' : `--compress-snapshots=${flags['compress-snapshots']}`, flags['compression-policy'] === undefined ? '' : `--compression-policy ${flags['compression-policy']}`].filter(Boolean).join(' ')
    if (compression !== etcdbr) {
      throw new StewardError('CONFIG_INVALID', 'config', `${flagSource(flags, 'compression')} ${flags.compression} conflicts with ${etcdbrText} (${etcdbr})`, {
        hints: ['pass either --compression or etcd-backup-restore\'s --compress-snapshots/--compression-policy'],
        details: { compression, etcdBackupRestore: etcdbr },
      })
    }
    return compression
  }
  const explicit = flags.compression ?? (flags['compress-snapshots'] === undefined && flags['compression-policy'] === undefined ? file.snapshot?.compression : undefined)
  if (explicit !== undefined) return checkPolicy(explicit, flags.compression !== undefined ? flagSource(flags, 'compression') : fileSource(file, 'snapshot.compression'))
  if (flags['compress-snapshots'] === false) return 'none'
  return checkPolicy(flags['compression-policy'] ?? 'gzip', '--compression-policy')
}

/**
 * `--compression-level` and `--compression-workers` for `policy`; unset ones stay unset (the
 * codecs' defaults apply).
 * @throws StewardError `CONFIG_INVALID` naming the flag (a level for lzw or none, out of range)
 */
export function resolveCompressionTuning(flags: CompressionFlags, policy: CompressionPolicy): CompressionTuning {
  const tuning = { level: flags['compression-level'], workers: flags['compression-workers'] }
  checkCompressionTuning(policy, tuning)
  return tuning
}

function checkPolicy(value: string, flag: string): CompressionPolicy {
  if ((COMPRESSION_POLICIES as readonly string[]).includes(value)) return value as CompressionPolicy
  throw new StewardError('CONFIG_INVALID', 'config', `${flag}: unknown compression ${JSON.stringify(value)} (valid: ${COMPRESSION_POLICIES.join(', ')})`)
}

/** Splits comma-separated lists and flattens repeated flags. */
export function splitList(value: string | readonly string[]): string[] {
  const items = typeof value === 'string' ? [value] : value
  return items.flatMap((item) => item.split(',')).map((item) => item.trim()).filter((item) => item.length > 0)
}

function positive(seconds: number, setting: string): number {
  if (seconds > 0) return seconds
  throw new StewardError('CONFIG_INVALID', 'config', `${setting}: must be greater than zero`)
}
