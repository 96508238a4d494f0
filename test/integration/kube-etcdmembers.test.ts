/**
 * The Kubernetes API test server's EtcdMember routes (test/harness/kube-etcdmembers.ts) on the
 * wire: the Role's 403 before anything else, `404 page not found` while the CRD is absent, the
 * NotFound Status of a missing object, the status subresource, merge/JSON patch only (415 for
 * strategic merge patch and application/json), schema checks and pruning, no-op patches — and
 * kubectl, an independent client, listing, getting and patching the status through discovery.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startKubeApiServer, type KubeApiServerHandle } from '../harness/kube-apiserver.ts'
import { makeTlsMaterial, type TlsMaterial } from '../harness/tls.ts'

const run = promisify(execFile)
const test = suite('Kubernetes API test server: EtcdMembers')
const NS = 'shoot--em'
const MEMBERS = `/apis/druid.gardener.cloud/v1alpha1/namespaces/${NS}/etcdmembers`
const TOKEN = 'em-token'

let work: string
let server: KubeApiServerHandle
let tls: TlsMaterial
let ca: Buffer

function call(method: string, path: string, body?: unknown, contentType = 'application/merge-patch+json'): Promise<{ status: number; type: string; text: string; body: Record<string, any> }> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(
      `${server.url}${path}`,
      { method, ca, headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': contentType }) } },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          const type = String(response.headers['content-type'] ?? '')
          resolve({ status: response.statusCode ?? 0, type, text, body: type === 'application/json' ? JSON.parse(text) : {} })
        })
        response.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(payload)
  })
}

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'steward-kube-em-'))
  await writeFile(join(work, 'token'), TOKEN)
  tls = await makeTlsMaterial(join(work, 'tls'))
  ca = await readFile(tls.caFile)
  server = await startKubeApiServer({ tokenFile: join(work, 'token'), certFile: tls.certFile, keyFile: tls.keyFile })
  server.etcdMembers.create(NS, 'etcd-main-0', 'etcd-main')
})

test.after(async () => {
  await server.close()
  await rm(work, { recursive: true, force: true })
})

test('druid\'s Role has no druid.gardener.cloud rules: 403 naming verb and subresource, before the CRD is even looked at', async () => {
  const patch = await call('PATCH', `${MEMBERS}/etcd-main-0/status`, { status: { id: '1' } })
  assert.is(patch.status, 403)
  assert.equal(patch.body, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `etcdmembers.druid.gardener.cloud "etcd-main-0" is forbidden: User "system:serviceaccount:${NS}:etcd" cannot patch resource "etcdmembers/status" in API group "druid.gardener.cloud" in the namespace "${NS}"`,
    reason: 'Forbidden',
    details: { name: 'etcd-main-0', group: 'druid.gardener.cloud', kind: 'etcdmembers' },
    code: 403,
  })
  const get = await call('GET', `${MEMBERS}/etcd-main-0`)
  assert.is(get.status, 403)
  assert.match(get.body.message, /cannot get resource "etcdmembers" in API group/)
})

test('CRD absent: 404 page not found (text/plain), and discovery does not list the group', async () => {
  server.etcdMembers.grant('etcdmembers/status:patch', 'etcdmembers:get', 'etcdmembers:list', 'etcdmembers:patch', 'etcdmembers/status:get')
  const patch = await call('PATCH', `${MEMBERS}/etcd-main-0/status`, { status: { id: '1' } })
  assert.is(patch.status, 404)
  assert.is(patch.type, 'text/plain')
  assert.is(patch.text, '404 page not found\n')
  const groups = (await call('GET', '/apis')).body.groups.map((g: { name: string }) => g.name)
  assert.not.ok(groups.includes('druid.gardener.cloud'))
  assert.is((await call('GET', '/apis/druid.gardener.cloud/v1alpha1')).status, 404)
})

test('CRD installed: GET, a missing object is a NotFound Status; discovery lists etcdmembers and etcdmembers/status', async () => {
  server.etcdMembers.setCrdInstalled(true)
  const got = await call('GET', `${MEMBERS}/etcd-main-0`)
  assert.is(got.status, 200)
  assert.is(got.body.kind, 'EtcdMember')
  assert.is(got.body.metadata.labels['gardener.cloud/owned-by'], 'etcd-main')
  assert.is(got.body.status, undefined)
  const missing = await call('PATCH', `${MEMBERS}/nope/status`, { status: { id: '1' } })
  assert.is(missing.status, 404)
  assert.equal(missing.body.details, { name: 'nope', group: 'druid.gardener.cloud', kind: 'etcdmembers' })
  assert.is(missing.body.message, 'etcdmembers.druid.gardener.cloud "nope" not found')
  const resources = (await call('GET', '/apis/druid.gardener.cloud/v1alpha1')).body.resources.map((r: { name: string }) => r.name)
  assert.equal(resources, ['etcdmembers', 'etcdmembers/status'])
})

test('status subresource: only .status changes; the object\'s patch ignores .status; a no-op patch is no write', async () => {
  const before = server.etcdMembers.writes(NS, 'etcd-main-0').length
  const patched = await call('PATCH', `${MEMBERS}/etcd-main-0/status`, { metadata: { labels: { x: 'y' } }, status: { id: '8e9e05c52164694d', dbSize: 24576, transitions: [{ state: 'Started', subState: 'Leader', reason: 'MemberStatusObserved', transitionTime: '2026-12-01T17:21:45Z' }] } })
  assert.is(patched.status, 200)
  assert.is(patched.body.status.id, '8e9e05c52164694d')
  assert.is(patched.body.metadata.labels.x, undefined, 'metadata is not changed through /status')
  const main = await call('PATCH', `${MEMBERS}/etcd-main-0`, { status: { id: 'other' } })
  assert.is(main.status, 200)
  assert.is(main.body.status.id, '8e9e05c52164694d', 'status is not changed through the object')
  const again = await call('PATCH', `${MEMBERS}/etcd-main-0/status`, { status: { id: '8e9e05c52164694d' } })
  assert.is(again.body.metadata.resourceVersion, patched.body.metadata.resourceVersion)
  assert.is(server.etcdMembers.writes(NS, 'etcd-main-0').length, before + 1)
})

test('patch media types: merge and JSON patch; strategic merge patch and application/json are 415', async () => {
  const json = await call('PATCH', `${MEMBERS}/etcd-main-0/status`, [{ op: 'replace', path: '/status/id', value: 'abc' }], 'application/json-patch+json')
  assert.is(json.status, 200)
  assert.is(json.body.status.id, 'abc')
  for (const type of ['application/strategic-merge-patch+json', 'application/json']) {
    const refused = await call('PATCH', `${MEMBERS}/etcd-main-0/status`, { status: { id: 'x' } }, type)
    assert.is(refused.status, 415, type)
    assert.is(refused.body.reason, 'UnsupportedMediaType')
    assert.is(refused.body.message, 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml')
  }
})

test('schema: wrong types and a non-RFC-3339 time are 422 Invalid; unknown fields are pruned; a stale resourceVersion is 409', async () => {
  const bad = await call('PATCH', `${MEMBERS}/etcd-main-0/status`, { status: { peerTLSEnabled: 'yes', transitions: [{ state: 'Started', reason: 'r', transitionTime: '2026-12-01 17:21:45' }] } })
  assert.is(bad.status, 422)
  assert.is(bad.body.reason, 'Invalid')
  assert.match(bad.body.message, /status\.peerTLSEnabled in body must be of type boolean/)
  assert.match(bad.body.message, /status\.transitions\[0\]\.transitionTime in body must be of type date-time: "2026-12-01 17:21:45"/)
  const pruned = await call('PATCH', `${MEMBERS}/etcd-main-0/status`, { status: { role: 'Leader', clusterID: 'cdf818194e3a8c32' } })
  assert.is(pruned.status, 200)
  assert.is(pruned.body.status.role, undefined)
  assert.is(pruned.body.status.clusterID, 'cdf818194e3a8c32')
  const stale = await call('PATCH', `${MEMBERS}/etcd-main-0/status`, { metadata: { resourceVersion: '1' }, status: { id: 'x' } })
  assert.is(stale.status, 409)
  assert.is(stale.body.reason, 'Conflict')
})

test('kubectl lists, gets and patches an EtcdMember\'s status through discovery', async () => {
  const kubeconfig = join(work, 'kubeconfig')
  await writeFile(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: "${server.url}", certificate-authority: "${tls.caFile}"}}]\nusers: [{name: t, user: {token: ${TOKEN}}}]\ncontexts: [{name: t, context: {cluster: t, user: t, namespace: "${NS}"}}]\ncurrent-context: t\n`,
  )
  const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: work }
  const list = await run('kubectl', ['get', 'etcdmembers.druid.gardener.cloud', '-o', 'json'], { env })
  assert.equal(JSON.parse(list.stdout).items.map((i: { metadata: { name: string } }) => i.metadata.name), ['etcd-main-0'])
  const patched = await run('kubectl', ['patch', 'etcdmember', 'etcd-main-0', '--subresource=status', '--type', 'merge', '-p', '{"status":{"dbSizeInUse":4096}}', '-o', 'json'], { env })
  assert.is(JSON.parse(patched.stdout).status.dbSizeInUse, 4096)
  assert.ok(server.requests().includes(`PATCH ${MEMBERS}/etcd-main-0/status application/merge-patch+json`))
  const got = await run('kubectl', ['get', 'etcdmember', 'etcd-main-0', '-o', 'jsonpath={.status.clusterID}'], { env })
  assert.is(got.stdout, 'cdf818194e3a8c32')
  // Role without patch on etcdmembers/status: kubectl shows the server's 403 message.
  server.etcdMembers.revoke('etcdmembers/status:patch')
  const denied = await run('kubectl', ['patch', 'etcdmember', 'etcd-main-0', '--subresource=status', '--type', 'merge', '-p', '{"status":{"id":"1"}}'], { env }).then(
    (): string => assert.unreachable('kubectl patch succeeded without the rule') as never,
    (error: { stderr: string }) => error.stderr,
  )
  assert.match(denied, /cannot patch resource "etcdmembers\/status" in API group "druid\.gardener\.cloud"/)
  server.etcdMembers.grant('etcdmembers/status:patch')
  // CRD removed: kubectl no longer finds the resource type through discovery.
  server.etcdMembers.setCrdInstalled(false)
  const gone = await run('kubectl', ['get', 'etcdmembers.druid.gardener.cloud'], { env }).then(
    (): string => assert.unreachable('kubectl get succeeded without the CRD') as never,
    (error: { stderr: string }) => error.stderr,
  )
  assert.match(gone, /the server doesn't have a resource type "etcdmembers"/)
  const raw = await run('kubectl', ['get', '--raw', `${MEMBERS}/etcd-main-0`], { env }).then(
    (): string => assert.unreachable('kubectl get --raw succeeded without the CRD') as never,
    (error: { stderr: string }) => error.stderr,
  )
  assert.match(raw, /NotFound|not found/)
  server.etcdMembers.setCrdInstalled(true)
})

test.run()
