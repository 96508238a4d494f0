/**
 * Benchmark: `steward snapshot --compression none` of a large database into S3 (s3rver) and
 * Azure Blob Storage (azurite), side by side with a plain SDK upload of the same bytes from a
 * file (bench/upload-baseline.ts: lib-storage `Upload` / `BlockBlobClient.uploadFile`, with
 * steward's default part size and parallelism, 5 MiB × 5). Every run is its own process, timed
 * with measure(); steward and the baseline alternate which goes first in each round. After
 * every upload the stored object's size is checked (steward's: database size + 32, the
 * snapshot's SHA-256 trailer). Writes the "upload" section of docs/benchmarks.md.
 *
 *   npm run build && node bench/upload.ts [--db-mib 512] [--rounds 3] [--keep]
 *
 * --db-mib   fill etcd with about this many MiB of incompressible 8 KiB values (the database
 *            file ends up ~25% larger: bbolt's page overhead)
 * --rounds   rounds; each runs, per server, steward and the baseline once
 * --keep     keep every uploaded object on the servers until the end of the run (default:
 *            each object is deleted once checked, so each server holds at most one snapshot)
 *
 * Run `node` 24 first on PATH: steward is run as a program (bin/run.js), and its shebang
 * (`/usr/bin/env node`) picks `node` from PATH. etcd, s3rver and azurite always stop and
 * the temp directories are always removed, also when a run fails.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { rm, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob'
import { findEtcdTool } from '../src/lib/etcd/binaries.ts'
import { startAzurite, type AzuriteHandle } from '../test/harness/azurite.ts'
import { STEWARD_BIN } from '../test/harness/cli.ts'
import { testClient } from '../test/harness/data.ts'
import { startEtcdCluster, type EtcdCluster } from '../test/harness/etcd.ts'
import { trackTempDir, untrackTempDir } from '../test/harness/processes.ts'
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver, type S3rverHandle } from '../test/harness/s3rver.ts'
import { makeTempDir, removeDir } from '../test/harness/tmp.ts'
import { machine, measure, median, mib, writeSection, type Measurement } from './measure.ts'
import { fillEtcd } from './upload-fill.ts'

/** steward's S3 and ABS defaults (src/lib/snapstore/drivers/{s3,abs}.ts): part/block size and parts in flight. */
const PART_SIZE = 5 * 1024 * 1024
const PARALLEL = 5
/** etcd's snapshot stream ends with the SHA-256 of the database. */
const TRAILER_BYTES = 32
const RSS_TARGET_MIB = 200
const RATIO_TARGET = 1.2
const CONTAINER = 'steward-bench'
const BASELINE_SCRIPT = fileURLToPath(new URL('./upload-baseline.ts', import.meta.url))

const { values } = parseArgs({
  options: {
    'db-mib': { type: 'string', default: '512' },
    rounds: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
  },
})
const dbMiB = Number(values['db-mib'])
const rounds = Number(values.rounds)
const keep = values.keep
if (!Number.isInteger(dbMiB) || dbMiB < 1) usage(`--db-mib must be a positive integer, not ${JSON.stringify(values['db-mib'])}`)
if (!Number.isInteger(rounds) || rounds < 1) usage(`--rounds must be a positive integer, not ${JSON.stringify(values.rounds)}`)
checkPrerequisites()

type Server = 's3' | 'abs'
type RunName = `${Server}.steward` | `${Server}.baseline` | 'etcdctl'
const results: Record<RunName, Measurement[]> = { 's3.steward': [], 's3.baseline': [], 'abs.steward': [], 'abs.baseline': [], etcdctl: [] }

const work = await makeTempDir('steward-bench-upload-')
trackTempDir(work) // removed even on SIGINT/SIGTERM (test/harness/processes.ts)
let cluster: EtcdCluster | undefined
let s3rver: S3rverHandle | undefined
let azurite: AzuriteHandle | undefined
let s3: S3Client | undefined
let failed = false

