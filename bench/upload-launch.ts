/**
 * Benchmark for issue 8 (memory however steward is started): `steward snapshot --compression
 * none` and `--compression gzip` of the ≥ 1 GiB database from bench/big-db.ts into S3 (s3rver),
 * steward launched as a program (`bin/run.js`, through its shebang) and as `node bin/run.js`,
 * alternating. Records wall time and steward's own peak RSS; checks each object's size and
 * deletes it. Writes the "upload-launch" section of docs/benchmarks.md.
 *
 *   npm run build && node bench/upload-launch.ts [--size-mib 1100] [--dir /tmp/bench-data] [--rounds 2] [--before DIR] [--section NAME]
 *
 * `--before` names a copy of an earlier build (bin/, dist/, package.json, oclif.manifest.json and
 * a node_modules link) whose two launch styles run in the same rounds.
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

const { values } = parseArgs({ options: { 'size-mib': { type: 'string', default: '1100' }, dir: { type: 'string', default: '/tmp/bench-data' }, rounds: { type: 'string', default: '2' }, before: { type: 'string' }, section: { type: 'string' } } })
const sizeMiB = Number(values['size-mib'])
const rounds = Number(values.rounds)
const builds: [string, string][] = [['', STEWARD_BIN]]
if (values.before) builds.push([', before', join(values.before, 'bin', 'run.js')])
const cluster = await openBigDb(sizeMiB, values.dir)
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
      for (const [launch, [suffix, bin]] of (['bin', 'node'] as const).flatMap((l) => builds.map((b) => [l, b] as const))) {
        const key = `${compression} (${launch === 'bin' ? 'bin' : 'node bin/run.js'}${suffix})`
        const prefix = `r${round}-${compression}-${launch}${suffix ? '-before' : ''}`
        const args = ['snapshot', '--endpoints', endpoint, '--store', `s3://${s3rver.bucket}/${prefix}`, '--store-endpoint-override', s3rver.endpoint, '--compression', compression]
        runs.push([
          key,
          async () => {
            const m = launch === 'bin' ? await measure(bin, args, env) : await measure(process.execPath, [bin, ...args], env)
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
  const body = `## Upload to S3 of a ${mib(sizes.get('none') ?? 0)} MiB database, two launch styles (\`bench/upload-launch.ts\`)

- Command: \`npm run build && node bench/upload-launch.ts --size-mib ${sizeMiB} --rounds ${rounds}${values.before ? ' --before <copy of the earlier build>' : ''}${values.section ? ` --section ${values.section}` : ''}\`
- Data: the database of \`bench/big-db.ts\` (${Math.ceil((sizeMiB * 1048576) / 4096)} keys × 4 KiB mixed values); database ${mib(sizes.get('none') ?? 0)} MiB; stored objects: none ${mib(sizes.get('none') ?? 0)} MiB, gzip ${mib(sizes.get('gzip') ?? 0)} MiB; s3rver on 127.0.0.1 (same disk and CPUs), 5 MiB parts × 5 in flight.
- Machine: ${machine()}; load average (1 min) at the start of each round: ${load.join(', ')}
- Date: ${new Date().toISOString()}
- Each run is its own process (\`bin\` = \`bin/run.js\` as a program, through its shebang; \`node bin/run.js\` = the same file given to node); the runs of a round alternate order between rounds${values.before ? '; "before" = the build before this change, same rounds' : ''}. Peak RSS is steward's own VmHWM, maximum over rounds.

| run | median wall (s) | rounds (s) | peak RSS (MiB) |
|---|---|---|---|
${rows.join('\n')}

Target (issue 8): peak RSS ≤ 150 MiB for both launch styles.`
  // The 1.6 GiB run (the default size) keeps its own section; other sizes get theirs, and --section names one.
  await writeSection(values.section ?? (sizeMiB === 1100 ? 'upload-launch' : `upload-launch-${sizeMiB}m`), body)
  console.log(body)
} finally {
  s3.destroy()
  await s3rver.close()
  await cluster.stop({ keepDataDirs: true })
  await removeDir(work)
}
