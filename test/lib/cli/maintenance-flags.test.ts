import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resolveMaintenanceConnection } from '../../../src/lib/cli/maintenance-flags.ts'
import { isStewardError } from '../../../src/lib/errors.ts'

const test = suite('maintenance connection flags (etcdctl / etcd-defrag spellings)')

test('host:port without a scheme, as etcdctl and etcd-defrag take it; https with TLS files', () => {
  assert.equal(resolveMaintenanceConnection({ endpoints: ['127.0.0.1:2379,10.0.0.2:2379'] }, {}).endpoints, ['http://127.0.0.1:2379', 'http://10.0.0.2:2379'])
  assert.equal(resolveMaintenanceConnection({ endpoints: ['10.0.0.1:2379'], cacert: '/ca.pem' }, {}).endpoints, ['https://10.0.0.1:2379'])
  assert.equal(resolveMaintenanceConnection({}, {}).endpoints, ['http://127.0.0.1:2379'])
})

test('--user user:password splits like etcdctl unless --password is given', () => {
  const split = resolveMaintenanceConnection({ user: 'root:s3:cret' }, {})
  assert.is(split.username, 'root')
  assert.is(split.password, 's3:cret')
  const whole = resolveMaintenanceConnection({ user: 'a:b', password: 'p' }, {})
  assert.is(whole.username, 'a:b')
  assert.is(whole.password, 'p')
})

test('--command-timeout bounds every call and the defragmentation; bad values name the flag', () => {
  const config = resolveMaintenanceConnection({ 'command-timeout': '2m' }, {})
  assert.is(config.connectionTimeoutSeconds, 120)
  assert.is(config.defragTimeoutSeconds, 120)
  assert.is(resolveMaintenanceConnection({}, {}).defragTimeoutSeconds, 30)
  for (const [flags, name] of [[{ 'command-timeout': 'soon' }, '--command-timeout'], [{ 'dial-timeout': 'x' }, '--dial-timeout'], [{ cacert: '' }, '--cacert']] as const) {
    try {
      resolveMaintenanceConnection(flags, {})
      assert.unreachable(name)
    } catch (error) {
      assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
      assert.match((error as Error).message, name)
    }
  }
})

test.run()
