/** Fills etcd with incompressible values for bench/upload.ts (as bench/snapshot-restore.ts does). */
import { randomBytes } from 'node:crypto'
import { testClient } from '../test/harness/data.ts'

/** Puts ~`mebibytes` MiB of random 8 KiB values under `/bench/`, 64 puts in flight. */
export async function fillEtcd(endpoint: string, mebibytes: number): Promise<void> {
  const client = testClient(endpoint)
  try {
    const valueBytes = 8 * 1024
    const count = Math.ceil((mebibytes * 1048576) / valueBytes)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++
        await client.put(`/bench/${String(i).padStart(8, '0')}`).value(randomBytes(valueBytes))
      }
    }
    await Promise.all(Array.from({ length: 64 }, worker))
  } finally {
    client.close()
  }
}
