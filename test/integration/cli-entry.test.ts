/** Both entry points work: bin/run.js (the build) and bin/dev.js (the TypeScript sources). */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'

const test = suite('CLI entry points')
const fixtureStore = fileURLToPath(new URL('../../fixtures/etcdbr-v2/final', import.meta.url))

for (const entry of ['run.js', 'dev.js']) {
  test(`bin/${entry} lists an etcdbrctl store, latest set = the final full snapshot`, () => {
    const bin = fileURLToPath(new URL(`../../bin/${entry}`, import.meta.url))
    const result = spawnSync(process.execPath, [bin, 'snapshot', 'list', '--storage-provider', 'Local', '--store-container', fixtureStore, '--store-prefix', 'etcd-main', '--json'], { encoding: 'utf8' })
    assert.is(result.status, 0, result.stderr)
    const listing = JSON.parse(result.stdout) as { snapshots: unknown[]; restoreSet: { full: string; deltas: string[]; reachesRevision: number } }
    assert.is(listing.snapshots.length, 6)
    assert.match(listing.restoreSet.full, /^Full-00000000-00000105-\d+\.gz\.final$/)
    assert.equal(listing.restoreSet.deltas, [])
    assert.is(listing.restoreSet.reachesRevision, 105)
  })
}

test.run()
