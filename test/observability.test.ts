/**
 * Metrics, the request log and the admin endpoints, through real clients over loopback: the metric
 * families are the golden list's, bounded in cardinality, counted where requests start and end
 * (bytes, errors, cancels, a stream cut after its headers), and mounted on every adapter.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { Registry } from 'prom-client'
import { CID } from 'multiformats/cid'
import { CachedBlockstore } from '../src/blockstores/cached.js'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import type { GatewayLogger } from '../src/observability/logger.js'
import type { Gateway, GatewayInit, S3Request } from '../src/types.js'
import { expressHost, fastifyHost, nodeHost, type Host } from './helpers/hosts.js'
import { parseSamples } from './helpers/metrics-text.js'
import { s3Client, s3Error } from './helpers/s3.js'

const run = promisify(execFile)
const MiB = 1024 * 1024

const GOLDEN = readFileSync(new URL('./fixtures/metric-names.txt', import.meta.url), 'utf8')
  .split('\n').filter(line => line !== '' && !line.startsWith('#')).map(line => line.split(' ') as [string, string])
/** Families that appear only when configured (per-bucket allow-list, a filesystem blockstore, a cache, pins). */
const CONDITIONAL = new Set(['s3ipfs_bucket_requests_total', 's3ipfs_bucket_received_bytes_total', 's3ipfs_bucket_sent_bytes_total',
  's3ipfs_blockstore_capacity_bytes', 's3ipfs_blockstore_free_bytes', 's3ipfs_block_cache_hits_total', 's3ipfs_block_cache_misses_total',
  's3ipfs_block_cache_hit_bytes_total', 's3ipfs_bucket_stored_bytes'])

interface Captured { level: string, details: Record<string, unknown>, message?: string }

function capturingLogger (lines: Captured[]): GatewayLogger {
  const at = (level: string) => (details: Record<string, unknown>, message?: string) => { lines.push({ level, details, message }) }
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') }
}

async function serve (t: ExecutionContext, init: GatewayInit = {}, host: Host = nodeHost): Promise<{ gateway: Gateway, url: string, origin: string, lines: Captured[] }> {
  const lines: Captured[] = []
  const gateway = createGateway({ logger: capturingLogger(lines), ...init })
  const running = await host.start(gateway, '/s3', { adminPath: '/-' })
  t.teardown(async () => { await running.close(); await gateway.close() })
  return { gateway, url: running.url, origin: running.origin, lines }
}

const samples = parseSamples

function sample (text: string, series: string): number | undefined {
  return samples(text).get(series)
}

async function scrape (gateway: Gateway): Promise<string> {
  const text = await gateway.metrics?.metrics()
  if (text === undefined) throw new Error('metrics are off')
  return text
}

async function mixedTraffic (url: string): Promise<void> {
  const s3 = s3Client(url)
  await s3.send(new CreateBucketCommand({ Bucket: 'mixed' }))
  await s3.send(new PutObjectCommand({ Bucket: 'mixed', Key: 'a', Body: 'hello world' }))
  await (await s3.send(new GetObjectCommand({ Bucket: 'mixed', Key: 'a' }))).Body?.transformToString()
  await s3Error(s3.send(new GetObjectCommand({ Bucket: 'mixed', Key: 'missing' })))
  await s3Error(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'x' })))
  s3.destroy()
}

