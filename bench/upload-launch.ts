/**
 * Benchmark for issue 8 (memory however steward is started): `steward snapshot --compression
 * none` and `--compression gzip` of the ≥ 1 GiB database from bench/big-db.ts into S3 (s3rver),
 * steward launched as a program (`bin/run.js`, through its shebang) and as `node bin/run.js`,
 * alternating. Records wall time and steward's own peak RSS; checks each object's size and
 * deletes it. Writes the "upload-launch" section of docs/benchmarks.md.
 *
 *   npm run build && node bench/upload-launch.ts [--size-mib 1100] [--rounds 2]
 */
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { STEWARD_BIN } from '../test/harness/cli.ts'
import { S3RVER_CREDENTIALS, S3RVER_REGION, startS3rver } from '../test/harness/s3rver.ts'
import { makeTempDir, removeDir } from '../test/harness/tmp.ts'
import { openBigDb } from './big-db.ts'
import { machine, measure, median, mib, writeSection, type Measurement } from './measure.ts'

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1100' }, rounds: { type: 'string', default: '2' } } })
const sizeMiB = Number(values['size-mib'])
const rounds = Number(values.rounds)
const cluster = await openBigDb(sizeMiB)
const s3rver = await startS3rver()
const work = await makeTempDir('steward-bench-upload-launch-')
const endpoint = cluster.endpoints[0]!
const s3 = new S3Client({ endpoint: s3rver.endpoint, forcePathStyle: true, region: S3RVER_REGION, credentials: { ...S3RVER_CREDENTIALS } })
const results = new Map<string, Measurement[]>()
const load: string[] = []
const sizes = new Map<string, number>()

try {
  const credentials = join(work, 's3-credentials.json')
  await writeFile(credentials, JSON.stringify({ accessKeyID: S3RVER_CREDENTIALS.accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey, region: S3RVER_REGION }))
  const env = { ...process.env, STEWARD_LOG_LEVEL: 'warn', AWS_APPLICATION_CREDENTIALS_JSON: credentials }
  for (let round = 1; round <= rounds; round++) {
    load.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!)
    const runs: [string, () => Promise<Measurement>][] = []
    for (const compression of ['none', 'gzip']) {
      for (const launch of ['bin', 'node'] as const) {
        const key = `${compression} (${launch === 'bin' ? 'bin' : 'node bin/run.js'})`
        const prefix = `r${round}-${compression}-${launch}`
        const args = ['snapshot', '--endpoints', endpoint, '--store', `s3://${s3rver.bucket}/${prefix}`, '--store-endpoint-override', s3rver.endpoint, '--compression', compression]
        runs.push([
          key,
          async () => {
            const m = launch === 'bin' ? await measure(STEWARD_BIN, args, env) : await measure(process.execPath, [STEWARD_BIN, ...args], env)
            const listed = await s3.send(new ListObjectsV2Command({ Bucket: s3rver.bucket, Prefix: `${prefix}/` }))
            const objects = listed.Contents ?? []
            if (objects.length !== 1) throw new Error(`${key}: expected one object under ${prefix}/, found ${objects.length}`)
            sizes.set(compression, objects[0]!.Size ?? 0)
            await s3.send(new DeleteObjectCommand({ Bucket: s3rver.bucket, Key: objects[0]!.Key! }))
            return m
          },
        ])
      }
    }
    for (const [key, run] of round % 2 ? runs : [...runs].reverse()) results.set(key, [...(results.get(key) ?? []), await run()])
    console.log(`round ${round}/${rounds} done`)
  }
  const rows = [...results].map(([key, ms]) => `| ${key} | ${median(ms.map((m) => m.wallSeconds)).toFixed(2)} | ${ms.map((m) => m.wallSeconds.toFixed(2)).join(', ')} | ${mib(Math.max(...ms.map((m) => m.peakRssBytes)))} |`)
  const body = `## Upload to S3 of a ≥ 1 GiB database, two launch styles (\`bench/upload-launch.ts\`)

- Command: \`npm run build && node bench/upload-launch.ts --size-mib ${sizeMiB} --rounds ${rounds}\`
- Data: the database of \`bench/big-db.ts\` (${Math.ceil((sizeMiB * 1048576) / 4096)} keys × 4 KiB mixed values); stored objects: none ${mib(sizes.get('none') ?? 0)} MiB, gzip ${mib(sizes.get('gzip') ?? 0)} MiB; s3rver on 127.0.0.1 (same disk and CPUs), 5 MiB parts × 5 in flight.
- Machine: ${machine()}; load average (1 min) at the start of each round: ${load.join(', ')}
- Date: ${new Date().toISOString()}
- Each run is its own process (\`bin\` = \`bin/run.js\` as a program, through its shebang; \`node bin/run.js\` = the same file given to node); the four runs of a round alternate order between rounds. Peak RSS is steward's own VmHWM, maximum over rounds.

| run | median wall (s) | rounds (s) | peak RSS (MiB) |
|---|---|---|---|
${rows.join('\n')}

Target (issue 8): peak RSS ≤ 150 MiB for both launch styles.`
  await writeSection('upload-launch', body)
  console.log(body)
} finally {
  s3.destroy()
  await s3rver.close()
  await cluster.stop({ keepDataDirs: true })
  await removeDir(work)
}
