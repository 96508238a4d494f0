/**
 * EtcdMembers (`druid.gardener.cloud/v1alpha1`, etcd-druid's DEP-04 proposal) in the Kubernetes
 * API test server (test/harness/kube-apiserver.ts), answered as a kube-apiserver serving the
 * CRD would answer them:
 *
 *   GET   /apis/druid.gardener.cloud/v1alpha1/namespaces/:ns/etcdmembers          EtcdMemberList
 *   GET   /apis/druid.gardener.cloud/v1alpha1/namespaces/:ns/etcdmembers/:name[/status]
 *   PATCH /apis/druid.gardener.cloud/v1alpha1/namespaces/:ns/etcdmembers/:name[/status]
 *
 * - RBAC first (the authorizer runs before any handler): druid's Role has no rule on
 *   `druid.gardener.cloud`, so every call is 403 Forbidden naming the verb and the resource
 *   (`etcdmembers` or `etcdmembers/status`) until a test grants rules;
 * - CRD not installed (the default, as with druid HEAD): the group is not served, the server's
 *   last handler answers `404 page not found` as text/plain, and discovery does not list it;
 * - object absent: 404 NotFound Status `etcdmembers.druid.gardener.cloud "<name>" not found`;
 * - PATCH accepts `application/merge-patch+json` and `application/json-patch+json` only: custom
 *   resources have no strategic merge patch (415, listing the accepted types);
 * - status subresource: a patch of `/status` changes only `.status`, a patch of the object
 *   ignores `.status`; a `metadata.resourceVersion` in the patch must match (409);
 * - a structural schema: known status fields are type-checked (422 Invalid with the apiserver's
 *   `in body must be of type …` messages; times `format: date-time`, i.e. RFC 3339), unknown
 *   fields are pruned; values are stored as written (unstructured: no time normalisation);
 * - a patch that changes nothing is not a write (no resourceVersion bump, no history entry).
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { ApiError, applyPatch, checkPatchType, readBody } from './kube-apiserver.ts'

export const ETCD_MEMBER_GROUP = 'druid.gardener.cloud'
const VERSION = 'v1alpha1'
const ROUTE = /^\/apis\/druid\.gardener\.cloud(?:\/v1alpha1(?:\/namespaces\/([^/]+)\/etcdmembers(?:\/([^/]+)(\/status)?)?)?)?$/
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json']
/** RFC 3339 (`format: date-time`). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

export interface EtcdMemberObject {
  apiVersion: 'druid.gardener.cloud/v1alpha1'
  kind: 'EtcdMember'
  metadata: { name: string; namespace: string; uid: string; resourceVersion: string; creationTimestamp: string; generation: number; labels?: Record<string, string>; [key: string]: unknown }
  status?: Record<string, any>
}

type Reply = [number, unknown] | [number, string, 'text/plain']

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

type FieldType = 'string' | 'boolean' | 'int-or-string' | 'date-time' | 'object'
/** The schema steward's writes are checked against: the proposal's status fields (docs/kubernetes.md "EtcdMember"). */
const STATUS_FIELDS: Record<string, FieldType> = {
  id: 'string',
  clusterID: 'string',
  peerTLSEnabled: 'boolean',
  dbSize: 'int-or-string',
  dbSizeInUse: 'int-or-string',
  snapshots: 'object',
  lastRestoration: 'object',
  lastDefragmentation: 'object',
}
const TRANSITION_FIELDS: Record<string, FieldType> = { state: 'string', subState: 'string', reason: 'string', transitionTime: 'date-time', message: 'string' }
const REQUIRED_TRANSITION_FIELDS = ['state', 'reason', 'transitionTime']

/** Checks one value against its type; the apiserver's message on failure. */
function checkField(path: string, type: FieldType, value: unknown): string | undefined {
  const shown = typeof value === 'string' ? value : JSON.stringify(value)
  const wrong = (expected: string) => `${path}: Invalid value: "${typeof value === 'object' ? 'object' : typeof value}": ${path} in body must be of type ${expected}: "${shown}"`
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : wrong('string')
    case 'boolean':
      return typeof value === 'boolean' ? undefined : wrong('boolean')
    case 'int-or-string':
      return Number.isInteger(value) || typeof value === 'string' ? undefined : wrong('integer,string')
    case 'object':
      return isObject(value) ? undefined : wrong('object')
    case 'date-time':
      if (typeof value !== 'string') return wrong('string')
      return DATE_TIME.test(value) ? undefined : `${path}: Invalid value: "${value}": ${path} in body must be of type date-time: "${value}"`
  }
}

