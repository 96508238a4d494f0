/**
 * Checks docs/examples/prometheus-rules.yaml and docs/examples/grafana-dashboard.json:
 *
 * - the rule file has Prometheus' rule-file shape (groups → rules with alert/record, expr,
 *   for, labels, annotations; nothing else) and holds the equivalents of Gardener's etcd backup
 *   alerts;
 * - the dashboard is a Grafana dashboard (uid, title, panels with unique ids inside the grid,
 *   targets on the `datasource` variable);
 * - every expression parses with Prometheus' own PromQL grammar (@prometheus-io/lezer-promql),
 *   and every metric it selects is exported: etcdbr_* / steward_* / process_* by steward (the
 *   `/metrics` of an in-process `steward serve` runtime, built as serve builds it), etcd_* by a
 *   real etcd 3.5 (its `/metrics`), `up` by Prometheus itself. Label matchers must name labels
 *   the metric has (or target labels), and values the metric pre-initialises.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parser } from '@prometheus-io/lezer-promql'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parse } from 'yaml'
import { startEtcdCluster } from '../harness/etcd.ts'
import { routeRig } from '../lib/serve/helpers.ts'

const test = suite('docs/examples: Prometheus rules and Grafana dashboard')

const EXAMPLES = join(import.meta.dirname, '..', '..', 'docs', 'examples')
const RULES_FILE = join(EXAMPLES, 'prometheus-rules.yaml')
const DASHBOARD_FILE = join(EXAMPLES, 'grafana-dashboard.json')

/** Labels Prometheus adds from the scrape target. */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'container', 'service', 'endpoint'])
/** Series Prometheus produces itself for every target. */
const PROMETHEUS_SERIES = new Set(['up'])

type Obj = Record<string, unknown>

// ---- exposition text ----

/** Sample names with their label names and values; families from `# TYPE` even without samples. */
interface Exported {
  /** sample name → label name → values seen */
  samples: Map<string, Map<string, Set<string>>>
  /** every name a query may use: sample names, and families (+ _bucket/_sum/_count) from # TYPE */
  names: Set<string>
}

function parseExposition(text: string): Exported {
  const samples = new Map<string, Map<string, Set<string>>>()
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line)
    if (type) {
      names.add(type[1]!)
      if (type[2] === 'histogram' || type[2] === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(type[1]! + suffix)
      continue
    }
    if (line.startsWith('#') || line.trim() === '') continue
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s/.exec(line)
    if (!sample) continue
    names.add(sample[1]!)
    const labels = samples.get(sample[1]!) ?? new Map<string, Set<string>>()
    for (const [, name, value] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      const values = labels.get(name!) ?? new Set<string>()
      values.add(value!)
      labels.set(name!, values)
    }
    samples.set(sample[1]!, labels)
  }
  return { samples, names }
}

async function stewardMetrics(): Promise<Exported> {
  // A serve runtime with a store, so the snapshotter and every store-dependent component exist.
  const rig = await routeRig({ store: 'fixture' })
  try {
    const res = await rig.request('/metrics')
    assert.is(res.status, 200)
    return parseExposition(await res.text())
  } finally {
    await rig.close()
  }
}

async function etcdMetrics(): Promise<Exported> {
  const cluster = await startEtcdCluster()
  try {
    const res = await fetch(`${cluster.members[0]!.metricsUrl}/metrics`)
    assert.is(res.status, 200)
    return parseExposition(await res.text())
  } finally {
    await cluster.stop()
  }
}

// ---- PromQL ----

interface Selector {
  metric: string
  matchers: { label: string; op: string; value: string }[]
}

/**
 * The vector selectors of a PromQL expression, from Prometheus' lezer grammar.
 * @throws Error naming the position of a syntax error, or a selector without a metric name
 */
