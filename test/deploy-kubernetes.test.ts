/**
 * deploy/kubernetes/: no cluster runs here, so the manifests are checked against the Kubernetes API's
 * own schemas as the npm package kubernetes-models 4.5.1 ships them (generated from Kubernetes
 * v1.33.0's OpenAPI): every document validates, and none has a field the API does not define (what
 * `kubectl apply`'s strict field validation rejects; the JSON schemas allow unknown fields, so the
 * package's TypeScript types check that). Then the contracts between the files and the CLI: probe
 * paths and ports, variable names, shutdown timing, selectors, the kustomization's resource list.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import ts from 'typescript'
import { DEFAULT_PORT } from '../bin/server.js'
import { ROOT, cliVariables, seconds, yamlDocuments } from './helpers/deploy.js'

const DIR = 'deploy/kubernetes'
const KUSTOMIZATION = 'kustomization.yaml'
/** The Kubernetes version whose schemas kubernetes-models (pinned in package.json) was generated from. */
const KUBERNETES_VERSION = '1.33'

interface Manifest { file: string, index: number, apiVersion: string, kind: string, metadata: { name: string, namespace?: string, labels?: Record<string, string> }, [key: string]: unknown }

interface Probe { httpGet?: { path: string, port: number | string } }
interface Container {
  name: string
  image: string
  args?: string[]
  ports?: Array<{ name?: string, containerPort: number }>
  env?: Array<{ name: string, value?: string }>
  envFrom?: Array<{ configMapRef?: { name: string }, secretRef?: { name: string } }>
  livenessProbe?: Probe
  readinessProbe?: Probe
  startupProbe?: Probe
  securityContext?: { readOnlyRootFilesystem?: boolean, allowPrivilegeEscalation?: boolean, runAsNonRoot?: boolean }
  volumeMounts?: Array<{ name: string, mountPath: string }>
}
interface PodSpec {
  containers: Container[]
  terminationGracePeriodSeconds?: number
  securityContext?: { runAsNonRoot?: boolean, runAsUser?: number }
  volumes?: Array<{ name: string, emptyDir?: unknown, persistentVolumeClaim?: unknown }>
}
interface PodTemplate { metadata: { labels: Record<string, string> }, spec: PodSpec }

async function manifests (): Promise<Manifest[]> {
  const files = (await readdir(join(ROOT, DIR))).filter((f) => /\.ya?ml$/.test(f) && f !== KUSTOMIZATION).sort()
  const all: Manifest[] = []
  for (const file of files) {
    for (const [index, doc] of (await yamlDocuments(join(DIR, file))).entries()) all.push({ ...(doc as Manifest), file, index })
  }
  return all
}

/** kubernetes-models' module for an apiVersion and kind: core `v1` is `v1/Kind`, `apps/v1` is `apps/v1/Kind`. */
function modelPath (m: Manifest): string {
  return `kubernetes-models/${m.apiVersion}/${m.kind}`
}

function named (m: Manifest): string {
  return `${m.file}#${m.index} ${m.kind}/${m.metadata?.name}`
}

function only (all: Manifest[], kind: string): Manifest[] {
  return all.filter((m) => m.kind === kind)
}

function podTemplate (m: Manifest): PodTemplate {
  const spec = m.spec as { template?: PodTemplate, jobTemplate?: { spec: { template: PodTemplate } } }
  const template = spec.template ?? spec.jobTemplate?.spec.template
  if (template === undefined) throw new Error(`${named(m)} has no pod template`)
  return template
}

function labelsMatch (selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v)
}

test(`every manifest validates against Kubernetes ${KUBERNETES_VERSION}'s schema (kubernetes-models)`, async (t) => {
  const all = await manifests()
  t.true(all.length >= 6, `${all.length} documents`)
  for (const m of all) {
    t.is(typeof m.apiVersion, 'string', `${m.file}#${m.index}: apiVersion`)
    t.is(typeof m.kind, 'string', `${m.file}#${m.index}: kind`)
    t.is(m.metadata?.namespace, undefined, `${named(m)}: no namespace (applied with -n)`)
    const mod = await import(modelPath(m)) as Record<string, new (data: unknown) => { validate: () => void }>
    const Model = mod[m.kind]
    t.is(typeof Model, 'function', `${named(m)}: ${modelPath(m)} exports ${m.kind}`)
    const { file: _file, index: _index, ...data } = m
    t.notThrows(() => { new Model(data).validate() }, named(m))
  }
})

