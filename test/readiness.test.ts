/**
 * Readiness of the standalone server while its dependencies come and go: PostgreSQL (behind a TCP
 * proxy the test closes, and at a wrong address), the Redis block cache (a redis-server of the
 * test's own, killed and restarted), and an IPFS node over the Kubo RPC API (js-ipfs, stopped and
 * started). Each time `/-/ready` (status code, status, the named check) and
 * `s3ipfs_dependency_up{dependency=...}` on `/-/metrics` follow, `/-/healthy` stays 200, and the
 * gateway recovers when the dependency is back. The shared PostgreSQL and Redis servers are never
 * stopped. Also: `--admin-listen` and `--metrics-token` on the CLI, and no secret in any answer.
 *
 * Every wait is an eventual condition with a generous bound (a loaded 2-core machine), never a
 * timing assertion.
 */
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import pg from 'pg'
import { startServer } from '../bin/server.js'
import type { RunningServer, ServerOptions } from '../bin/server.js'
import { jsIpfsProblem, startJsIpfs } from './helpers/js-ipfs.js'
import {
  adminView, describeView, eventually, freePort, healthy, metrics, ownRedis, ready, spawnService, tcpProxy, tempDir, which,
} from './helpers/monitoring.js'
import type { AdminView, Readiness } from './helpers/monitoring.js'
import { credentials, deterministicBytes, s3Client, s3Error } from './helpers/s3.js'
import { postgresProblem, whenServices } from './helpers/services.js'

const PG_URL = process.env.S3IPFS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
/** A password in every metadata URL of these tests: trust authentication ignores it, and no answer may show it. */
const SECRET = 's3cret'
/** js-ipfs ports of this file (test/helpers/js-ipfs.ts lists the others). */
const JS_IPFS_PORT = 15060
/** The bound of every eventual condition. */
const WAIT = { timeoutMs: 90_000 }
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))


