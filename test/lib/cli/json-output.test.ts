/**
 * `--json` documents are written by steward's own lean writer (base-command.ts jsonDocument)
 * instead of oclif's logJson; scripts parse them, so the bytes must stay what oclif printed
 * (without a colour theme, as off a terminal).
 */
import { ux } from '@oclif/core'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { jsonDocument } from '../../../src/lib/cli/base-command.ts'

const documents: unknown[] = [
  { kind: 'Full', name: 'Full-00000000-00000022-1795373644', revision: 22, sizeBytes: 20480, isFinal: false, compression: null },
  { snapshots: [], nested: { empty: {}, list: [1, 2.5, -3e21, 'x'], deep: [[{ a: [] }]] } },
  { text: 'quotes " and \\ backslashes, tab\t, newline\n, unicode ü € 😀, control \u0001', '%s': '%d %% not a format' },
  { error: { code: 'CONFIG_INVALID', exitCode: 78, reason: 'bad', hints: ['see --help'], details: { key: 'store.prefix' } } },
  Array.from({ length: 50 }, (_, i) => ({ key: `v2/Incr-${i}`, size: i * 1000, at: new Date(Date.UTC(2026, 0, 1, 0, i)) })),
  [],
  '{"fromString": [1, {"x": null}]}',
]

test('jsonDocument gives the bytes oclif printed for the same document (no theme)', () => {
  for (const document of documents) {
    const oclif = `${ux.colorizeJson(document as object, { pretty: true })}\n`
    assert.is(jsonDocument(document), oclif)
  }
})

test('a string document is parsed and re-indented, as oclif does', () => {
  assert.is(jsonDocument('{"a":[1,{"b":2}]}'), '{\n  "a": [\n    1,\n    {\n      "b": 2\n    }\n  ]\n}\n')
})

test.run()