test('every family of the golden list is exported with its type, and no other s3ipfs_ family', async (t) => {
  const { gateway, url } = await serve(t, { metrics: { buckets: ['mixed'] } })
  await mixedTraffic(url)
  await gateway.gc()
  const text = await scrape(gateway)
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(m => [m[1], m[2]]))
  for (const [name, type] of GOLDEN) {
    if (CONDITIONAL.has(name) && !types.has(name)) continue
    t.is(types.get(name), type, name)
  }
  const golden = new Set(GOLDEN.map(([name]) => name))
  const own = [...types.keys()].filter(n => !n.startsWith('s3ipfs_process_') && !n.startsWith('s3ipfs_nodejs_'))
  t.deepEqual(own.filter(n => !golden.has(n)), [], 'families missing from test/fixtures/metric-names.txt')
  t.true(types.has('s3ipfs_process_cpu_seconds_total'), 'process metrics under the same prefix')
  t.is(sample(text, 's3ipfs_requests_total{operation="PutObject",code="200"}'), 1)
  t.is(sample(text, 's3ipfs_requests_total{operation="GetObject",code="404"}'), 2)
  t.is(sample(text, 's3ipfs_request_errors_total{operation="GetObject",error="NoSuchKey"}'), 1)
  t.is(sample(text, 's3ipfs_request_errors_total{operation="GetObject",error="NoSuchBucket"}'), 1)
  t.is(sample(text, 's3ipfs_bucket_requests_total{bucket="mixed",code="200"}'), 3)
  t.is(sample(text, 's3ipfs_received_bytes_total{operation="PutObject"}'), 11)
  t.true((sample(text, 's3ipfs_sent_bytes_total{operation="GetObject"}') ?? 0) >= 11)
  t.true((sample(text, 's3ipfs_metadata_operation_duration_seconds_count{backend="memory",operation="putObject"}') ?? 0) >= 1)
  t.true((sample(text, 's3ipfs_blockstore_operation_duration_seconds_count{backend="memory",operation="put"}') ?? 0) >= 1)
  t.true((sample(text, 's3ipfs_blockstore_operation_duration_seconds_count{backend="memory",operation="get"}') ?? 0) >= 1)
  t.is(sample(text, 's3ipfs_gc_runs_total{result="ok"}'), 1)
  t.true((sample(text, 's3ipfs_gc_last_success_timestamp_seconds') ?? 0) > 1.7e9)
  t.is(sample(text, 's3ipfs_requests_in_flight'), 0)
  t.regex(text, /^s3ipfs_build_info\{version="\d+\.\d+\.\d+",node_version="v\d+[^"]*"\} 1$/m)
})

test('promtool check metrics is clean on a scrape after mixed traffic', async (t) => {
  const { gateway, url } = await serve(t)
  await mixedTraffic(url)
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-metrics-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'scrape.txt')
  await writeFile(file, await scrape(gateway))
  let result: { stdout: string, stderr: string }
  try {
    result = await run('sh', ['-c', `promtool check metrics < "${file}"`])
  } catch (err) {
    const e = err as { code?: unknown, stdout?: string, stderr?: string }
    if (e.code === 127 || /not found/.test(e.stderr ?? '')) {
      if (process.env.S3IPFS_REQUIRE_SERVICES === '1') t.fail('promtool is not installed (Debian package prometheus)')
      else t.pass('promtool is not installed (Debian package prometheus): skipped')
      return
    }
    t.fail(`promtool check metrics failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`)
    return
  }
  t.is(result.stdout + result.stderr, '')
})

