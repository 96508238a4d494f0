/**
 * The HTTP/2 gRPC transport against small in-process HTTP/2 servers that answer the way a gRPC
 * server (or a proxy in front of one) can: messages split at every byte boundary, trailers-only
 * errors, non-gRPC HTTP statuses, missing status, a server that never answers (deadline),
 * an aborted call, and a refused connection.
 */
import { spawn } from 'node:child_process'
import http2 from 'node:http2'
import type { AddressInfo } from 'node:net'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import protobuf from 'protobufjs/minimal.js'
import { GrpcBytesFieldReader, GrpcMessageReader } from '../../../../src/lib/etcd/wire/framing.ts'
import { GrpcStatusError } from '../../../../src/lib/etcd/wire/status.ts'
import { WireChannel } from '../../../../src/lib/etcd/wire/transport.ts'

function frame(message: Buffer, flags = 0): Buffer {
  const header = Buffer.alloc(5)
  header.writeUInt8(flags, 0)
  header.writeUInt32BE(message.length, 1)
  return Buffer.concat([header, message])
}

async function server(handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void): Promise<{ url: string; close(): Promise<void> }> {
  const srv = http2.createServer()
  srv.on('stream', (stream, headers) => {
    const parts: Buffer[] = []
    stream.on('data', (d: Buffer) => parts.push(d))
    stream.on('end', () => handler(stream, headers, Buffer.concat(parts)))
  })
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => srv.close(() => resolve())) }
}

function channel(url: string): WireChannel {
  return new WireChannel({ endpoint: url, flowControlWindowBytes: 1 << 20, maxMessageBytes: 1 << 20 })
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a rejection')
}

async function collect(iterable: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = []
  for await (const m of iterable) out.push(Buffer.from(m))
  return out
}

test('message reader: every split of a body yields the same messages', () => {
  const messages = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(300, 1), Buffer.from('tail')]
  const body = Buffer.concat(messages.map((m) => frame(m)))
  for (let cut1 = 0; cut1 <= body.length; cut1 += 7) {
    for (let cut2 = cut1; cut2 <= body.length; cut2 += 13) {
      const reader = new GrpcMessageReader(1 << 20)
      const out = [body.subarray(0, cut1), body.subarray(cut1, cut2), body.subarray(cut2)].flatMap((c) => reader.push(c))
      reader.end()
      assert.equal(out.map((b) => Buffer.from(b)), messages, `cuts ${cut1}/${cut2}`)
    }
  }
  const bytewise = new GrpcMessageReader(1 << 20)
  const out = [...body].flatMap((b) => bytewise.push(Buffer.from([b])))
  assert.equal(out.map((b) => Buffer.from(b)), messages)
})

test('message reader: compressed, oversized and truncated messages are errors', () => {
  assert.throws(() => new GrpcMessageReader(100).push(frame(Buffer.from('x'), 1)), /compressed/)
  assert.throws(() => new GrpcMessageReader(100).push(frame(Buffer.alloc(101))), /101-byte message/)
  const reader = new GrpcMessageReader(100)
  reader.push(frame(Buffer.alloc(50)).subarray(0, 20))
  assert.throws(() => reader.end(), /inside a message/)
})

/** A SnapshotResponse-like message: header (1), remaining_bytes (2), blob (3), version (4), and unknown fixed64/fixed32 fields. */
function snapshotMessage(blob: Buffer | undefined, remaining: number): Buffer {
  const w = protobuf.Writer.create()
  w.uint32((1 << 3) | 2).fork().uint32((3 << 3) | 0).int64(987654321).ldelim()
  w.uint32((2 << 3) | 0).int64(remaining)
  w.uint32((9 << 3) | 1).fixed64(7)
  if (blob) w.uint32((3 << 3) | 2).bytes(blob)
  w.uint32((10 << 3) | 5).fixed32(5)
  w.uint32((4 << 3) | 2).string('3.5.0')
  return Buffer.from(w.finish())
}

test('bytes-field reader: every split of a body yields the field bytes, as views, other fields skipped', () => {
  const blobs = [Buffer.alloc(200, 7), undefined, Buffer.alloc(0), Buffer.from('bbolt tail'), Buffer.alloc(300, 9)]
  const body = Buffer.concat([...blobs.map((b, i) => frame(snapshotMessage(b, 1000 * i))), frame(Buffer.alloc(0))])
  const expected = Buffer.concat(blobs.filter((b) => b !== undefined))
  for (let cut1 = 0; cut1 <= body.length; cut1 += 5) {
    for (let cut2 = cut1; cut2 <= body.length; cut2 += 11) {
      const reader = new GrpcBytesFieldReader(3, 1 << 20)
      const out: Buffer[] = []
      for (const chunk of [body.subarray(0, cut1), body.subarray(cut1, cut2), body.subarray(cut2)]) reader.push(chunk, out)
      reader.end()
      assert.equal(Buffer.concat(out), expected, `cuts ${cut1}/${cut2}`)
      for (const piece of out) assert.is(piece.buffer, body.buffer, 'a view, not a copy')
    }
  }
  const bytewise = new GrpcBytesFieldReader(3, 1 << 20)
  const out: Buffer[] = []
  for (const b of body) bytewise.push(Buffer.from([b]), out)
  bytewise.end()
  assert.equal(Buffer.concat(out), expected)
})

