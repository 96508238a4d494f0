/**
 * The secondary-sync component of `steward serve` over two Local stores on a fake clock and a
 * fake etcd seam (the S3 case runs in test/integration/serve-secondary.test.ts), and how the
 * `--secondary-*` flags and `SECONDARY_` environment resolve.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { serveIgnoredFlags } from '../../../src/lib/cli/serve-flags.ts'
import { isStewardError, type StewardError } from '../../../src/lib/errors.ts'
import { COMPONENTS } from '../../../src/lib/serve/components/index.ts'
import { SECONDARY_GC_JOB, SYNC_JOB, secondarySyncComponent } from '../../../src/lib/serve/components/secondary-sync/index.ts'
import { resolveServeOptions, type ServeFlags } from '../../../src/lib/serve/resolve.ts'
import { Runtime } from '../../../src/lib/serve/runtime.ts'
import { BackupStore } from '../../../src/lib/snapshot/backup-store.ts'
import { formatSnapshotName } from '../../../src/lib/snapshot/name.ts'
import localSnapstore from '../../../src/lib/snapstore/drivers/local.ts'
import { FakeClock } from './fake-clock.ts'
import { until as waitUntil } from '../../harness/wait.ts'
import { FakeEtcd } from './fake-etcd.ts'

const test = suite('serve secondary-sync component')
const HOUR = 3_600_000

/** Fakes answer at once: poll every 20 ms. */
const until = <T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000) => waitUntil(what, fn, timeoutMs, 20)

test('on becoming leader the primary is copied (.final dropped) and the secondary collected with the same policy; a follower does nothing', async () => {
  const work = await mkdtemp(join(tmpdir(), 'steward-serve-sec-'))
  const clock = new FakeClock(Date.UTC(2026, 5, 10, 12, 30, 0))
  const primaryDir = join(work, 'primary', 'etcd-main', 'v2')
  await mkdir(primaryDir, { recursive: true })
  const names: string[] = []
  for (let b = 0; b < 3; b++) {
    const at = clock.now() - (3 - b) * HOUR
    names.push(formatSnapshotName({ kind: 'Full', startRevision: 0, lastRevision: b * 100 + 10, createdOn: new Date(at), compressionSuffix: '.gz', isFinal: b === 2 }))
    names.push(formatSnapshotName({ kind: 'Incr', startRevision: b * 100 + 11, lastRevision: b * 100 + 20, createdOn: new Date(at + 60_000), compressionSuffix: '.gz' }))
  }
  for (const name of names) await writeFile(join(primaryDir, name), `bytes of ${name}`)
  const flags: ServeFlags = {
    'storage-provider': 'Local',
    'store-container': join(work, 'primary'),
    'store-prefix': 'etcd-main',
    'server-port': 0,
    'data-dir': join(work, 'data'),
    'garbage-collection-policy': 'LimitBased',
    'max-backups': 2,
    'garbage-collection-period': '10s',
    'secondary-backup-sync-enabled': true,
    'secondary-backup-sync-period': '30s',
  }
  const options = resolveServeOptions(flags, {}, { SECONDARY_STORAGE_CONTAINER: join(work, 'secondary') })
  const etcd = new FakeEtcd()
  etcd.leaderId = '2'
  const store = new BackupStore(localSnapstore({ root: join(work, 'primary') }), 'etcd-main')
  const runtime = await Runtime.create(options, { etcd, etcdClient: null, store, clock, logger: pino({ level: 'silent' }), components: [secondarySyncComponent] })
  const secondaryDir = join(work, 'secondary', 'etcd-main', 'v2')
  const listSecondary = () => readdir(secondaryDir).then((n) => n.sort(), () => [] as string[])
  try {
    assert.is(await runtime.ctx.leadership.check(), 'Follower')
    assert.is(await runtime.ctx.scheduler.runNow(SYNC_JOB), 'succeeded')
    assert.equal(await listSecondary(), [], 'a follower copies nothing')

    etcd.leaderId = '1'
    assert.is(await runtime.ctx.leadership.check(), 'Leader')
    await until('the sync started on becoming leader', async () => (await listSecondary()).length === 6 && !runtime.ctx.scheduler.isRunning(SYNC_JOB))
    assert.equal(await listSecondary(), names.map((n) => n.replace(/\.final$/, '')).sort())
    assert.is(await runtime.ctx.scheduler.runNow(SYNC_JOB), 'succeeded', 'a second sync copies nothing new')

    assert.is(await runtime.ctx.scheduler.runNow(SECONDARY_GC_JOB), 'succeeded')
    // LimitBased --max-backups=2: the oldest backup goes from the secondary; the primary is untouched here.
    assert.equal(await listSecondary(), names.slice(2).map((n) => n.replace(/\.final$/, '')).filter((n) => !n.startsWith('Incr-00000111')).sort())
    assert.is((await readdir(primaryDir)).length, 6)
    const health = runtime.components[0]!.health?.()
    assert.is(health?.ok, true)
  } finally {
    await runtime.ctx.scheduler.stop()
    for (const c of runtime.components) await c.stop()
    await rm(work, { recursive: true, force: true })
  }
})

