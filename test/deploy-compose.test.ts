/**
 * deploy/compose.yaml: no Docker daemon (nor the compose plugin) runs here, so the file is checked
 * against the Compose Specification's JSON schema as the npm package dclint ships it, and its
 * contracts are checked here: the three gateways share one configuration, their secrets are
 * required variables, every dependency waited on has a health check, and the HAProxy and Prometheus
 * configurations it mounts name the same services. `haproxy -c` and `promtool check config` check
 * those two files (without the tools: skipped with the reason, or failing under
 * S3IPFS_REQUIRE_SERVICES=1; .ci/run installs them).
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, posix } from 'node:path'
import { Ajv } from 'ajv'
import test from 'ava'
import { DEFAULT_PORT } from '../bin/server.js'
import { ROOT, cliVariables, repoText, run, seconds, which, yamlDocuments } from './helpers/deploy.js'
import { whenServices } from './helpers/services.js'

const COMPOSE = 'deploy/compose.yaml'
const ENV_EXAMPLE = 'deploy/compose.env.example'
const HAPROXY = 'deploy/haproxy/haproxy.cfg'
const PROMETHEUS = 'deploy/prometheus/prometheus-compose.yml'
const GATEWAYS = ['gateway-1', 'gateway-2', 'gateway-3']

interface Service {
  image?: string
  build?: { context: string, dockerfile: string }
  environment?: Record<string, string>
  volumes?: string[]
  ports?: string[]
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
  stop_grace_period?: string
}
interface Compose { services: Record<string, Service>, volumes?: Record<string, unknown> }

async function compose (): Promise<Compose> {
  const [doc] = await yamlDocuments(COMPOSE)
  return doc as Compose
}

/** `source:target[:mode]` of a volume entry; a source starting with `.` is a path relative to deploy/. */
function mount (entry: string): { source: string, target: string, bind: boolean } {
  const [source, target] = entry.split(':')
  return { source, target, bind: source.startsWith('.') || source.startsWith('/') }
}

test('compose.yaml is valid under the Compose Specification schema (dclint\'s copy)', async (t) => {
  const require = createRequire(import.meta.url)
  const schemaFile = join(dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json')
  const { $schema: draft, ...schema } = JSON.parse(await readFile(schemaFile, 'utf8')) as { $schema: string, title: string }
  t.is(schema.title, 'Compose Specification')
  // Written for draft-07, Ajv's default, which knows that meta-schema by its http:// name only.
  t.regex(draft, /json-schema\.org\/draft-07\/schema/)
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema)
  const doc = await compose()
  t.true(validate(doc), JSON.stringify(validate.errors, null, 2))
  // The schema is not vacuous: a misspelt key fails it.
  t.false(validate({ ...doc, services: { ...doc.services, redis: { ...doc.services.redis, helthcheck: {} } } }))
})

test('three gateways built from deploy/Dockerfile share one configuration, volume and keys', async (t) => {
  const { services, volumes } = await compose()
  const known = await cliVariables()
  const first = services[GATEWAYS[0]]
  t.deepEqual(first.build, { context: '..', dockerfile: 'deploy/Dockerfile' })
  t.true(existsSync(join(ROOT, 'deploy', first.build?.context ?? '', first.build?.dockerfile ?? '')))
  for (const name of GATEWAYS) t.deepEqual(services[name], first, `${name} is configured as ${GATEWAYS[0]}`)
  const env = first.environment ?? {}
  for (const name of Object.keys(env)) t.true(known.has(name), `${name} is read by bin/`)
  // Secrets: required (${VAR:?}), never written into the file.
  for (const name of ['S3IPFS_ACCESS_KEY', 'S3IPFS_SECRET_KEY', 'S3IPFS_MASTER_KEY']) t.regex(env[name] ?? '', new RegExp(`^\\$\\{${name}:\\?`), name)
  t.regex(env.S3IPFS_METADATA_URL ?? '', /^postgres:\/\/s3ipfs:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432\/s3ipfs\?schema=/)
  t.regex(env.S3IPFS_REDIS_URL ?? '', /^redis:\/\/redis:6379$/)
  // The image sets S3IPFS_HOST, S3IPFS_PORT and S3IPFS_DATA_DIR; one named volume on /data for all.
  const data = (first.volumes ?? []).map(mount).find((m) => m.target === '/data')
  t.truthy(data, 'a volume on /data')
  t.false(data?.bind, 'a named volume')
  t.true(data !== undefined && volumes !== undefined && data.source in volumes, 'declared under volumes:')
  // Graceful shutdown fits in the time compose gives before SIGKILL.
  const delay = seconds(env.S3IPFS_SHUTDOWN_DELAY ?? '0')
  const timeout = seconds(env.S3IPFS_SHUTDOWN_TIMEOUT ?? '10s')
  t.true(delay > 0)
  t.true(seconds(first.stop_grace_period ?? '10s') > delay + timeout, 'stop_grace_period exceeds delay + timeout')
})