test('bytes-field reader: compressed, oversized, malformed and truncated messages are errors', () => {
  const push = (max: number, body: Buffer) => new GrpcBytesFieldReader(3, max).push(body, [])
  assert.throws(() => push(100, frame(Buffer.from('x'), 1)), /compressed/)
  assert.throws(() => push(100, frame(Buffer.alloc(101))), /101-byte message/)
  // blob claims 10 bytes in a 4-byte message
  assert.throws(() => push(100, frame(Buffer.from([(3 << 3) | 2, 10, 1, 2]))), /malformed.*past its message/)
  // a varint whose continuation bit runs out of the message
  assert.throws(() => push(100, frame(Buffer.from([(2 << 3) | 0, 0x80]))), /malformed/)
  // wire type 3 (group) is not used by etcd's messages
  assert.throws(() => push(100, frame(Buffer.from([(5 << 3) | 3, 0]))), /wire type 3/)
  const reader = new GrpcBytesFieldReader(3, 100)
  reader.push(frame(snapshotMessage(Buffer.alloc(50), 1)).subarray(0, 30), [])
  assert.throws(() => reader.end(), /inside a message/)
})

test('unary and streaming calls: request framing, headers, messages, OK trailers', async () => {
  let seen: { headers: http2.IncomingHttpHeaders; body: Buffer } | undefined
  const s = await server((stream, headers, body) => {
    seen = { headers, body }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    // Two messages in one write, the second split over two writes.
    const all = Buffer.concat([frame(Buffer.from('one')), frame(Buffer.alloc(40_000, 2))])
    stream.write(all.subarray(0, 20_000))
    stream.end(all.subarray(20_000))
  })
  const c = channel(s.url)
  try {
    const messages = await collect(c.serverStream('/svc/Method', Buffer.from('req'), { metadata: { token: 't0k' }, timeoutMs: 5000 }))
    assert.equal(messages, [Buffer.from('one'), Buffer.alloc(40_000, 2)])
    assert.is(seen?.headers[':path'], '/svc/Method')
    assert.is(seen?.headers['content-type'], 'application/grpc')
    assert.is(seen?.headers.te, 'trailers')
    assert.is(seen?.headers.token, 't0k')
    assert.match(String(seen?.headers['grpc-timeout']), /^\d+m$/)
    assert.equal(seen?.body, frame(Buffer.from('req')))
    const error = await failure(c.unary('/svc/Method', Buffer.alloc(0)))
    assert.match(error.message, /more than one message/)
  } finally {
    c.close()
    await s.close()
  }
})

test('status errors: trailers, trailers-only, HTTP status, missing status', async () => {
  const s = await server((stream, headers) => {
    const path = headers[':path']
    if (path === '/trailers') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '7', 'grpc-message': encodeURIComponent('etcdserver: permission denied') }))
      stream.end()
    } else if (path === '/trailers-only') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '3', 'grpc-message': 'etcdserver: authentication failed, invalid user ID or password' }, { endStream: true })
    } else if (path === '/http') {
      stream.respond({ ':status': 503 }, { endStream: true })
    } else {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' })
      stream.end(frame(Buffer.from('x')))
    }
  })
  const c = channel(s.url)
  try {
    const denied = (await failure(c.unary('/trailers', Buffer.alloc(0)))) as GrpcStatusError
    assert.instance(denied, GrpcStatusError)
    assert.is(denied.code, 7)
    assert.is(denied.message, '7 PERMISSION_DENIED: etcdserver: permission denied')
    const auth = (await failure(c.unary('/trailers-only', Buffer.alloc(0)))) as GrpcStatusError
    assert.is(auth.code, 3)
    assert.match(auth.message, /authentication failed/)
    const http = (await failure(c.unary('/http', Buffer.alloc(0)))) as GrpcStatusError
    assert.is(http.code, 14)
    assert.match(http.message, /UNAVAILABLE.*HTTP status 503/)
    const missing = (await failure(c.unary('/none', Buffer.alloc(0)))) as GrpcStatusError
    assert.is(missing.code, 13)
    assert.match(missing.message, /without a grpc-status/)
  } finally {
    c.close()
    await s.close()
  }
})

