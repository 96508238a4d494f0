/**
 * Validates the Kubernetes examples under docs/examples/ so they cannot rot:
 *
 * 1. every document against the Kubernetes OpenAPI schema (`kubernetes-models`: types,
 *    required fields, formats) — no API server can run here and `kubectl --dry-run=client`
 *    needs one for its OpenAPI download;
 * 2. no field the API does not know (what `kubectl apply --validate=strict` rejects), from
 *    `@kubernetes/client-node`'s generated attribute maps;
 * 3. references inside a pod (volume mounts → volumes, ConfigMap/Secret names), security
 *    settings (user 65532, read-only root filesystem with writable temp dirs for the Jobs);
 * 4. every `steward` command and flag in the containers' args exists in the built CLI
 *    (oclif.manifest.json) and parses with the command's real flag definitions (oclif's
 *    parser after the Go-form rewrite steward does at start-up).
 *
 * YAML is read as YAML 1.1, as Kubernetes reads it (`0640` is octal).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Config, Flags, Parser } from '@oclif/core'
import * as k8s from '@kubernetes/client-node'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount'
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet'
import { CronJob } from 'kubernetes-models/batch/v1/CronJob'
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role'
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { parseAllDocuments } from 'yaml'
import { normalizeGoFlagForms, type FlagShape } from '../../src/lib/cli/go-flags.ts'

const test = suite('docs/examples: Kubernetes manifests')

const ROOT = join(import.meta.dirname, '..', '..')
const EXAMPLES = join(ROOT, 'docs', 'examples')
const STEWARD_IMAGE = 'steward:latest'

type Obj = Record<string, unknown>
interface Doc {
  file: string
  index: number
  obj: Obj
}

/** Schema validators by `apiVersion/kind` (kubernetes-models classes). */
const MODELS: Record<string, { model: new (data: never) => { validate(): void }; type: string }> = {
  'v1/ServiceAccount': { model: ServiceAccount, type: 'V1ServiceAccount' },
  'v1/ConfigMap': { model: ConfigMap, type: 'V1ConfigMap' },
  'v1/Secret': { model: Secret, type: 'V1Secret' },
  'v1/Service': { model: Service, type: 'V1Service' },
  'apps/v1/StatefulSet': { model: StatefulSet, type: 'V1StatefulSet' },
  'batch/v1/CronJob': { model: CronJob, type: 'V1CronJob' },
  'rbac.authorization.k8s.io/v1/Role': { model: Role, type: 'V1Role' },
  'rbac.authorization.k8s.io/v1/RoleBinding': { model: RoleBinding, type: 'V1RoleBinding' },
}

function loadExamples(): Doc[] {
  const docs: Doc[] = []
  for (const file of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml') && !f.startsWith('prometheus-')).sort()) {
    const parsed = parseAllDocuments(readFileSync(join(EXAMPLES, file), 'utf8'), { version: '1.1' })
    const list = Array.isArray(parsed) ? parsed : [parsed]
    list.forEach((doc, index) => {
      if (doc.errors.length > 0) throw new Error(`${file} document ${index}: ${doc.errors.map((e) => e.message).join('; ')}`)
      const obj = doc.toJS() as Obj | null
      if (obj) docs.push({ file, index, obj })
    })
  }
  return docs
}

const DOCS = loadExamples()
const where = (d: Doc) => `${d.file} #${d.index} (${String(d.obj['kind'])} ${String((d.obj['metadata'] as Obj | undefined)?.['name'])})`

// ---- unknown fields, from @kubernetes/client-node's generated attribute maps ----

interface AttributeType {
  baseName: string
  type: string
}
const MODEL_CLASSES = k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeType[] } | undefined>

/** Paths of fields the type `type` does not declare, below `path`. */
function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return []
  const array = /^Array<(.+)>$/.exec(type)
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1]!, `${path}[${i}]`)) : []
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (map) return typeof value === 'object' ? Object.entries(value as Obj).flatMap(([k, v]) => unknownFields(v, map[1]!, `${path}.${k}`)) : []
  const model = MODEL_CLASSES[type]
  if (!model?.getAttributeTypeMap || typeof value !== 'object' || Array.isArray(value)) return []
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]))
  return Object.entries(value as Obj).flatMap(([key, v]) => {
    const t = attributes.get(key)
    return t === undefined ? [`${path}.${key}`] : unknownFields(v, t, `${path}.${key}`)
  })
}

test('the unknown-field check itself finds a misspelt field', () => {
  const bad = { spec: { template: { spec: { containers: [{ name: 'c', volumeMount: [] }] } } } }
  assert.equal(unknownFields(bad, 'V1StatefulSet', ''), ['.spec.template.spec.containers[0].volumeMount'])
})