/** Validates and prunes `.status` as a structural schema would. @returns the pruned status and the errors */
function pruneStatus(status: unknown): { status: Record<string, unknown> | undefined; errors: string[] } {
  if (status === undefined || status === null) return { status: undefined, errors: [] }
  if (!isObject(status)) return { status: undefined, errors: [checkField('status', 'object', status)!] }
  const errors: string[] = []
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(status)) {
    if (key === 'transitions') {
      if (!Array.isArray(value)) {
        errors.push(`status.transitions: Invalid value: "${typeof value}": status.transitions in body must be of type array: "${JSON.stringify(value)}"`)
        continue
      }
      out[key] = value.map((entry, i) => {
        const path = `status.transitions[${i}]`
        if (!isObject(entry)) {
          errors.push(checkField(path, 'object', entry)!)
          return entry
        }
        const kept: Record<string, unknown> = {}
        for (const [field, type] of Object.entries(TRANSITION_FIELDS)) {
          if (entry[field] === undefined) continue
          const error = checkField(`${path}.${field}`, type, entry[field])
          if (error) errors.push(error)
          kept[field] = entry[field]
        }
        for (const field of REQUIRED_TRANSITION_FIELDS) if (entry[field] === undefined) errors.push(`${path}.${field}: Required value`)
        return kept
      })
      continue
    }
    const type = STATUS_FIELDS[key]
    if (type === undefined) continue // pruned
    const error = checkField(`status.${key}`, type, value)
    if (error) errors.push(error)
    out[key] = value
  }
  return { status: out, errors }
}

export interface EtcdMemberRoutesOptions {
  /** The service account of the token (in 403 messages). */
  readonly user: (namespace: string) => string
  /** Bumps and returns the server's resourceVersion (shared with the leases). */
  readonly nextResourceVersion: () => string
}

/** EtcdMember storage, the Role's rules on them and the CRD switch. */
export class EtcdMemberRoutes {
  readonly #objects = new Map<string, EtcdMemberObject>()
  readonly #history = new Map<string, EtcdMemberObject[]>()
  readonly #rules = new Set<string>()
  readonly #options: EtcdMemberRoutesOptions
  /** Whether the CRD is installed (the group is served). druid HEAD ships none: off. */
  crdInstalled = false

  constructor(options: EtcdMemberRoutesOptions) {
    this.#options = options
  }

  /** Adds `resource:verb` rules to the Role, e.g. `etcdmembers/status:patch`, `etcdmembers:get`. */
  grant(...rules: string[]): void {
    for (const rule of rules) this.#rules.add(rule)
  }

  revoke(...rules: string[]): void {
    for (const rule of rules) this.#rules.delete(rule)
  }

  /** Creates an EtcdMember without status, as druid would (labels and owner as the proposal). */
  create(namespace: string, name: string, etcd: string): EtcdMemberObject {
    const object: EtcdMemberObject = {
      apiVersion: `${ETCD_MEMBER_GROUP}/${VERSION}`,
      kind: 'EtcdMember',
      metadata: {
        name,
        namespace,
        uid: randomUUID(),
        resourceVersion: '',
        generation: 1,
        creationTimestamp: `${new Date().toISOString().slice(0, 19)}Z`,
        labels: { 'gardener.cloud/owned-by': etcd },
        ownerReferences: [{ apiVersion: `${ETCD_MEMBER_GROUP}/${VERSION}`, kind: 'Etcd', name: etcd, uid: randomUUID(), controller: true, blockOwnerDeletion: true }],
      },
    }
    this.#store(object)
    return structuredClone(object)
  }

  get(namespace: string, name: string): EtcdMemberObject | undefined {
    const object = this.#objects.get(`${namespace}/${name}`)
    return object ? structuredClone(object) : undefined
  }

