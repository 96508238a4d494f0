/**
 * One error type for the whole toolkit. Every failure a user can act on is a
 * {@link StewardError} with a stable `code`; the CLI maps the code to an exit code
 * (see {@link exitCodeFor}). Unknown errors become exit 1. Each code also names the HTTP
 * status it stands for (`http`), for reference only: `steward serve`'s routes answer with the
 * statuses etcdbrctl's clients expect (docs/serve.md "HTTP API"), so no route maps errors
 * through it.
 */

/** Stable error codes. Never rename one: scripts match on them (`--json` prints `code`). */
export const ERROR_CODES = {
  /** A flag, environment variable or config file value is invalid. */
  CONFIG_INVALID: { exit: 2, http: 400 },
  /** No etcd endpoint answered within the connection timeout. */
  ETCD_UNREACHABLE: { exit: 10, http: 503 },
  /** TLS files could not be read or the TLS handshake failed. */
  ETCD_TLS: { exit: 11, http: 503 },
  /** etcd rejected the credentials or the user lacks a permission. */
  ETCD_AUTH: { exit: 12, http: 503 },
  /** etcd answered with an error that is not one of the above. */
  ETCD_REQUEST_FAILED: { exit: 13, http: 502 },
  /** The backup store (bucket, container or directory) does not exist. */
  STORE_NOT_FOUND: { exit: 20, http: 503 },
  /** The backup store failed a request (I/O error, throttling that outlasted retries, partial listing). */
  STORE_FAILED: { exit: 21, http: 502 },
  /** The store holds no snapshot that fits the request (no full snapshot, named snapshot missing). */
  SNAPSHOT_NOT_FOUND: { exit: 22, http: 404 },
  /** A snapshot's content fails its integrity check (SHA-256 trailer mismatch, truncated, bad JSON). */
  SNAPSHOT_CORRUPT: { exit: 23, http: 500 },
  /** A full snapshot's content is not a bbolt database. */
  SNAPSHOT_NOT_BBOLT: { exit: 24, http: 500 },
  /** A snapshot name carries a compression suffix steward cannot decode. */
  COMPRESSION_UNSUPPORTED: { exit: 25, http: 500 },
  /** The target data directory exists and `--force` was not given. */
  DATA_DIR_EXISTS: { exit: 30, http: 409 },
  /** The data directory is missing, malformed or its database is unreadable. */
  DATA_DIR_INVALID: { exit: 31, http: 500 },
  /** The data directory's revision is older than the newest backup. */
  DATA_DIR_BEHIND: { exit: 32, http: 500 },
  /** The data directory's database is locked by another process (a running etcd). */
  DATA_DIR_LOCKED: { exit: 33, http: 409 },
  /** A helper program (etcdutl, etcd) is missing or failed. */
  TOOL_FAILED: { exit: 40, http: 500 },
  /** The operation was cancelled (SIGINT/SIGTERM or an AbortSignal). */
  ABORTED: { exit: 130, http: 503 },
  /** A bug: an invariant did not hold. */
  INTERNAL: { exit: 1, http: 500 },
  /**
   * The restore target is a directory steward never replaces, `--force` or not: `/`, a home
   * directory, the working directory, one holding the backup store or steward's own files, or
   * (with `--force`) a non-empty directory that is not an etcd data directory.
   */
  DATA_DIR_PROTECTED: { exit: 34, http: 409 },
  /** The data directory or the work dir beside it cannot be written (permission, read-only or full filesystem, I/O error). */
  DATA_DIR_WRITE_FAILED: { exit: 35, http: 507 },
  /** Garbage collection ran but some planned deletions failed (they are retried on the next run). */
  GC_INCOMPLETE: { exit: 70, http: 500 },
  /** `steward verify`: the newest revision in the store cannot be restored (bad object, gap or overlap in the chain). */
  STORE_NOT_RESTORABLE: { exit: 71, http: 500 },
  /** A `--defrag-rule` does not parse, uses an unknown name, or does not yield a boolean (docs/defrag.md). */
  DEFRAG_RULE_INVALID: { exit: 60, http: 400 },
  /** A member failed the health check before maintenance (unreachable, or an alarm other than NOSPACE). */
  CLUSTER_UNHEALTHY: { exit: 61, http: 503 },
  /** At least one member's defragmentation (or its status before/after) failed. */
  DEFRAG_FAILED: { exit: 62, http: 500 },
  /** The maintenance lock could not be taken in time, or its lease was lost while held. */
  MAINTENANCE_LOCK_FAILED: { exit: 63, http: 503 },
  /** An alarm was found that steward reports and never acts on (CORRUPT), or a NOSPACE alarm could not be cleared. */
  ALARM_ACTIVE: { exit: 64, http: 503 },
  /** The Kubernetes API refused a verb on a resource (HTTP 403: the service account's Role lacks it). */
  K8S_FORBIDDEN: { exit: 85, http: 502 },
  /** A Kubernetes object steward must not create (a lease druid pre-creates) does not exist (HTTP 404). */
  K8S_NOT_FOUND: { exit: 86, http: 502 },
  /** A Kubernetes write kept conflicting with concurrent writers (HTTP 409) after its retries. */
  K8S_CONFLICT: { exit: 87, http: 502 },
  /** The Kubernetes API failed a request otherwise (unreachable, 401, 4xx/5xx, timeout). */
  K8S_REQUEST_FAILED: { exit: 88, http: 502 },
  /** No usable Kubernetes client configuration (`--kubeconfig`, `KUBECONFIG`, in-cluster service account). */
  K8S_CONFIG_INVALID: { exit: 89, http: 500 },
  /** A new or rejoining member could not be added to the cluster as a learner after its retries. */
  MEMBER_JOIN_FAILED: { exit: 90, http: 503 },
  /** The data volume belongs to another member, namespace or cluster (its `safe_guard_member` marker says so). */
  DATA_DIR_WRONG_MEMBER: { exit: 91, http: 409 },
  /** etcd-wrapper did not accept `POST /stop` (the restart that makes changed peer URLs effective). */
  ETCD_WRAPPER_STOP_FAILED: { exit: 110, http: 502 },
} as const