try {
  // Sequential starts: the machine is small; parallel starts only race for CPU.
  cluster = await startEtcdCluster({ members: 1, quotaBackendBytes: 8 * 1024 * 1024 * 1024 })
  s3rver = await startS3rver()
  trackTempDir(s3rver.directory) // s3rver's harness only removes it in close()
  azurite = await startAzurite()
  await azurite.createContainer(CONTAINER)
  const endpoint = cluster.endpoints[0]!

  console.log(`filling etcd with ~${dbMiB} MiB of incompressible 8 KiB values…`)
  const fillStarted = performance.now()
  await fillEtcd(endpoint, dbMiB)
  const etcd = await etcdStatus(endpoint)
  console.log(`filled in ${((performance.now() - fillStarted) / 1000).toFixed(1)}s: database ${mib(etcd.dbSize)} MiB (${etcd.dbSize} bytes), etcd ${etcd.version}`)

  s3 = new S3Client({ endpoint: s3rver.endpoint, forcePathStyle: true, region: S3RVER_REGION, credentials: { ...S3RVER_CREDENTIALS } })
  const blobs = new ContainerClient(`${azurite.endpoint}/${CONTAINER}`, new StorageSharedKeyCredential(azurite.account, azurite.accountKey))
  const stores: Record<Server, ObjectStore> = { s3: s3Objects(s3, s3rver.bucket), abs: absObjects(blobs) }

  const s3Credentials = join(work, 's3-credentials.json')
  const absCredentials = join(work, 'abs-credentials.json')
  await writeFile(s3Credentials, JSON.stringify({ accessKeyID: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey, region: S3RVER_REGION }))
  await writeFile(absCredentials, JSON.stringify({ storageAccount: azurite.account, storageKey: azurite.accountKey }))
  const stewardEnv: Record<Server, NodeJS.ProcessEnv> = {
    s3: { ...process.env, STEWARD_LOG_LEVEL: 'warn', AWS_APPLICATION_CREDENTIALS_JSON: s3Credentials },
    abs: { ...process.env, STEWARD_LOG_LEVEL: 'warn', AZURE_APPLICATION_CREDENTIALS_JSON: absCredentials },
  }
  const baselineEnv: Record<Server, NodeJS.ProcessEnv> = {
    s3: { ...process.env, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: S3RVER_REGION },
    abs: { ...process.env, AZURE_STORAGE_ACCOUNT: azurite.account, AZURE_STORAGE_KEY: azurite.accountKey },
  }
  const storeUrl: Record<Server, (prefix: string) => string> = { s3: (p) => `s3://${s3rver!.bucket}/${p}`, abs: (p) => `azblob://${CONTAINER}/${p}` }
  const serverEndpoint: Record<Server, string> = { s3: s3rver.endpoint, abs: azurite.endpoint }
  const container: Record<Server, string> = { s3: s3rver.bucket, abs: CONTAINER }

  const snapshotFile = join(work, 'snapshot.db')
  for (let round = 1; round <= rounds; round++) {
    // The baseline's bytes: etcd's snapshot stream as etcdctl saves it (database + trailer).
    await rm(snapshotFile, { force: true })
    results.etcdctl.push(await measure(findEtcdTool('etcdctl'), ['snapshot', 'save', snapshotFile, '--endpoints', endpoint], { ...process.env, ETCDCTL_API: '3' }))
    const { dbSize } = await etcdStatus(endpoint)
    const expected = dbSize + TRAILER_BYTES
    const fileBytes = (await stat(snapshotFile)).size
    if (fileBytes !== expected) throw new Error(`round ${round}: etcdctl saved ${fileBytes} bytes, expected database ${dbSize} + ${TRAILER_BYTES}`)

    for (const server of ['s3', 'abs'] as const) {
      const store = stores[server]
      const stewardPrefix = `steward-r${round}`
      const baselineKey = `baseline-r${round}/snapshot.db`
      const steward = async (): Promise<void> => {
        const args = ['snapshot', '--endpoints', endpoint, '--store', storeUrl[server](stewardPrefix), '--store-endpoint-override', serverEndpoint[server], '--compression', 'none']
        results[`${server}.steward`].push(await measure(STEWARD_BIN, args, stewardEnv[server]))
        const objects = await store.list(`${stewardPrefix}/`)
        const full = objects.filter((o) => /\/v2\/Full-[0-9a-f]{8}-[0-9a-f]{8}-\d+$/.test(o.key))
        if (objects.length !== 1 || full.length !== 1) throw new Error(`${server} round ${round}: expected one full snapshot under ${stewardPrefix}/, found ${JSON.stringify(objects)}`)
        if (full[0]!.size !== expected) throw new Error(`${server} round ${round}: ${full[0]!.key} is ${full[0]!.size} bytes, expected database ${dbSize} + ${TRAILER_BYTES} = ${expected}`)
        if (!keep) await store.delete(full[0]!.key)
      }
      const baseline = async (): Promise<void> => {
        const args = [BASELINE_SCRIPT, server, snapshotFile, serverEndpoint[server], container[server], baselineKey, String(PART_SIZE), String(PARALLEL)]
        results[`${server}.baseline`].push(await measure(process.execPath, args, baselineEnv[server]))
        const objects = await store.list(baselineKey)
        if (objects.length !== 1 || objects[0]!.size !== fileBytes) throw new Error(`${server} round ${round}: baseline object ${baselineKey} should be ${fileBytes} bytes, found ${JSON.stringify(objects)}`)
        if (!keep) await store.delete(baselineKey)
      }
      // Alternate which goes first, so neither always meets a cold (or warm) server.
      for (const run of round % 2 ? [baseline, steward] : [steward, baseline]) await run()
    }
    const last = (name: RunName): string => results[name].at(-1)!.wallSeconds.toFixed(2)
    console.log(`round ${round}/${rounds}: s3 steward ${last('s3.steward')}s / baseline ${last('s3.baseline')}s; abs steward ${last('abs.steward')}s / baseline ${last('abs.baseline')}s`)
  }

  const objectBytes = etcd.dbSize + TRAILER_BYTES
  const body = report({ dbSize: etcd.dbSize, objectBytes, etcdVersion: etcd.version })
  await writeSection('upload', body)
  console.log(body)
} catch (error) {
  failed = true
  throw error
} finally {
  s3?.destroy()
  const stops = await Promise.allSettled([cluster?.stop(), s3rver?.close(), azurite?.close()])
  if (s3rver) untrackTempDir(s3rver.directory)
  await removeDir(work)
  untrackTempDir(work)
  for (const stop of stops) if (stop.status === 'rejected') console.error('teardown failed:', stop.reason)
  if (failed) console.error('benchmark failed; docs/benchmarks.md was not changed')
}