  /** Every accepted write after creation, in order. */
  writes(namespace: string, name: string): EtcdMemberObject[] {
    return structuredClone(this.#history.get(`${namespace}/${name}`) ?? []).slice(1)
  }

  /** Discovery documents to merge into the server's (only while the CRD is installed). */
  discovery(): { group: Record<string, unknown>; documents: Record<string, unknown> } | null {
    if (!this.crdInstalled) return null
    const groupVersion = { groupVersion: `${ETCD_MEMBER_GROUP}/${VERSION}`, version: VERSION }
    const group = { name: ETCD_MEMBER_GROUP, versions: [groupVersion], preferredVersion: groupVersion }
    return {
      group,
      documents: {
        [`/apis/${ETCD_MEMBER_GROUP}`]: { kind: 'APIGroup', apiVersion: 'v1', ...group },
        [`/apis/${ETCD_MEMBER_GROUP}/${VERSION}`]: {
          kind: 'APIResourceList',
          apiVersion: 'v1',
          groupVersion: `${ETCD_MEMBER_GROUP}/${VERSION}`,
          resources: [
            { name: 'etcdmembers', singularName: 'etcdmember', namespaced: true, kind: 'EtcdMember', verbs: ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'] },
            { name: 'etcdmembers/status', singularName: '', namespaced: true, kind: 'EtcdMember', verbs: ['get', 'patch', 'update'] },
          ],
        },
      },
    }
  }

  /** Whether `path` is in the druid.gardener.cloud group (then {@link serve} answers it). */
  matches(path: string): boolean {
    return ROUTE.test(path)
  }

  async serve(request: IncomingMessage, path: string, method: string, contentType: string): Promise<Reply> {
    const match = ROUTE.exec(path)!
    const namespace = match[1] === undefined ? undefined : decodeURIComponent(match[1])
    const name = match[2] === undefined ? undefined : decodeURIComponent(match[2])
    const subresource = match[3] === undefined ? '' : '/status'
    if (namespace !== undefined) {
      const resource = `etcdmembers${subresource}`
      const verb = method === 'GET' ? (name === undefined ? 'list' : 'get') : method === 'PATCH' ? 'patch' : method === 'PUT' ? 'update' : method === 'POST' ? 'create' : method === 'DELETE' ? 'delete' : method.toLowerCase()
      if (!this.#rules.has(`${resource}:${verb}`)) {
        throw new ApiError({
          code: 403,
          reason: 'Forbidden',
          message: `etcdmembers.${ETCD_MEMBER_GROUP}${name === undefined ? '' : ` "${name}"`} is forbidden: User "${this.#options.user(namespace)}" cannot ${verb} resource "${resource}" in API group "${ETCD_MEMBER_GROUP}" in the namespace "${namespace}"`,
          details: { ...(name === undefined ? {} : { name }), group: ETCD_MEMBER_GROUP, kind: 'etcdmembers' },
        })
      }
    }
    if (!this.crdInstalled) return [404, '404 page not found\n', 'text/plain']
    const documents = this.discovery()!.documents
    if (namespace === undefined) {
      if (method === 'GET' && path in documents) return [200, documents[path]]
      throw new ApiError({ code: 405, reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource' })
    }
    if (name === undefined) {
      if (method !== 'GET') throw new ApiError({ code: 405, reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource' })
      const items = [...this.#objects.values()].filter((o) => o.metadata.namespace === namespace)
      return [200, { apiVersion: `${ETCD_MEMBER_GROUP}/${VERSION}`, kind: 'EtcdMemberList', metadata: { resourceVersion: this.#options.nextResourceVersion() }, items }]
    }
    const key = `${namespace}/${name}`
    const current = this.#objects.get(key)
    if (method === 'GET') {
      if (!current) throw this.#notFound(name)
      return [200, current]
    }
    if (method !== 'PATCH') throw new ApiError({ code: 405, reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource' })
    const raw = await readBody(request)
    checkPatchType(contentType, PATCH_TYPES)
    if (!current) throw this.#notFound(name)
    const { patch, patched } = applyPatch(contentType, raw, current)
    const metadata = isObject(patched.metadata) ? patched.metadata : {}
    const sentVersion = isObject(patch) && isObject(patch.metadata) ? patch.metadata.resourceVersion : undefined
    if (sentVersion !== undefined && sentVersion !== null && sentVersion !== '' && sentVersion !== current.metadata.resourceVersion) {
      throw new ApiError({
        code: 409,
        reason: 'Conflict',
        message: `Operation cannot be fulfilled on etcdmembers.${ETCD_MEMBER_GROUP} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        details: { name, group: ETCD_MEMBER_GROUP, kind: 'etcdmembers' },
      })
    }
    // The status subresource takes only .status; the main resource ignores it.
    const next: EtcdMemberObject = structuredClone(current)
    if (subresource) {
      const { status, errors } = pruneStatus(patched.status)
      if (errors.length > 0) {
        throw new ApiError({
          code: 422,
          reason: 'Invalid',
          message: `EtcdMember.${ETCD_MEMBER_GROUP} "${name}" is invalid: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}`,
          details: { name, group: ETCD_MEMBER_GROUP, kind: 'EtcdMember', causes: errors.map((e) => ({ reason: 'FieldValueInvalid', message: e.slice(e.indexOf(': ') + 2), field: e.slice(0, e.indexOf(':')) })) },
        })
      }
      if (status === undefined) delete next.status
      else next.status = status
    } else {
      if (isObject(metadata.labels)) next.metadata.labels = metadata.labels as Record<string, string>
      if (isObject(metadata.annotations)) next.metadata['annotations'] = metadata.annotations
    }
    if (JSON.stringify(next) === JSON.stringify(current)) return [200, current]
    this.#store(next)
    return [200, next]
  }

  #notFound(name: string): ApiError {
    return new ApiError({ code: 404, reason: 'NotFound', message: `etcdmembers.${ETCD_MEMBER_GROUP} "${name}" not found`, details: { name, group: ETCD_MEMBER_GROUP, kind: 'etcdmembers' } })
  }

  #store(object: EtcdMemberObject): void {
    object.metadata.resourceVersion = this.#options.nextResourceVersion()
    const key = `${object.metadata.namespace}/${object.metadata.name}`
    this.#objects.set(key, object)
    const writes = this.#history.get(key) ?? []
    writes.push(structuredClone(object))
    this.#history.set(key, writes)
  }
}