test('every document has a known kind, passes the Kubernetes schema and has no unknown field', () => {
  assert.ok(DOCS.length >= 10, `expected the examples, found ${DOCS.length} documents`)
  for (const doc of DOCS) {
    const key = `${String(doc.obj['apiVersion'])}/${String(doc.obj['kind'])}`
    const entry = MODELS[key]
    if (!entry) assert.unreachable(`${where(doc)}: no validator for ${key}; add it to MODELS`)
    try {
      new entry!.model(doc.obj as never).validate()
    } catch (error) {
      assert.unreachable(`${where(doc)}: ${String(error)}`)
    }
    assert.equal(unknownFields(doc.obj, entry!.type, ''), [], `${where(doc)}: fields the API does not know`)
  }
})

test('the schema check itself rejects a wrong type', () => {
  const cronJob = DOCS.find((d) => d.obj['kind'] === 'CronJob')!
  const broken = structuredClone(cronJob.obj) as { spec: { jobTemplate: { spec: { backoffLimit: unknown } } } }
  broken.spec.jobTemplate.spec.backoffLimit = 'two'
  assert.throws(() => new CronJob(broken as never).validate(), /backoffLimit/)
})

// ---- pods ----

interface Container {
  name: string
  image?: string
  args?: string[]
  command?: string[]
  env?: { name: string; value?: string }[]
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[]
  securityContext?: Obj
}
interface PodSpec {
  containers: Container[]
  initContainers?: Container[]
  volumes?: ({ name: string } & Obj)[]
  securityContext?: Obj
  serviceAccountName?: string
}

function podSpecs(): { doc: Doc; pod: PodSpec }[] {
  const out: { doc: Doc; pod: PodSpec }[] = []
  for (const doc of DOCS) {
    const spec = doc.obj['spec'] as Obj | undefined
    if (doc.obj['kind'] === 'StatefulSet') out.push({ doc, pod: (spec!['template'] as Obj)['spec'] as PodSpec })
    if (doc.obj['kind'] === 'CronJob') out.push({ doc, pod: ((((spec!['jobTemplate'] as Obj)['spec'] as Obj)['template'] as Obj)['spec']) as PodSpec })
  }
  return out
}

const named = (kind: string, name: string, namespace: unknown) =>
  DOCS.some((d) => d.obj['kind'] === kind && (d.obj['metadata'] as Obj)['name'] === name && (d.obj['metadata'] as Obj)['namespace'] === namespace)

test('pods: mounts name declared volumes, names are unique, modes are valid, ConfigMaps and ServiceAccounts exist', () => {
  for (const { doc, pod } of podSpecs()) {
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]))
    assert.is(volumes.size, (pod.volumes ?? []).length, `${where(doc)}: duplicate volume names`)
    const claimTemplates = doc.obj['kind'] === 'StatefulSet' ? ((doc.obj['spec'] as Obj)['volumeClaimTemplates'] as { metadata: { name: string } }[] | undefined ?? []).map((c) => c.metadata.name) : []
    const containers = [...(pod.initContainers ?? []), ...pod.containers]
    assert.is(new Set(containers.map((c) => c.name)).size, containers.length, `${where(doc)}: duplicate container names`)
    const namespace = (doc.obj['metadata'] as Obj)['namespace']
    for (const c of containers) {
      const paths = new Set<string>()
      for (const m of c.volumeMounts ?? []) {
        assert.ok(volumes.has(m.name) || claimTemplates.includes(m.name), `${where(doc)} ${c.name}: mount ${m.name} has no volume`)
        assert.not.ok(paths.has(m.mountPath), `${where(doc)} ${c.name}: ${m.mountPath} mounted twice`)
        paths.add(m.mountPath)
      }
    }
    for (const v of volumes.values()) {
      const source = (v['secret'] ?? v['configMap']) as { defaultMode?: number } | undefined
      if (source?.defaultMode !== undefined) assert.ok(source.defaultMode >= 0 && source.defaultMode <= 0o777, `${where(doc)}: volume ${v.name} defaultMode ${source.defaultMode} (octal in YAML 1.1)`)
      const configMap = v['configMap'] as { name: string } | undefined
      if (configMap) assert.ok(named('ConfigMap', configMap.name, namespace), `${where(doc)}: ConfigMap ${configMap.name} is not in the examples`)
    }
    if (pod.serviceAccountName) assert.ok(named('ServiceAccount', pod.serviceAccountName, namespace), `${where(doc)}: ServiceAccount ${pod.serviceAccountName} is not in the examples`)
  }
})