export type ErrorCode = keyof typeof ERROR_CODES

export interface StewardErrorOptions {
  /** The underlying error, kept for `--verbose` output and logs. */
  cause?: unknown
  /** Short suggestions shown under the message ("pass --force to replace it"). */
  hints?: readonly string[]
  /** Structured facts for `--json` and logs (object key, revision, path, …). */
  details?: Readonly<Record<string, unknown>>
}

/** The toolkit's only error class. `component` names the part that failed (`snapstore:local`, `etcd`, `restore`). */
export class StewardError extends Error {
  override readonly name = 'StewardError'
  readonly code: ErrorCode
  readonly component: string
  readonly hints: readonly string[]
  /**
   * Structured facts about the failure (object key, revision, path), from the `details` option.
   * Not called `details` on the error itself: test reporters (uvu) expect `error.details` to be
   * a diff string and stop reporting when it is an object.
   */
  readonly context: Readonly<Record<string, unknown>>

  constructor(code: ErrorCode, component: string, message: string, options: StewardErrorOptions = {}) {
    super(`[steward] [${component}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.component = component
    this.hints = options.hints ?? []
    this.context = options.details ?? {}
  }

  /** The message without the `[steward] [component]` prefix. */
  get reason(): string {
    return this.message.replace(/^\[steward\] \[[^\]]*\] /, '')
  }

  /** A plain object for `--json` output and structured logs. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, component: this.component, message: this.reason, hints: this.hints, details: this.context }
  }
}

/** Whether `error` is a {@link StewardError}, optionally with one of `codes`. */
export function isStewardError(error: unknown, ...codes: ErrorCode[]): error is StewardError {
  return error instanceof StewardError && (codes.length === 0 || codes.includes(error.code))
}

/** Process exit code for an error; 1 for anything that is not a {@link StewardError}. */
export function exitCodeFor(error: unknown): number {
  return error instanceof StewardError ? ERROR_CODES[error.code].exit : 1
}

/** The message of any thrown value, for wrapping foreign errors. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
