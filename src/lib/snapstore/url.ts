/**
 * The `--store URL` shorthand:
 *   file:///var/backups/etcd-main   → Local, objects under /var/backups/etcd-main/v2/…
 *   s3://bucket/prefix              → S3, bucket `bucket`, store prefix `prefix`
 *   gs://bucket/prefix              → GCS
 *   azblob://container/prefix       → ABS
 * A bare absolute path is read as `file://`.
 */
import { StewardError } from '../errors.ts'
import type { SnapstoreDriverId } from './types.ts'

export interface StoreLocation {
  readonly provider: SnapstoreDriverId
  /** Bucket, container, or (Local) directory. */
  readonly container: string
  /** Store prefix (without `/v2`). */
  readonly prefix: string
}

const SCHEMES: Record<string, SnapstoreDriverId> = { 's3:': 'S3', 'gs:': 'GCS', 'azblob:': 'ABS' }

/**
 * @param setting where the value came from, for errors (`--store`, `STEWARD_STORE`, `<file>: store.url`)
 * @throws StewardError `CONFIG_INVALID` naming `setting` and the valid forms.
 */
export function parseStoreUrl(value: string, setting = '--store'): StoreLocation {
  if (value.startsWith('/')) return { provider: 'Local', container: stripTrailing(value), prefix: '' }
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalidStore(value, setting)
  }
  if (url.protocol === 'file:') {
    if (url.host) throw invalidStore(value, setting, 'a file URL has no host: use file:///absolute/path')
    return { provider: 'Local', container: stripTrailing(decodeURIComponent(url.pathname)) || '/', prefix: '' }
  }
  const provider = SCHEMES[url.protocol]
  if (!provider || !url.host) throw invalidStore(value, setting)
  return { provider, container: url.host, prefix: decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '') }
}

function stripTrailing(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path
}

function invalidStore(value: string, setting: string, why?: string): StewardError {
  return new StewardError('CONFIG_INVALID', 'config', `${setting}: ${JSON.stringify(value)} is not a store URL${why ? `: ${why}` : ''}`, {
    hints: ['valid forms: file:///abs/dir, s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix'],
  })
}