test('no manifest has a field the Kubernetes API does not define (strict, as kubectl apply)', async (t) => {
  const all = await manifests()
  // One TypeScript file that assigns each document, as an object literal, to its kind's interface:
  // excess property checks reject unknown fields at any depth. The file exists only in memory.
  const file = join(ROOT, 'test', '.k8s-manifests.generated.ts')
  const chunks = all.map((m, i) => {
    const { file: _file, index: _index, ...data } = m
    return `import type { I${m.kind} as T${i} } from '${modelPath(m)}'\nexport const doc${i}: T${i} = ${JSON.stringify(data, null, 2)}\n`
  })
  const source = chunks.join('\n')
  /** The first line of each document's chunk, to name the document a diagnostic is in. */
  const starts = chunks.map((_c, i) => chunks.slice(0, i).join('\n').split('\n').length - 1 + (i === 0 ? 0 : 1))
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: [] }
  const host = ts.createCompilerHost(options)
  const { getSourceFile, fileExists, readFile } = host
  host.getSourceFile = (name, language, ...rest) => name === file ? ts.createSourceFile(name, source, language) : getSourceFile.call(host, name, language, ...rest)
  host.fileExists = (name) => name === file || fileExists.call(host, name)
  host.readFile = (name) => name === file ? source : readFile.call(host, name)
  const program = ts.createProgram([file], options, host)
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    if (d.file === undefined || d.start === undefined) return message
    const { line } = d.file.getLineAndCharacterOfPosition(d.start)
    const doc = starts.findLastIndex((start) => start <= line)
    return `${named(all[doc])}, near "${source.split('\n')[line].trim()}": ${message}`
  })
  t.deepEqual(problems, [])
})

test('kustomization.yaml lists every manifest and nothing else', async (t) => {
  const [kustomization] = await yamlDocuments(join(DIR, KUSTOMIZATION)) as Array<{ kind: string, resources: string[], namespace?: string }>
  t.is(kustomization.kind, 'Kustomization')
  t.is(kustomization.namespace, undefined, 'namespace-agnostic')
  const files = [...new Set((await manifests()).map((m) => m.file))].sort()
  t.deepEqual([...kustomization.resources].sort(), files)
})

