/**
 * `--defrag-rule`: a boolean expression over a member's sizes that decides whether it is
 * defragmented, in etcd-defrag's language (a Go-like expression, see docs/defrag.md "Rules").
 *
 * Parsing is jsep's (a maintained, eval-free JavaScript expression parser); evaluation is ours,
 * over jsep's syntax tree, so that numbers follow Go's (and etcd-defrag's expression engine's)
 * rules rather than JavaScript's:
 *  - a literal without `.` or exponent is an integer; the five variables are floats;
 *  - int op int stays an integer: `/` truncates toward zero (`80/100` is 0), `%` is the integer
 *    remainder; as soon as one side is a float the operation is a float one (`dbQuota*80/100`);
 *  - dividing by zero (int or float) is an error, not Infinity;
 *  - integers are JavaScript numbers, exact up to 2^53 (Go's int64 wraps at 2^63 instead).
 * Nothing but the variables, number and boolean literals, parentheses, unary `- + ! ~`,
 * binary `+ - * / % **`, comparisons, `&& ||`, bit operators on integers and `?:` is accepted.
 */
import jsepModule from 'jsep'
import { StewardError } from '../errors.ts'

/** The sizes a rule can use, in bytes (`dbQuotaUsage` is a ratio). */
export interface RuleVariables {
  /** Physical size of the backend database (Status.dbSize). */
  readonly dbSize: number
  /** Bytes of the backend in use (Status.dbSizeInUse). */
  readonly dbSizeInUse: number
  /** dbSize − dbSizeInUse. */
  readonly dbSizeFree: number
  /** The quota from `--etcd-storage-quota-bytes`. */
  readonly dbQuota: number
  /** dbSize / dbQuota. */
  readonly dbQuotaUsage: number
}

export const RULE_VARIABLES = ['dbSize', 'dbSizeInUse', 'dbSizeFree', 'dbQuota', 'dbQuotaUsage'] as const

/** A parsed, type-checked rule. */
export interface DefragRule {
  readonly source: string
  /** Whether the member with these sizes is to be defragmented. @throws StewardError DEFRAG_RULE_INVALID (e.g. division by zero) */
  evaluate(variables: RuleVariables): boolean
}

/** Builds the rule variables from a member's sizes and the configured quota. */
export function ruleVariables(dbSizeBytes: number, dbSizeInUseBytes: number, quotaBytes: number): RuleVariables {
  return { dbSize: dbSizeBytes, dbSizeInUse: dbSizeInUseBytes, dbSizeFree: dbSizeBytes - dbSizeInUseBytes, dbQuota: quotaBytes, dbQuotaUsage: dbSizeBytes / quotaBytes }
}

/** Sample sizes a rule is tried with before any work (etcd-defrag's: 2 GiB quota, 100 MiB size, 60 MiB in use). */
const SAMPLE = ruleVariables(100 * 1024 * 1024, 60 * 1024 * 1024, 2 * 1024 * 1024 * 1024)

/**
 * Parses and checks `source`: it must parse, use only the five variables and yield a boolean
 * for every input (checked on the syntax tree, then by evaluating it once with sample sizes).
 * @throws StewardError DEFRAG_RULE_INVALID naming the character position or the sub-expression
 */
export function compileRule(source: string): DefragRule {
  const jsep = (jsepModule as unknown as { default?: typeof jsepModule }).default ?? jsepModule
  let tree: Node
  try {
    tree = jsep(source) as unknown as Node
  } catch (error) {
    const { index, description } = error as { index?: number; description?: string }
    throw invalid(source, `does not parse at position ${(index ?? 0) + 1}: ${description ?? String(error)}`)
  }
  const type = typeOf(tree, source)
  if (type !== 'bool') throw invalid(source, `yields a number at position 1, not a boolean (compare it, e.g. "dbQuotaUsage > 0.8")`)
  const rule: DefragRule = {
    source,
    evaluate(variables) {
      const value = evaluate(tree, variables, source)
      if (value.kind !== 'bool') throw invalid(source, 'did not yield a boolean')
      return value.v
    },
  }
  rule.evaluate(SAMPLE)
  return rule
}

// --- internals ---

interface Node {
  type: string
  operator?: string
  name?: string
  value?: unknown
  raw?: string
  left?: Node
  right?: Node
  argument?: Node
  test?: Node
  consequent?: Node
  alternate?: Node
}

type Value = { kind: 'int'; v: number } | { kind: 'float'; v: number } | { kind: 'bool'; v: boolean }
type Type = 'num' | 'bool'

const ARITHMETIC = new Set(['+', '-', '*', '/', '%', '**'])
const BITWISE = new Set(['|', '&', '^', '<<', '>>'])
const ORDERING = new Set(['<', '>', '<=', '>='])
const EQUALITY = new Set(['==', '!='])
const LOGICAL = new Set(['&&', '||'])

function invalid(source: string, reason: string): StewardError {
  return new StewardError('DEFRAG_RULE_INVALID', 'defrag', `--defrag-rule ${JSON.stringify(source)} ${reason}`, {
    details: { rule: source },
    hints: [`use ${RULE_VARIABLES.join(', ')} with + - * / % ** comparisons && || ! and parentheses, e.g. "dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024"`],
  })
}

/** The text of a sub-expression, for error messages. */
function text(node: Node): string {
  switch (node.type) {
    case 'Literal':
      return node.raw ?? String(node.value)
    case 'Identifier':
      return node.name ?? '?'
    case 'UnaryExpression':
      return `${node.operator}${text(node.argument as Node)}`
    case 'BinaryExpression':
      return `(${text(node.left as Node)} ${node.operator} ${text(node.right as Node)})`
    case 'ConditionalExpression':
      return `(${text(node.test as Node)} ? ${text(node.consequent as Node)} : ${text(node.alternate as Node)})`
    default:
      return node.type
  }
}

