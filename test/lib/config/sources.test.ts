/** Configuration errors name where the bad value came from: flag, environment variable, or file and key. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { loadConfigFile } from '../../../src/lib/config/file.ts'
import { resolveCompression, resolveEtcdConnection, resolveStore } from '../../../src/lib/config/resolve.ts'
import { resolveRestoreMember } from '../../../src/lib/config/restore.ts'
import { markFlagsFromEnvironment } from '../../../src/lib/config/sources.ts'
import { isStewardError } from '../../../src/lib/errors.ts'
import { resolveLogLevel } from '../../../src/lib/log.ts'

const test = suite('configuration error sources')

function message(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
    return error.reason
  }
  throw new Error('expected CONFIG_INVALID')
}

async function withFile(yaml: string, fn: (path: string, config: Awaited<ReturnType<typeof loadConfigFile>>['config']) => void | Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'steward-sources-'))
  try {
    const path = join(dir, 'steward.config.yaml')
    await writeFile(path, yaml)
    await fn(path, (await loadConfigFile(path)).config)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

test('a bad config-file duration names the file and key, not a flag the user never passed', async () => {
  await withFile('etcd:\n  connectionTimeout: ten\n', (path, config) => {
    const reason = message(() => resolveEtcdConnection({}, config))
    assert.ok(reason.startsWith(`${path}: etcd.connectionTimeout: "ten"`), reason)
    assert.not.match(reason, /--etcd-connection-timeout/)
  })
})

test('config-file endpoints, store URL, provider, chunk size, compression and member name each name their key', async () => {
  await withFile('etcd:\n  endpoints: ftp://x\n', (path, config) => {
    assert.match(message(() => resolveEtcdConnection({}, config)), `${path}: etcd.endpoints: "ftp://x"`)
  })
  await withFile('store:\n  url: ftp://bucket\n', (path, config) => {
    assert.match(message(() => resolveStore({}, config)), `${path}: store.url: "ftp://bucket"`)
  })
  await withFile('store:\n  provider: Dropbox\n', (path, config) => {
    assert.match(message(() => resolveStore({}, config)), `${path}: store.provider: unknown provider`)
  })
  await withFile('store:\n  url: file:///tmp/x\n  minChunkSize: 10\n', (path, config) => {
    assert.match(message(() => resolveStore({}, config)), `${path}: store.minChunkSize: 10 is below`)
  })
  await withFile('snapshot:\n  compression: brotli\n', (path, config) => {
    assert.match(message(() => resolveCompression({}, config)), `${path}: snapshot.compression: unknown compression`)
  })
  await withFile('restore:\n  name: m9\n', (path, config) => {
    assert.match(message(() => resolveRestoreMember({}, config)), `${path}: restore.name m9 does not appear in --initial-cluster (default)`)
  })
})

test('a bad value from the environment names the variable; from the command line, the flag', () => {
  const fromEnv = { endpoints: ['ftp://x'] }
  markFlagsFromEnvironment(fromEnv, { endpoints: 'STEWARD_ENDPOINTS' })
  assert.match(message(() => resolveEtcdConnection(fromEnv, {})), /^STEWARD_ENDPOINTS: "ftp:\/\/x" is not a client URL/)
  assert.match(message(() => resolveEtcdConnection({ endpoints: ['ftp://x'] }, {})), /^--endpoints: "ftp:\/\/x"/)
  const store = { store: 'ftp://b' }
  markFlagsFromEnvironment(store, { store: 'STEWARD_STORE' })
  assert.match(message(() => resolveStore(store, {})), /^STEWARD_STORE: "ftp:\/\/b" is not a store URL/)
  assert.match(message(() => resolveCompression({ compression: 'brotli' }, {})), /^--compression: unknown compression/)
})

test('STEWARD_LOG_LEVEL: an unknown level is CONFIG_INVALID naming the variable and the valid levels; empty means the default', () => {
  const reason = message(() => resolveLogLevel(undefined, { STEWARD_LOG_LEVEL: 'loud' }))
  assert.match(reason, /^STEWARD_LOG_LEVEL: unknown log level "loud" \(valid: fatal, error, warn, info, debug, trace, silent/)
  assert.match(message(() => resolveLogLevel('loud', {})), /^--log-level: unknown log level/)
  assert.ok(['warn', 'info'].includes(resolveLogLevel(undefined, { STEWARD_LOG_LEVEL: '' })))
  assert.is(resolveLogLevel(undefined, { STEWARD_LOG_LEVEL: 'debug' }), 'debug')
  assert.is(resolveLogLevel('error', { STEWARD_LOG_LEVEL: 'loud' }), 'error')
})

test('--log-level takes etcdbrctl\'s numeric (logrus) levels: 4 is info, 5 debug', () => {
  assert.is(resolveLogLevel('4', {}), 'info')
  assert.is(resolveLogLevel('5', {}), 'debug')
  assert.match(message(() => resolveLogLevel('9', {})), /unknown log level "9"/)
})

test.run()