test('flags: off by default; SECONDARY_STORAGE_CONTAINER and the primary\'s provider and prefix fill in; the primary itself or no primary is refused', () => {
  const base: ServeFlags = { 'storage-provider': 'Local', 'store-container': '/backups/a', 'store-prefix': 'etcd-main' }
  assert.is(resolveServeOptions(base, {}, {}).secondary, null)
  const on = resolveServeOptions({ ...base, 'secondary-backup-sync-enabled': true }, {}, { SECONDARY_STORAGE_CONTAINER: '/backups/b' })
  assert.is(on.secondary?.periodSeconds, 3600)
  assert.is(on.secondary?.store.provider, 'Local')
  assert.is(on.secondary?.store.container, '/backups/b')
  assert.is(on.secondary?.store.prefix, 'etcd-main')
  assert.is(on.secondary?.store.envPrefix, 'SECONDARY_')
  assert.ok(secondarySyncComponent.enabled(on))
  assert.ok(COMPONENTS.includes(secondarySyncComponent))
  const s3 = resolveServeOptions({ ...base, 'secondary-backup-sync-enabled': true, 'secondary-storage-provider': 'S3', 'secondary-store-container': 'bucket', 'secondary-store-prefix': 'other', 'secondary-backup-sync-period': '5m0s' }, {}, {})
  assert.equal([s3.secondary?.store.provider, s3.secondary?.store.container, s3.secondary?.store.prefix, s3.secondary?.periodSeconds], ['S3', 'bucket', 'other', 300])
  const bad = (flags: ServeFlags, env: NodeJS.ProcessEnv, text: string) => {
    try {
      resolveServeOptions(flags, {}, env)
      assert.unreachable('accepted')
    } catch (error) {
      assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
      assert.match((error as StewardError).reason, text)
    }
  }
  bad({ ...base, 'secondary-backup-sync-enabled': true }, { SECONDARY_STORAGE_CONTAINER: '/backups/a' }, 'is the primary store itself')
  bad({ 'secondary-backup-sync-enabled': true }, { SECONDARY_STORAGE_CONTAINER: '/x' }, 'needs a primary store')
  bad({ ...base, 'secondary-backup-sync-enabled': true }, {}, 'SECONDARY_STORAGE_CONTAINER')
  bad({ ...base, 'secondary-backup-sync-enabled': true, 'secondary-backup-sync-period': '0s' }, { SECONDARY_STORAGE_CONTAINER: '/x' }, '--secondary-backup-sync-period')
  assert.not.ok(Object.keys(serveIgnoredFlags).some((k) => k.startsWith('secondary-')), 'the --secondary-* flags are acted on')
})

test.run()