test('every variable compose requires is in compose.env.example, and nothing else', async (t) => {
  const text = await repoText(COMPOSE)
  const required = new Set([...text.matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]))
  const listed = new Set([...(await repoText(ENV_EXAMPLE)).matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]))
  t.deepEqual([...listed].sort(), [...required].sort())
  const optional = new Set([...text.matchAll(/\$\{([A-Z0-9_]+):-/g)].map((m) => m[1]))
  for (const name of optional) t.regex(await repoText(ENV_EXAMPLE), new RegExp(`^# ${name}=`, 'm'), `${name} is mentioned`)
})

test('depends_on waits for health checks that exist', async (t) => {
  const { services } = await compose()
  const dockerfile = await repoText('deploy/Dockerfile')
  let edges = 0
  for (const [name, service] of Object.entries(services)) {
    for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
      edges++
      t.is(condition, 'service_healthy', `${name} → ${dependency}`)
      const target = services[dependency]
      t.truthy(target, `${dependency} is a service`)
      const ownCheck = target?.healthcheck !== undefined
      const imageCheck = target?.build?.dockerfile === 'deploy/Dockerfile' && /^HEALTHCHECK /m.test(dockerfile)
      t.true(ownCheck || imageCheck, `${dependency} has a health check`)
    }
  }
  t.true(edges >= 8)
  t.regex(services.postgres.healthcheck?.test.join(' ') ?? '', /pg_isready/)
  t.regex(services.redis.healthcheck?.test.join(' ') ?? '', /redis-cli ping/)
  for (const name of GATEWAYS) t.deepEqual(Object.keys(services[name].depends_on ?? {}).sort(), ['postgres', 'redis'])
})

test('HAProxy: the mounted haproxy.cfg balances the compose gateways and is published on its bind port', async (t) => {
  const { services } = await compose()
  const haproxy = services.haproxy
  t.regex(haproxy.image ?? '', /^haproxy:2\.6/)
  const cfg = (haproxy.volumes ?? []).map(mount).find((m) => m.target === '/usr/local/etc/haproxy/haproxy.cfg')
  t.is(cfg === undefined ? undefined : posix.join('deploy', cfg.source), HAPROXY)
  const text = await repoText(HAPROXY)
  const servers = [...text.matchAll(/^\s*server\s+(\S+)\s+([^:\s]+):(\d+)/gm)].map((m) => ({ host: m[2], port: Number(m[3]) }))
  t.deepEqual(servers.map((s) => s.host).sort(), [...GATEWAYS].sort(), 'one server line per gateway service')
  for (const s of servers) t.is(s.port, DEFAULT_PORT)
  t.regex(text, /http-check send meth GET uri \/-\/ready/)
  const binds = [...text.matchAll(/^\s*bind\s+\S*:(\d+)/gm)].map((m) => m[1])
  for (const port of binds) t.true((haproxy.ports ?? []).some((p) => p.endsWith(`:${port}`)), `bind :${port} is published`)
})

test('Prometheus: the compose configuration scrapes each gateway and loads alerts.yml', async (t) => {
  const { services } = await compose()
  const mounts = (services.prometheus.volumes ?? []).map(mount).filter((m) => m.bind)
  const byTarget = Object.fromEntries(mounts.map((m) => [m.target, posix.join('deploy', m.source)]))
  t.is(byTarget['/etc/prometheus/prometheus.yml'], PROMETHEUS)
  const [config] = await yamlDocuments(PROMETHEUS) as Array<{ rule_files: string[], scrape_configs: Array<{ job_name: string, metrics_path: string, static_configs: Array<{ targets: string[] }> }> }>
  for (const rules of config.rule_files) t.is(byTarget[posix.join('/etc/prometheus', rules)], posix.join('deploy/prometheus', rules), `${rules} is mounted beside the configuration`)
  const job = config.scrape_configs.find((j) => j.job_name === 's3-ipfs-gateway')
  t.is(job?.metrics_path, '/-/metrics')
  t.deepEqual(job?.static_configs.flatMap((s) => s.targets).sort(), GATEWAYS.map((g) => `${g}:${DEFAULT_PORT}`).sort())
})

test('every file compose mounts exists', async (t) => {
  const { services } = await compose()
  const binds = Object.values(services).flatMap((s) => (s.volumes ?? []).map(mount)).filter((m) => m.bind)
  t.true(binds.length >= 3)
  for (const m of binds) t.true(existsSync(join(ROOT, 'deploy', m.source)), m.source)
})

const HAPROXY_BIN = which('haproxy')
whenServices('haproxy -c', HAPROXY_BIN === undefined ? 'haproxy is not on PATH (apt-get install haproxy)' : undefined, () => {
  test('haproxy -c: deploy/haproxy/haproxy.cfg is valid', async (t) => {
    const { code, output } = await run(HAPROXY_BIN as string, ['-c', '-f', HAPROXY])
    t.is(code, 0, output)
    t.regex(output, /Configuration file is valid/)
  })
})

const PROMTOOL = which('promtool')
whenServices('promtool check config (compose)', PROMTOOL === undefined ? 'promtool is not on PATH (apt-get install prometheus)' : undefined, () => {
  test('promtool check config: prometheus-compose.yml and the rule files it loads', async (t) => {
    const { code, output } = await run(PROMTOOL as string, ['check', 'config', PROMETHEUS])
    t.is(code, 0, output)
    t.regex(output, /1 rule files found/)
  })
})