test('requests to 10,000 random bucket names add no series', async (t) => {
  const gateway = createGateway({ logger: capturingLogger([]) })
  t.teardown(async () => { await gateway.close() })
  const anonymous = (bucket: string, method = 'GET'): S3Request =>
    ({ method, path: `/${bucket}/key`, basePath: '', query: '', headers: { host: 'localhost' }, body: [], hostname: 'localhost' } as unknown as S3Request)
  const count = async (): Promise<number> => [...samples(await scrape(gateway)).keys()].filter(k => !k.startsWith('s3ipfs_process_') && !k.startsWith('s3ipfs_nodejs_')).length
  const randomName = (): string => 'b' + Math.random().toString(36).slice(2, 14)
  // Warm up each kind of answer once, then count.
  for (const method of ['GET', 'PUT', 'HEAD', 'DELETE']) await gateway.handle(anonymous(randomName(), method))
  await gateway.handle(anonymous('Invalid_Bucket!'))
  const before = await count()
  for (let i = 0; i < 10_000; i++) {
    const method = ['GET', 'PUT', 'HEAD', 'DELETE'][i % 4]
    const response = await gateway.handle(anonymous(i % 97 === 0 ? `Invalid_${i}!` : randomName(), method))
    t.true(response.status >= 400)
  }
  t.is(await count(), before)
  const text = await scrape(gateway)
  t.notRegex(text, /bucket="/)
})

test('one log line per request, with the request id the client got', async (t) => {
  const { url, lines } = await serve(t)
  const s3 = s3Client(url)
  t.teardown(() => { s3.destroy() })
  await s3.send(new CreateBucketCommand({ Bucket: 'logs' }))
  const put = await s3.send(new PutObjectCommand({ Bucket: 'logs', Key: 'k', Body: 'x'.repeat(100) }))
  const missing = await s3Error(s3.send(new GetObjectCommand({ Bucket: 'logs', Key: 'nope' })))
  const requests = lines.filter(l => l.message === 'request')
  t.is(requests.length, 3)
  const putLine = requests.find(l => l.details.operation === 'PutObject')
  t.is(putLine?.level, 'info')
  t.is(putLine?.details.requestId, put.$metadata.requestId)
  t.like(putLine?.details, { method: 'PUT', bucket: 'logs', key: 'k', status: 200, bytesIn: 100, principal: 'S3IPFSEXAMPLEKEY' })
  t.is(typeof putLine?.details.durationMs, 'number')
  const getLine = requests.find(l => l.details.operation === 'GetObject')
  t.like(getLine?.details, { status: 404, error: 'NoSuchKey' })
  t.is(missing.code, 'NoSuchKey')
})

test('a response cut after its headers is logged at error level with its request id, and counted', async (t) => {
  const blockstore = new MemoryBlockstore()
  const { gateway, url, lines } = await serve(t, { blockstore, metadata: new MemoryMetadataStore() })
  const s3 = s3Client(url)
  t.teardown(() => { s3.destroy() })
  await s3.send(new CreateBucketCommand({ Bucket: 'cut' }))
  const data = Buffer.alloc(12 * MiB)
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i)
  await s3.send(new PutObjectCommand({ Bucket: 'cut', Key: 'big', Body: data }))
  // Lose the last leaf: the answer starts (its first chunk is read before the headers), then fails.
  const last = data.subarray(data.length - MiB)
  for await (const { cid, bytes } of blockstore.getAll()) {
    const chunks: Uint8Array[] = []
    for await (const chunk of bytes) chunks.push(chunk)
    if (cid.code === 0x55 && Buffer.concat(chunks).equals(last)) await blockstore.delete(cid)
  }
  const response = await s3.send(new GetObjectCommand({ Bucket: 'cut', Key: 'big' }))
  await t.throwsAsync(async () => await response.Body?.transformToByteArray())
  const deadline = Date.now() + 10_000
  while (!lines.some(l => l.message?.includes('after its headers')) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  const failure = lines.find(l => l.message?.includes('after its headers'))
  t.is(failure?.level, 'error')
  t.is(failure?.details.requestId, response.$metadata.requestId)
  t.is(failure?.details.status, 200)
  const text = await scrape(gateway)
  t.is(sample(text, 's3ipfs_request_errors_total{operation="GetObject",error="InternalError"}'), 1)
  t.is(sample(text, 's3ipfs_requests_in_flight'), 0)
})

test('a client that goes away mid-download is counted as canceled', async (t) => {
  const { gateway, url, origin } = await serve(t)
  const s3 = s3Client(url)
  t.teardown(() => { s3.destroy() })
  await s3.send(new CreateBucketCommand({ Bucket: 'cancel' }))
  await s3.send(new PutObjectCommand({ Bucket: 'cancel', Key: 'big', Body: Buffer.alloc(16 * MiB, 1) }))
  const presigned = await import('@aws-sdk/s3-request-presigner').then(async ({ getSignedUrl }) => await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'cancel', Key: 'big' })))
  await new Promise<void>((resolve, reject) => {
    const req = httpRequest(presigned.replace(/^http:\/\/[^/]+/, origin), (res) => {
      res.once('data', () => { req.destroy(); resolve() })
    })
    req.on('error', (err) => { if (!req.destroyed) reject(err) })
    req.end()
  })
  const deadline = Date.now() + 10_000
  let text = await scrape(gateway)
  while (sample(text, 's3ipfs_requests_canceled_total') !== 1 && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 20))
    text = await scrape(gateway)
  }
  t.is(sample(text, 's3ipfs_requests_canceled_total'), 1)
  t.is(sample(text, 's3ipfs_requests_in_flight'), 0)
  t.true((sample(text, 's3ipfs_sent_bytes_total{operation="GetObject"}') ?? 0) < 16 * MiB)
})

