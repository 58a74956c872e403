/**
 * Replicas on remote pinning services, through the gateway: the spec's reference mock
 * (mock-ipfs-pinning-service, run as a child process: a pin's status is chosen by its name prefix)
 * and services that are down or refuse the token. Nothing inside the gateway is mocked.
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { CreateBucketCommand, DeleteObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { createGateway } from '../src/gateway.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import type { Gateway, GatewayInit, GatewayLogger } from '../src/types.js'
import type { PinningServiceConfig } from '../src/federation/index.js'
import { PinningServiceClient } from '../src/federation/pinning-client.js'
import { pinningProblem, startMockPinningService } from './helpers/pinning.js'
import { whenServices } from './helpers/services.js'
import { tempDir } from './helpers/child.js'
import { nodeHost } from './helpers/hosts.js'
import { captureHeaders, headerScope, s3Client } from './helpers/s3.js'

const TOKEN = 'mock-token-6c1f0e'
const ADMIN = 'admin-token-4471'

/** Log lines, to check what is said and that no token is. */
function capturingLogger (): { logger: GatewayLogger, lines: string[] } {
  const lines: string[] = []
  const log = (level: string) => (details: object, message?: string) => {
    lines.push(JSON.stringify({ level, message, ...details }, (_k, v: unknown) => v instanceof Error ? { message: v.message, stack: v.stack, cause: String(v.cause) } : v))
  }
  const logger = { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), fatal: log('fatal'), trace: log('trace') } as unknown as GatewayLogger
  return { logger, lines }
}

async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return port
}

async function until<T> (what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Running { gateway: Gateway, s3: S3Client, origin: string, last: () => Record<string, string> }

async function start (t: ExecutionContext, init: GatewayInit): Promise<Running> {
  const gateway = createGateway({ ...init, jobs: { pollMs: 50, maxAttempts: 3, retryBaseMs: 50, ...init.jobs } })
  const host = await nodeHost.start(gateway, '', { adminPath: '/-' })
  const s3 = s3Client(host.url)
  const { last } = captureHeaders(s3)
  t.teardown(async () => { s3.destroy(); await host.close(); await gateway.close() })
  return { gateway, s3, origin: host.origin, last }
}

async function put (r: Running, key: string, body: string, bucket = 'replicated'): Promise<string> {
  await r.s3.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => {})
  await r.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))
  return (await r.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).Metadata?.cid as string
}

/** S3's replication status (as the SDK reads it) and our copies header. */
async function replication (r: Running, key: string, bucket = 'replicated'): Promise<{ status?: string, copies?: string }> {
  return await headerScope.run({}, async () => {
    const head = await r.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
    return { status: head.ReplicationStatus, copies: r.last()['x-s3ipfs-replicas'] }
  })
}

const reach = async (r: Running, key: string, status: string, bucket = 'replicated'): Promise<{ status?: string, copies?: string }> =>
  await until(`${key} ${status}`, async () => { const now = await replication(r, key, bucket); return now.status === status ? now : undefined })

async function admin (r: Running, method: string, path: string, body?: unknown, token: string | null = ADMIN): Promise<{ status: number, json: any }> {
  const response = await fetch(`${r.origin}/-${path}`, {
    method, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  })
  return { status: response.status, json: await response.json() }
}

