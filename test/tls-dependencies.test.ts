/**
 * The gateway's own connections over TLS, each to a real server whose certificate comes from a CA
 * the test makes with openssl: Redis listening only on its TLS port (`--redis rediss://`), the Kubo
 * RPC API of a js-ipfs node behind HAProxy terminating TLS (`--ipfs-api https://`), and a PostgreSQL
 * cluster of the test's own with ssl=on (`--metadata postgres://…?sslmode=verify-full&sslrootcert=`).
 * Each runs the `serve` CLI with the CA given the way the docs say (NODE_EXTRA_CA_CERTS for Redis
 * and Kubo, sslrootcert for PostgreSQL) and puts and reads objects with the AWS SDK; each also shows
 * that the certificate is verified: a gateway that does not trust the CA, or reaches PostgreSQL at
 * an address its certificate does not name, gets nothing through.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { CID } from 'multiformats/cid'
import pg from 'pg'
import { jsIpfsProblem, startJsIpfs } from './helpers/js-ipfs.js'
import { eventually, metrics, ready, tempDir, which } from './helpers/monitoring.js'
import { deterministicBytes, s3Error } from './helpers/s3.js'
import { client, serve } from './helpers/serve-process.js'
import type { Served } from './helpers/serve-process.js'
import { whenServices } from './helpers/services.js'
import { makeCa, OPENSSL } from './helpers/test-ca.js'
import type { TestCa } from './helpers/test-ca.js'
import { postgresBinDir, tlsPostgres, tlsRedis, tlsTerminator } from './helpers/tls-services.js'

/** js-ipfs ports of this file (test/helpers/js-ipfs.ts lists the others). */
const JS_IPFS_PORT = 15070
const WAIT = { timeoutMs: 60_000 }

const REDIS_SERVER = which('redis-server')
const REDIS_CLI = which('redis-cli')
const HAPROXY = which('haproxy')
const PG_BIN = postgresBinDir()
const opensslProblem = existsSync(OPENSSL) ? undefined : `${OPENSSL} is not installed (apt-get install openssl)`

const cas = new Map<string, Promise<TestCa>>()
const caDirs: string[] = []
/** A CA of this file's, made once per name. */
async function testCa (name: string): Promise<TestCa> {
  let ca = cas.get(name)
  if (ca === undefined) {
    ca = (async () => {
      const dir = await mkdtemp(join(tmpdir(), 's3ipfs-ca-'))
      caDirs.push(dir)
      return await makeCa(dir)
    })()
    cas.set(name, ca)
  }
  return await ca
}
test.after.always(async () => { for (const dir of caDirs) await rm(dir, { recursive: true, force: true }) })

async function putAndGet (t: ExecutionContext, s3: S3Client, bucket: string, key: string, body: Uint8Array): Promise<string> {
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))
  t.truthy(put.ETag)
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  t.deepEqual(Buffer.from(await got.Body?.transformToByteArray() ?? []), Buffer.from(body))
  return got.Metadata?.cid ?? ''
}

async function gateway (t: ExecutionContext, args: string[], env: Record<string, string> = {}): Promise<Served> {
  return await serve(t, await tempDir(t, 's3ipfs-tlsdeps-'), args, env)
}

/** The first sample of `name{cache="redis"}` in a Prometheus exposition. */
function redisCacheCounter (exposition: string, name: string): number {
  const m = new RegExp(`^${name}\\{[^}]*cache="redis"[^}]*\\}\\s+(\\S+)`, 'm').exec(exposition)
  return m === null ? Number.NaN : Number(m[1])
}

const redisProblem = opensslProblem ?? (REDIS_SERVER === undefined || REDIS_CLI === undefined ? 'redis-server or redis-cli is not on PATH (apt-get install redis-server)' : undefined)

