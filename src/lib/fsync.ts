import { open } from 'node:fs/promises'

/** fsyncs one file or directory (opened read-only), so a rename or write before it is durable. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
