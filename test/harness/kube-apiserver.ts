/**
 * A Kubernetes API server for tests (no kube-apiserver can be installed here: docs/testing.md,
 * "Kubernetes API test server"). An in-process HTTP server that answers the calls the sidecar
 * makes, the way the real API server answers them on the wire:
 *
 *   GET   /api, /apis, /api/v1, /apis/coordination.k8s.io, /apis/coordination.k8s.io/v1, /version
 *                                            discovery (what kubectl needs before any request)
 *   GET   /apis/coordination.k8s.io/v1/namespaces/:ns/leases           LeaseList
 *   GET   /apis/coordination.k8s.io/v1/namespaces/:ns/leases/:name     Lease
 *   PATCH /apis/coordination.k8s.io/v1/namespaces/:ns/leases/:name     merge, strategic-merge or JSON patch
 *   PUT   /apis/coordination.k8s.io/v1/namespaces/:ns/leases/:name     update (409 on a stale resourceVersion)
 *   POST  …/leases, DELETE …/leases/:name    403 Forbidden: druid's Role grants no create/delete
 *
 * Behaviours reproduced (each is something a client gets wrong against the real server):
 * - errors are `Status` objects with the real reasons and message shapes (401 Unauthorized,
 *   403 Forbidden, 404 NotFound, 409 Conflict, 415 UnsupportedMediaType, 400 BadRequest,
 *   422 Invalid);
 * - PATCH accepts only `application/merge-patch+json`, `application/strategic-merge-patch+json`
 *   and `application/json-patch+json` (415 otherwise; server-side apply is not implemented
 *   here and also answered 415);
 * - every write bumps a cluster-wide `metadata.resourceVersion`; a PUT or patch that carries a
 *   different one is refused with 409 Conflict;
 * - `spec.renewTime` / `spec.acquireTime` are MicroTime: RFC 3339 with exactly 6 fractional
 *   digits, like apimachinery's `2006-01-02T15:04:05.000000Z07:00` layout. A patch that yields
 *   another form is refused with 422 Invalid (field `patch`), a PUT body with 400 BadRequest —
 *   the two paths the real server decodes differently. Stored times are rendered in UTC;
 * - `Authorization: Bearer <token>` must match the token file's current content, read on every
 *   request, so rewriting the file rotates the token (the old one is refused with 401).
 * EtcdMembers (`druid.gardener.cloud`, GET/PATCH of the object and its status subresource, a CRD
 * switch and the Role's 403) are answered by test/harness/kube-etcdmembers.ts.
 * Strategic merge patch is treated as a JSON merge patch: a Lease has no list with a merge key
 * the sidecar touches (ownerReferences is druid's and replaced wholesale here).
 */
import { randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { EtcdMemberRoutes, type EtcdMemberObject } from './kube-etcdmembers.ts'
import { makeTlsMaterial } from './tls.ts'

/** A Lease as stored (JSON, as the API server renders it). */
export interface LeaseObject {
  apiVersion: 'coordination.k8s.io/v1'
  kind: 'Lease'
  metadata: {
    name: string
    namespace: string
    uid: string
    resourceVersion: string
    creationTimestamp: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    [key: string]: unknown
  }
  spec: {
    holderIdentity?: string
    leaseDurationSeconds?: number
    acquireTime?: string
    renewTime?: string
    leaseTransitions?: number
    [key: string]: unknown
  }
}

export interface KubeApiServerOptions {
  /** File whose content (trimmed) is the only accepted bearer token. */
  readonly tokenFile: string
  /** Server certificate and key (PEM files; test/harness/tls.ts). HTTPS only: kubectl sends no token over plain HTTP. */
  readonly certFile: string
  readonly keyFile: string
  /** Service account the token stands for (in 403 messages). [default: system:serviceaccount:<ns>:etcd] */
  readonly user?: string
}

export interface KubeApiServerHandle {
  /** `https://127.0.0.1:<port>` */
  readonly url: string
  /** Creates a Lease with an empty spec, as druid does (the sidecar may not create leases). */
  createLease(namespace: string, name: string, labels?: Record<string, string>): LeaseObject
  /** The stored Lease, or undefined. */
  lease(namespace: string, name: string): LeaseObject | undefined
  /** Writes a new token to the token file: from now on only it is accepted. */
  rotateToken(token: string): void
  /** Takes `verb` on leases out of the Role from now on (a narrower Role than druid's): 403. */
  revokeVerb(verb: string): void
  /** Every request as `METHOD /path content-type`, in arrival order. */
  requests(): readonly string[]
  /** Every write accepted for a lease, in order: `{ namespace, name, spec }` after the write. */
  writes(namespace: string, name: string): readonly LeaseObject[]
  /** EtcdMembers: the CRD switch (off by default, as druid HEAD installs none), the Role's rules on them, the objects. */
  readonly etcdMembers: {
    /** Installs or removes the CRD: while removed, its paths answer `404 page not found` and discovery omits the group. */
    setCrdInstalled(installed: boolean): void
    /** Adds `resource:verb` rules to the Role (`etcdmembers/status:patch`, `etcdmembers:get`, …); druid's Role has none. */
    grant(...rules: string[]): void
    revoke(...rules: string[]): void
    /** Creates an EtcdMember without status, as druid would. */
    create(namespace: string, name: string, etcd: string): EtcdMemberObject
    get(namespace: string, name: string): EtcdMemberObject | undefined
    /** Every write that changed the object, in order. */
    writes(namespace: string, name: string): EtcdMemberObject[]
  }
  close(): Promise<void>
}

const LEASE_GROUP = 'coordination.k8s.io'
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json']
/** Verbs of druid's Role on leases (docs/kubernetes.md "RBAC"). */
const LEASE_VERBS = new Set(['get', 'list', 'patch', 'update', 'watch'])
/** RFC 3339 with exactly 6 fractional digits (apimachinery `RFC3339Micro`). */
const MICRO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})(Z|[+-]\d{2}:\d{2})$/

