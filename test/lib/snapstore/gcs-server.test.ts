/**
 * The GCS test server's own behaviour (test/harness/gcs-server.ts), checked with plain HTTP
 * requests: the calls @google-cloud/storage makes for the GCS driver, their error shapes,
 * pagination tokens and the resumable-upload 308 flow.
 */
import { createHash } from 'node:crypto'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { crc32cBase64, startGcsServer, type GcsServerHandle } from '../../harness/gcs-server.ts'

const test = suite<{ server: GcsServerHandle }>('GCS test server', {} as { server: GcsServerHandle })

test.before.each(async (ctx) => {
  ctx.server = await startGcsServer()
  ctx.server.createBucket('bkt')
})
test.after.each(async (ctx) => {
  await ctx.server.close()
})

interface Reply {
  status: number
  headers: Headers
  text: string
  json: () => Record<string, unknown>
}

async function call(server: GcsServerHandle, method: string, path: string, init: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Reply> {
  const url = path.startsWith('http') ? path : `${server.endpoint}${path}`
  const res = await fetch(url, { method, headers: init.headers ?? {}, ...(init.body !== undefined ? { body: init.body } : {}), redirect: 'manual' })
  const text = await res.text()
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> }
}

async function mediaUpload(server: GcsServerHandle, name: string, body: string): Promise<Reply> {
  return call(server, 'POST', `/upload/storage/v1/b/bkt/o?uploadType=media&name=${encodeURIComponent(name)}`, { body })
}

function objectPath(name: string, bucket = 'bkt'): string {
  return `/storage/v1/b/${bucket}/o/${encodeURIComponent(name)}`
}

test('CRC32C matches the Castagnoli check value', () => {
  // CRC-32C("123456789") = 0xE3069283
  assert.is(crc32cBase64(Buffer.from('123456789')), Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString('base64'))
})

test('bucket GET answers 200 for a bucket and 404 with GCS\'s message otherwise', async ({ server }) => {
  assert.is((await call(server, 'GET', '/storage/v1/b/bkt')).json()['name'], 'bkt')
  const missing = await call(server, 'GET', '/storage/v1/b/nope')
  assert.is(missing.status, 404)
  assert.equal(missing.json(), { error: { code: 404, message: 'The specified bucket does not exist.', errors: [{ message: 'The specified bucket does not exist.', domain: 'global', reason: 'notFound' }] } })
})

test('media upload, metadata, download with hashes, ranged download', async ({ server }) => {
  const up = await mediaUpload(server, 'a/b c', 'hello world')
  assert.is(up.status, 200)
  assert.is(up.json()['size'], '11')
  assert.is(up.json()['md5Hash'], createHash('md5').update('hello world').digest('base64'))
  const meta = await call(server, 'GET', objectPath('a/b c'))
  assert.is(meta.json()['name'], 'a/b c')
  assert.is(meta.json()['crc32c'], crc32cBase64(Buffer.from('hello world')))
  const media = await call(server, 'GET', `${objectPath('a/b c')}?alt=media`)
  assert.is(media.text, 'hello world')
  assert.is(media.headers.get('x-goog-hash'), `crc32c=${crc32cBase64(Buffer.from('hello world'))},md5=${createHash('md5').update('hello world').digest('base64')}`)
  assert.is(media.headers.get('x-goog-stored-content-encoding'), 'identity')
  const ranged = await call(server, 'GET', `${objectPath('a/b c')}?alt=media`, { headers: { range: 'bytes=6-' } })
  assert.is(ranged.status, 206)
  assert.is(ranged.text, 'world')
  assert.is(ranged.headers.get('content-range'), 'bytes 6-10/11')
  const viaDownload = await call(server, 'GET', `/download${objectPath('a/b c')}?alt=media`)
  assert.is(viaDownload.text, 'hello world')
})

test('a missing object is 404 "No such object"; a pinned generation must match', async ({ server }) => {
  const missing = await call(server, 'GET', objectPath('nope'))
  assert.is(missing.status, 404)
  assert.match(missing.text, /No such object: bkt\/nope/)
  const generation = (await mediaUpload(server, 'g', 'one')).json()['generation'] as string
  assert.is((await call(server, 'GET', `${objectPath('g')}?alt=media&generation=${generation}`)).text, 'one')
  await mediaUpload(server, 'g', 'two')
  assert.is((await call(server, 'GET', `${objectPath('g')}?alt=media&generation=${generation}`)).status, 404)
})

test('multipart upload takes the name from the metadata part', async ({ server }) => {
  const boundary = 'xyz'
  const body = `--${boundary}\r\nContent-Type: application/json\r\n\r\n{"name":"m/obj","contentType":"application/octet-stream"}\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\n\r\nbinary\r\n--${boundary}--`
  const up = await call(server, 'POST', '/upload/storage/v1/b/bkt/o?uploadType=multipart', { body, headers: { 'content-type': `multipart/related; boundary=${boundary}` } })
  assert.is(up.status, 200)
  assert.is((await call(server, 'GET', `${objectPath('m/obj')}?alt=media`)).text, 'binary')
})

test('delete answers 204, then 404', async ({ server }) => {
  await mediaUpload(server, 'd', 'x')
  assert.is((await call(server, 'DELETE', objectPath('d'))).status, 204)
  assert.is((await call(server, 'DELETE', objectPath('d'))).status, 404)
  assert.equal(server.objectNames('bkt'), [])
})

