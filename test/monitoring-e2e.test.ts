/**
 * The monitoring kit end to end, with the real programs: a Prometheus started here scrapes a running
 * gateway's /-/metrics with its bearer token, sees S3 traffic in s3ipfs_requests_total, evaluates
 * the shipped alert rules (deploy/prometheus/alerts.yml) and sends to a real Alertmanager, whose
 * webhook receiver is an HTTP server in this test. Killing the gateway's Redis block cache (a
 * redis-server of the test's own) must reach the webhook as a firing S3IpfsDependencyDown with
 * dependency="cache", and bringing it back as a resolved one.
 *
 * The shipped rules wait (`for:`) minutes before firing; the rules file loaded here is the shipped
 * file with every `for:` set to 0s, so every expression, label and annotation is the shipped one.
 *
 * Everything listens on 127.0.0.1 ports the OS hands out, keeps its state in a temp directory and
 * talks to nothing outside this machine (Alertmanager runs without clustering). Every wait is an
 * eventual condition with a bound; children are stopped in teardown whatever happens. Without
 * prometheus, prometheus-alertmanager or redis-server the test says so and skips (fails under
 * S3IPFS_REQUIRE_SERVICES=1; .ci/run installs them).
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { startServer } from '../bin/server.js'
import { eventually, freePort, ownRedis, spawnService, tempDir, waitHttpOk, which } from './helpers/monitoring.js'
import { credentials, s3Client, s3Error } from './helpers/s3.js'
import { whenServices } from './helpers/services.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SHIPPED_RULES = join(ROOT, 'deploy/prometheus/alerts.yml')
const JOB = 's3-ipfs-gateway'
const ALERT = 'S3IpfsDependencyDown'
/** The bound of each eventual condition. */
const WAIT = { timeoutMs: 90_000, intervalMs: 500 }

const PROMETHEUS = which('prometheus')
const ALERTMANAGER = which('prometheus-alertmanager') ?? which('alertmanager')
const REDIS_SERVER = which('redis-server')
const missing = [
  PROMETHEUS === undefined ? 'prometheus is not on PATH (apt-get install prometheus)' : undefined,
  ALERTMANAGER === undefined ? 'prometheus-alertmanager is not on PATH (apt-get install prometheus-alertmanager)' : undefined,
  REDIS_SERVER === undefined ? 'redis-server is not on PATH (apt-get install redis-server)' : undefined,
  existsSync(SHIPPED_RULES) ? undefined : 'deploy/prometheus/alerts.yml is missing',
].filter((m): m is string => m !== undefined)

interface Notification {
  status: 'firing' | 'resolved'
  alerts: Array<{ status: 'firing' | 'resolved', labels: Record<string, string>, annotations: Record<string, string> }>
}

/** An HTTP server that keeps every Alertmanager webhook notification it receives. */
async function webhookReceiver (t: ExecutionContext): Promise<{ url: string, notifications: Notification[] }> {
  const notifications: Notification[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (s: string) => { body += s })
    req.on('end', () => {
      try {
        notifications.push(JSON.parse(body) as Notification)
      } catch {}
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => { server.close(resolve) })
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, notifications }
}

interface Sample { metric: Record<string, string>, value: [number, string] }

/** An instant query through Prometheus' HTTP API. */
async function query (prometheus: string, expr: string): Promise<Sample[]> {
  const response = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(20_000) })
  const body = await response.json() as { status: string, error?: string, data?: { resultType: string, result: Sample[] } }
  if (body.status !== 'success' || body.data === undefined) throw new Error(`${expr}: ${response.status} ${JSON.stringify(body)}`)
  return body.data.result
}

