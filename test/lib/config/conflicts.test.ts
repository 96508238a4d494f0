/** Conflicting flags are CONFIG_INVALID naming both (issue 8, item 6). */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { resolveCompression, resolveStore } from '../../../src/lib/config/resolve.ts'
import { isStewardError } from '../../../src/lib/errors.ts'
import { checkRestoreRequest } from '../../../src/lib/restore/restore.ts'

const test = suite('conflicting flags')

function conflict(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    assert.ok(isStewardError(error, 'CONFIG_INVALID'), String(error))
    return error.reason
  }
  throw new Error('expected CONFIG_INVALID')
}

test('--compression zstd --compression-policy gzip is a conflict, not a silent pick', () => {
  assert.match(conflict(() => resolveCompression({ compression: 'zstd', 'compression-policy': 'gzip' }, {})), /^--compression zstd conflicts with --compression-policy gzip \(gzip\)/)
  assert.match(conflict(() => resolveCompression({ compression: 'gzip', 'compress-snapshots': false }, {})), /conflicts with --compress-snapshots=false \(none\)/)
  assert.match(conflict(() => resolveCompression({ compression: 'none', 'compress-snapshots': true }, {})), /conflicts with --compress-snapshots=true \(gzip\)/)
})

test('both compression forms are fine when they agree; each alone as before', () => {
  assert.is(resolveCompression({ compression: 'gzip', 'compression-policy': 'gzip', 'compress-snapshots': true }, {}), 'gzip')
  assert.is(resolveCompression({ compression: 'none', 'compress-snapshots': false }, {}), 'none')
  assert.is(resolveCompression({ compression: 'zstd' }, {}), 'zstd')
  assert.is(resolveCompression({ 'compression-policy': 'zlib' }, {}), 'zlib')
  assert.is(resolveCompression({ 'compress-snapshots': false, 'compression-policy': 'zlib' }, {}), 'none')
})

test('--store URL with --store-container is a conflict (the URL names the container); --store-prefix still overrides', () => {
  assert.match(conflict(() => resolveStore({ store: 's3://a/p', 'store-container': 'b' }, {})), /^--store and --store-container both name the container/)
  assert.is(resolveStore({ store: 's3://a/p', 'store-prefix': 'q' }, {}).prefix, 'q')
  assert.is(resolveStore({ store: 's3://a/p' }, {}, { STORAGE_CONTAINER: 'b' }).container, 'a')
})

test('--no-deltas with --to-revision, --to-time or --allow-partial is a conflict', () => {
  assert.match(conflict(() => checkRestoreRequest({ applyDeltas: false, toRevision: 60 })), /^--no-deltas conflicts with --to-revision 60/)
  assert.match(conflict(() => checkRestoreRequest({ applyDeltas: false, toTime: '2026-01-01T00:00:00Z' })), /^--no-deltas conflicts with --to-time/)
  assert.match(conflict(() => checkRestoreRequest({ applyDeltas: false, allowPartial: true })), /^--no-deltas conflicts with --allow-partial/)
  checkRestoreRequest({ applyDeltas: true, toRevision: 60, allowPartial: true })
  checkRestoreRequest({ applyDeltas: false })
})

test('--snapshot with --fallback-to-older-full is a conflict', () => {
  assert.match(conflict(() => checkRestoreRequest({ snapshot: 'Full-00000000-00000022-1', fallbackToOlderFull: true })), /^--snapshot Full-00000000-00000022-1 conflicts with --fallback-to-older-full/)
})

test.run()