whenServices('TLS to Redis (rediss://)', redisProblem, () => {
  test('--redis rediss://: trusting the CA through NODE_EXTRA_CA_CERTS, blocks are cached in and read from a TLS-only redis-server; without it the cache is down (degraded) and S3 still works', async (t) => {
    const ca = await testCa('main')
    const redis = await tlsRedis(t, { server: REDIS_SERVER as string, cli: REDIS_CLI as string }, await ca.issue('redis'), ca.caFile)
    const [trusting, untrusting] = await Promise.all([
      gateway(t, ['--redis', redis.url], { NODE_EXTRA_CA_CERTS: ca.caFile }),
      gateway(t, ['--redis', redis.url]),
    ])

    const s3 = client(t, trusting.endpoint, trusting)
    await s3.send(new CreateBucketCommand({ Bucket: 'cached' }))
    const body = deterministicBytes('tls-redis', 300_000)
    await putAndGet(t, s3, 'cached', 'k', body) // a miss: read from the blockstore, then written to Redis
    // Later reads come from Redis; a cache call slower than its 200 ms budget counts as a miss (a
    // loaded machine), so read until one is a hit.
    await eventually('a read answered from Redis', async () => {
      const again = await s3.send(new GetObjectCommand({ Bucket: 'cached', Key: 'k' }))
      t.deepEqual(Buffer.from(await again.Body?.transformToByteArray() ?? []), body)
      return redisCacheCounter((await metrics(trusting.endpoint)).text, 's3ipfs_block_cache_hits_total')
    }, (hits) => hits > 0, WAIT)

    const r = await ready(trusting.endpoint)
    t.is(r.code, 200, r.text)
    t.is(r.status, 'ready', r.text)
    t.like(r.check('cache'), { status: 'up', backend: 'redis' })
    t.true(Number(await redis.cli('dbsize')) > 1, 'blocks (and the readiness probe) are in Redis')

    // The same URL from a process that does not trust the CA: no connection, so the cache is down.
    const refused = await eventually('/-/ready of the gateway not trusting the CA', async () => await ready(untrusting.endpoint), (v) => v.check('cache')?.status === 'down', WAIT)
    t.is(refused.code, 200, refused.text)
    t.is(refused.status, 'degraded', refused.text)
    const plain = client(t, untrusting.endpoint, untrusting)
    await plain.send(new CreateBucketCommand({ Bucket: 'uncached' }))
    await putAndGet(t, plain, 'uncached', 'k', body)
    t.regex(untrusting.child.stderr(), /"error":"Error: self-signed certificate in certificate chain","msg":"block cache unavailable/)
  })
})

const kuboProblem = opensslProblem ?? (HAPROXY === undefined ? 'haproxy is not on PATH (apt-get install haproxy)' : jsIpfsProblem())

whenServices('TLS to the Kubo RPC API (https://)', kuboProblem, () => {
  test('--ipfs-api https://: behind HAProxy terminating TLS, trusting the CA through NODE_EXTRA_CA_CERTS, objects land on the IPFS node; without it the blockstore is down and writes fail', async (t) => {
    const ca = await testCa('main')
    const node = await startJsIpfs(JS_IPFS_PORT)
    t.teardown(async () => { await node.close() })
    const proxy = await tlsTerminator(t, HAPROXY as string, await ca.issue('kubo-proxy'), ca.ca, new URL(node.apiUrl))
    const [trusting, untrusting] = await Promise.all([
      gateway(t, ['--ipfs-api', proxy.url], { NODE_EXTRA_CA_CERTS: ca.caFile }),
      gateway(t, ['--ipfs-api', proxy.url]),
    ])

    const s3 = client(t, trusting.endpoint, trusting)
    await s3.send(new CreateBucketCommand({ Bucket: 'on-kubo' }))
    const body = deterministicBytes('tls-kubo', 1_500_000)
    const cid = await putAndGet(t, s3, 'on-kubo', 'k', body)
    t.regex(cid, /^bafy/)
    t.like((await ready(trusting.endpoint)).check('blockstore'), { status: 'up' })

    // On the node itself, over its plain-HTTP API: the content is there and pinned.
    const cat = await fetch(`${node.apiUrl}/api/v0/cat?arg=${cid}`, { method: 'POST', signal: AbortSignal.timeout(20_000) })
    t.is(cat.status, 200)
    t.deepEqual(Buffer.from(await cat.arrayBuffer()), body)
    const pins = await fetch(`${node.apiUrl}/api/v0/pin/ls?arg=${cid}`, { method: 'POST', signal: AbortSignal.timeout(20_000) })
    t.is(pins.status, 200)
    const pinned = Object.entries((await pins.json() as { Keys: Record<string, { Type: string }> }).Keys)
    t.deepEqual(pinned.map(([key, pin]) => [CID.parse(key).toV1().toString(), pin.Type]), [[cid, 'recursive']])

    const refused = await eventually('/-/ready of the gateway not trusting the CA', async () => await ready(untrusting.endpoint), (v) => v.check('blockstore')?.status === 'down', WAIT)
    t.is(refused.code, 503, refused.text)
    t.regex(refused.check('blockstore')?.error ?? '', /cannot be reached \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/)
    const plain = client(t, untrusting.endpoint, untrusting)
    await plain.send(new CreateBucketCommand({ Bucket: 'unreached' }))
    const failed = await s3Error(plain.send(new PutObjectCommand({ Bucket: 'unreached', Key: 'k', Body: body })))
    t.deepEqual(failed, { code: 'ServiceUnavailable', status: 503 })
  })
})

const pgProblem = opensslProblem ?? (PG_BIN === undefined ? 'no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install postgresql)' : undefined)

whenServices('TLS to PostgreSQL (sslmode=verify-full)', pgProblem, () => {
  test('--metadata with sslmode=verify-full and sslrootcert: the gateway\'s connections are TLS; an untrusted CA, or an address the certificate does not name, gets no connection', async (t) => {
    const ca = await testCa('main')
    const other = await testCa('other')
    const server = await tlsPostgres(t, PG_BIN as string, await ca.issue('postgres', { subjectAltName: 'IP:127.0.0.1' }))
    const url = (host: string, rootCert: string, app: string): string =>
      `postgres://postgres@${host}:${server.port}/postgres?sslmode=verify-full&sslrootcert=${encodeURIComponent(rootCert)}&application_name=${app}`
    const [trusting, wrongCa, wrongHost] = await Promise.all([
      gateway(t, ['--metadata', url('127.0.0.1', ca.caFile, 's3ipfs-trusting')]),
      gateway(t, ['--metadata', url('127.0.0.1', other.caFile, 's3ipfs-wrong-ca')]),
      // 127.0.0.2 is the same server (it listens there too), but the certificate names only 127.0.0.1.
      gateway(t, ['--metadata', url('127.0.0.2', ca.caFile, 's3ipfs-wrong-host')]),
    ])

    const s3 = client(t, trusting.endpoint, trusting)
    await s3.send(new CreateBucketCommand({ Bucket: 'in-postgres' }))
    await putAndGet(t, s3, 'in-postgres', 'k', deterministicBytes('tls-pg', 10_000))
    t.like((await ready(trusting.endpoint)).check('metadata'), { status: 'up', backend: 'postgres' })

    // Seen from the server, over its Unix socket: every connection of the gateway is TLS.
    const admin = new pg.Client({ host: server.socketDir, port: server.port, user: 'postgres', database: 'postgres' })
    await admin.connect()
    t.teardown(async () => { await admin.end() })
    const { rows } = await admin.query<{ application_name: string, ssl: boolean, version: string | null }>(
      'SELECT a.application_name, s.ssl, s.version FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE $1', ['s3ipfs-%'])
    t.true(rows.length > 0, 'the gateway has connections open')
    t.deepEqual([...new Set(rows.map(r => r.application_name))], ['s3ipfs-trusting'], 'only the trusting gateway got in')
    t.true(rows.every(r => r.ssl && /^TLSv1\.[23]$/.test(r.version ?? '')), JSON.stringify(rows))

    for (const [refused, reason] of [[wrongCa, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/], [wrongHost, /IP: 127\.0\.0\.2 is not in the cert's list/]] as const) {
      const r = await eventually('/-/ready of a gateway whose certificate check fails', async () => await ready(refused.endpoint), (v) => v.check('metadata')?.status === 'down', WAIT)
      t.is(r.code, 503, r.text)
      t.regex(r.check('metadata')?.error ?? '', reason)
      const failed = await s3Error(client(t, refused.endpoint, refused).send(new CreateBucketCommand({ Bucket: 'refused' })))
      // A store that cannot be reached safely is unavailable, as one that cannot be reached at all.
      t.deepEqual(failed, { code: 'ServiceUnavailable', status: 503 })
    }
  })
})
