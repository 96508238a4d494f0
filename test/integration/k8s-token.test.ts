/**
 * In-cluster access (src/lib/k8s) against the Kubernetes API test server with a rotating token
 * file: the service-account directory and the token's re-read period are parameters, so the
 * test mounts its own "service account" and uses a 1 s period. After the token file changes,
 * the old token is refused by the server, and member-lease renewals continue with the new
 * token within the period; with a long period the cached old token keeps being refused
 * (what shows the re-read is what recovers).
 */
import { readFileSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { isStewardError } from '../../src/lib/errors.ts'
import { connectLeaseApi, type LeaseApi } from '../../src/lib/k8s/leases.ts'
import { renewMemberLease } from '../../src/lib/k8s/member-lease.ts'
import { startKubeApiServer, type KubeApiServerHandle } from '../harness/kube-apiserver.ts'
import { makeTlsMaterial } from '../harness/tls.ts'
import { until } from '../harness/wait.ts'

const test = suite('Kubernetes in-cluster service account: rotated token re-read')
const NS = 'shoot--token'
const LEASE = 'etcd-main-0'

let work: string
let serviceAccount: string
let server: KubeApiServerHandle

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), 'steward-k8s-token-'))
  const tls = await makeTlsMaterial(join(work, 'tls'))
  serviceAccount = join(work, 'serviceaccount')
  await mkdir(serviceAccount)
  await copyFile(tls.caFile, join(serviceAccount, 'ca.crt'))
  await writeFile(join(serviceAccount, 'namespace'), NS)
  await writeFile(join(serviceAccount, 'token'), 'token-one')
  // The kubelet's projected token file is what the server checks, so rotation is one write.
  server = await startKubeApiServer({ tokenFile: join(serviceAccount, 'token'), certFile: tls.certFile, keyFile: tls.keyFile })
  server.createLease(NS, LEASE)
})

test.after(async () => {
  await server?.close()
  if (work) await rm(work, { recursive: true, force: true })
})

const inCluster = (tokenRefreshSeconds: number) => {
  const { hostname, port } = new URL(server.url)
  return connectLeaseApi({ env: { KUBERNETES_SERVICE_HOST: hostname, KUBERNETES_SERVICE_PORT: port }, serviceAccountDir: serviceAccount, tokenRefreshSeconds })
}

const renew = (api: LeaseApi, at: Date) => renewMemberLease(api, LEASE, { holderIdentity: '1:2:Leader', tlsEnabled: false, now: at }, 5000)

/** GET of the lease with `token`, straight at the server: its status code. */
async function statusWith(token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${LEASE}`, { headers: { Authorization: `Bearer ${token}` }, ca: readFileSync(join(serviceAccount, 'ca.crt')) }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
}

test('namespace and CA come from the service-account directory; renewals use the token file', async () => {
  const api = await inCluster(1)
  assert.is(api.namespace, NS)
  const lease = await renew(api, new Date())
  assert.is(lease.holderIdentity, '1:2:Leader')
})

test('after the token rotates and the old one is refused, renewals continue with the new token within the re-read period', async () => {
  const fresh = await inCluster(1)
  const cached = await inCluster(3600)
  await renew(fresh, new Date())
  await renew(cached, new Date())
  const before = server.writes(NS, LEASE).length

  server.rotateToken('token-two')
  assert.is(await statusWith('token-one'), 401, 'the old token is refused')
  assert.is(await statusWith('token-two'), 200)

  // A client that keeps its token for an hour is refused now.
  try {
    await renew(cached, new Date())
    assert.unreachable('renewed with the rotated-out token')
  } catch (error) {
    assert.ok(isStewardError(error), String(error))
    assert.match((error as Error).message, /Unauthorized|401/)
  }

  // The 1 s client recovers by itself: renewals succeed again within a deadline.
  const renewed = await until('a renewal with the new token', async () => {
    try {
      return await renew(fresh, new Date())
    } catch {
      return undefined
    }
  }, 15_000)
  assert.is(renewed.holderIdentity, '1:2:Leader')
  assert.ok(server.writes(NS, LEASE).length > before, 'the renewal was written')
  // The next renewals keep working on the new token.
  await renew(fresh, new Date())
})

test.run()
