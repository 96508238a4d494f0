/**
 * Everything on every store: full snapshot (several parts), delta snapshot, list and restore through the
 * built CLI against real etcd, for the Local driver and each cloud driver behind its test
 * server (s3rver for S3, Azurite for ABS, the GCS JSON-API test server for GCS). Credentials
 * reach steward the way etcd-backup-restore reads them (`*_APPLICATION_CREDENTIALS_JSON`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { startAzurite } from '../harness/azurite.ts'
import { runSteward } from '../harness/cli.ts'
import { dumpEtcd, dumpHash, writeSampleData } from '../harness/data.ts'
import { startEtcdCluster, withEtcdCluster, type EtcdCluster } from '../harness/etcd.ts'
import { startGcsServer } from '../harness/gcs-server.ts'
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver } from '../harness/s3rver.ts'

/** How the CLI reaches one store: its flags, its environment, and how to stop its server. */
interface StoreUnderTest {
  flags: string[]
  env: NodeJS.ProcessEnv
  close(): Promise<void>
}

const STORES: Record<string, (work: string) => Promise<StoreUnderTest>> = {
  async Local(work) {
    return { flags: ['--store', `file://${join(work, 'local-store')}`, '--store-prefix', 'etcd-main'], env: {}, close: async () => undefined }
  },
  async S3(work) {
    const server = await startS3rver()
    const credentials = join(work, 's3.json')
    await writeFile(credentials, JSON.stringify({ accessKeyID: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey, region: S3RVER_REGION, s3ForcePathStyle: true }))
    return {
      flags: ['--storage-provider', 'S3', '--store-container', server.bucket, '--store-prefix', 'etcd-main', '--store-endpoint-override', server.endpoint],
      env: { AWS_APPLICATION_CREDENTIALS_JSON: credentials },
      close: () => server.close(),
    }
  },
  async ABS(work) {
    const server = await startAzurite()
    await server.createContainer('backups')
    const credentials = join(work, 'abs.json')
    await writeFile(credentials, JSON.stringify({ storageAccount: server.account, storageKey: server.accountKey }))
    return {
      flags: ['--store', 'azblob://backups/etcd-main', '--store-endpoint-override', server.endpoint],
      env: { AZURE_APPLICATION_CREDENTIALS_JSON: credentials },
      close: () => server.close(),
    }
  },
  async GCS() {
    const server = await startGcsServer()
    server.createBucket('backups')
    return { flags: ['--store', 'gs://backups/etcd-main', '--store-endpoint-override', server.endpoint], env: {}, close: () => server.close() }
  },
}

interface Context {
  cluster: EtcdCluster
  work: string
}

const test = suite<Context>('every command on every store (CLI, real etcd, real storage servers)', {} as Context)

test.before(async (ctx) => {
  ctx.cluster = await startEtcdCluster({ members: 1 })
  ctx.work = await mkdtemp(join(tmpdir(), 'steward-stores-'))
})

test.after(async (ctx) => {
  await ctx.cluster?.stop()
  if (ctx.work) await rm(ctx.work, { recursive: true, force: true })
})

for (const [driver, open] of Object.entries(STORES)) {
  test(`${driver}: full + delta snapshot, list, restore`, async ({ cluster, work }) => {
    const endpoint = cluster.endpoints[0]!
    const store = await open(work)
    try {
      const cli = (...args: string[]) => runSteward([...args, ...store.flags, '--json'], { env: store.env })
      // About 10 MiB, stored uncompressed: the full snapshot goes up in several 5 MiB parts
      // (S3 multipart upload, ABS staged blocks, GCS resumable chunks).
      await writeSampleData(endpoint, { keys: 300, valueBytes: 32 * 1024, prefix: `/${driver}/a/` })
      const full = await cli('snapshot', '-e', endpoint, '--compression', 'none')
      assert.is(full.code, 0, full.stderr + full.stdout)
      assert.match((full.json as { key: string }).key, /^etcd-main\/v2\/Full-00000000-\d{8}-\d+$/)
      assert.ok((full.json as { storedSizeBytes: number }).storedSizeBytes > 2 * 5 * 1024 * 1024, 'more than two parts')

      await writeSampleData(endpoint, { keys: 200, prefix: `/${driver}/b/` })
      const delta = await cli('snapshot', '-e', endpoint, '--kind', 'delta')
      assert.is(delta.code, 0, delta.stderr + delta.stdout)
      const source = await dumpEtcd(endpoint)

      const listing = await cli('snapshot', 'list')
      assert.is(listing.code, 0, listing.stderr)
      const set = (listing.json as { restoreSet: { full: string; deltas: string[]; reachesRevision: number } }).restoreSet
      assert.is(set.deltas.length, 1)
      assert.is(set.reachesRevision, source.revision)

      const dataDir = join(work, `restored-${driver}`)
      const restore = await cli('restore', '--data-dir', dataDir)
      assert.is(restore.code, 0, restore.stderr + restore.stdout)
      const restored = await withEtcdCluster({ members: 1, dataDirs: [dataDir], name: 'default' }, (copy) => dumpEtcd(copy.endpoints[0]!))
      assert.is(restored.revision, source.revision)
      assert.is(dumpHash(restored), dumpHash(source))
    } finally {
      await store.close()
    }
  })
}

test.run()