function at(node: Node, source: string): string {
  const t = text(node).replace(/^\((.*)\)$/, '$1')
  const index = source.indexOf(t)
  return index >= 0 ? `"${t}" (position ${index + 1})` : `"${t}"`
}

/** Static type of a node; throws for names and constructs the language does not have. */
function typeOf(node: Node, source: string): Type {
  const expect = (child: Node, want: Type, what: string): void => {
    const got = typeOf(child, source)
    if (got !== want) throw invalid(source, `has ${what} applied to a ${got === 'bool' ? 'boolean' : 'number'} at ${at(child, source)}`)
  }
  switch (node.type) {
    case 'Literal':
      if (typeof node.value === 'number') return 'num'
      if (typeof node.value === 'boolean') return 'bool'
      throw invalid(source, `has an unsupported literal ${at(node, source)} (only numbers, true and false)`)
    case 'Identifier':
      if ((RULE_VARIABLES as readonly string[]).includes(node.name ?? '')) return 'num'
      throw invalid(source, `uses the unknown name ${at(node, source)} (known: ${RULE_VARIABLES.join(', ')})`)
    case 'UnaryExpression':
      if (node.operator === '!') return expect(node.argument as Node, 'bool', '"!"'), 'bool'
      if (node.operator === '-' || node.operator === '+' || node.operator === '~') return expect(node.argument as Node, 'num', `"${node.operator}"`), 'num'
      throw invalid(source, `uses the unsupported operator "${node.operator}" at ${at(node, source)}`)
    case 'BinaryExpression': {
      const op = node.operator ?? ''
      const [left, right] = [node.left as Node, node.right as Node]
      if (ARITHMETIC.has(op) || BITWISE.has(op) || ORDERING.has(op)) {
        expect(left, 'num', `"${op}"`)
        expect(right, 'num', `"${op}"`)
        return ORDERING.has(op) ? 'bool' : 'num'
      }
      if (LOGICAL.has(op)) {
        expect(left, 'bool', `"${op}"`)
        expect(right, 'bool', `"${op}"`)
        return 'bool'
      }
      if (EQUALITY.has(op)) {
        const t = typeOf(left, source)
        expect(right, t, `"${op}"`)
        return 'bool'
      }
      throw invalid(source, `uses the unsupported operator "${op}" at ${at(node, source)}`)
    }
    case 'ConditionalExpression': {
      expect(node.test as Node, 'bool', 'the "?" condition')
      const t = typeOf(node.consequent as Node, source)
      expect(node.alternate as Node, t, 'the ":" branch')
      return t
    }
    default:
      throw invalid(source, `uses an unsupported construct (${node.type}) at ${at(node, source)}`)
  }
}

function num(value: Value): number {
  return value.v as number
}

function evaluate(node: Node, vars: RuleVariables, source: string): Value {
  switch (node.type) {
    case 'Literal':
      if (typeof node.value === 'boolean') return { kind: 'bool', v: node.value }
      return /^[0-9]+$/.test(node.raw ?? '') ? { kind: 'int', v: node.value as number } : { kind: 'float', v: node.value as number }
    case 'Identifier':
      return { kind: 'float', v: vars[node.name as keyof RuleVariables] }
    case 'UnaryExpression': {
      const a = evaluate(node.argument as Node, vars, source)
      if (node.operator === '!') return { kind: 'bool', v: !a.v }
      if (node.operator === '~') {
        if (a.kind !== 'int') throw invalid(source, `applies "~" to a float at ${at(node, source)}`)
        return { kind: 'int', v: ~num(a) }
      }
      return { kind: a.kind as 'int', v: node.operator === '-' ? -num(a) : num(a) }
    }
    case 'ConditionalExpression':
      return evaluate(node.test as Node, vars, source).v ? evaluate(node.consequent as Node, vars, source) : evaluate(node.alternate as Node, vars, source)
    case 'BinaryExpression': {
      const op = node.operator ?? ''
      if (op === '&&' || op === '||') {
        const left = evaluate(node.left as Node, vars, source).v as boolean
        if (op === '&&' ? !left : left) return { kind: 'bool', v: left }
        return { kind: 'bool', v: evaluate(node.right as Node, vars, source).v as boolean }
      }
      const a = evaluate(node.left as Node, vars, source)
      const b = evaluate(node.right as Node, vars, source)
      if (op === '==') return { kind: 'bool', v: a.v === b.v }
      if (op === '!=') return { kind: 'bool', v: a.v !== b.v }
      const [x, y] = [num(a), num(b)]
      if (op === '<') return { kind: 'bool', v: x < y }
      if (op === '>') return { kind: 'bool', v: x > y }
      if (op === '<=') return { kind: 'bool', v: x <= y }
      if (op === '>=') return { kind: 'bool', v: x >= y }
      const ints = a.kind === 'int' && b.kind === 'int'
      if ((op === '/' || op === '%') && y === 0) throw invalid(source, `divides by zero at ${at(node, source)}`)
      if (BITWISE.has(op)) {
        if (!ints) throw invalid(source, `applies "${op}" to a float at ${at(node, source)}`)
        const r = op === '|' ? x | y : op === '&' ? x & y : op === '^' ? x ^ y : op === '<<' ? x << y : x >> y
        return { kind: 'int', v: r }
      }
      if (op === '**') return { kind: 'float', v: x ** y }
      const r = op === '+' ? x + y : op === '-' ? x - y : op === '*' ? x * y : op === '/' ? x / y : x % y
      return ints ? { kind: 'int', v: op === '/' ? Math.trunc(r) : r } : { kind: 'float', v: r }
    }
    default:
      throw invalid(source, `uses an unsupported construct (${node.type})`)
  }
}