whenServices('replication', pinningProblem(), () => {
  test('a version is pinned on the service with our node as origin: PENDING, then COMPLETED; deleting the object removes the remote pin', async (t) => {
    const mock = await startMockPinningService(t, { token: TOKEN })
    const service: PinningServiceConfig = { name: 'mock', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'pinned-' }
    const origins = ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf']
    const r = await start(t, { replication: { services: [service], pollMs: 50 }, ipfs: { multiaddrs: origins } })
    const cid = await put(r, 'a.txt', 'hello replicas')
    t.deepEqual(await reach(r, 'a.txt', 'COMPLETED'), { status: 'COMPLETED', copies: '1' })
    const client = new PinningServiceClient({ name: 'check', endpoint: mock.endpoint, token: TOKEN })
    const remote = await client.list({ cid: [cid], status: ['pinned'] })
    t.is(remote.results.length, 1)
    t.is(remote.results[0].pin.name, `pinned-${cid}`)
    t.deepEqual(remote.results[0].pin.origins, origins)
    const requestid = remote.results[0].requestid

    await r.s3.send(new DeleteObjectCommand({ Bucket: 'replicated', Key: 'a.txt' }))
    await until('the remote pin removed', async () => await client.get(requestid).then(() => undefined, (err: { status?: number }) => err.status === 404 ? true : undefined))
    t.pass()
  })

  test('PENDING until the job runs: with the worker off in this process the status stays PENDING, with no copies', async (t) => {
    const mock = await startMockPinningService(t, { token: TOKEN })
    const r = await start(t, { replication: { services: [{ name: 'mock', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'pinned-' }] }, jobs: { workers: false } })
    await put(r, 'p.txt', 'pending')
    t.deepEqual(await replication(r, 'p.txt'), { status: 'PENDING', copies: '0' })
    const { json } = await admin(r, 'GET', '/replication', undefined, null)
    t.is(json.notAtMinimum.length, 1)
    t.like(json.notAtMinimum[0], { bucket: 'replicated', key: 'p.txt', state: 'ready' })
  })

  test('a service that fails the pin, and one whose request stays queued past the deadline, are replaced by the next service; the queued request is withdrawn', async (t) => {
    const mock = await startMockPinningService(t, { token: TOKEN })
    const services: PinningServiceConfig[] = [
      { name: 'refuses', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'failed-' },
      { name: 'slow', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'queued-' },
      { name: 'good', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'pinned-' },
    ]
    const r = await start(t, { replication: { services, replicas: { min: 1, max: 2 }, queuedDeadlineMs: 400, pollMs: 50 }, adminToken: ADMIN })
    const cid = await put(r, 'b.txt', 'three services')
    t.deepEqual(await reach(r, 'b.txt', 'COMPLETED'), { status: 'COMPLETED', copies: '1' })
    const rows = (await admin(r, 'GET', `/replication/cids/${cid}`)).json.replicas as Array<{ service: string, status: string, error?: string }>
    t.deepEqual(rows.map((row) => [row.service, row.status]), [['good', 'pinned'], ['refuses', 'failed'], ['slow', 'failed']])
    t.regex(rows.find((row) => row.service === 'slow')?.error ?? '', /still queued after/)
    const client = new PinningServiceClient({ name: 'check', endpoint: mock.endpoint, token: TOKEN })
    // The mock keys pins by CID: the three services here share its one record of the CID, now the
    // last request's. What matters is what the gateway recorded for each service.
    await until('the job done', async () => (await admin(r, 'GET', '/replication')).json.notAtMinimum.length === 0 ? true : undefined)
    t.true((await client.list({ cid: [cid], status: ['pinned'] })).results.length >= 1)
  })

  test('services that are down, hang or refuse the token: retried, then FAILED and reported; no token reaches a log line or the admin view', async (t) => {
    const mock = await startMockPinningService(t, { token: TOKEN })
    const { logger, lines } = capturingLogger()
    const secret = 'very-secret-token-9f8e7d'
    // A service that accepts connections and never answers.
    const hanging = createHttpServer(() => {})
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { hanging.closeAllConnections(); hanging.close() })
    const services: PinningServiceConfig[] = [
      { name: 'down', endpoint: `http://127.0.0.1:${await closedPort()}`, token: secret, timeoutMs: 2000 },
      { name: 'hangs', endpoint: `http://127.0.0.1:${(hanging.address() as { port: number }).port}`, token: secret, timeoutMs: 300 },
      { name: 'wrong-token', endpoint: mock.endpoint, token: secret, namePrefix: 'pinned-' },
    ]
    const r = await start(t, { replication: { services, pollMs: 50 }, logger })
    await put(r, 'c.txt', 'nowhere to go')
    t.deepEqual(await reach(r, 'c.txt', 'FAILED'), { status: 'FAILED', copies: '0' })
    const view = await admin(r, 'GET', '/replication', undefined, null)
    const [entry] = view.json.notAtMinimum
    t.like(entry, { state: 'failed', attempts: 3 })
    t.regex(entry.lastError, /down: UNREACHABLE/)
    t.regex(entry.lastError, /hangs: TIMEOUT/)
    t.regex(entry.lastError, /wrong-token: .*\(HTTP 401\)/)
    t.deepEqual(entry.replicas.map((row: { service: string, status: string }) => [row.service, row.status]), [['down', 'failed'], ['hangs', 'failed'], ['wrong-token', 'failed']])
    t.true(lines.some((line) => line.includes('a job failed for good')), 'the failure is logged')
    for (const text of [...lines, JSON.stringify(view.json)]) t.false(text.includes(secret), text)

    // The operator fixes the cause and asks for a retry: run again (here, still failing, so FAILED again).
    const retry = await admin(r, 'POST', '/replication/retry', undefined, null)
    t.is(retry.status, 403, 'changes need the admin token, and none is set')
  })

  test('a bucket\'s own policy through the admin API: min 0 turns replication off for it; bad policies and tokens are refused', async (t) => {
    const mock = await startMockPinningService(t, { token: TOKEN })
    const r = await start(t, { replication: { services: [{ name: 'mock', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'pinned-' }] }, adminToken: ADMIN })
    await r.s3.send(new CreateBucketCommand({ Bucket: 'quiet' }))
    t.is((await admin(r, 'PUT', '/replication/buckets/quiet', { min: 0, max: 0 }, null)).status, 401)
    t.is((await admin(r, 'PUT', '/replication/buckets/quiet', { min: 0, max: 0 }, 'wrong')).status, 401)
    t.is((await admin(r, 'PUT', '/replication/buckets/quiet', { min: 2, max: 1 })).status, 400)
    t.is((await admin(r, 'PUT', '/replication/buckets/quiet', '{not json')).status, 400)
    t.like((await admin(r, 'PUT', '/replication/buckets/quiet', { min: 1, services: ['elsewhere'] })).json, { message: 'Unknown pinning services: elsewhere' })
    t.is((await admin(r, 'PUT', '/replication/buckets/missing', { min: 0 })).status, 404)
    t.like(await admin(r, 'PUT', '/replication/buckets/quiet', { min: 0, max: 0 }), { status: 200, json: { policy: { min: 0, max: 0 } } })
    t.like((await admin(r, 'GET', '/replication/buckets/quiet')).json, { effective: { min: 0, max: 0 } })
    await put(r, 'q.txt', 'not replicated', 'quiet')
    await put(r, 'r.txt', 'replicated')
    await reach(r, 'r.txt', 'COMPLETED')
    t.deepEqual(await replication(r, 'q.txt', 'quiet'), { status: undefined, copies: undefined }, 'a bucket with min 0 is not replicated')
    t.like((await admin(r, 'DELETE', '/replication/buckets/quiet')).json, { policy: null, effective: { min: 1, max: 1 } })
  })

  test('the reconciler replicates what was stored before replication was turned on', async (t) => {
    const mock = await startMockPinningService(t, { token: TOKEN })
    const dir = await tempDir(t)
    const path = join(dir, 'meta.db')
    const before = await start(t, { metadata: new SqliteMetadataStore({ path }) })
    await put(before, 'old.txt', 'from before')
    t.deepEqual(await replication(before, 'old.txt'), { status: undefined, copies: undefined })
    await before.gateway.close()
    const after = await start(t, { metadata: new SqliteMetadataStore({ path }), replication: { services: [{ name: 'mock', endpoint: mock.endpoint, token: TOKEN, namePrefix: 'pinned-' }], pollMs: 50 } })
    t.deepEqual(await reach(after, 'old.txt', 'COMPLETED'), { status: 'COMPLETED', copies: '1' })
    t.like((await admin(after, 'GET', '/replication', undefined, null)).json.lastReconcile, { underReplicated: 1, unreferenced: 0 })
  })
})