function selectorsOf(expr: string): Selector[] {
  const tree = parser.parse(expr)
  const out: Selector[] = []
  const cursor = tree.cursor()
  do {
    if (cursor.type.isError) throw new Error(`PromQL syntax error at ${cursor.from}: …${expr.slice(Math.max(0, cursor.from - 20), cursor.from + 20)}…`)
    if (cursor.type.name !== 'VectorSelector') continue
    const node = cursor.node
    const identifier = node.getChild('Identifier')
    if (!identifier) throw new Error(`selector without a metric name: ${expr.slice(node.from, node.to)}`)
    const matchers: Selector['matchers'] = []
    for (const m of node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
      const label = m.getChild('LabelName')
      const op = m.getChild('MatchOp')
      const value = m.getChild('StringLiteral')
      if (label && op && value) matchers.push({ label: expr.slice(label.from, label.to), op: expr.slice(op.from, op.to), value: JSON.parse(expr.slice(value.from, value.to)) as string })
    }
    out.push({ metric: expr.slice(identifier.from, identifier.to), matchers })
  } while (cursor.next())
  return out
}

/** Grafana's variables replaced by values PromQL accepts. */
function withoutGrafanaVariables(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$__range', '1h').replace(/\$\{?(\w+)\}?/g, 'x')
}

test('the PromQL check itself finds selectors and rejects broken syntax', () => {
  assert.equal(selectorsOf('sum by (le) (rate(a_b_bucket{kind="Full", x=~"y"}[5m])) > on (pod) c').map((s) => s.metric), ['a_b_bucket', 'c'])
  assert.equal(selectorsOf('rate(a{kind="Full"}[5m])')[0]!.matchers, [{ label: 'kind', op: '=', value: 'Full' }])
  assert.throws(() => selectorsOf('sum(rate(a[5m])'), /syntax error/)
  assert.throws(() => selectorsOf('{__name__="a"}'), /without a metric name/)
})

// ---- the files ----

