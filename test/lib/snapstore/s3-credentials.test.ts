import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import type { StoreConfig } from '../../../src/lib/snapstore/config.ts'
import { s3OptionsFor } from '../../../src/lib/snapstore/drivers/s3-credentials.ts'

const test = suite('S3 credentials: deprecated endpoint field')

let dir = ''
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'steward-s3-credentials-'))
})
test.after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const config = (endpointOverride?: string): StoreConfig => ({
  provider: 'S3',
  container: 'bucket',
  prefix: '',
  endpointOverride,
  minChunkSize: 5 * 1024 * 1024,
  maxParallelChunkUploads: 5,
  tempDir: tmpdir(),
  envPrefix: '',
})

async function credentials(name: string, fields: Record<string, string>): Promise<NodeJS.ProcessEnv> {
  const path = join(dir, name)
  await writeFile(path, JSON.stringify({ region: 'eu-west-1', accessKeyID: 'AKID', secretAccessKey: 'secret', ...fields }))
  return { AWS_APPLICATION_CREDENTIALS_JSON: path }
}

interface Warning {
  message: string
  details: Readonly<Record<string, unknown>>
}

function collector(): { warnings: Warning[]; warn: (message: string, details: Readonly<Record<string, unknown>>) => void } {
  const warnings: Warning[] = []
  return { warnings, warn: (message, details) => warnings.push({ message, details }) }
}

test('the field is still used, with a warning that suggests --store-endpoint-override', async () => {
  const env = await credentials('with-endpoint.json', { endpoint: 'http://minio:9000' })
  const { warnings, warn } = collector()
  const options = await s3OptionsFor(config(), env, warn)
  assert.is(options.endpoint, 'http://minio:9000')
  assert.is(warnings.length, 1)
  assert.match(warnings[0]!.message, 'deprecated')
  assert.match(warnings[0]!.message, '--store-endpoint-override http://minio:9000')
  assert.match(warnings[0]!.message, 'AWS_APPLICATION_CREDENTIALS_JSON=')
  assert.is(warnings[0]!.details['field'], 'endpoint')
})

test('--store-endpoint-override wins over the field, and the warning says the field is ignored', async () => {
  const env = await credentials('both.json', { endpoint: 'http://minio:9000' })
  const { warnings, warn } = collector()
  const options = await s3OptionsFor(config('http://override:9000'), env, warn)
  assert.is(options.endpoint, 'http://override:9000')
  assert.is(warnings.length, 1)
  assert.match(warnings[0]!.message, 'ignored')
})

test('no field, no warning', async () => {
  const env = await credentials('plain.json', {})
  const { warnings, warn } = collector()
  const options = await s3OptionsFor(config(), env, warn)
  assert.is(options.endpoint, undefined)
  assert.equal(warnings, [])
})

test.run()