test('pods run as 65532, non-root, without privilege escalation; the Jobs with a read-only root and writable /tmp', () => {
  for (const { doc, pod } of podSpecs()) {
    const sc = pod.securityContext ?? {}
    assert.is(sc['runAsUser'], 65532, `${where(doc)}: runAsUser`)
    assert.is(sc['runAsGroup'], 65532, `${where(doc)}: runAsGroup`)
    assert.is(sc['fsGroup'], 65532, `${where(doc)}: fsGroup`)
    assert.is(sc['runAsNonRoot'], true, `${where(doc)}: runAsNonRoot`)
    for (const c of pod.containers) {
      assert.is(c.securityContext?.['allowPrivilegeEscalation'], false, `${where(doc)} ${c.name}: allowPrivilegeEscalation`)
      if (doc.obj['kind'] !== 'CronJob') continue
      assert.is(c.securityContext?.['readOnlyRootFilesystem'], true, `${where(doc)} ${c.name}: readOnlyRootFilesystem`)
      const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp')
      assert.ok(tmp, `${where(doc)} ${c.name}: /tmp must be a writable volume`)
      const volume = pod.volumes?.find((v) => v.name === tmp!.name)
      assert.ok(volume?.['emptyDir'], `${where(doc)} ${c.name}: /tmp must be an emptyDir`)
      for (const dir of ['--temp-dir=', '--snapstore-temp-directory=', '--data-dir=']) {
        const arg = c.args?.find((a) => a.startsWith(dir))
        if (!arg) continue
        const path = arg.slice(dir.length)
        assert.ok(c.volumeMounts?.some((m) => !m.readOnly && (path === m.mountPath || path.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))), `${where(doc)} ${c.name}: ${arg} is not on a writable volume`)
      }
    }
  }
})

test("druid's pod: wrapper + steward sidecar with druid's args, env, volumes and Role", () => {
  const sts = DOCS.find((d) => d.obj['kind'] === 'StatefulSet')!
  const pod = podSpecs().find((p) => p.doc === sts)!.pod
  assert.equal(pod.containers.map((c) => c.name), ['etcd', 'backup-restore'])
  const sidecar = pod.containers[1]!
  assert.is(sidecar.image, STEWARD_IMAGE)
  assert.is(sidecar.command, undefined, 'druid sets only args; the image ENTRYPOINT is steward')
  assert.is(sidecar.args?.[0], 'server')
  assert.equal(sidecar.env?.map((e) => e.name).slice(0, 3), ['POD_NAME', 'POD_NAMESPACE', 'STORAGE_CONTAINER'])
  const mounts = new Map(sidecar.volumeMounts?.map((m) => [m.mountPath.replace(/\/$/, ''), m.name]))
  assert.is(mounts.get('/var/etcd/data'), 'etcd-main', 'the data volume is shared with the wrapper')
  assert.is(mounts.get('/var/etcd/config'), 'etcd-config-file', 'the ConfigMap steward serves on /config')
  const wrapperArgs = pod.containers[0]!.args ?? []
  assert.is(wrapperArgs[0], 'start-etcd')
  assert.ok(wrapperArgs.includes('--backup-restore-host-port=etcd-main-local:8080'))
  assert.ok(sidecar.args?.includes('--server-port=8080'))
  // The sidecar's ConfigMap parses, and has one initial-cluster entry per replica.
  const configMap = DOCS.find((d) => d.obj['kind'] === 'ConfigMap')!
  const etcdConf = parseAllDocuments(((configMap.obj['data'] as Obj)['etcd.conf.yaml']) as string)[0]!.toJS() as Obj
  assert.is(String(etcdConf['initial-cluster']).split(',').length, (sts.obj['spec'] as Obj)['replicas'])
  // druid's Role: leases without create/delete, statefulsets, pods read-only.
  const role = DOCS.find((d) => d.obj['kind'] === 'Role')!
  const rules = role.obj['rules'] as { apiGroups: string[]; resources: string[]; verbs: string[] }[]
  const verbs = (resource: string) => rules.find((r) => r.resources.includes(resource))?.verbs ?? []
  assert.equal(verbs('leases'), ['get', 'list', 'patch', 'update', 'watch'])
  assert.equal(verbs('statefulsets'), ['get', 'list', 'patch', 'update', 'watch'])
  assert.equal(verbs('pods'), ['get', 'list', 'watch'])
  const binding = DOCS.find((d) => d.obj['kind'] === 'RoleBinding')!
  assert.is((binding.obj['roleRef'] as Obj)['name'], (role.obj['metadata'] as Obj)['name'])
  assert.is((binding.obj['subjects'] as Obj[])[0]!['name'], pod.serviceAccountName)
})

// ---- steward commands and flags ----

interface ManifestFlag {
  name: string
  type: 'boolean' | 'option'
  char?: string
  allowNo?: boolean
  options?: string[]
  aliases?: string[]
}
interface ManifestCommand {
  id: string
  aliases: string[]
  flags: Record<string, ManifestFlag>
}
const MANIFEST = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as { commands: Record<string, ManifestCommand> }