test('list pages in name order with opaque tokens, filters by prefix, rejects bad tokens', async ({ server }) => {
  for (const name of ['p/3', 'p/1', 'q/1', 'p/2', 'p/5', 'p/4']) await mediaUpload(server, name, name)
  const seen: string[] = []
  const tokens: string[] = []
  let token: string | undefined
  do {
    const page = (await call(server, 'GET', `/storage/v1/b/bkt/o?prefix=p%2F&maxResults=2${token ? `&pageToken=${token}` : ''}`)).json()
    seen.push(...((page['items'] as { name: string }[] | undefined) ?? []).map((item) => item.name))
    token = page['nextPageToken'] as string | undefined
    if (token) tokens.push(token)
  } while (token)
  assert.equal(seen, ['p/1', 'p/2', 'p/3', 'p/4', 'p/5'])
  assert.is(tokens.length, 2, 'three pages, two tokens')
  const all = (await call(server, 'GET', '/storage/v1/b/bkt/o')).json()
  assert.is((all['items'] as unknown[]).length, 6)
  assert.is(all['nextPageToken'], undefined)
  assert.is((await call(server, 'GET', '/storage/v1/b/bkt/o?pageToken=garbage')).status, 400)
  const empty = (await call(server, 'GET', '/storage/v1/b/bkt/o?prefix=zzz')).json()
  assert.equal(empty, { kind: 'storage#objects' })
  const missing = await call(server, 'GET', '/storage/v1/b/nope/o')
  assert.is(missing.status, 404)
  assert.match(missing.text, /The specified bucket does not exist/)
})

test('resumable upload: session, 308 with Range, status query, nothing visible until the last chunk', async ({ server }) => {
  const start = await call(server, 'POST', '/upload/storage/v1/b/bkt/o?uploadType=resumable&name=r%2Fobj', { body: '{}', headers: { 'content-type': 'application/json' } })
  assert.is(start.status, 200)
  const session = start.headers.get('location')
  assert.ok(session && session.includes('upload_id='))
  const fresh = await call(server, 'PUT', session, { headers: { 'content-range': 'bytes */*' } })
  assert.is(fresh.status, 308)
  assert.is(fresh.headers.get('range'), null, 'nothing received yet: no Range header')
  const first = await call(server, 'PUT', session, { body: 'abcd', headers: { 'content-range': 'bytes 0-3/*' } })
  assert.is(first.status, 308)
  assert.is(first.headers.get('range'), 'bytes=0-3')
  assert.is((await call(server, 'GET', objectPath('r/obj'))).status, 404, 'not visible before the last chunk')
  assert.equal(server.objectNames('bkt'), [])
  assert.equal(server.openUploads(), [{ bucket: 'bkt', name: 'r/obj', receivedBytes: 4 }])
  const status = await call(server, 'PUT', session, { headers: { 'content-range': 'bytes */*' } })
  assert.is(status.headers.get('range'), 'bytes=0-3')
  const overlap = await call(server, 'PUT', session, { body: 'cdef', headers: { 'content-range': 'bytes 2-5/*' } })
  assert.is(overlap.headers.get('range'), 'bytes=0-5', 'the re-sent overlap is skipped')
  const gap = await call(server, 'PUT', session, { body: 'zz', headers: { 'content-range': 'bytes 9-10/*' } })
  assert.is(gap.status, 400)
  const last = await call(server, 'PUT', session, { body: 'g', headers: { 'content-range': 'bytes 6-6/7' } })
  assert.is(last.status, 200)
  assert.is(last.json()['size'], '7')
  assert.is((await call(server, 'GET', `${objectPath('r/obj')}?alt=media`)).text, 'abcdefg')
  assert.is((await call(server, 'PUT', session, { headers: { 'content-range': 'bytes */7' } })).status, 200, 'a finished session reports the object')
  assert.equal(server.openUploads(), [])
})

test('resumable upload: a cancelled session is gone and creates nothing', async ({ server }) => {
  const start = await call(server, 'POST', '/upload/storage/v1/b/bkt/o?uploadType=resumable&name=c', { body: '{}' })
  const session = start.headers.get('location')!
  await call(server, 'PUT', session, { body: 'abcd', headers: { 'content-range': 'bytes 0-3/*' } })
  assert.is((await call(server, 'DELETE', session)).status, 499)
  assert.is((await call(server, 'PUT', session, { headers: { 'content-range': 'bytes */*' } })).status, 404)
  assert.equal(server.objectNames('bkt'), [])
})

test('uploads into a missing bucket are 404 before any session exists', async ({ server }) => {
  const start = await call(server, 'POST', '/upload/storage/v1/b/nope/o?uploadType=resumable&name=x', { body: '{}' })
  assert.is(start.status, 404)
  assert.equal(server.openUploads(), [])
  assert.is((await call(server, 'POST', '/upload/storage/v1/b/nope/o?uploadType=media&name=x', { body: 'x' })).status, 404)
})

test('denyAccess answers 403 or 401 for every call on the bucket', async ({ server }) => {
  server.denyAccess('bkt')
  const denied = await call(server, 'GET', '/storage/v1/b/bkt/o')
  assert.is(denied.status, 403)
  assert.match(denied.text, /storage\.objects\.list/)
  server.denyAccess('bkt', 401)
  assert.is((await call(server, 'GET', objectPath('x'))).status, 401)
})

test('requests() and onRequest() see every call in order', async ({ server }) => {
  const seen: string[] = []
  const stop = server.onRequest((line) => seen.push(line))
  await call(server, 'GET', '/storage/v1/b/bkt')
  stop()
  await call(server, 'GET', '/storage/v1/b/bkt/o')
  assert.equal(seen, ['GET /storage/v1/b/bkt'])
  assert.equal(server.requests(), ['GET /storage/v1/b/bkt', 'GET /storage/v1/b/bkt/o'])
})

test.run()
