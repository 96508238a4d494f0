import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { fetchBuffer } from '../../../src/lib/serve/http/forward.ts'
import { makeTlsMaterial } from '../../harness/tls.ts'
import { routeRig } from './helpers.ts'

const test = suite('serve HTTP server (TLS, profiling, run/stop)')

test('--server-cert/--server-key: HTTPS on the bound port; run() returns after abort and the port is closed', async () => {
  const tlsDir = await mkdtemp(join(tmpdir(), 'steward-serve-tls-'))
  const tls = await makeTlsMaterial(tlsDir)
  const rig = await routeRig({ store: 'none', flags: { 'server-cert': tls.certFile, 'server-key': tls.keyFile } })
  const controller = new AbortController()
  let port = 0
  const running = rig.runtime.run(controller.signal, (p) => (port = p))
  try {
    await new Promise<void>((resolve) => {
      const check = () => (port ? resolve() : setImmediate(check))
      check()
    })
    const ca = await readFile(tls.caFile)
    const res = await fetchBuffer(`https://127.0.0.1:${port}/initialization/status`, { method: 'GET', timeoutMs: 10_000, ca })
    assert.is(res.status, 200)
    assert.is(res.body.toString(), 'New')
    const headers = await rig.runtime.ctx.app.request('/healthz')
    assert.is(headers.headers.get('strict-transport-security'), 'max-age=31536000')
    assert.is(headers.headers.get('content-security-policy'), "default-src 'self'")
  } finally {
    controller.abort()
    await running
    await rig.close()
    await rm(tlsDir, { recursive: true, force: true })
  }
  let refused = false
  await fetchBuffer(`https://127.0.0.1:${port}/healthz`, { method: 'GET', timeoutMs: 5000 }).catch(() => (refused = true))
  assert.ok(refused, 'the server is closed after run() returned')
})

test('only one of --server-cert/--server-key is a CONFIG_INVALID naming both', async () => {
  const rig = await routeRig({ store: 'none', flags: { 'server-cert': '/nonexistent.crt' } })
  try {
    await rig.runtime.run(new AbortController().signal)
    assert.unreachable('should fail')
  } catch (error) {
    assert.match((error as Error).message, '--server-cert and --server-key')
  } finally {
    await rig.close()
  }
})

test('--enable-profiling: /debug/pprof/heap answers a V8 heap snapshot', async () => {
  const rig = await routeRig({ store: 'none', flags: { 'enable-profiling': true } })
  try {
    const res = await rig.request('/debug/pprof/heap')
    assert.is(res.status, 200)
    const body = await res.text()
    assert.ok(body.startsWith('{"snapshot":'), body.slice(0, 40))
  } finally {
    await rig.close()
  }
})

test.run()