async function targets (prometheus: string): Promise<Array<{ labels: Record<string, string>, health: string, lastError: string }>> {
  const response = await fetch(`${prometheus}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(20_000) })
  const body = await response.json() as { data: { activeTargets: Array<{ labels: Record<string, string>, health: string, lastError: string }> } }
  return body.data.activeTargets
}

interface RuleState { name: string, query: string, duration: number, health: string, labels?: Record<string, string>, lastEvaluation?: string }

async function rules (prometheus: string): Promise<RuleState[]> {
  const response = await fetch(`${prometheus}/api/v1/rules?type=alert`, { signal: AbortSignal.timeout(20_000) })
  const body = await response.json() as { data: { groups: Array<{ rules: RuleState[] }> } }
  return body.data.groups.flatMap(g => g.rules)
}

/** The alerts in `notifications` named ALERT for `dependency`, with that status. */
function alertsFor (notifications: Notification[], dependency: string, status: 'firing' | 'resolved'): Notification['alerts'] {
  return notifications.flatMap(n => n.alerts).filter(a => a.labels.alertname === ALERT && a.labels.dependency === dependency && a.status === status)
}

whenServices('monitoring end to end (Prometheus, Alertmanager)', missing.length === 0 ? undefined : missing.join('; '), () => {
  test('Prometheus scrapes /-/metrics with the bearer token and sees S3 traffic; the Redis cache going down reaches Alertmanager\'s webhook as S3IpfsDependencyDown{dependency="cache"}, and its return as resolved', async (t) => {
    t.timeout(8 * 60_000)
    const dir = await tempDir(t, 's3ipfs-monitoring-')
    const hook = await webhookReceiver(t)
    const redis = await ownRedis(t, REDIS_SERVER as string)

    const token = `scrape-${randomBytes(16).toString('hex')}`
    const server = await startServer({ port: 0, dataDir: join(dir, 'gateway'), redisUrl: redis.url, metricsToken: token, ...credentials })
    t.teardown(async () => { await server.close() })
    const target = `127.0.0.1:${server.port}`

    // Alertmanager: everything to the webhook, grouped by alert and dependency, without waiting.
    const amPort = await freePort()
    const amConfig = join(dir, 'alertmanager.yml')
    await writeFile(amConfig, JSON.stringify({
      route: { receiver: 'test', group_by: ['alertname', 'dependency'], group_wait: '1s', group_interval: '1s', repeat_interval: '1h' },
      receivers: [{ name: 'test', webhook_configs: [{ url: hook.url, send_resolved: true }] }],
    }, null, 2))
    const alertmanager = spawnService(t, ALERTMANAGER as string, [
      `--config.file=${amConfig}`, `--storage.path=${join(dir, 'alertmanager')}`, `--web.listen-address=127.0.0.1:${amPort}`,
      '--cluster.listen-address=', '--log.level=warn',
    ])
    await waitHttpOk(alertmanager, `http://127.0.0.1:${amPort}/-/ready`)

    // The shipped rules with every `for:` set to 0s (they wait minutes); nothing else changes.
    const shipped = await readFile(SHIPPED_RULES, 'utf8')
    t.true(shipped.includes(`alert: ${ALERT}`), `${SHIPPED_RULES} defines ${ALERT}`)
    const fast = shipped.replace(/^(\s*)for:\s*\S+\s*$/gm, '$1for: 0s')
    const rulesFile = join(dir, 'alerts.fast.yml')
    await writeFile(rulesFile, fast)

    const promPort = await freePort()
    const prometheus = `http://127.0.0.1:${promPort}`
    const promConfig = join(dir, 'prometheus.yml')
    await writeFile(promConfig, JSON.stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [rulesFile],
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
      scrape_configs: [
        { job_name: JOB, metrics_path: '/-/metrics', authorization: { type: 'Bearer', credentials: token }, static_configs: [{ targets: [target] }] },
        // The same target without the token: refused.
        { job_name: `${JOB}-no-token`, metrics_path: '/-/metrics', static_configs: [{ targets: [target] }] },
      ],
    }, null, 2))
    const prom = spawnService(t, PROMETHEUS as string, [
      `--config.file=${promConfig}`, `--storage.tsdb.path=${join(dir, 'prometheus')}`, `--web.listen-address=127.0.0.1:${promPort}`,
      '--rules.alert.resend-delay=1s', '--log.level=warn',
    ])
    await waitHttpOk(prom, `${prometheus}/-/ready`)
    const diagnose = async (): Promise<string> => {
      const states = await targets(prometheus).catch((err: unknown) => String(err))
      return `targets: ${JSON.stringify(states)}\nprometheus:\n${prom.output().slice(-3000)}\nalertmanager:\n${alertmanager.output().slice(-3000)}\nwebhook: ${JSON.stringify(hook.notifications).slice(0, 3000)}`
    }

    try {
      // Scraped with the token; refused without it.
      await eventually(`up{job="${JOB}"} == 1`, async () => await query(prometheus, `up{job="${JOB}"}`), (r) => r.length === 1 && r[0].value[1] === '1', WAIT)
      await eventually(`up{job="${JOB}-no-token"} == 0 (401)`, async () => await targets(prometheus),
        (ts) => ts.some(x => x.labels.job === `${JOB}-no-token` && x.health === 'down' && /401/.test(x.lastError)), WAIT)
      const noToken = await query(prometheus, `up{job="${JOB}-no-token"}`)
      t.is(noToken[0]?.value[1], '0')
      t.deepEqual(await query(prometheus, `s3ipfs_dependency_up{job="${JOB}-no-token"}`), [], 'a refused scrape stores no gateway metric')

      // S3 traffic shows up in s3ipfs_requests_total.
      const s3 = s3Client(server.url)
      t.teardown(() => { s3.destroy() })
      await s3.send(new CreateBucketCommand({ Bucket: 'monitored' }))
      await s3.send(new PutObjectCommand({ Bucket: 'monitored', Key: 'k', Body: 'hello prometheus' }))
      const got = await s3.send(new GetObjectCommand({ Bucket: 'monitored', Key: 'k' }))
      t.is(await got.Body?.transformToString(), 'hello prometheus')
      t.like(await s3Error(s3.send(new GetObjectCommand({ Bucket: 'monitored', Key: 'absent' }))), { code: 'NoSuchKey', status: 404 })
      const requests = await eventually('s3ipfs_requests_total series for the traffic', async () => await query(prometheus, `s3ipfs_requests_total{job="${JOB}"}`),
        (r) => ['PutObject/200', 'GetObject/200', 'GetObject/404', 'CreateBucket/200'].every(oc => r.some(s => `${s.metric.operation}/${s.metric.code}` === oc && Number(s.value[1]) >= 1)), WAIT)
      t.true(requests.every(s => s.metric.instance === target))
      t.true(Number((await query(prometheus, `sum(s3ipfs_requests_total{job="${JOB}"})`))[0]?.value[1]) >= 4)

      // The shipped rule is loaded and evaluated while the cache is up, and nothing fires for it.
      const loaded = await eventually(`${ALERT} rules evaluated`, async () => await rules(prometheus),
        (rs) => rs.some(r => r.name === ALERT && r.query.includes('cache') && r.health === 'ok' && r.lastEvaluation !== undefined && !r.lastEvaluation.startsWith('0001')), WAIT)
      t.true(loaded.filter(r => r.name === ALERT).every(r => r.duration === 0), 'the test rules fire without waiting')
      await eventually('s3ipfs_dependency_up{dependency="cache"} == 1 in Prometheus', async () => await query(prometheus, `s3ipfs_dependency_up{job="${JOB}",dependency="cache"}`),
        (r) => r.length === 1 && r[0].value[1] === '1', WAIT)
      const early = alertsFor(hook.notifications, 'cache', 'firing')
      // Only a readiness check slower than its 2 s limit (a starved machine) could have fired it yet.
      if (early.length > 0) t.log(`a cache alert fired while Redis was up (a slow check?): ${JSON.stringify(early)}`)

      // Redis goes away: Prometheus sees the cache down, the rule fires, Alertmanager calls the webhook.
      const before = hook.notifications.length
      await redis.kill()
      await eventually('s3ipfs_dependency_up{dependency="cache"} == 0 in Prometheus', async () => await query(prometheus, `s3ipfs_dependency_up{job="${JOB}",dependency="cache"}`),
        (r) => r.length === 1 && r[0].value[1] === '0', WAIT)
      const [firing] = await eventually(`a firing ${ALERT}{dependency="cache"} at the webhook`, async () => alertsFor(hook.notifications.slice(before), 'cache', 'firing'), (a) => a.length > 0, WAIT)
      t.like(firing.labels, { alertname: ALERT, dependency: 'cache', job: JOB, instance: target, severity: 'warning' })
      t.regex(firing.annotations.summary ?? '', /cache/)
      t.log(`webhook: ${ALERT} firing with ${JSON.stringify(firing.labels)}`)

      // Redis is back: the alert resolves.
      await redis.start()
      const [resolved] = await eventually(`a resolved ${ALERT}{dependency="cache"} at the webhook`, async () => alertsFor(hook.notifications.slice(before), 'cache', 'resolved'), (a) => a.length > 0, WAIT)
      t.like(resolved.labels, { alertname: ALERT, dependency: 'cache', job: JOB })
      const others = hook.notifications.flatMap(n => n.alerts).filter(a => a.status === 'firing' && a.labels.dependency !== 'cache').map(a => a.labels.alertname)
      if (others.length > 0) t.log(`other alerts fired meanwhile (not asserted): ${[...new Set(others)].join(', ')}`)
    } catch (err) {
      t.log(await diagnose())
      throw err
    }
  })
})
