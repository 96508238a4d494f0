/**
 * A large etcd database built once and reused by benchmarks: an etcd data dir outside the repo
 * (default /tmp/bench-data/etcd-<size>m), filled on first use with "mixed" values that compress
 * about as real Kubernetes objects do (half random bytes, half repeated text; gzip -6 keeps
 * roughly 55 %). A marker file records that the fill finished, so an interrupted fill starts over.
 *
 *   node bench/big-db.ts [--size-mib 1100] [--dir /tmp/bench-data]   # build only
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { testClient } from '../test/harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../test/harness/etcd.ts'

/** Bytes of each value. */
const VALUE_BYTES = 4096

/** One value: half random, half text (so compression has work to do, as with real objects). */
function mixedValue(i: number): Buffer {
  const text = Buffer.from(`{"kind":"ConfigMap","metadata":{"name":"bench-${i}","namespace":"default"},"data":{"k":"`.padEnd(VALUE_BYTES / 2, 'abcdefgh'))
  return Buffer.concat([text, randomBytes(VALUE_BYTES / 2)])
}

/**
 * Starts one etcd member on the reusable data dir for `sizeMiB`, filling it first when the dir
 * has no completed fill. The caller stops the cluster (the data dir is kept).
 */
export async function openBigDb(sizeMiB: number, root = '/tmp/bench-data'): Promise<EtcdCluster> {
  const dataDir = join(root, `etcd-${sizeMiB}m`)
  const marker = join(root, `etcd-${sizeMiB}m.filled`)
  const filled = existsSync(marker) && existsSync(dataDir)
  if (!filled) {
    await rm(dataDir, { recursive: true, force: true })
    await mkdir(root, { recursive: true })
  }
  const cluster = await startEtcdCluster({
    dataDirs: [dataDir],
    quotaBackendBytes: 8 * 1024 * 1024 * 1024,
    extraArgs: filled ? [] : ['--unsafe-no-fsync'],
    startTimeoutSeconds: 120,
  })
  if (filled) return cluster
  try {
    console.log(`filling ${dataDir} with ~${sizeMiB} MiB of mixed values…`)
    const client = testClient(cluster.endpoints[0]!)
    try {
      const count = Math.ceil((sizeMiB * 1048576) / VALUE_BYTES)
      let next = 0
      const worker = async () => {
        while (next < count) {
          const i = next++
          await client.put(`/registry/bench/${String(i).padStart(8, '0')}`).value(mixedValue(i))
        }
      }
      await Promise.all(Array.from({ length: 64 }, worker))
    } finally {
      client.close()
    }
  } catch (error) {
    await cluster.stop({ keepDataDirs: true })
    throw error
  }
  // Restart without --unsafe-no-fsync so the benchmark runs against a normally configured member.
  await cluster.stop({ keepDataDirs: true })
  await writeFile(marker, new Date().toISOString())
  return openBigDb(sizeMiB, root)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1100' }, dir: { type: 'string', default: '/tmp/bench-data' } } })
  const cluster = await openBigDb(Number(values['size-mib']), values.dir)
  console.log(`ready: ${cluster.endpoints[0]}`)
  await cluster.stop({ keepDataDirs: true })
}