const pgProblem = await postgresProblem(PG_URL)
const REDIS_SERVER = which('redis-server')
const redisProblem = REDIS_SERVER === undefined ? 'redis-server is not on PATH (apt-get install redis-server)' : undefined

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`

/** `PG_URL` with the test password, another host:port, another database and a schema. */
function metadataUrl (options: { port?: number, database?: string, schema: string }): string {
  const u = new URL(PG_URL)
  u.password = SECRET
  if (options.port !== undefined) { u.hostname = '127.0.0.1'; u.port = String(options.port) }
  if (options.database !== undefined) u.pathname = `/${options.database}`
  u.searchParams.set('schema', options.schema)
  return u.toString()
}

/** A fresh schema name, dropped in teardown. */
function freshSchema (t: ExecutionContext): string {
  const schema = `s3ipfs_ready_${randomBytes(5).toString('hex')}`
  t.teardown(async () => {
    const client = new pg.Client({ connectionString: PG_URL })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.query(`DROP SCHEMA IF EXISTS ${quote(schema)} CASCADE`)
    } finally {
      await client.end().catch(() => {})
    }
  })
  return schema
}

/** startServer on port 0 with the helpers' key pair; closed in teardown. */
async function serve (t: ExecutionContext, options: ServerOptions): Promise<{ server: RunningServer, s3: S3Client }> {
  const dataDir = await tempDir(t, 's3ipfs-ready-')
  const server = await startServer({ port: 0, dataDir, ...credentials, ...options })
  const s3 = s3Client(server.url)
  t.teardown(async () => { s3.destroy(); await server.close() })
  return { server, s3 }
}

async function view (server: RunningServer): Promise<AdminView> {
  return await adminView(server.url)
}

/** Eventually: `/-/ready` answers `code` with `status`, and each named dependency is up or down on both endpoints. */
async function until (server: RunningServer, code: number, status: Readiness['status'], deps: Record<string, 'up' | 'down'>): Promise<AdminView> {
  return await eventually(`/-/ready ${code} ${status} ${JSON.stringify(deps)}`, async () => await view(server), (v) =>
    v.ready.code === code && v.ready.status === status &&
    Object.entries(deps).every(([name, s]) => v.ready.check(name)?.status === s && v.up(name) === (s === 'up' ? 1 : 0)), WAIT)
}

/** The assertions behind `until`, so that a failure names what differs, plus liveness. */
async function expectState (t: ExecutionContext, server: RunningServer, code: number, status: Readiness['status'], deps: Record<string, 'up' | 'down'>): Promise<AdminView> {
  let v: AdminView
  try {
    v = await until(server, code, status, deps)
  } catch (err) {
    v = await view(server)
    t.fail(`${(err as Error).message}\nnow: ${describeView(v)}`)
    return v
  }
  t.is(v.ready.code, code)
  t.is(v.ready.status, status)
  for (const [name, s] of Object.entries(deps)) {
    const check = v.ready.check(name)
    t.is(check?.status, s, `${name} check`)
    t.is(v.up(name), s === 'up' ? 1 : 0, `s3ipfs_dependency_up{dependency="${name}"}`)
    if (s === 'down') t.true(typeof check?.error === 'string' && check.error !== '', `${name} says why it is down`)
    else t.is(check?.error, undefined)
  }
  t.is(v.healthyCode, 200, '/-/healthy stays 200')
  t.is(v.metricsCode, 200)
  t.deepEqual((await healthy(server.url)).body, { status: 'ok' })
  return v
}

/** No answer of the admin endpoints shows `secret`. */
async function noSecret (t: ExecutionContext, server: RunningServer, secret: string): Promise<void> {
  const r = await ready(server.url)
  t.false(r.text.includes(secret), `/-/ready shows the secret: ${r.text}`)
  const data = await (await fetch(`${server.url}/-/dashboard/data`)).text()
  t.false(data.includes(secret), '/-/dashboard/data shows the secret')
  const m = await metrics(server.url)
  t.false(m.text.includes(secret), '/-/metrics shows the secret')
}

async function putAndGet (t: ExecutionContext, s3: S3Client, bucket: string, key: string, body: Uint8Array): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))
  await expectObject(t, s3, bucket, key, body)
}

async function expectObject (t: ExecutionContext, s3: S3Client, bucket: string, key: string, body: Uint8Array): Promise<void> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  t.true(Buffer.from(await got.Body!.transformToByteArray()).equals(body), `${bucket}/${key} reads back`)
}

whenServices('readiness: PostgreSQL metadata', pgProblem, () => {
  test('PostgreSQL behind a proxy: cut off, /-/ready is 503 with metadata down; back, ready again; the password never shows', async (t) => {
    t.timeout(5 * 60_000)
    const target = new URL(PG_URL)
    const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    t.teardown(async () => { await proxy.close() })
    const { server, s3 } = await serve(t, { metadataUrl: metadataUrl({ port: proxy.port, schema: freshSchema(t) }) })

    let v = await expectState(t, server, 200, 'ready', { metadata: 'up', blockstore: 'up' })
    t.like(v.ready.check('metadata'), { backend: 'postgres', required: true })
    t.like(v.ready.check('blockstore'), { required: true })
    t.is(v.ready.check('cache'), undefined, 'no cache check without a Redis cache')
    await s3.send(new CreateBucketCommand({ Bucket: 'ready-pg' }))
    const body = deterministicBytes('ready-pg', 70_000)
    await putAndGet(t, s3, 'ready-pg', 'before', body)
    await noSecret(t, server, SECRET)

    await proxy.down()
    v = await expectState(t, server, 503, 'unready', { metadata: 'down', blockstore: 'up' })
    t.false(v.ready.text.includes(SECRET))
    await noSecret(t, server, SECRET)
    // What an S3 client sees meanwhile: 503, to retry (no hang, no crash).
    const failed = await s3Error(s3.send(new ListBucketsCommand({})))
    t.log(`ListBuckets without the database: ${failed.status} ${failed.code}`)
    t.deepEqual(failed, { code: 'ServiceUnavailable', status: 503 }, 'a store that cannot be reached is 503, not an InternalError')

    await proxy.up()
    v = await expectState(t, server, 200, 'ready', { metadata: 'up', blockstore: 'up' })
    await expectObject(t, s3, 'ready-pg', 'before', body)
    await putAndGet(t, s3, 'ready-pg', 'after', deterministicBytes('ready-pg-after', 1000))
    await noSecret(t, server, SECRET)
  })

  test('PostgreSQL at a wrong address: the server starts (it connects lazily), /-/ready is 503 with metadata down, and ready once a database answers there', async (t) => {
    t.timeout(5 * 60_000)
    const target = new URL(PG_URL)
    // Nothing listens on this port yet.
    const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) }, { listening: false })
    t.teardown(async () => { await proxy.close() })
    const { server, s3 } = await serve(t, { metadataUrl: metadataUrl({ port: proxy.port, schema: freshSchema(t) }) })

    const v = await expectState(t, server, 503, 'unready', { metadata: 'down', blockstore: 'up' })
    t.regex(v.ready.check('metadata')?.error ?? '', /ECONNREFUSED/)
    await noSecret(t, server, SECRET)
    const failed = await s3Error(s3.send(new ListBucketsCommand({})))
    t.log(`ListBuckets without the database: ${failed.status} ${failed.code}`)
    t.deepEqual(failed, { code: 'ServiceUnavailable', status: 503 }, 'a store that cannot be reached is 503, not an InternalError')

    // The schema is created on the first call that reaches the database.
    await proxy.up()
    await expectState(t, server, 200, 'ready', { metadata: 'up', blockstore: 'up' })
    await s3.send(new CreateBucketCommand({ Bucket: 'late-pg' }))
    await putAndGet(t, s3, 'late-pg', 'k', deterministicBytes('late-pg', 5000))
  })

  test('PostgreSQL with a database that does not exist: 503, metadata down with the server\'s reason, no password', async (t) => {
    t.timeout(3 * 60_000)
    const database = `no_such_db_${randomBytes(4).toString('hex')}`
    const { server } = await serve(t, { metadataUrl: metadataUrl({ database, schema: 's3ipfs' }) })
    const v = await expectState(t, server, 503, 'unready', { metadata: 'down', blockstore: 'up' })
    t.regex(v.ready.check('metadata')?.error ?? '', new RegExp(database))
    await noSecret(t, server, SECRET)
  })
})

whenServices('readiness: Redis block cache', redisProblem, () => {
  test('Redis cache killed: 200 "degraded" with cache down, S3 reads and writes still work; restarted: ready again', async (t) => {
    t.timeout(5 * 60_000)
    const redis = await ownRedis(t, REDIS_SERVER as string)
    const { server, s3 } = await serve(t, { redisUrl: redis.url })

    let v = await expectState(t, server, 200, 'ready', { metadata: 'up', blockstore: 'up', cache: 'up' })
    t.like(v.ready.check('cache'), { backend: 'redis', required: false })
    await s3.send(new CreateBucketCommand({ Bucket: 'ready-redis' }))
    const body = deterministicBytes('ready-redis', 3 * 1024 * 1024 + 17) // several blocks
    await putAndGet(t, s3, 'ready-redis', 'k', body)
    await expectObject(t, s3, 'ready-redis', 'k', body) // from the cache now

    await redis.kill()
    v = await expectState(t, server, 200, 'degraded', { metadata: 'up', blockstore: 'up', cache: 'down' })
    t.like(v.ready.check('cache'), { required: false })
    // The cache is optional: reads go around it, writes do not need it.
    await expectObject(t, s3, 'ready-redis', 'k', body)
    await expectObject(t, s3, 'ready-redis', 'k', body)
    const during = deterministicBytes('ready-redis-down', 300_000)
    await putAndGet(t, s3, 'ready-redis', 'during', during)

    await redis.start()
    await expectState(t, server, 200, 'ready', { metadata: 'up', blockstore: 'up', cache: 'up' })
    await expectObject(t, s3, 'ready-redis', 'k', body)
    await expectObject(t, s3, 'ready-redis', 'during', during)
  })
})

whenServices('readiness: IPFS node over the Kubo RPC API (js-ipfs)', jsIpfsProblem(), () => {
  test('js-ipfs stopped: 503 with blockstore down; started again: ready', async (t) => {
    t.timeout(6 * 60_000)
    const daemon = await startJsIpfs(JS_IPFS_PORT)
    t.teardown(async () => { await daemon.close() })
    const { server, s3 } = await serve(t, { ipfsApi: daemon.apiUrl })

    await expectState(t, server, 200, 'ready', { metadata: 'up', blockstore: 'up' })
    await s3.send(new CreateBucketCommand({ Bucket: 'ready-ipfs' }))
    const body = deterministicBytes('ready-ipfs', 100_000)
    await putAndGet(t, s3, 'ready-ipfs', 'k', body)

    await daemon.stop()
    const v = await expectState(t, server, 503, 'unready', { metadata: 'up', blockstore: 'down' })
    t.like(v.ready.check('blockstore'), { required: true })
    // What an S3 client sees meanwhile: the node's outage as 503 ServiceUnavailable (retryable).
    const failed = await s3Error(s3.send(new PutObjectCommand({ Bucket: 'ready-ipfs', Key: 'during', Body: deterministicBytes('ready-ipfs-during', 2000) })))
    t.like(failed, { code: 'ServiceUnavailable', status: 503 })

    await daemon.start()
    await expectState(t, server, 200, 'ready', { metadata: 'up', blockstore: 'up' })
    await putAndGet(t, s3, 'ready-ipfs', 'after', deterministicBytes('ready-ipfs-after', 2000))
  })
})

test('serve --admin-listen serves the admin endpoints on their own port too, and --metrics-token guards /-/metrics on both', async (t) => {
  t.timeout(3 * 60_000)
  const dataDir = await tempDir(t, 's3ipfs-ready-cli-')
  const token = `metrics-${randomBytes(12).toString('hex')}`
  const adminPort = await freePort()
  // No inherited S3IPFS_* setting (a token or address from the environment would change the answers).
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('S3IPFS_')))
  const child = spawnService(t, process.execPath, ['--import', 'tsx', 'bin/cli.ts', 'serve', '--port', '0', '--data-dir', dataDir,
    '--admin-listen', `127.0.0.1:${adminPort}`, '--metrics-token', token, '--log-level', 'warn'], { cwd: REPO_ROOT, env })
  await child.waitFor(/aws --endpoint-url \S+/, 90_000)
  const s3Url = /listening on (http:\/\/127\.0\.0\.1:\d+)\s*$/m.exec(child.output())?.[1]
  const adminUrl = /admin listener:\s+(http:\/\/\S+?)\/-\//.exec(child.output())?.[1]
  t.truthy(s3Url, child.output())
  t.is(adminUrl, `http://127.0.0.1:${adminPort}`, child.output())
  if (s3Url === undefined || adminUrl === undefined) return

  for (const base of [adminUrl, s3Url]) {
    const h = await healthy(base)
    t.is(h.code, 200, base)
    t.deepEqual(h.body, { status: 'ok' })
    const r = await eventually(`${base}/-/ready`, async () => await ready(base), (x) => x.code === 200, WAIT)
    t.is(r.status, 'ready')
    t.deepEqual(r.checks.map(c => c.name).sort(), ['blockstore', 'metadata'])
    t.false(r.text.includes(token))

    const missing = await metrics(base)
    t.is(missing.code, 401, `${base}: no token`)
    t.regex(missing.headers.get('www-authenticate') ?? '', /^Bearer/)
    t.false(missing.text.includes('s3ipfs_'), 'a refused scrape shows no metric')
    t.is((await metrics(base, 'wrong-token')).code, 401, `${base}: wrong token`)
    t.is((await metrics(base, token.slice(0, -1))).code, 401, `${base}: a prefix of the token`)
    const right = await metrics(base, token)
    t.is(right.code, 200, `${base}: the token`)
    t.regex(right.headers.get('content-type') ?? '', /^text\/plain/)
    t.regex(right.text, /^s3ipfs_dependency_up\{dependency="metadata"\} 1$/m)
    t.regex(right.text, /^s3ipfs_dependency_up\{dependency="blockstore"\} 1$/m)
    t.false(right.text.includes(token))

    const dashboard = await fetch(`${base}/-/dashboard`)
    t.is(dashboard.status, 200)
    t.regex(dashboard.headers.get('content-type') ?? '', /^text\/html/)
    await dashboard.arrayBuffer()
  }
  // The admin port is not an S3 endpoint.
  const notS3 = await fetch(`${adminUrl}/`)
  t.is(notS3.status, 404)
  await notS3.arrayBuffer()

  await child.stop(20_000)
  t.is(child.proc.exitCode, 0, child.output())
})