// --- report ---

function report(data: { dbSize: number; objectBytes: number; etcdVersion: string }): string {
  const wall = (name: RunName): number => median(results[name].map((m) => m.wallSeconds))
  const rss = (name: RunName): number => Math.max(...results[name].map((m) => m.peakRssBytes))
  const row = (server: string, label: string, name: RunName, baseline?: RunName): string => {
    const all = results[name].map((m) => m.wallSeconds.toFixed(2)).join(', ')
    const ratio = baseline ? (wall(name) / wall(baseline)).toFixed(2) : ''
    return `| ${server} | ${label} | ${wall(name).toFixed(2)} | ${all} | ${ratio} | ${(data.objectBytes / 1048576 / wall(name)).toFixed(0)} | ${mib(rss(name))} |`
  }
  const verdict = (server: Server): string => {
    const ratio = wall(`${server}.steward`) / wall(`${server}.baseline`)
    const peak = rss(`${server}.steward`) / 1048576
    return `ratio ${ratio.toFixed(2)} ${ratio <= RATIO_TARGET ? 'meets' : 'misses'} ≤ ${RATIO_TARGET}; peak RSS ${peak.toFixed(1)} MiB ${peak <= RSS_TARGET_MIB ? 'meets' : 'misses'} ≤ ${RSS_TARGET_MIB} MiB`
  }
  const command = `npm run build && node bench/upload.ts --db-mib ${dbMiB} --rounds ${rounds}${keep ? ' --keep' : ''}`
  const parts = `${PART_SIZE / 1048576} MiB parts × ${PARALLEL} in flight`
  return `## Upload to S3 and Azure Blob (\`bench/upload.ts\`)

- Command: \`${command}\`
- Data: one etcd ${data.etcdVersion} member filled with ~${dbMiB} MiB of 8 KiB random values (quota 8 GiB): database ${mib(data.dbSize)} MiB (${data.dbSize} bytes); each upload stores ${data.objectBytes} bytes (database + ${TRAILER_BYTES}-byte SHA-256 trailer), checked after every run.
- Servers: s3rver ${packageVersion('s3rver')} (via \`test/harness/s3rver.ts\`) and azurite ${packageVersion('azurite')} (blob service, via \`test/harness/azurite.ts\`) on 127.0.0.1. Both write to the local disk of this machine and share its CPUs with the client, so the figures measure client overhead against a fast local server, not a real network.
- Clients: @aws-sdk/lib-storage ${packageVersion('@aws-sdk/lib-storage')}, @azure/storage-blob ${packageVersion('@azure/storage-blob')}; ${parts} (steward's defaults) on both sides.
- Machine: ${machine()}
- Date: ${new Date().toISOString()}
- Method: every run is its own process, so wall time includes process start and SDK loading. steward is run as a program (\`bin/run.js\`, with its shebang flags) with \`snapshot --compression none --store s3://… | azblob://… --store-endpoint-override …\`; it streams the snapshot from etcd (checking the trailer) straight into the store. The baseline (\`node bench/upload-baseline.ts\`, Node's default flags) uploads the same bytes from a file \`etcdctl snapshot save\` wrote just before (in the page cache): S3 \`Upload\` of \`fs.createReadStream\`, Azure \`BlockBlobClient.uploadFile\` (\`maxSingleShotSize\` = block size). steward and baseline alternate which goes first in each round. Wall time is the median of ${rounds} round(s); peak RSS is the maximum over rounds of each process's own high-water mark (VmHWM).

| server | run | median wall (s) | rounds (s) | ratio steward / baseline | MiB/s | peak RSS (MiB) |
|---|---|---|---|---|---|---|
${row('s3rver', `plain SDK: lib-storage Upload (${parts})`, 's3.baseline')}
${row('s3rver', 'steward snapshot --compression none', 's3.steward', 's3.baseline')}
${row('azurite', `plain SDK: BlockBlobClient.uploadFile (${parts})`, 'abs.baseline')}
${row('azurite', 'steward snapshot --compression none', 'abs.steward', 'abs.baseline')}
${row('—', 'reference: etcdctl snapshot save to a local file (no upload)', 'etcdctl')}

Targets: steward / baseline ≤ ${RATIO_TARGET} and steward's peak RSS ≤ ${RSS_TARGET_MIB} MiB.
S3: ${verdict('s3')}. Azure: ${verdict('abs')}.
steward's time includes reading the snapshot out of etcd, which the baseline does not do; the etcdctl row shows roughly what that costs alone.`
}