/** Splits `[topic, command, --flags…]` into the command (id or alias) and its arguments. */
function findCommand(args: string[]): { command: ManifestCommand | undefined; id: string; rest: string[] } {
  const words: string[] = []
  for (const arg of args) {
    if (arg.startsWith('-')) break
    words.push(arg)
  }
  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(':')
    const command = Object.values(MANIFEST.commands).find((c) => c.id === id || c.aliases.includes(id))
    if (command) return { command, id, rest: args.slice(n) }
  }
  return { command: undefined, id: words.join(':'), rest: args.slice(words.length) }
}

/** Problems with the flags of one invocation against the manifest's definitions. */
function flagProblems(command: ManifestCommand, rest: string[]): string[] {
  const problems: string[] = []
  const byName = new Map(Object.values(command.flags).flatMap((f) => [[f.name, f] as const, ...(f.aliases ?? []).map((a) => [a, f] as const)]))
  const byChar = new Map(Object.values(command.flags).filter((f) => f.char).map((f) => [f.char!, f]))
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!
    const long = /^--([^=]+)(?:=(.*))?$/s.exec(arg)
    const short = /^-([a-zA-Z])(.*)$/.exec(arg)
    let flag: ManifestFlag | undefined
    let value: string | undefined
    if (long) {
      const name = long[1]!
      flag = byName.get(name) ?? (name.startsWith('no-') && byName.get(name.slice(3))?.allowNo ? byName.get(name.slice(3)) : undefined)
      value = long[2]
      if (!flag) problems.push(`--${name} is not a flag of steward ${command.id}`)
    } else if (short) {
      flag = byChar.get(short[1]!)
      value = short[2] || undefined
      if (!flag) problems.push(`-${short[1]} is not a flag of steward ${command.id}`)
    } else {
      problems.push(`unexpected argument "${arg}" for steward ${command.id}`)
      continue
    }
    if (flag?.type === 'option' && value === undefined) value = rest[++i]
    if (flag?.type === 'option' && flag.options && value !== undefined && !flag.options.includes(value)) problems.push(`--${flag.name}=${value}: not one of ${flag.options.join(', ')}`)
  }
  return problems
}

let oclifConfig: Config | undefined
/** Parses the arguments with the built command's own flag definitions, as `steward` would. */
async function parseWithCommand(id: string, rest: string[]): Promise<void> {
  oclifConfig ??= await Config.load(ROOT)
  const found = oclifConfig.findCommand(id)
  if (!found) throw new Error(`steward ${id}: not in the built CLI (npm run build)`)
  const ctor = (await found.load()) as unknown as { flags?: Obj; baseFlags?: Obj; args?: Obj; enableJsonFlag?: boolean }
  const flags = { ...ctor.baseFlags, ...ctor.flags, ...(ctor.enableJsonFlag ? { json: Flags.boolean() } : {}) }
  const normalized = normalizeGoFlagForms(rest, flags as unknown as Record<string, FlagShape>)
  await Parser.parse(normalized, { flags: flags as never, args: (ctor.args ?? {}) as never, strict: true })
}

function stewardInvocations(): { doc: Doc; container: Container }[] {
  return podSpecs().flatMap(({ doc, pod }) => pod.containers.filter((c) => c.image === STEWARD_IMAGE).map((container) => ({ doc, container })))
}

test('the flag check itself catches a misspelt flag, a bad option value and an unknown command', () => {
  const snapshot = MANIFEST.commands['snapshot']!
  assert.equal(flagProblems(snapshot, ['--store-prefx=a']), ['--store-prefx is not a flag of steward snapshot'])
  assert.equal(flagProblems(snapshot, ['--kind', 'partial']), ['--kind=partial: not one of full, delta'])
  assert.is(findCommand(['snapshots', '--json']).command, undefined)
  assert.is(findCommand(['server', '--server-port=8080']).command?.id, 'serve', 'aliases resolve')
})

test('every steward command and flag in the examples exists in the built CLI and parses', async () => {
  const invocations = stewardInvocations()
  const used = new Set<string>()
  for (const { doc, container } of invocations) {
    const args = container.args ?? []
    const { command, id, rest } = findCommand(args)
    const label = `${where(doc)} container ${container.name}: steward ${args.join(' ')}`
    assert.ok(command, `${label}: no command "${id}" in oclif.manifest.json`)
    used.add(command!.id)
    assert.equal(flagProblems(command!, rest), [], label)
    try {
      await parseWithCommand(command!.id, rest)
    } catch (error) {
      assert.unreachable(`${label}: ${String(error)}`)
    }
  }
  assert.equal([...used].sort(), ['defrag', 'gc', 'serve', 'snapshot', 'verify'], 'the examples cover serve and the four CronJobs')
})

test.run()
