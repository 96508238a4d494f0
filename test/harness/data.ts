/**
 * Sample data for integration tests and the demo: writes a deterministic mix of puts,
 * overwrites, deletes, binary keys and empty values, and dumps a cluster's full state.
 */
import { createHash } from 'node:crypto'
import { Etcd3 } from 'etcd3'
import { noop } from 'cockatiel'

/** A cluster's complete key space at one revision; keys/values base64, in etcd's key order. */
export interface EtcdDump {
  revision: number
  kvs: { key: string; value: string }[]
}

/** A client with no retries and a 30 s deadline, as steward builds them. */
export function testClient(endpoint: string): Etcd3 {
  return new Etcd3({
    hosts: endpoint,
    faultHandling: { host: () => noop, global: noop },
    grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 30_000 }),
  })
}

/**
 * Writes `keys` keys (each about `valueBytes` bytes), overwrites every 10th, deletes every
 * 7th, adds binary and empty-valued keys. Returns etcd's revision afterwards.
 */
export async function writeSampleData(endpoint: string, options: { keys?: number; valueBytes?: number; prefix?: string } = {}): Promise<number> {
  const { keys = 500, valueBytes = 64, prefix = '/registry/sample/' } = options
  const client = testClient(endpoint)
  try {
    const filler = 'x'.repeat(Math.max(0, valueBytes - 16))
    const batch = 64
    for (let start = 0; start < keys; start += batch) {
      const ops = []
      for (let i = start; i < Math.min(keys, start + batch); i++) ops.push(client.put(`${prefix}${String(i).padStart(6, '0')}`).value(`v1-${i}-${filler}`).exec())
      await Promise.all(ops)
    }
    for (let i = 0; i < keys; i += 10) await client.put(`${prefix}${String(i).padStart(6, '0')}`).value(`v2-${i}`)
    for (let i = 3; i < keys; i += 7) await client.delete().key(`${prefix}${String(i).padStart(6, '0')}`)
    await client.put(Buffer.from([0x00, 0xff, 0xfe, 0x80])).value(Buffer.from([0xc3, 0x28, 0x00, 0xff]))
    await client.put(`${prefix}empty`).value('')
    const response = await client.kv.range({ key: Buffer.from([0]), limit: 1, keys_only: true })
    return Number(response.header.revision)
  } finally {
    client.close()
  }
}

/** Every key and value plus the revision, read in one range at one revision. */
export async function dumpEtcd(endpoint: string): Promise<EtcdDump> {
  const client = testClient(endpoint)
  try {
    const response = await client.kv.range({ key: Buffer.from([0]), range_end: Buffer.from([0]) })
    return {
      revision: Number(response.header.revision),
      kvs: response.kvs.map((kv) => ({ key: Buffer.from(kv.key).toString('base64'), value: Buffer.from(kv.value).toString('base64') })),
    }
  } finally {
    client.close()
  }
}

/** SHA-256 over a dump's key-values (hex), for a one-line comparison. */
export function dumpHash(dump: EtcdDump): string {
  const hash = createHash('sha256')
  for (const kv of dump.kvs) hash.update(`${kv.key}=${kv.value}\n`)
  return hash.digest('hex')
}
