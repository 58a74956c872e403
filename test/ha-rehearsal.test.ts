/**
 * The high-availability rehearsal: three `serve` processes on one PostgreSQL schema, one data
 * directory and one Redis cache, behind HAProxy running deploy/haproxy/haproxy.cfg (health checks
 * on /-/ready). A steady mix of PUT/GET/LIST goes through HAProxy while one gateway is SIGKILLed,
 * then restarted, then another is stopped gracefully (SIGTERM). No client request fails, apart
 * from those in flight on the killed process; every acknowledged write reads back byte-identical.
 * `npm run bench -- --only ha` measures the throughput gap of the same run.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import test from 'ava'
import { postgresProblem, redisProblem, whenServices } from './helpers/services.js'
import { HaCluster } from './helpers/ha-cluster.js'
import { SteadyLoad } from './helpers/steady-load.js'
import type { Request } from './helpers/steady-load.js'
import { PG_URL } from './helpers/metadata-stores.js'

const REDIS_URL = 'redis://127.0.0.1:6379'
const MiB = 1024 * 1024
const CREDENTIALS = { accessKeyId: 'HAREHEARSAL000000000', secretAccessKey: 'ha-rehearsal-secret-000000000000000000000' }

const problem = (await Promise.all([postgresProblem(PG_URL), redisProblem(REDIS_URL)])).filter(m => m !== undefined).join('; ')
const { tempDir } = await import('./helpers/child.js')

/**
 * Requests in flight while a process was dying: started before it had exited, ended after the
 * signal. (Until the process is gone, the kernel still accepts connections on its socket, so a
 * request sent just after the SIGKILL can reach it too.)
 */
const inFlightDuring = (from: number, to: number) => (r: Request): boolean => r.start <= to && r.end >= from

