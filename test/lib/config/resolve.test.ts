import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDuration } from '../../../src/lib/config/duration.ts'
import { loadConfigFile } from '../../../src/lib/config/file.ts'
import { resolveCompression, resolveEtcdConnection, resolveStore } from '../../../src/lib/config/resolve.ts'
import { resolveRestoreMember } from '../../../src/lib/config/restore.ts'
import { isStewardError, type ErrorCode } from '../../../src/lib/errors.ts'
import { parseStoreUrl } from '../../../src/lib/snapstore/url.ts'

const test = suite('configuration')

function throwsCode(fn: () => unknown, code: ErrorCode, mentions: string): void {
  try {
    fn()
  } catch (error) {
    assert.ok(isStewardError(error, code), `expected ${code}, got ${String(error)}`)
    assert.match(error.message, mentions)
    return
  }
  assert.unreachable(`expected ${code}`)
}

test('durations: Go syntax and plain seconds', () => {
  assert.is(parseDuration('20s', 'x'), 20)
  assert.is(parseDuration('1h30m', 'x'), 5400)
  assert.is(parseDuration('500ms', 'x'), 0.5)
  assert.is(parseDuration('15', 'x'), 15)
  assert.is(parseDuration(7, 'x'), 7)
  throwsCode(() => parseDuration('10 minutes', '--etcd-connection-timeout'), 'CONFIG_INVALID', '--etcd-connection-timeout')
  throwsCode(() => parseDuration('', '--x'), 'CONFIG_INVALID', '--x')
})

test('store URLs', () => {
  assert.equal(parseStoreUrl('file:///var/backups/etcd-main'), { provider: 'Local', container: '/var/backups/etcd-main', prefix: '' })
  assert.equal(parseStoreUrl('/var/backups/x/'), { provider: 'Local', container: '/var/backups/x', prefix: '' })
  assert.equal(parseStoreUrl('s3://bucket/etcd/main/'), { provider: 'S3', container: 'bucket', prefix: 'etcd/main' })
  assert.equal(parseStoreUrl('gs://b'), { provider: 'GCS', container: 'b', prefix: '' })
  assert.equal(parseStoreUrl('azblob://c/p'), { provider: 'ABS', container: 'c', prefix: 'p' })
  throwsCode(() => parseStoreUrl('ftp://x/y'), 'CONFIG_INVALID', '--store')
  throwsCode(() => parseStoreUrl('relative/dir'), 'CONFIG_INVALID', '--store')
})

test('store: flags beat the config file; etcd-backup-restore flags work', () => {
  const file = { store: { url: 'file:///from-file', prefix: 'file-prefix' } }
  assert.is(resolveStore({ store: 'file:///from-flag' }, file).container, '/from-flag')
  assert.is(resolveStore({}, file).container, '/from-file')
  assert.is(resolveStore({}, file).prefix, 'file-prefix')
  const brStyle = resolveStore({ 'storage-provider': 'Local', 'store-container': 'gzip', 'store-prefix': 'etcd-main' }, {})
  assert.equal([brStyle.provider, brStyle.container, brStyle.prefix], ['Local', 'gzip', 'etcd-main'])
  assert.is(resolveStore({ 'storage-provider': 'S3' }, {}, { STORAGE_CONTAINER: 'from-env' }).container, 'from-env')
})

test('store: STORAGE_CONTAINER ranks between --store-container and the config file', () => {
  const file = { store: { container: 'from-file' } }
  const env = { STORAGE_CONTAINER: 'from-env' }
  assert.is(resolveStore({ 'storage-provider': 'S3', 'store-container': 'from-flag' }, file, env).container, 'from-flag')
  assert.is(resolveStore({ 'storage-provider': 'S3' }, file, env).container, 'from-env')
  assert.is(resolveStore({ 'storage-provider': 'S3' }, file, {}).container, 'from-file')
  // etcd-backup-restore reads the variable when the flag is empty, not only when it is absent
  assert.is(resolveStore({ 'storage-provider': 'S3', 'store-container': '' }, file, env).container, 'from-env')
  assert.is(resolveStore({ 'storage-provider': 'S3' }, file, { STORAGE_CONTAINER: '' }).container, 'from-file')
})

