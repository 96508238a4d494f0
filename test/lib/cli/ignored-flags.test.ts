import { Parser } from '@oclif/core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { normalizeGoFlagForms, type FlagShape } from '../../../src/lib/cli/go-flags.ts'
import Compact from '../../../src/commands/compact.ts'
import CopyBackups from '../../../src/commands/copy-backups.ts'
import Defrag from '../../../src/commands/defrag.ts'
import AlarmDisarm from '../../../src/commands/alarm/disarm.ts'
import AlarmList from '../../../src/commands/alarm/list.ts'
import { IGNORED_HELP_GROUP, givenIgnoredFlags, ignoredFlagWarnings, ignoredFlags } from '../../../src/lib/cli/ignored-flags.ts'

const declared = ignoredFlags({
  'insecure-transport': { type: 'boolean', reason: 'TLS follows the scheme' },
  'etcd-defrag-timeout': { type: 'duration', reason: 'no defragmentation here' },
  'max-fetchers': { type: 'integer', reason: 'one at a time' },
  schedule: { type: 'string', char: 's', reason: 'one snapshot per run' },
  'service-endpoints': { type: 'string', multiple: true, reason: 'endpoints only' },
})

async function parse(argv: string[]) {
  const flags = normalizeGoFlagForms(argv, declared as unknown as Record<string, FlagShape>)
  return (await Parser.parse(flags, { flags: declared, strict: true })).flags
}

test('ignored flags are listed in one help group with their reason', () => {
  for (const flag of Object.values(declared)) {
    assert.is(flag.helpGroup, IGNORED_HELP_GROUP)
    assert.match(flag.summary ?? '', /^Ignored: /)
  }
})

test('ignored flags accept etcdbrctl value forms: --x=true|false, Go durations (1m0s), integers, -s shorthand', async () => {
  const flags = await parse(['--insecure-transport=false', '--etcd-defrag-timeout=8m0s', '--max-fetchers', '6', '-s', '0 */1 * * *'])
  assert.equal(flags, { 'insecure-transport': false, 'etcd-defrag-timeout': '8m0s', 'max-fetchers': 6, schedule: '0 */1 * * *' })
  assert.equal((await parse(['--insecure-transport=true']))['insecure-transport'], true)
})

test('a slice flag (multiple) may be repeated, as pflag allows', async () => {
  assert.equal((await parse(['--service-endpoints=http://a:2379', '--service-endpoints', 'http://b:2379']))['service-endpoints'], ['http://a:2379', 'http://b:2379'])
})

test('an ignored duration flag still rejects what is not a Go duration', async () => {
  try {
    await parse(['--etcd-defrag-timeout=8 minutes'])
    assert.unreachable()
  } catch (error) {
    assert.match((error as Error).message, /--etcd-defrag-timeout: "8 minutes" is not a duration/)
  }
})

test('only given ignored flags are reported, each warned once per process', async () => {
  const parsed = await parse(['--max-fetchers=6', '--insecure-transport=false'])
  const given = givenIgnoredFlags({ ...parsed, 'store-prefix': 'x' }, { ...declared, 'store-prefix': {} })
  assert.equal(given.map((g) => g.flag).sort(), ['insecure-transport', 'max-fetchers'])
  const first = ignoredFlagWarnings(given)
  assert.equal(first.length, 2)
  assert.match(first.join('\n'), /--max-fetchers is accepted for etcdbrctl compatibility and ignored: one at a time/)
  assert.equal(ignoredFlagWarnings(given), [])
})

test('compact and copy-backups declare their accepted-and-ignored etcdbrctl flags with the shared mechanism', async () => {
  const cases: [Record<string, unknown>, string[]][] = [
    [Compact.flags, ['--restoration-temp-snapshots-dir=/tmp/r', '--max-fetchers=6', '--max-call-send-message-size=10485760', '--auto-compaction-mode=periodic', '--auto-compaction-retention=30m', '--delta-snapshot-lease-name=d', '--name=default', '--initial-cluster=default=http://localhost:2380', '--initial-cluster-token=t', '--initial-advertise-peer-urls=http://localhost:2380']],
    [CopyBackups.flags, ['--source-max-parallel-chunk-uploads=5', '--source-min-chunk-size=5242880', '--source-snapstore-temp-directory=/tmp']],
  ]
  for (const [definitions, argv] of cases) {
    const parsed = (await Parser.parse(argv, { flags: definitions as Parameters<typeof Parser.parse>[1]['flags'], strict: true })).flags as Record<string, unknown>
    const given = givenIgnoredFlags(parsed, definitions).map((g) => g.flag)
    assert.equal(given.sort(), argv.map((a) => a.slice(2, a.indexOf('='))).sort())
    for (const name of given) assert.is((definitions as Record<string, { helpGroup?: string }>)[name]!.helpGroup, IGNORED_HELP_GROUP, name)
  }
})

test('defrag and alarm declare the etcdctl/etcd-defrag connection flags they ignore with the shared mechanism, worded for etcd-defrag', async () => {
  const argv = ['--dial-timeout=3s', '--keepalive-time=2s', '--keepalive-timeout=6s', '--insecure-transport=false']
  for (const [definitions, extra] of [[Defrag.flags, ['--insecure-discovery']], [AlarmList.flags, []], [AlarmDisarm.flags, []]] as const) {
    const flags = definitions as unknown as Record<string, FlagShape>
    const parsed = (await Parser.parse(normalizeGoFlagForms([...argv, ...extra], flags), { flags: definitions as Parameters<typeof Parser.parse>[1]['flags'], strict: true })).flags as Record<string, unknown>
    const given = givenIgnoredFlags(parsed, definitions)
    assert.equal(given.map((g) => g.flag).sort(), [...argv, ...extra].map((a) => a.slice(2).split('=')[0]!).sort())
    for (const { flag, tool } of given) {
      assert.is(tool, 'etcd-defrag', flag)
      assert.is((definitions as Record<string, { helpGroup?: string }>)[flag]!.helpGroup, IGNORED_HELP_GROUP, flag)
    }
    assert.is(parsed['command-timeout'], undefined, 'flags with a meaning are not among them')
  }
  assert.is((Defrag.flags as Record<string, { env?: string }>)['dial-timeout']!.env, 'ETCD_DEFRAG_DIAL_TIMEOUT')
  try {
    await Parser.parse(['--keepalive-time=soon'], { flags: AlarmList.flags as Parameters<typeof Parser.parse>[1]['flags'], strict: true })
    assert.unreachable()
  } catch (error) {
    assert.match((error as Error).message, /--keepalive-time: "soon" is not a duration/)
  }
  assert.match(ignoredFlagWarnings([{ flag: 'keepalive-timeout', reason: 'r', tool: 'etcd-defrag' }]).join(''), '--keepalive-timeout is accepted for etcd-defrag compatibility and ignored: r')
})

test.run()