interface Rule {
  alert?: string
  record?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

function loadRules(): { name: string; rules: Rule[] }[] {
  const file = parse(readFileSync(RULES_FILE, 'utf8')) as Obj
  assert.equal(Object.keys(file), ['groups'], 'a rule file holds only `groups`')
  return file['groups'] as { name: string; rules: Rule[] }[]
}

interface Panel {
  id: number
  type: string
  title: string
  gridPos: { x: number; y: number; w: number; h: number }
  datasource?: { uid: string }
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[]
}

function loadDashboard(): Obj & { panels: Panel[]; templating: { list: { name: string; type: string; query?: unknown }[] } } {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Obj & { panels: Panel[]; templating: { list: { name: string; type: string; query?: unknown }[] } }
}

test("the rule file has Prometheus' rule-file shape and Gardener's four backup alerts", () => {
  const groups = loadRules()
  assert.ok(groups.length > 0)
  const duration = /^(\d+(ms|s|m|h|d|w|y))+$/
  const groupNames = new Set<string>()
  const alerts: string[] = []
  for (const group of groups) {
    assert.not.ok(groupNames.has(group.name), `group ${group.name} twice`)
    groupNames.add(group.name)
    for (const key of Object.keys(group)) assert.ok(['name', 'interval', 'limit', 'rules', 'labels', 'query_offset'].includes(key), `group ${group.name}: unknown key ${key}`)
    assert.ok(Array.isArray(group.rules) && group.rules.length > 0, `group ${group.name}: rules`)
    for (const rule of group.rules) {
      const id = rule.alert ?? rule.record ?? '?'
      assert.ok((rule.alert === undefined) !== (rule.record === undefined), `${id}: exactly one of alert / record`)
      for (const key of Object.keys(rule)) assert.ok(['alert', 'record', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'].includes(key), `${id}: unknown key ${key}`)
      assert.type(rule.expr, 'string', `${id}: expr`)
      if (rule.for !== undefined) assert.match(rule.for, duration, `${id}: for`)
      for (const map of [rule.labels, rule.annotations]) for (const [k, v] of Object.entries(map ?? {})) assert.type(v, 'string', `${id}: ${k} must be a string`)
      assert.ok(rule.labels?.['severity'], `${id}: severity label`)
      if (rule.alert) alerts.push(rule.alert)
    }
  }
  assert.is(new Set(alerts).size, alerts.length, 'alert names are unique')
  for (const name of ['EtcdDeltaBackupFailed', 'EtcdFullBackupFailed', 'EtcdRestorationFailed', 'EtcdBackupRestoreDown']) assert.ok(alerts.includes(name), `missing ${name}`)
})

test('the dashboard has Grafana\'s shape: unique panel ids inside the grid, targets on the datasource variable', () => {
  const dashboard = loadDashboard()
  assert.type(dashboard['uid'], 'string')
  assert.type(dashboard['title'], 'string')
  assert.type(dashboard['schemaVersion'], 'number')
  assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'))
  const ids = new Set<number>()
  for (const panel of dashboard.panels) {
    assert.not.ok(ids.has(panel.id), `panel id ${panel.id} twice`)
    ids.add(panel.id)
    assert.ok(panel.gridPos.x >= 0 && panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title}: gridPos outside the 24 columns`)
    if (panel.type === 'row') continue
    assert.ok(panel.targets && panel.targets.length > 0, `${panel.title}: targets`)
    for (const target of panel.targets!) {
      assert.is(target.datasource?.uid, '${datasource}', `${panel.title} ${target.refId}: datasource variable`)
      assert.type(target.expr, 'string')
    }
  }
  const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(' | ')
  for (const topic of ['full snapshot', 'delta snapshot', 'snapshot duration', 'database size', 'restore', 'defragmentation', 'failures', 'leader']) assert.ok(titles.includes(topic), `no panel about ${topic}`)
})

test('every metric the rules and the dashboard query is exported (steward, etcd, Prometheus), with existing labels and values', async () => {
  const [steward, etcd] = [await stewardMetrics(), await etcdMetrics()]
  const queries: { where: string; expr: string }[] = []
  for (const group of loadRules()) for (const rule of group.rules) queries.push({ where: `rule ${rule.alert ?? rule.record}`, expr: rule.expr })
  const dashboard = loadDashboard()
  for (const panel of dashboard.panels) for (const target of panel.targets ?? []) queries.push({ where: `panel "${panel.title}" ${target.refId}`, expr: withoutGrafanaVariables(target.expr) })
  for (const variable of dashboard.templating.list) {
    const query = (variable.query as { query?: string } | undefined)?.query
    const inner = query ? /^label_values\((.*),\s*\w+\)$/.exec(query) : null
    if (inner) queries.push({ where: `variable ${variable.name}`, expr: withoutGrafanaVariables(inner[1]!) })
  }
  const fromSteward = new Set<string>()
  const fromEtcd = new Set<string>()
  for (const { where, expr } of queries) {
    let selectors: Selector[] = []
    try {
      selectors = selectorsOf(expr)
    } catch (error) {
      assert.unreachable(`${where}: ${String(error)}`)
    }
    assert.ok(selectors.length > 0, `${where}: selects no metric`)
    for (const { metric, matchers } of selectors) {
      if (PROMETHEUS_SERIES.has(metric)) continue
      const source = metric.startsWith('etcd_') ? etcd : steward
      assert.ok(source.names.has(metric), `${where}: ${metric} is not exported by ${source === etcd ? 'etcd' : 'steward'}`)
      ;(source === etcd ? fromEtcd : fromSteward).add(metric)
      const labels = source.samples.get(metric)
      if (!labels) continue // a labelled counter with no sample yet: its labels cannot be seen
      for (const { label, op, value } of matchers) {
        if (TARGET_LABELS.has(label)) continue
        assert.ok(labels.has(label), `${where}: ${metric} has no label ${label} (has ${[...labels.keys()].join(', ') || 'none'})`)
        if (op === '=') assert.ok(labels.get(label)!.has(value), `${where}: ${metric}{${label}="${value}"}: steward exports ${[...labels.get(label)!].join(', ')}`)
      }
    }
  }
  // The backup metrics Gardener's alerts read are the core; they must all be in use.
  for (const name of ['etcdbr_snapshot_latest_timestamp', 'etcdbr_snapshot_required', 'etcdbr_restoration_duration_seconds_count', 'etcdbr_snapshotter_failure', 'etcdbr_snapshot_duration_seconds_bucket', 'etcdbr_defragmentation_duration_seconds_bucket']) {
    assert.ok(fromSteward.has(name), `${name} is not queried`)
  }
  assert.ok(fromEtcd.has('etcd_server_is_leader'), 'leadership comes from etcd_server_is_leader')
})

test.run()