test('store: an explicitly empty --storage-provider means Local', () => {
  const empty = resolveStore({ 'storage-provider': '' }, {}, {})
  assert.equal([empty.provider, empty.container, empty.prefix], ['Local', '', ''])
  const withContainer = resolveStore({ 'storage-provider': '', 'store-prefix': 'etcd-main' }, {}, { STORAGE_CONTAINER: 'backups' })
  assert.equal([withContainer.provider, withContainer.container, withContainer.prefix], ['Local', 'backups', 'etcd-main'])
  // the flag beats the config file's URL, as a non-empty provider does
  assert.is(resolveStore({ 'storage-provider': '' }, { store: { url: 's3://bucket/p' } }, {}).provider, 'Local')
  assert.is(resolveStore({}, { store: { provider: '' } }, {}).provider, 'Local')
  throwsCode(() => resolveStore({ store: 'file:///x', 'storage-provider': '' }, {}), 'CONFIG_INVALID', 'alternatives')
})

test('store: bad input names the flag', () => {
  throwsCode(() => resolveStore({}, {}), 'CONFIG_INVALID', 'no backup store')
  throwsCode(() => resolveStore({ 'storage-provider': 's3' }, {}), 'CONFIG_INVALID', '--storage-provider')
  throwsCode(() => resolveStore({ 'storage-provider': 'S3' }, {}, {}), 'CONFIG_INVALID', '--store-container')
  throwsCode(() => resolveStore({ store: 'file:///x', 'storage-provider': 'Local' }, {}), 'CONFIG_INVALID', 'alternatives')
  throwsCode(() => resolveStore({ store: 'file:///x', 'min-chunk-size': 1024 }, {}), 'CONFIG_INVALID', '--min-chunk-size')
})

test('etcd connection: defaults, lists, bad endpoints', () => {
  const c = resolveEtcdConnection({}, {})
  assert.equal(c.endpoints, ['http://127.0.0.1:2379'])
  assert.is(c.connectionTimeoutSeconds, 30)
  assert.is(c.snapshotTimeoutSeconds, 900)
  assert.equal(resolveEtcdConnection({ endpoints: ['http://a:1,http://b:2', 'http://c:3'] }, {}).endpoints, ['http://a:1', 'http://b:2', 'http://c:3'])
  assert.equal(resolveEtcdConnection({}, { etcd: { endpoints: 'http://f:1', connectionTimeout: '5s' } }).connectionTimeoutSeconds, 5)
  throwsCode(() => resolveEtcdConnection({ endpoints: ['127.0.0.1:2379'] }, {}), 'CONFIG_INVALID', '--endpoints')
  throwsCode(() => resolveEtcdConnection({ endpoints: ['http://a:1,https://b:2'] }, {}), 'CONFIG_INVALID', 'mixes')
  throwsCode(() => resolveEtcdConnection({ 'etcd-connection-timeout': '0s' }, {}), 'CONFIG_INVALID', '--etcd-connection-timeout')
})

test('compression: steward and etcd-backup-restore forms', () => {
  assert.is(resolveCompression({}, {}), 'gzip')
  assert.is(resolveCompression({ compression: 'zstd' }, {}), 'zstd')
  assert.is(resolveCompression({ 'compress-snapshots': false }, {}), 'none')
  assert.is(resolveCompression({ 'compression-policy': 'lzw' }, {}), 'lzw')
  assert.is(resolveCompression({}, { snapshot: { compression: 'none' } }), 'none')
  throwsCode(() => resolveCompression({ compression: 'bz2' }, {}), 'CONFIG_INVALID', 'gzip, zlib, lzw, zstd, none')
})

test('restore member: name must be in the initial cluster', () => {
  assert.is(resolveRestoreMember({}, {}).name, 'default')
  throwsCode(() => resolveRestoreMember({ name: 'etcd-0' }, {}), 'CONFIG_INVALID', '--initial-cluster')
})

test('config file: found, validated, unknown keys rejected with the key named', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'steward-config-'))
  await writeFile(join(dir, '.stewardrc.json'), JSON.stringify({ etcd: { endpoints: ['http://10.0.0.1:2379'] }, store: { url: 'file:///b' } }))
  const found = await loadConfigFile(undefined, dir)
  assert.is(found.path, join(dir, '.stewardrc.json'))
  assert.equal(found.config.etcd?.endpoints, ['http://10.0.0.1:2379'])
  const bad = join(dir, 'bad.yaml')
  await writeFile(bad, 'etcd:\n  endpointz: [x]\n')
  try {
    await loadConfigFile(bad)
    assert.unreachable('must fail')
  } catch (error) {
    assert.ok(isStewardError(error, 'CONFIG_INVALID'))
    assert.match(error.message, 'bad.yaml')
    assert.match(error.message, 'etcd')
  }
  try {
    await loadConfigFile(join(dir, 'missing.json'))
    assert.unreachable('must fail')
  } catch (error) {
    assert.ok(isStewardError(error, 'CONFIG_INVALID'))
  }
})

test.run()