test('the Deployment: replicas, probes on the CLI port, non-root, env from the ConfigMap and Secret', async (t) => {
  const all = await manifests()
  const [deployment] = only(all, 'Deployment')
  const [configMap] = only(all, 'ConfigMap')
  const [secret] = only(all, 'Secret')
  const spec = deployment.spec as { replicas: number, selector: { matchLabels: Record<string, string> }, template: PodTemplate }
  t.true(spec.replicas >= 3, 'three replicas or more')
  t.true(labelsMatch(spec.selector.matchLabels, spec.template.metadata.labels), 'selector matches the pod labels')
  const pod = spec.template.spec
  t.is(pod.containers.length, 1)
  const [gateway] = pod.containers
  t.deepEqual(gateway.args, ['serve'])

  const config = configMap.data as Record<string, string>
  const port = gateway.ports?.find((p) => p.name === 's3')
  t.truthy(port, 'a port named s3')
  t.is(port?.containerPort, DEFAULT_PORT, 'the CLI\'s default port')
  t.is(Number(config.S3IPFS_PORT), DEFAULT_PORT, 'S3IPFS_PORT is the container port')
  t.is(config.S3IPFS_HOST, '0.0.0.0', 'listens beyond loopback')

  const portOf = (probe: Probe | undefined): number | undefined => {
    const p = probe?.httpGet?.port
    return typeof p === 'number' ? p : gateway.ports?.find((x) => x.name === p)?.containerPort
  }
  t.is(gateway.livenessProbe?.httpGet?.path, '/-/healthy')
  t.is(gateway.readinessProbe?.httpGet?.path, '/-/ready')
  t.is(gateway.startupProbe?.httpGet?.path, '/-/healthy')
  for (const probe of [gateway.livenessProbe, gateway.readinessProbe, gateway.startupProbe]) t.is(portOf(probe), DEFAULT_PORT)

  t.true(pod.securityContext?.runAsNonRoot, 'runAsNonRoot')
  t.is(pod.securityContext?.runAsUser, 1000, 'the image\'s node user, by number')
  t.true(gateway.securityContext?.readOnlyRootFilesystem, 'read-only root filesystem')
  t.false(gateway.securityContext?.allowPrivilegeEscalation)
  const dataMount = gateway.volumeMounts?.find((v) => v.mountPath === config.S3IPFS_DATA_DIR)
  t.truthy(dataMount, 'S3IPFS_DATA_DIR is a mounted (writable) volume')
  t.truthy(gateway.volumeMounts?.find((v) => v.mountPath === '/tmp'), '/tmp is writable')
  for (const mount of gateway.volumeMounts ?? []) t.truthy(pod.volumes?.find((v) => v.name === mount.name), `volume ${mount.name} exists`)
  // Blocks on Kubo, not in the pods (deployment.yaml says why): the data directory holds nothing to keep.
  t.regex(config.S3IPFS_IPFS_API ?? '', /^https?:\/\//, 'S3IPFS_IPFS_API names the Kubo node')
  t.truthy(pod.volumes?.find((v) => v.name === dataMount?.name)?.emptyDir)

  t.deepEqual(gateway.envFrom, [{ configMapRef: { name: configMap.metadata.name } }, { secretRef: { name: secret.metadata.name } }])
  const secrets = secret.stringData as Record<string, string>
  for (const name of ['S3IPFS_METADATA_URL', 'S3IPFS_ACCESS_KEY', 'S3IPFS_SECRET_KEY', 'S3IPFS_MASTER_KEY']) {
    t.true(name in secrets, `${name} comes from the Secret`)
    t.false(name in config, `${name} is not in the ConfigMap`)
    t.regex(secrets[name], /change-me/, `${name} is a visible placeholder`)
  }
  t.regex(secrets.S3IPFS_METADATA_URL, /^postgres:\/\//, 'the PostgreSQL connection')
})

test('every variable the manifests set is one the CLI reads', async (t) => {
  const known = await cliVariables()
  t.true(known.has('S3IPFS_PORT'), 'read the CLI\'s variables')
  const all = await manifests()
  const names = [
    ...only(all, 'ConfigMap').flatMap((m) => Object.keys(m.data as object)),
    ...only(all, 'Secret').flatMap((m) => Object.keys((m.stringData ?? m.data) as object)),
    ...[...only(all, 'Deployment'), ...only(all, 'CronJob')].flatMap((m) => podTemplate(m).spec.containers.flatMap((c) => (c.env ?? []).map((e) => e.name))),
  ]
  t.true(names.length > 8)
  for (const name of names) t.true(known.has(name), `${name} is read by bin/ (s3-ipfs-gateway serve --help)`)
})

test('terminationGracePeriodSeconds exceeds S3IPFS_SHUTDOWN_DELAY + S3IPFS_SHUTDOWN_TIMEOUT', async (t) => {
  const all = await manifests()
  const config = only(all, 'ConfigMap')[0].data as Record<string, string>
  const delay = seconds(config.S3IPFS_SHUTDOWN_DELAY)
  const timeout = seconds(config.S3IPFS_SHUTDOWN_TIMEOUT)
  t.true(delay > 0, 'a delay is set: endpoints and balancers must notice the pod is unready before it stops listening')
  const grace = podTemplate(only(all, 'Deployment')[0]).spec.terminationGracePeriodSeconds ?? 30
  t.true(grace > delay + timeout, `${grace} s > ${delay} s + ${timeout} s`)
})

test('the Service and the PodDisruptionBudget select the Deployment\'s pods', async (t) => {
  const all = await manifests()
  const [deployment] = only(all, 'Deployment')
  const template = podTemplate(deployment)
  const [service] = only(all, 'Service')
  const serviceSpec = service.spec as { selector: Record<string, string>, ports: Array<{ port: number, targetPort: number | string }> }
  t.true(labelsMatch(serviceSpec.selector, template.metadata.labels), 'Service selector')
  const container = template.spec.containers[0]
  for (const p of serviceSpec.ports) {
    const target = typeof p.targetPort === 'number' ? p.targetPort : container.ports?.find((x) => x.name === p.targetPort)?.containerPort
    t.is(target, DEFAULT_PORT, `Service port ${p.port} reaches the S3 port`)
  }
  const [pdb] = only(all, 'PodDisruptionBudget')
  t.is(pdb.apiVersion, 'policy/v1')
  const pdbSpec = pdb.spec as { selector: { matchLabels: Record<string, string> }, maxUnavailable?: number, minAvailable?: number }
  t.true(labelsMatch(pdbSpec.selector.matchLabels, template.metadata.labels), 'PodDisruptionBudget selector')
  const replicas = (deployment.spec as { replicas: number }).replicas
  const allowed = pdbSpec.maxUnavailable ?? replicas - (pdbSpec.minAvailable ?? replicas)
  t.true(allowed >= 1 && allowed < replicas, 'a drain can proceed, one pod at a time, never all')
  // The gc CronJob's pods must not count as gateways.
  for (const cron of only(all, 'CronJob')) t.false(labelsMatch(serviceSpec.selector, podTemplate(cron).metadata.labels), `${named(cron)} is not behind the Service`)
})

test('the gc CronJob runs `gc` on the same image, metadata and blocks', async (t) => {
  const all = await manifests()
  const gateway = podTemplate(only(all, 'Deployment')[0]).spec.containers[0]
  for (const cron of only(all, 'CronJob')) {
    const [gc] = podTemplate(cron).spec.containers
    t.is(gc.image, gateway.image)
    t.is(gc.args?.[0], 'gc')
    t.deepEqual(gc.envFrom, gateway.envFrom)
    t.true(podTemplate(cron).spec.securityContext?.runAsNonRoot)
  }
})
