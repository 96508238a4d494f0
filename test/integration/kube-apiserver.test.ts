/**
 * The Kubernetes API test server (test/harness/kube-apiserver.ts) on the wire: its Status
 * bodies, patch media types, resourceVersion conflicts, strict MicroTime and token rotation,
 * and kubectl — an independent client — getting and patching a lease through it.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { request } from 'node:https'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startKubeApiServer, type KubeApiServerHandle } from '../harness/kube-apiserver.ts'
import { makeTlsMaterial, type TlsMaterial } from '../harness/tls.ts'

const run = promisify(execFile)
const test = suite('Kubernetes API test server')
const NS = 'shoot--test'
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`

let work: string
let server: KubeApiServerHandle
let token = 'token-one'
let tls: TlsMaterial
let ca: Buffer

function call(method: string, path: string, body?: unknown, contentType = 'application/merge-patch+json', bearer = token): Promise<{ status: number; body: Record<string, any> }> {
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      { method, ca, headers: { authorization: `Bearer ${bearer}`, accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': contentType }) } },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }))
        response.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'steward-kube-'))
  await writeFile(join(work, 'token'), token)
  tls = await makeTlsMaterial(join(work, 'tls'))
  ca = await readFile(tls.caFile)
  server = await startKubeApiServer({ tokenFile: join(work, 'token'), certFile: tls.certFile, keyFile: tls.keyFile })
  server.createLease(NS, 'etcd-main-0')
})

test.after(async () => {
  await server.close()
  await rm(work, { recursive: true, force: true })
})

test('GET answers the lease; a missing one is a NotFound Status', async () => {
  const ok = await call('GET', `${LEASES}/etcd-main-0`)
  assert.is(ok.status, 200)
  assert.is(ok.body.kind, 'Lease')
  assert.equal(ok.body.spec, {})
  const missing = await call('GET', `${LEASES}/nope`)
  assert.is(missing.status, 404)
  assert.equal(missing.body, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'leases.coordination.k8s.io "nope" not found',
    reason: 'NotFound',
    details: { name: 'nope', group: 'coordination.k8s.io', kind: 'leases' },
    code: 404,
  })
})

test('druid\'s Role: create and delete are Forbidden', async () => {
  const create = await call('POST', LEASES, { metadata: { name: 'x' } }, 'application/json')
  assert.is(create.status, 403)
  assert.is(create.body.reason, 'Forbidden')
  assert.is(create.body.message, `leases.coordination.k8s.io is forbidden: User "system:serviceaccount:${NS}:etcd" cannot create resource "leases" in API group "coordination.k8s.io" in the namespace "${NS}"`)
  const del = await call('DELETE', `${LEASES}/etcd-main-0`)
  assert.is(del.status, 403)
  assert.match(del.body.message, /"etcd-main-0" is forbidden: .* cannot delete resource "leases"/)
  assert.ok(server.lease(NS, 'etcd-main-0'))
})

test('PATCH: merge, strategic and JSON patch are accepted; application/json is 415', async () => {
  const merge = await call('PATCH', `${LEASES}/etcd-main-0`, { spec: { holderIdentity: 'a' } })
  assert.is(merge.status, 200)
  assert.is(merge.body.spec.holderIdentity, 'a')
  const strategic = await call('PATCH', `${LEASES}/etcd-main-0`, { spec: { holderIdentity: 'b' } }, 'application/strategic-merge-patch+json')
  assert.is(strategic.body.spec.holderIdentity, 'b')
  const json = await call('PATCH', `${LEASES}/etcd-main-0`, [{ op: 'replace', path: '/spec/holderIdentity', value: 'c' }], 'application/json-patch+json')
  assert.is(json.body.spec.holderIdentity, 'c')
  assert.ok(Number(json.body.metadata.resourceVersion) > Number(merge.body.metadata.resourceVersion))
  const wrong = await call('PATCH', `${LEASES}/etcd-main-0`, { spec: { holderIdentity: 'd' } }, 'application/json')
  assert.is(wrong.status, 415)
  assert.is(wrong.body.reason, 'UnsupportedMediaType')
  // A merge body sent as a JSON patch (client-node's default) is refused, not applied.
  const misTyped = await call('PATCH', `${LEASES}/etcd-main-0`, { spec: { holderIdentity: 'e' } }, 'application/json-patch+json')
  assert.ok(misTyped.status >= 400)
  assert.is(server.lease(NS, 'etcd-main-0')!.spec.holderIdentity, 'c')
})

test('resourceVersion: a stale one in a PUT or a patch is a 409 Conflict', async () => {
  const current = (await call('GET', `${LEASES}/etcd-main-0`)).body
  const stale = String(Number(current.metadata.resourceVersion) - 1)
  const put = await call('PUT', `${LEASES}/etcd-main-0`, { ...current, metadata: { ...current.metadata, resourceVersion: stale } }, 'application/json')
  assert.is(put.status, 409)
  assert.is(put.body.reason, 'Conflict')
  assert.match(put.body.message, /the object has been modified; please apply your changes to the latest version and try again/)
  const patch = await call('PATCH', `${LEASES}/etcd-main-0`, { metadata: { resourceVersion: stale }, spec: { holderIdentity: 'x' } })
  assert.is(patch.status, 409)
  const fresh = await call('PATCH', `${LEASES}/etcd-main-0`, { metadata: { resourceVersion: current.metadata.resourceVersion }, spec: { holderIdentity: '42' } })
  assert.is(fresh.status, 200)
  const put2 = await call('PUT', `${LEASES}/etcd-main-0`, { ...fresh.body, spec: { holderIdentity: '43' } }, 'application/json')
  assert.is(put2.status, 200)
  assert.is(put2.body.spec.holderIdentity, '43')
})

test('MicroTime: exactly 6 fractional digits; 3 digits are refused (422 on PATCH, 400 on PUT)', async () => {
  const three = await call('PATCH', `${LEASES}/etcd-main-0`, { spec: { renewTime: '2026-12-01T17:21:45.123Z' } })
  assert.is(three.status, 422)
  assert.is(three.body.reason, 'Invalid')
  assert.match(three.body.message, /cannot parse "\.123Z" as "\.000000"/)
  const none = await call('PATCH', `${LEASES}/etcd-main-0`, { spec: { renewTime: '2026-12-01T17:21:45Z' } })
  assert.is(none.status, 422)
  const current = (await call('GET', `${LEASES}/etcd-main-0`)).body
  const put = await call('PUT', `${LEASES}/etcd-main-0`, { ...current, spec: { renewTime: '2026-12-01T17:21:45.123Z' } }, 'application/json')
  assert.is(put.status, 400)
  assert.is(put.body.reason, 'BadRequest')
  const six = await call('PATCH', `${LEASES}/etcd-main-0`, { spec: { renewTime: '2026-12-01T18:21:45.123000+01:00' } })
  assert.is(six.status, 200)
  assert.is(six.body.spec.renewTime, '2026-12-01T17:21:45.123000Z')
})

test('bearer token: a wrong one is 401; rotating the file retires the old one', async () => {
  const bad = await call('GET', `${LEASES}/etcd-main-0`, undefined, undefined, 'nope')
  assert.is(bad.status, 401)
  assert.equal(bad.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 })
  server.rotateToken('token-two')
  assert.is((await call('GET', `${LEASES}/etcd-main-0`)).status, 401)
  token = 'token-two'
  assert.is((await call('GET', `${LEASES}/etcd-main-0`)).status, 200)
})

test('kubectl gets and patches a lease through the server', async () => {
  const kubeconfig = join(work, 'kubeconfig')
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: test, cluster: {server: "${server.url}", certificate-authority: "${tls.caFile}"}}]`,
      `users: [{name: test, user: {token: "${token}"}}]`,
      `contexts: [{name: test, context: {cluster: test, user: test, namespace: "${NS}"}}]`,
      'current-context: test',
      '',
    ].join('\n'),
  )
  const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: work }
  const patched = await run('kubectl', ['patch', 'lease', 'etcd-main-0', '--type', 'merge', '-p', '{"spec":{"holderIdentity":"1a:2b:Leader","renewTime":"2026-12-01T17:00:00.000001Z"}}', '-o', 'json'], { env })
  assert.is(JSON.parse(patched.stdout).spec.holderIdentity, '1a:2b:Leader')
  const got = await run('kubectl', ['get', 'lease', 'etcd-main-0', '-o', 'json'], { env })
  const lease = JSON.parse(got.stdout)
  assert.is(lease.spec.holderIdentity, '1a:2b:Leader')
  assert.is(lease.spec.renewTime, '2026-12-01T17:00:00.000001Z')
  assert.ok(server.requests().includes(`PATCH ${LEASES}/etcd-main-0 application/merge-patch+json`))
  // kubectl shows the server's Status message for a 404 and a 403.
  const missing = await run('kubectl', ['get', 'lease', 'nope'], { env }).then(
    (): string => assert.unreachable('kubectl get of a missing lease succeeded') as never,
    (error: { stderr: string }) => error.stderr,
  )
  assert.match(missing, /leases\.coordination\.k8s\.io "nope" not found/)
  const denied = await run('kubectl', ['delete', 'lease', 'etcd-main-0'], { env }).then(
    (): string => assert.unreachable('kubectl delete succeeded') as never,
    (error: { stderr: string }) => error.stderr,
  )
  assert.match(denied, /cannot delete resource "leases" in API group "coordination\.k8s\.io"/)
})

test.run()