interface Status {
  code: number
  reason: string
  message: string
  details?: Record<string, unknown>
}

export class ApiError extends Error {
  readonly status: Status
  constructor(status: Status) {
    super(status.message)
    this.status = status
  }
}

function statusBody(status: Status): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: status.message,
    reason: status.reason,
    ...(status.details ? { details: status.details } : {}),
    code: status.code,
  }
}

const notFound = (name: string) =>
  new ApiError({ code: 404, reason: 'NotFound', message: `leases.${LEASE_GROUP} "${name}" not found`, details: { name, group: LEASE_GROUP, kind: 'leases' } })

const conflict = (name: string) =>
  new ApiError({
    code: 409,
    reason: 'Conflict',
    message: `Operation cannot be fulfilled on leases.${LEASE_GROUP} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    details: { name, group: LEASE_GROUP, kind: 'leases' },
  })

/** Go's time.Parse message for the RFC3339Micro layout (the part after the quoted value). */
function microTimeError(value: string): string | undefined {
  if (MICRO_TIME.test(value)) return undefined
  const prefix = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/.exec(value)
  const rest = prefix ? value.slice(prefix[0].length) : value
  const element = prefix ? (/^\.\d{6}/.test(rest) ? 'Z07:00' : '.000000') : '2006-01-02T15:04:05.000000Z07:00'
  const shown = prefix && element === 'Z07:00' ? rest.slice(7) : rest
  return `parsing time "${value}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${shown}" as "${element}"`
}

/** Renders a valid MicroTime in UTC with 6 digits, as MicroTime.MarshalJSON does. */
function normalizeMicroTime(value: string): string {
  const match = MICRO_TIME.exec(value)!
  const micros = match[7]!
  const date = new Date(`${value.slice(0, 19)}${match[8]}`)
  return `${date.toISOString().slice(0, 19)}.${micros}Z`
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key]
    else result[key] = mergePatch(result[key], value)
  }
  return result
}

/** 415 as the API server answers a PATCH whose media type is not in `accepted`. */
export function checkPatchType(contentType: string, accepted: readonly string[]): void {
  if (!accepted.includes(contentType)) {
    throw new ApiError({
      code: 415,
      reason: 'UnsupportedMediaType',
      message: `the body of the request was in an unknown format - accepted media types include: ${[...accepted, 'application/apply-patch+yaml'].join(', ')}`,
    })
  }
}

/**
 * Applies a PATCH body of `contentType` to `current` (a copy; `current` is not changed): 400 for
 * a body that is not JSON, 422 when the patch cannot be applied, 400 when it does not yield an
 * object. JSON patch, or merge patch (strategic merge is treated as merge: the test objects have
 * no lists it would merge differently).
 */
export function applyPatch(contentType: string, raw: string, current: unknown): { patch: unknown; patched: Record<string, unknown> } {
  let patch: unknown
  try {
    patch = JSON.parse(raw)
  } catch (error) {
    throw new ApiError({ code: 400, reason: 'BadRequest', message: `error decoding patch: ${(error as Error).message}` })
  }
  let patched: unknown
  try {
    patched = contentType === 'application/json-patch+json' ? jsonPatch(current, patch) : mergePatch(structuredClone(current), patch)
  } catch (error) {
    throw new ApiError({ code: 422, reason: 'Invalid', message: (error as Error).message })
  }
  if (!isObject(patched)) throw new ApiError({ code: 400, reason: 'BadRequest', message: 'patch did not yield an object' })
  return { patch, patched }
}

/** RFC 6902 JSON patch (add, remove, replace, test); throws a message on a failed operation. */
export function jsonPatch(document: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw new Error('json: cannot unmarshal object into Go value of type jsonpatch.Patch')
  const doc = structuredClone(document) as Record<string, unknown>
  for (const op of operations as { op: string; path: string; value?: unknown }[]) {
    const parts = op.path.split('/').slice(1).map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    const last = parts.pop()
    if (last === undefined) throw new Error(`invalid path "${op.path}"`)
    let parent: Record<string, unknown> = doc
    for (const part of parts) {
      const next = parent[part]
      if (!isObject(next)) throw new Error(`doc is missing path: "${op.path}": missing value`)
      parent = next
    }
    switch (op.op) {
      case 'add':
        parent[last] = op.value
        break
      case 'replace':
        if (!(last in parent)) throw new Error(`replace operation does not apply: doc is missing key: ${op.path}: missing value`)
        parent[last] = op.value
        break
      case 'remove':
        if (!(last in parent)) throw new Error(`remove operation does not apply: doc is missing path: "${op.path}": missing value`)
        delete parent[last]
        break
      case 'test':
        if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) throw new Error(`testing value ${op.path} failed: test failed`)
        break
      default:
        throw new Error(`Unexpected kind: ${op.op}`)
    }
  }
  return doc
}

export function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    request.on('error', reject)
  })
}

function send(response: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = contentType === 'application/json' ? JSON.stringify(body) : String(body)
  response.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) })
  response.end(text)
}

const DISCOVERY: Record<string, unknown> = {
  '/version': { major: '1', minor: '32', gitVersion: 'v1.32.0-steward-test', platform: 'linux/amd64' },
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] },
  '/api/v1': { kind: 'APIResourceList', groupVersion: 'v1', resources: [] },
  '/apis': {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [{ name: LEASE_GROUP, versions: [{ groupVersion: `${LEASE_GROUP}/v1`, version: 'v1' }], preferredVersion: { groupVersion: `${LEASE_GROUP}/v1`, version: 'v1' } }],
  },
  [`/apis/${LEASE_GROUP}`]: {
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: LEASE_GROUP,
    versions: [{ groupVersion: `${LEASE_GROUP}/v1`, version: 'v1' }],
    preferredVersion: { groupVersion: `${LEASE_GROUP}/v1`, version: 'v1' },
  },
  [`/apis/${LEASE_GROUP}/v1`]: {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: `${LEASE_GROUP}/v1`,
    resources: [{ name: 'leases', singularName: 'lease', namespaced: true, kind: 'Lease', verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] }],
  },
}

/** Starts the server on a free loopback port. */
export async function startKubeApiServer(options: KubeApiServerOptions): Promise<KubeApiServerHandle> {
  const leases = new Map<string, LeaseObject>()
  const leaseVerbs = new Set(LEASE_VERBS)
  const history = new Map<string, LeaseObject[]>()
  const log: string[] = []
  let resourceVersion = 1000
  const etcdMembers = new EtcdMemberRoutes({
    user: (ns) => options.user ?? `system:serviceaccount:${ns}:etcd`,
    nextResourceVersion: () => String(++resourceVersion),
  })
  /** The discovery documents, with the EtcdMember group while its CRD is installed. */
  const discovery = (): Record<string, unknown> => {
    const extra = etcdMembers.discovery()
    if (!extra) return DISCOVERY
    const apis = DISCOVERY['/apis'] as { groups: unknown[] }
    return { ...DISCOVERY, '/apis': { ...apis, groups: [...apis.groups, extra.group] }, ...extra.documents }
  }

  const key = (ns: string, name: string) => `${ns}/${name}`
  const store = (lease: LeaseObject) => {
    resourceVersion += 1
    lease.metadata.resourceVersion = String(resourceVersion)
    const k = key(lease.metadata.namespace, lease.metadata.name)
    leases.set(k, lease)
    const writes = history.get(k) ?? []
    writes.push(structuredClone(lease))
    history.set(k, writes)
  }

  const forbidden = (user: string, verb: string, ns: string, name?: string) =>
    new ApiError({
      code: 403,
      reason: 'Forbidden',
      message: `leases.${LEASE_GROUP}${name === undefined ? '' : ` "${name}"`} is forbidden: User "${user}" cannot ${verb} resource "leases" in API group "${LEASE_GROUP}" in the namespace "${ns}"`,
      details: { ...(name === undefined ? {} : { name }), group: LEASE_GROUP, kind: 'leases' },
    })

  /** Checks a candidate lease's spec times and identity; `via` picks the real server's error for the path. */
  const validate = (candidate: Record<string, unknown>, current: LeaseObject, via: 'patch' | 'update', raw: string): LeaseObject => {
    const spec = isObject(candidate.spec) ? candidate.spec : {}
    for (const field of ['renewTime', 'acquireTime']) {
      const value = spec[field]
      if (value === undefined || value === null) continue
      const error = typeof value === 'string' ? microTimeError(value) : `json: cannot unmarshal ${typeof value} into Go value of type string`
      if (error !== undefined) {
        if (via === 'patch') {
          throw new ApiError({
            code: 422,
            reason: 'Invalid',
            message: `Lease.${LEASE_GROUP} "${current.metadata.name}" is invalid: patch: Invalid value: "${raw.replaceAll('"', '\\"')}": ${error}`,
            details: { name: current.metadata.name, group: LEASE_GROUP, kind: 'Lease', causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: "${raw}": ${error}`, field: 'patch' }] },
          })
        }
        throw new ApiError({ code: 400, reason: 'BadRequest', message: error })
      }
      spec[field] = normalizeMicroTime(value as string)
    }
    const metadata = isObject(candidate.metadata) ? candidate.metadata : {}
    const sentVersion = metadata.resourceVersion
    if (sentVersion !== undefined && sentVersion !== '' && sentVersion !== current.metadata.resourceVersion) throw conflict(current.metadata.name)
    if (metadata.name !== undefined && metadata.name !== current.metadata.name) {
      throw new ApiError({ code: 400, reason: 'BadRequest', message: `the name of the object (${String(metadata.name)}) does not match the name on the URL (${current.metadata.name})` })
    }
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...(metadata as object), name: current.metadata.name, namespace: current.metadata.namespace, uid: current.metadata.uid, creationTimestamp: current.metadata.creationTimestamp, resourceVersion: current.metadata.resourceVersion },
      spec: spec as LeaseObject['spec'],
    }
  }

  const handle = async (request: IncomingMessage): Promise<[number, unknown] | [number, string, 'text/plain']> => {
    const url = new URL(request.url ?? '/', 'http://localhost')
    const method = request.method ?? 'GET'
    const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim()
    log.push(`${method} ${url.pathname}${contentType ? ` ${contentType}` : ''}`)

    const expected = readFileSync(options.tokenFile, 'utf8').trim()
    const auth = request.headers.authorization ?? ''
    // /version is public (system:public-info-viewer); kubectl's dispatcher asks it without credentials.
    if (url.pathname !== '/version' && auth !== `Bearer ${expected}`) throw new ApiError({ code: 401, reason: 'Unauthorized', message: 'Unauthorized' })

    const documents = discovery()
    if (method === 'GET' && url.pathname in documents) return [200, documents[url.pathname]]
    if (etcdMembers.matches(url.pathname)) return etcdMembers.serve(request, url.pathname, method, contentType)
    const namespaceGet = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname)
    if (namespaceGet) {
      // The sidecar's Role has no rule on namespaces (kubectl asks after a NotFound).
      const ns = decodeURIComponent(namespaceGet[1]!)
      throw new ApiError({
        code: 403,
        reason: 'Forbidden',
        message: `namespaces "${ns}" is forbidden: User "${options.user ?? `system:serviceaccount:${ns}:etcd`}" cannot ${method === 'GET' ? 'get' : method.toLowerCase()} resource "namespaces" in API group "" at the cluster scope`,
        details: { name: ns, kind: 'namespaces' },
      })
    }
    const match = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/.exec(url.pathname)
    if (!match) {
      return [404, statusBody({ code: 404, reason: 'NotFound', message: 'the server could not find the requested resource', details: { causes: [{ reason: 'UnexpectedServerResponse', message: '404 page not found' }] } })]
    }
    const namespace = decodeURIComponent(match[1]!)
    const name = match[2] === undefined ? undefined : decodeURIComponent(match[2])
    const user = options.user ?? `system:serviceaccount:${namespace}:etcd`
    const verb =
      method === 'GET' ? (name === undefined ? 'list' : 'get') : method === 'PATCH' ? 'patch' : method === 'PUT' ? 'update' : method === 'POST' ? 'create' : method === 'DELETE' ? (name === undefined ? 'deletecollection' : 'delete') : 'unknown'
    if (!leaseVerbs.has(verb)) throw forbidden(user, verb, namespace, name)

    if (name === undefined) {
      if (verb !== 'list') throw new ApiError({ code: 405, reason: 'MethodNotAllowed', message: `the server does not allow this method on the requested resource` })
      const items = [...leases.values()].filter((l) => l.metadata.namespace === namespace)
      return [200, { kind: 'LeaseList', apiVersion: 'coordination.k8s.io/v1', metadata: { resourceVersion: String(resourceVersion) }, items }]
    }
    const current = leases.get(key(namespace, name))
    if (verb === 'get') {
      if (!current) throw notFound(name)
      return [200, current]
    }
    const raw = await readBody(request)
    if (verb === 'patch') {
      checkPatchType(contentType, PATCH_TYPES)
      if (!current) throw notFound(name)
      const { patched } = applyPatch(contentType, raw, current)
      const next = validate(patched, current, 'patch', JSON.stringify(patched))
      store(next)
      return [200, next]
    }
    // update (PUT)
    if (contentType !== 'application/json' && contentType !== '') {
      throw new ApiError({ code: 415, reason: 'UnsupportedMediaType', message: `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf, application/cbor` })
    }
    if (!current) throw notFound(name)
    let body: unknown
    try {
      body = JSON.parse(raw)
    } catch (error) {
      throw new ApiError({ code: 400, reason: 'BadRequest', message: `the object provided is unrecognized: ${(error as Error).message}` })
    }
    if (!isObject(body)) throw new ApiError({ code: 400, reason: 'BadRequest', message: 'the object provided is unrecognized' })
    const next = validate(body, current, 'update', raw)
    store(next)
    return [200, next]
  }

  const server = createServer({ cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) }, (request, response) => {
    handle(request).then(
      ([code, body, type]) => send(response, code, body, type),
      (error: unknown) => {
        if (error instanceof ApiError) send(response, error.status.code, statusBody(error.status))
        else send(response, 500, statusBody({ code: 500, reason: 'InternalError', message: String(error) }))
      },
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `https://127.0.0.1:${port}`,
    createLease(namespace, name, labels) {
      const lease: LeaseObject = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name,
          namespace,
          uid: randomUUID(),
          resourceVersion: '',
          creationTimestamp: `${new Date().toISOString().slice(0, 19)}Z`,
          labels: labels ?? { 'app.kubernetes.io/managed-by': 'etcd-druid' },
        },
        spec: {},
      }
      store(lease)
      return structuredClone(lease)
    },
    lease: (namespace, name) => {
      const lease = leases.get(key(namespace, name))
      return lease ? structuredClone(lease) : undefined
    },
    revokeVerb(verb) {
      leaseVerbs.delete(verb)
    },
    rotateToken(token) {
      writeFileSync(options.tokenFile, token)
    },
    requests: () => [...log],
    etcdMembers: {
      setCrdInstalled: (installed) => void (etcdMembers.crdInstalled = installed),
      grant: (...rules) => etcdMembers.grant(...rules),
      revoke: (...rules) => etcdMembers.revoke(...rules),
      create: (namespace, name, etcd) => etcdMembers.create(namespace, name, etcd),
      get: (namespace, name) => etcdMembers.get(namespace, name),
      writes: (namespace, name) => etcdMembers.writes(namespace, name),
    },
    writes: (namespace, name) => structuredClone(history.get(key(namespace, name)) ?? []).slice(1),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/**
 * The test server as most suites use it: TLS material, the token file holding `token` and a
 * kubeconfig pointing at the server with that token (and `namespace` as its context's), all
 * written under `dir`.
 * @returns the server (close it) and the kubeconfig's path
 */
export async function startKubeApiServerIn(dir: string, token: string, options: Pick<KubeApiServerOptions, 'user'> & { readonly namespace?: string } = {}): Promise<{ server: KubeApiServerHandle; kubeconfig: string }> {
  const tls = await makeTlsMaterial(join(dir, 'kube-tls'))
  const tokenFile = join(dir, 'kube-token')
  await writeFile(tokenFile, token)
  const server = await startKubeApiServer({ ...(options.user ? { user: options.user } : {}), tokenFile, certFile: tls.certFile, keyFile: tls.keyFile })
  const kubeconfig = join(dir, 'kubeconfig')
  const namespace = options.namespace ? `, namespace: ${options.namespace}` : ''
  await writeFile(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: "${server.url}", certificate-authority: "${tls.caFile}"}}]\nusers: [{name: t, user: {token: ${token}}}]\ncontexts: [{name: t, context: {cluster: t, user: t${namespace}}}]\ncurrent-context: t\n`)
  return { server, kubeconfig }
}