test('deadline and abort cancel a call the server never answers', async () => {
  let cancelled = 0
  const s = await server((stream) => {
    stream.on('close', () => cancelled++)
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' })
    stream.write(frame(Buffer.from('first')))
  })
  const c = channel(s.url)
  try {
    const late = (await failure(c.unary('/slow', Buffer.alloc(0), { timeoutMs: 200 }))) as GrpcStatusError
    assert.is(late.code, 4)
    assert.match(late.message, /DEADLINE_EXCEEDED/)
    const controller = new AbortController()
    const reason = new Error('stop now')
    const seen: Buffer[] = []
    const error = await failure((async () => {
      for await (const m of c.serverStream('/slow', Buffer.alloc(0), { signal: controller.signal })) {
        seen.push(m)
        controller.abort(reason)
      }
    })())
    assert.is(error, reason)
    assert.equal(seen.map((b) => b.toString()), ['first'])
  } finally {
    c.close()
    await s.close()
  }
  assert.is(cancelled, 2, 'both server streams were closed')
})

test('a refused connection fails the call with the socket error', async () => {
  const s = await server((stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
    stream.end(frame(Buffer.from('ok')))
  })
  const url = s.url
  await s.close()
  const c = channel(url)
  try {
    const refused = await failure(c.unary('/x', Buffer.alloc(0), { timeoutMs: 5000 }))
    assert.match(refused.message, /ECONNREFUSED/)
  } finally {
    c.close()
  }
})


test('streaming as a Readable: mapped messages, status at the end, deadline, mapped errors, destroy cancels', async () => {
  let closedByClient = 0
  const s = await server((stream, headers) => {
    stream.on('close', () => closedByClient++)
    const path = headers[':path']
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
    if (path === '/ok') {
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      const body = Buffer.concat([frame(Buffer.from('ab')), frame(Buffer.from('')), frame(Buffer.alloc(50_000, 3))])
      stream.write(body.subarray(0, 9))
      stream.end(body.subarray(9))
    } else if (path === '/fail') {
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '14', 'grpc-message': 'leader changed' }))
      stream.end(frame(Buffer.from('x')))
    } else {
      stream.write(frame(Buffer.from('first')))
    }
  })
  const c = channel(s.url)
  const read = async (r: NodeJS.ReadableStream) => {
    const out: Buffer[] = []
    for await (const chunk of r) out.push(chunk as Buffer)
    return Buffer.concat(out)
  }
  try {
    const upper = (m: Buffer) => Buffer.from(m.toString('latin1').toUpperCase(), 'latin1')
    assert.equal(await read(c.serverStreamReadable('/ok', Buffer.alloc(0), upper)), Buffer.concat([Buffer.from('AB'), Buffer.alloc(50_000, 3)]))
    const mapped = await failure(read(c.serverStreamReadable('/fail', Buffer.alloc(0), (m) => m, { mapError: (e) => new Error(`mapped: ${(e as Error).message}`) })))
    assert.is(mapped.message, 'mapped: 14 UNAVAILABLE: leader changed')
    const late = (await failure(read(c.serverStreamReadable('/hang', Buffer.alloc(0), (m) => m, { timeoutMs: 200 })))) as GrpcStatusError
    assert.is(late.code, 4)
    const stream = c.serverStreamReadable('/hang', Buffer.alloc(0), (m) => m)
    const [first] = (await (async () => {
      for await (const chunk of stream) return [chunk as Buffer]
      return []
    })()) as Buffer[]
    assert.equal(first, Buffer.from('first'))
  } finally {
    c.close()
    await s.close()
  }
  assert.is(closedByClient, 4, 'every server stream was closed')
})

test('a call in flight keeps the process alive though the idle connection does not', async () => {
  const s = await server((stream) => {
    // Answer late: only the call itself can keep the client process waiting for it.
    const timer = setTimeout(() => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      stream.end(frame(Buffer.from('late answer')))
    }, 300)
    stream.on('close', () => clearTimeout(timer))
  })
  try {
    const transport = new URL('../../../../src/lib/etcd/wire/transport.ts', import.meta.url).href
    const script = `const { WireChannel } = await import(${JSON.stringify(transport)});
const c = new WireChannel({ endpoint: ${JSON.stringify(s.url)}, flowControlWindowBytes: 65536, maxMessageBytes: 65536 });
const answer = await c.unary('/svc/Late', new Uint8Array(0));
console.log(answer.toString());`
    const { stdout, code } = await new Promise<{ stdout: string; code: number | null }>((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      child.on('close', (c) => resolve({ stdout: out, code: c }))
    })
    assert.is(code, 0)
    assert.is(stdout.trim(), 'late answer')
  } finally {
    await s.close()
  }
})

test.run()