function packageVersion(name: string): string {
  try {
    return (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version
  } catch {
    return '(version unknown)'
  }
}

// --- helpers ---

interface ObjectStore {
  list(prefix: string): Promise<{ key: string; size: number }[]>
  delete(key: string): Promise<void>
}

function s3Objects(client: S3Client, bucket: string): ObjectStore {
  return {
    async list(prefix) {
      const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
      return (out.Contents ?? []).map((o) => ({ key: o.Key ?? '', size: o.Size ?? -1 }))
    },
    async delete(key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
    },
  }
}

function absObjects(client: ContainerClient): ObjectStore {
  return {
    async list(prefix) {
      const found: { key: string; size: number }[] = []
      for await (const blob of client.listBlobsFlat({ prefix })) found.push({ key: blob.name, size: blob.properties.contentLength ?? -1 })
      return found
    },
    async delete(key) {
      await client.deleteBlob(key)
    },
  }
}

async function etcdStatus(endpoint: string): Promise<{ dbSize: number; version: string }> {
  const client = testClient(endpoint)
  try {
    const status = await client.maintenance.status()
    return { dbSize: Number(status.dbSize), version: status.version }
  } finally {
    client.close()
  }
}

function checkPrerequisites(): void {
  if (!existsSync(new URL('../dist/commands/snapshot/index.js', import.meta.url))) usage('dist/ is missing: run `npm run build` first')
  // bin/run.js's shebang runs `node` from PATH: make sure that is the Node this benchmark is for.
  const probe = spawnSync('node', ['--version'], { encoding: 'utf8' })
  const major = Number(/^v(\d+)\./.exec(probe.stdout ?? '')?.[1])
  if (!(major >= 24)) usage(`\`node\` on PATH is ${probe.stdout?.trim() || 'missing'}; steward needs Node 24 (e.g. export PATH=$PWD/node_modules/.bin:$PATH)`)
}

function usage(message: string): never {
  console.error(`bench/upload.ts: ${message}\nusage: node bench/upload.ts [--db-mib 512] [--rounds 3] [--keep]`)
  process.exit(64)
}
