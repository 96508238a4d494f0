import { StewardError, isStewardError, messageOf } from '../errors.ts'

/**
 * Turns an error from the etcd3/grpc client into a {@link StewardError}: unreachable and
 * deadline errors → `ETCD_UNREACHABLE`, certificate/handshake errors → `ETCD_TLS`,
 * authentication and permission errors → `ETCD_AUTH`, anything else → `ETCD_REQUEST_FAILED`.
 * etcd3 drops the numeric gRPC code on unary calls, so the class name and message decide.
 */
export function etcdError(error: unknown, action: string, endpoint?: string): StewardError {
  if (isStewardError(error)) return error
  const text = `${(error as Error | undefined)?.constructor?.name ?? ''} ${messageOf(error)}`
  const where = endpoint ? ` at ${endpoint}` : ''
  const details = endpoint ? { endpoint } : {}
  if (/certificate|SSL|TLS|handshake|self.signed|unable to verify|wrong version number/i.test(text)) {
    return new StewardError('ETCD_TLS', 'etcd', `${action}${where} failed: TLS error: ${messageOf(error)}`, {
      cause: error,
      details,
      hints: ['check --cacert/--cert/--key and that the endpoint scheme is https'],
    })
  }
  if (/auth|permission denied|user name is empty|invalid auth token|AuthenticationFailed|PermissionDenied/i.test(text)) {
    return new StewardError('ETCD_AUTH', 'etcd', `${action}${where} failed: ${messageOf(error)}`, {
      cause: error,
      details,
      hints: ['check --etcd-username/--etcd-password and the user\'s roles'],
    })
  }
  if (/UNAVAILABLE|DEADLINE|ECONNREFUSED|No connection established|Deadline exceeded|failed to connect|BrokenCircuit/i.test(text)) {
    return new StewardError('ETCD_UNREACHABLE', 'etcd', `${action}${where} failed: etcd is unreachable (${messageOf(error)})`, {
      cause: error,
      details,
      hints: ['check --endpoints and that etcd is running', 'raise --etcd-connection-timeout for slow links'],
    })
  }
  return new StewardError('ETCD_REQUEST_FAILED', 'etcd', `${action}${where} failed: ${messageOf(error)}`, { cause: error, details })
}