whenServices('high-availability rehearsal', problem === '' ? undefined : problem, () => {
  test('HA: behind HAProxy, a SIGKILL, a restart and a SIGTERM of gateways fail no client request and lose no acknowledged write', async (t) => {
    t.timeout(6 * 60_000)
    const dir = await tempDir(t, 's3ipfs-ha-')
    const cluster = await HaCluster.start({ dir, postgresUrl: PG_URL, redisUrl: REDIS_URL, shutdownDelay: '4s', credentials: CREDENTIALS })
    t.teardown(async () => { await cluster.stop() })
    const s3 = new S3Client({ endpoint: cluster.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS })
    t.teardown(() => { s3.destroy() })
    await s3.send(new CreateBucketCommand({ Bucket: 'rehearsal' }))

    // Bodies from 1 KiB (HAProxy holds them whole and could replay them) to 2 MiB (it cannot).
    const load = new SteadyLoad({ endpoint: cluster.endpoint, credentials: CREDENTIALS, bucket: 'rehearsal', sizes: [1024, 16 * 1024, 200 * 1024, 2 * MiB] })
    load.start()
    let loadStopped = false
    t.teardown(async () => { if (!loadStopped) await load.stop() })
    const progress = async (requests: number): Promise<void> => {
      // Some traffic between events, however slow the machine: at least `requests` more answered.
      const target = load.requests.length + requests
      while (load.requests.length < target) await sleep(50)
    }
    await progress(40)

    // 1. SIGKILL gateway-1: what it had in flight fails over to the SDK's retries.
    const killedAt = performance.now()
    const killed = await cluster.kill(0)
    const goneAt = performance.now()
    t.is(killed.signal, 'SIGKILL')
    await cluster.waitFor('gateway-1', 'DOWN')
    await progress(40)

    // 2. Restart it on the same port: HAProxy takes it back once /-/ready answers.
    await cluster.startGateway(0)
    await cluster.waitFor('gateway-1', 'UP')
    await progress(40)

    // 3. SIGTERM gateway-2: it turns unready, HAProxy takes it out, it drains, then exits 0. An
    // upload sent to it directly is still streaming when the signal comes: it completes.
    const direct = new S3Client({ endpoint: cluster.directEndpoint(1), region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS, maxAttempts: 1 })
    t.teardown(() => { direct.destroy() })
    const slowBody = randomBytes(8 * MiB)
    let release!: () => void
    const released = new Promise<void>((resolve) => { release = resolve })
    t.teardown(() => { release() })
    let midway!: () => void
    const reachedMidway = new Promise<void>((resolve) => { midway = resolve })
    async function * stalling (): AsyncGenerator<Buffer> {
      for (let offset = 0; offset < slowBody.length; offset += MiB) {
        if (offset === 4 * MiB) { midway(); await released }
        yield slowBody.subarray(offset, offset + MiB)
      }
    }
    const slowPut = direct.send(new PutObjectCommand({ Bucket: 'rehearsal', Key: 'slow', Body: Readable.from(stalling()), ContentLength: slowBody.length }))
    slowPut.catch(() => {})
    await reachedMidway
    const terminated = cluster.terminate(1)
    await cluster.gateway(1).waitFor('stderr', /SIGTERM/)
    await cluster.waitFor('gateway-2', 'DOWN')
    release()
    t.is((await slowPut).ETag, `"${createHash('md5').update(slowBody).digest('hex')}"`, 'the upload in flight at SIGTERM completes')
    const { exit, stderr } = await terminated
    t.deepEqual(exit, { code: 0, signal: null }, stderr)
    t.regex(stderr, /SIGTERM: unready now; serving 4000 ms more/)
    await progress(40)

    await load.stop()
    loadStopped = true

    // A request failed when the SDK gave up on it, or needed a retry: only those in flight on the
    // SIGKILLed process may have.
    const troubled = load.requests.filter(r => !r.ok || r.attempts > 1)
    const onKilled = troubled.filter(inFlightDuring(killedAt, goneAt))
    const others = troubled.filter(r => !inFlightDuring(killedAt, goneAt)(r))
    t.log(`${load.requests.length} requests (${load.acknowledged.size} PUTs acknowledged); in flight on the SIGKILLed gateway: ` +
      `${onKilled.filter(r => r.ok).length} succeeded after SDK retries, ${onKilled.filter(r => !r.ok).length} failed`)
    if (others.length > 0) t.log(`attempts that failed:\n${load.attemptErrors.map(e => `${Math.round(e.at - killedAt)} ms after the kill: ${e.error}`).join('\n')}\n${cluster.output()}`)
    t.deepEqual(others.map(r => `${r.kind} ${r.key ?? ''}: ${r.ok ? `${r.attempts} attempts` : r.error ?? ''}`), [], 'no request fails or is retried apart from those in flight on the killed process')
    // At most one per client can be in flight at any moment.
    t.true(onKilled.length <= 4, onKilled.map(r => r.error).join('\n'))
    for (const kind of ['put', 'get', 'list'] as const) t.true(load.requests.some(r => r.kind === kind && r.ok), `some ${kind} succeeded`)

    // Nothing acknowledged is lost: every such key is listed and reads back byte-identical.
    const listed = new Set<string>()
    let ContinuationToken: string | undefined
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: 'rehearsal', ContinuationToken }))
      for (const c of page.Contents ?? []) listed.add(c.Key ?? '')
      ContinuationToken = page.NextContinuationToken
    } while (ContinuationToken !== undefined)
    t.true(listed.has('slow'))
    const missing = [...load.acknowledged.keys()].filter(k => !listed.has(k))
    t.deepEqual(missing, [], 'every acknowledged PUT is listed')
    const wrong: string[] = []
    for (const [key, md5] of load.acknowledged) {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'rehearsal', Key: key }))
      const sum = createHash('md5').update(await got.Body?.transformToByteArray() ?? new Uint8Array()).digest('hex')
      if (sum !== md5) wrong.push(key)
    }
    t.deepEqual(wrong, [], 'every acknowledged PUT reads back byte-identical')
  })
})
