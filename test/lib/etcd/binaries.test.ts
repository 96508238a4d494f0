import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { findEtcdTool, redactArgs, runEtcdTool } from '../../../src/lib/etcd/binaries.ts'
import { isStewardError, StewardError } from '../../../src/lib/errors.ts'
import { reportable } from '../../harness/uvu-errors.ts'

const repoRoot = resolve(fileURLToPath(import.meta.url), '../../../..')
let binDir = ''
let emptyDir = ''

/** Writes an executable shell script `name` into the fake bin dir. */
async function fakeTool(name: string, body: string): Promise<void> {
  const file = join(binDir, name)
  await writeFile(file, `#!/bin/sh\n${body}\n`)
  await chmod(file, 0o755)
}

async function rejection(promise: Promise<unknown>): Promise<StewardError> {
  try {
    await promise
  } catch (error) {
    assert.ok(isStewardError(error), `expected a StewardError, got ${String(error)}`)
    return error
  }
  throw new Error('expected a rejection')
}

test.before(async () => {
  binDir = await mkdtemp(join(tmpdir(), 'steward-bin-'))
  emptyDir = await mkdtemp(join(tmpdir(), 'steward-nobin-'))
  await fakeTool('etcdctl', 'echo "out:$*"; echo "err-line" >&2')
  await fakeTool('etcdutl', 'echo "first line" >&2; echo "disk is full: boom-detail" >&2; exit 3')
  await fakeTool('etcd', 'exec sleep 30')
})

test.after(async () => {
  await rm(binDir, { recursive: true, force: true })
  await rm(emptyDir, { recursive: true, force: true })
})

test('findEtcdTool: STEWARD_ETCD_BIN_DIR overrides the location', reportable(() => {
  assert.is(findEtcdTool('etcdctl', { STEWARD_ETCD_BIN_DIR: binDir }), join(binDir, 'etcdctl'))
}))

test('findEtcdTool: defaults to the project-local .tools install', reportable(() => {
  const local = join(repoRoot, '.tools', 'etcd', 'bin', 'etcdutl')
  if (!existsSync(local)) return // setup not run: nothing to compare with
  assert.is(findEtcdTool('etcdutl', { PATH: '' }), local)
}))

test('findEtcdTool: a missing tool is TOOL_FAILED with the setup hint', reportable(() => {
  try {
    findEtcdTool('etcdutl', { STEWARD_ETCD_BIN_DIR: emptyDir })
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.ok(isStewardError(error, 'TOOL_FAILED'))
    assert.is(error.component, 'etcd-tools')
    assert.ok(error.hints.some((hint) => hint.includes('npm run setup')), error.hints.join())
    assert.match(error.message, 'etcdutl')
  }
}))

test('runEtcdTool: resolves stdout and stderr', reportable(async () => {
  const result = await runEtcdTool('etcdctl', ['get', 'k'], { env: { ...process.env, STEWARD_ETCD_BIN_DIR: binDir } })
  assert.is(result.stdout, 'out:get k\n')
  assert.is(result.stderr, 'err-line\n')
}))

test('runEtcdTool: a non-zero exit is TOOL_FAILED carrying stderr, args and no password', reportable(async () => {
  const env = { ...process.env, STEWARD_ETCD_BIN_DIR: binDir }
  const error = await rejection(runEtcdTool('etcdutl', ['snapshot', 'restore', '--password=hunter2', '--user', 'root:hunter2'], { env }))
  assert.is(error.code, 'TOOL_FAILED')
  assert.match(error.message, 'boom-detail')
  assert.match(error.message, 'exited with code 3')
  assert.match(error.message, 'etcdutl snapshot restore')
  assert.not.match(error.message, 'hunter2')
  assert.not.match(JSON.stringify(error.toJSON()), 'hunter2')
  assert.is(error.context['exitCode'], 3)
}))

test('runEtcdTool: timeout kills the tool', reportable(async () => {
  const env = { ...process.env, STEWARD_ETCD_BIN_DIR: binDir }
  const error = await rejection(runEtcdTool('etcd', [], { env, timeoutSeconds: 0.2 }))
  assert.is(error.code, 'TOOL_FAILED')
  assert.match(error.message, 'timed out after 0.2 s')
}))

test('runEtcdTool: an AbortSignal kills the tool with ABORTED', reportable(async () => {
  const env = { ...process.env, STEWARD_ETCD_BIN_DIR: binDir }
  const controller = new AbortController()
  const running = runEtcdTool('etcd', [], { env, signal: controller.signal })
  controller.abort()
  assert.is((await rejection(running)).code, 'ABORTED')
  assert.is((await rejection(runEtcdTool('etcd', [], { env, signal: AbortSignal.abort() }))).code, 'ABORTED')
}))

test('redactArgs: hides passwords in every etcdctl spelling', reportable(() => {
  assert.equal(redactArgs(['--password', 'x', '--user=root:y', '-u', 'a:b', '--new-user-password=z', 'get', 'k']), [
    '--password',
    '***',
    '--user=root:***',
    '-u',
    'a:***',
    '--new-user-password=***',
    'get',
    'k',
  ])
  assert.equal(redactArgs(['user', 'add', 'bob:secret']), ['user', 'add', 'bob:***'])
  assert.equal(redactArgs(['--endpoints=http://127.0.0.1:2379', 'get', 'a:b']), ['--endpoints=http://127.0.0.1:2379', 'get', 'a:b'])
}))

test.run()
