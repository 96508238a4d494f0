/** How to reach etcd: the validated connection settings every etcd-facing command uses. */
export interface EtcdConnectionConfig {
  /** Client URLs, e.g. `http://127.0.0.1:2379`; all must use the same scheme. */
  readonly endpoints: readonly string[]
  readonly username?: string | undefined
  readonly password?: string | undefined
  /** PEM file of the CA that signed etcd's serving certificate. */
  readonly caFile?: string | undefined
  /** PEM client certificate (mTLS); needs `keyFile`. */
  readonly certFile?: string | undefined
  /** PEM private key of `certFile`. */
  readonly keyFile?: string | undefined
  /** Accept any server certificate (testing only). */
  readonly insecureSkipTlsVerify: boolean
  /** Deadline of each unary call, in seconds (etcd-backup-restore `--etcd-connection-timeout`). */
  readonly connectionTimeoutSeconds: number
  /** Deadline of a whole snapshot stream, in seconds (`--etcd-snapshot-timeout`). */
  readonly snapshotTimeoutSeconds: number
  /** Deadline of a defragment call, in seconds (`--etcd-defrag-timeout`). */
  readonly defragTimeoutSeconds: number
}

/** etcd-backup-restore's defaults (§11.1), in seconds. */
export const ETCD_CONNECTION_DEFAULTS = {
  endpoints: ['http://127.0.0.1:2379'],
  connectionTimeoutSeconds: 30,
  snapshotTimeoutSeconds: 15 * 60,
  defragTimeoutSeconds: 8 * 60,
} as const