for (const host of [nodeHost, expressHost, fastifyHost]) {
  test(`admin endpoints mounted on ${host.name}: healthy, ready, metrics with a token, dashboard, errors`, async (t) => {
    const { origin } = await serve(t, { metricsToken: 'let-me-in' }, host)
    const get = async (path: string, init: RequestInit = {}): Promise<Response> => await fetch(origin + path, init)
    const healthy = await get('/-/healthy')
    t.is(healthy.status, 200)
    t.deepEqual(await healthy.json(), { status: 'ok' })
    const ready = await get('/-/ready')
    t.is(ready.status, 200)
    const report = await ready.json() as { status: string, checks: Array<{ name: string, status: string, backend: string }> }
    t.is(report.status, 'ready')
    t.deepEqual(report.checks.map(c => [c.name, c.backend, c.status]), [['metadata', 'memory', 'up'], ['blockstore', 'memory', 'up']])
    t.is((await get('/-/metrics')).status, 401)
    t.is((await get('/-/metrics', { headers: { authorization: 'Bearer wrong' } })).status, 401)
    const metrics = await get('/-/metrics', { headers: { authorization: 'Bearer let-me-in' } })
    t.is(metrics.status, 200)
    t.regex(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    t.regex(await metrics.text(), /^s3ipfs_dependency_up\{dependency="metadata"\} 1$/m)
    const dashboard = await get('/-/dashboard')
    t.is(dashboard.status, 200)
    t.regex(dashboard.headers.get('content-type') ?? '', /^text\/html/)
    t.truthy(dashboard.headers.get('content-security-policy'))
    const data = await (await get('/-/dashboard/data')).json() as { samples: unknown[], dependencies: unknown[] }
    t.true(data.samples.length > 0)
    t.is(data.dependencies.length, 2)
    t.is((await get('/-/nothing')).status, 404)
    t.is((await get('/-/healthy', { method: 'POST' })).status, 405)
    // The S3 mount is untouched by the admin mount.
    t.is((await get('/s3/')).status, 403)
  })
}

test('readiness: a required dependency down is 503 while liveness stays 200; metrics follow', async (t) => {
  let failing = false
  const metadata = new MemoryMetadataStore()
  const flaky = Object.assign(metadata, {
    async ping () { if (failing) throw Object.assign(new Error('connect ECONNREFUSED postgres://admin:hunter2@db:5432'), { code: 'ECONNREFUSED' }) },
  })
  const gateway = createGateway({ metadata: flaky, logger: capturingLogger([]) })
  t.teardown(async () => { await gateway.close() })
  const admin = async (path: string): Promise<{ status: number, body: string }> => {
    const response = await gateway.admin.handle({ method: 'GET', path, basePath: '', query: '', headers: {}, body: [] } as unknown as S3Request)
    return { status: response.status, body: Buffer.from(response.body as Uint8Array).toString() }
  }
  t.is((await admin('/ready')).status, 200)
  failing = true
  await new Promise(resolve => setTimeout(resolve, 1100)) // past the 1 s reuse of the last report
  const down = await admin('/ready')
  t.is(down.status, 503)
  const report = JSON.parse(down.body) as { status: string, checks: Array<{ name: string, status: string, error?: string }> }
  t.is(report.status, 'unready')
  t.is(report.checks[0].status, 'down')
  t.regex(report.checks[0].error ?? '', /ECONNREFUSED/)
  t.false(down.body.includes('hunter2'), 'no credentials in the readiness answer')
  t.is((await admin('/healthy')).status, 200)
  t.is(sample(await scrape(gateway), 's3ipfs_dependency_up{dependency="metadata"}'), 0)
})

test('metrics: false has no registry and no /metrics; a host registry and prefix are used as given', async (t) => {
  const off = createGateway({ metrics: false, logger: capturingLogger([]) })
  t.teardown(async () => { await off.close() })
  t.is(off.metrics, undefined)
  const response = await off.admin.handle({ method: 'GET', path: '/metrics', basePath: '', query: '', headers: {}, body: [] } as unknown as S3Request)
  t.is(response.status, 404)
  const registry = new Registry()
  const mine = createGateway({ metrics: { registry, prefix: 'gw_', processMetrics: false }, logger: capturingLogger([]) })
  const other = createGateway({ logger: capturingLogger([]) })
  t.teardown(async () => { await mine.close(); await other.close() })
  t.is(mine.metrics, registry)
  const text = await registry.metrics()
  t.regex(text, /^# TYPE gw_requests_total counter$/m)
  t.notRegex(text, /s3ipfs_|gw_process_/)
  // Two gateways in one process: private registries that a host can merge without clashes.
  t.notThrows(() => Registry.merge([registry, other.metrics as Registry]))
})

class PinningBlockstore extends MemoryBlockstore {
  readonly pins = new Set<string>()
  failUnpins = false
  async pin (cid: CID): Promise<void> { this.pins.add(cid.toV1().toString()) }
  async unpin (cid: CID): Promise<void> {
    if (this.failUnpins) throw new Error('the node is down')
    this.pins.delete(cid.toV1().toString())
  }

  async * pinned (): AsyncIterable<CID> { for (const p of [...this.pins]) yield CID.parse(p) }
}

test('pins through a block cache: pinned and failed pins, pin operations and reconciles are counted', async (t) => {
  const node = new PinningBlockstore()
  const { gateway, url } = await serve(t, { blockstore: new CachedBlockstore(node), encryptByDefault: true, masterKey: Buffer.alloc(32, 7) })
  const s3 = s3Client(url)
  t.teardown(() => { s3.destroy() })
  await gateway.ready()
  await s3.send(new CreateBucketCommand({ Bucket: 'pins' }))
  await s3.send(new PutObjectCommand({ Bucket: 'pins', Key: 'a', Body: 'one' }))
  await s3.send(new PutObjectCommand({ Bucket: 'pins', Key: 'b', Body: 'two' }))
  let text = await scrape(gateway)
  t.is(sample(text, 's3ipfs_pins{state="pinned"}'), 2)
  t.is(sample(text, 's3ipfs_pin_operations_total{operation="pin",result="ok"}'), 2)
  node.failUnpins = true
  await s3.send(new PutObjectCommand({ Bucket: 'pins', Key: 'a', Body: 'one, again' }))
  text = await scrape(gateway)
  t.is(sample(text, 's3ipfs_pins{state="failed"}'), 1)
  t.is(sample(text, 's3ipfs_pin_operations_total{operation="unpin",result="error"}'), 1)
  node.failUnpins = false
  await gateway.gc({ gracePeriodMs: 0 })
  text = await scrape(gateway)
  t.is(sample(text, 's3ipfs_pins{state="failed"}'), 0)
  t.is(sample(text, 's3ipfs_pins{state="pinned"}'), node.pins.size)
  t.is(node.pins.size, 2)
  t.true((sample(text, 's3ipfs_reconcile_runs_total{result="ok"}') ?? 0) >= 2, 'at start and in gc')
  t.is(sample(text, 's3ipfs_block_cache_misses_total{cache="memory"}') !== undefined, true)
})

test('an FsBlockstore exports its filesystem\'s size and free space, named fs behind a block cache too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-capacity-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  for (const blockstore of [new FsBlockstore({ path: join(dir, 'a') }), new CachedBlockstore(new FsBlockstore({ path: join(dir, 'b') }))]) {
    const gateway = createGateway({ blockstore, logger: capturingLogger([]) })
    const text = await scrape(gateway)
    const named = (await gateway.ready()).checks.find(c => c.name === 'blockstore')?.backend
    await gateway.close()
    const total = sample(text, 's3ipfs_blockstore_capacity_bytes{backend="fs"}') ?? 0
    const free = sample(text, 's3ipfs_blockstore_free_bytes{backend="fs"}') ?? -1
    t.true(total > 0)
    t.true(free >= 0 && free <= total)
    t.is(named, 'fs')
  }
})
