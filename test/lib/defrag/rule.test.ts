import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compileRule, ruleVariables } from '../../../src/lib/defrag/rule.ts'
import { isStewardError } from '../../../src/lib/errors.ts'

const test = suite('--defrag-rule (jsep parser, Go numeric semantics)')
const MiB = 1024 * 1024
const vars = ruleVariables(1800 * MiB, 300 * MiB, 2048 * MiB)

function rejects(source: string, pattern: RegExp): void {
  try {
    compileRule(source)
  } catch (error) {
    assert.ok(isStewardError(error, 'DEFRAG_RULE_INVALID'), String(error))
    assert.match((error as Error).message, pattern)
    return
  }
  assert.unreachable(`${source} was accepted`)
}

test('etcd-defrag README rules', () => {
  assert.is(compileRule('dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024').evaluate(vars), true)
  assert.is(compileRule('dbSize > dbQuota*80/100').evaluate(vars), true)
  assert.is(compileRule('dbSize - dbSizeInUse > 2000*1024*1024').evaluate(vars), false)
  assert.is(compileRule('!(dbQuotaUsage < 0.5) && dbSizeFree >= 1').evaluate(vars), true)
})

test('integer literals keep Go integer division and remainder; floats do not', () => {
  assert.is(compileRule('80/100 == 0').evaluate(vars), true, '80/100 is 0 as in Go')
  assert.is(compileRule('80/100*dbQuota == 0').evaluate(vars), true)
  assert.is(compileRule('-7/2 == -3').evaluate(vars), true, 'truncates toward zero')
  assert.is(compileRule('7 % 3 == 1').evaluate(vars), true)
  assert.is(compileRule('80.0/100 == 0.8').evaluate(vars), true)
  assert.is(compileRule('dbQuota*0.8 > 0 ? true : false').evaluate(vars), true)
})

test('errors name the position or the sub-expression, before any evaluation against a member', () => {
  rejects('dbSize >', /does not parse at position 9/)
  rejects('dbSize > > 1', /does not parse at position 10/)
  rejects('dbQuotaUsage', /not a boolean/)
  rejects('dbSize + 1', /not a boolean/)
  rejects('dbsize > 1', /unknown name "dbsize" \(position 1\)/)
  rejects('dbSize > 1 && dbSizeFree', /"&&" applied to a number at "dbSizeFree" \(position 15\)/)
  rejects('process.exit(1)', /unsupported construct/)
  rejects('dbSize > 1/0', /divides by zero at "1 \/ 0"/)
  rejects('"a" == "a"', /unsupported literal/)
})

test('division by zero in a member\'s values is an error, not Infinity', () => {
  const rule = compileRule('dbSize / dbSizeInUse > 2')
  assert.throws(() => rule.evaluate(ruleVariables(10, 0, 100)), /divides by zero/)
})

test.run()
