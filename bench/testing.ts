/**
 * The testing section of `npm run bench`: what one unit test pays for a fresh S3 to talk to.
 *
 * Unlike the other sections it runs in the bench process itself, because it measures the library
 * used in-process (`s3-ipfs-gateway/testing`, imported from src/ through tsx). Each repetition is
 * one "test", timed from nothing to everything closed, in three ways, all driven by the AWS SDK:
 *
 * - in-process: createTestGateway({ buckets }), an S3Client on inProcessHandler(gateway), PutObject
 *   of 4 KiB, GetObject (body read and compared), client destroyed, gateway closed;
 * - startTestServer: the same gateway served on 127.0.0.1 and a free port, the SDK over HTTP;
 * - s3rver: a new S3rver on port 0 in a new temp directory with the bucket configured at start (its
 *   counterpart of `buckets`), the SDK over HTTP, then closed and the directory removed.
 *
 * The three alternate, in a different order each repetition, after a few unmeasured warm-up runs
 * of each (the first SDK client and the first request load and compile a lot).
 */
import { createRequire } from 'node:module'
import type { S3Client } from '@aws-sdk/client-s3'
import { randomBytes } from 'node:crypto'
import { TESTING_TARGETS } from './limits.js'
import type { SectionContext } from './multipart.js'
import { makeTempDir, removeTempDir, type TargetName } from './targets.js'
import { fmtBytes, fmtNum, fmtRatio, median, quantile } from './util.js'

export interface TestingSizes {
  /** measured tests per mode */
  reps: number
  /** unmeasured tests per mode before them */
  warmup: number
  /** object size of the PUT and GET */
  size: number
}

/** The part of s3rver 3.7.1's API used here (it ships no types). */
interface S3rverInstance {
  run(): Promise<{ port: number }>
  close(): Promise<void>
}
type S3rverClass = new (options: {
  address: string
  port: number
  directory: string
  silent: boolean
  configureBuckets: Array<{ name: string, configs: string[] }>
}) => S3rverInstance

/**
 * What the tests use, loaded when the section runs rather than when bench/run.ts starts (about a
 * second, and it would put the SDK and src/ in the process of every other section).
 */
interface Libs {
  sdk: typeof import('@aws-sdk/client-s3')
  kit: typeof import('../src/testing/index.js')
  S3rver: S3rverClass
}

async function load (): Promise<Libs> {
  return {
    sdk: await import('@aws-sdk/client-s3'),
    kit: await import('../src/testing/index.js'),
    S3rver: createRequire(import.meta.url)('s3rver') as S3rverClass,
  }
}

type Mode = 'inproc' | 'server' | 's3rver'
const MODES: Mode[] = ['inproc', 'server', 's3rver']
const MODE_LABEL: Record<Mode, string> = {
  inproc: 'in-process (inProcessHandler)',
  server: 'startTestServer (HTTP)',
  s3rver: 's3rver per test (HTTP)',
}
const OWNER: Record<Mode, TargetName> = { inproc: 'ours', server: 'ours', s3rver: 's3rver' }
const BUCKET = 'b'

/** ms spent in each phase of one test; `handler`: of `roundTrip`, inside the gateway (in-process only, else NaN) */
interface Timing { setup: number, roundTrip: number, close: number, total: number, handler: number }

/** An S3 to talk to, set up for one test: the client and how to take everything down. */
interface Fixture {
  client: S3Client
  close: () => Promise<void>
  /** ms spent in the in-process handler so far */
  handlerMs?: () => number
}

async function setUp ({ sdk: { S3Client }, kit, S3rver }: Libs, mode: Mode): Promise<Fixture> {
  const { createTestGateway, inProcessHandler, startTestServer, TEST_CREDENTIALS, TEST_REGION } = kit
  if (mode === 'inproc') {
    const gateway = createTestGateway({ buckets: [BUCKET] })
    const handler = inProcessHandler(gateway)
    // timed, to tell the gateway's share of the round trip from the SDK's
    let inside = 0
    const timed: typeof handler = {
      ...handler,
      async handle (request, options) {
        const t = performance.now()
        try { return await handler.handle(request, options) } finally { inside += performance.now() - t }
      },
    }
    const client = new S3Client({
      requestHandler: timed,
      endpoint: 'http://s3.test',
      region: TEST_REGION,
      forcePathStyle: true,
      credentials: TEST_CREDENTIALS,
      maxAttempts: 1,
    })
    return { client, close: async () => { client.destroy(); await gateway.close() }, handlerMs: () => inside }
  }
  if (mode === 'server') {
    const server = await startTestServer({ buckets: [BUCKET] })
    const client = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials, maxAttempts: 1 })
    return { client, close: async () => { client.destroy(); await server.close() } }
  }
  const directory = makeTempDir('s3rver-test')
  const s3rver = new S3rver({ address: '127.0.0.1', port: 0, directory, silent: true, configureBuckets: [{ name: BUCKET, configs: [] }] })
  const { port } = await s3rver.run()
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: TEST_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    maxAttempts: 1,
  })
  return { client, close: async () => { client.destroy(); await s3rver.close(); removeTempDir(directory) } }
}

/** One whole test; throws if the GET does not return the PUT's bytes. */
async function oneTest (libs: Libs, mode: Mode, body: Buffer): Promise<Timing> {
  const { GetObjectCommand, PutObjectCommand } = libs.sdk
  const t0 = performance.now()
  const f = await setUp(libs, mode)
  const t1 = performance.now()
  try {
    await f.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'k', Body: body }))
    const got = await f.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'k' }))
    const bytes = await got.Body!.transformToByteArray()
    if (!Buffer.from(bytes).equals(body)) throw new Error(`GetObject returned ${bytes.byteLength} bytes that differ from the ${body.length} PUT`)
  } catch (err) {
    await f.close().catch(() => undefined)
    throw err
  }
  const t2 = performance.now()
  const handler = f.handlerMs?.() ?? NaN
  await f.close()
  const t3 = performance.now()
  return { setup: t1 - t0, roundTrip: t2 - t1, close: t3 - t2, total: t3 - t0, handler }
}

export async function sectionTesting (ctx: SectionContext, s: TestingSizes): Promise<void> {
  const modes = MODES.filter(m => ctx.targets.includes(OWNER[m]))
  const libs = await load()
  const broken = new Set<Mode>()
  const fail = (m: Mode, what: string, err: unknown): void => {
    broken.add(m)
    ctx.failed(OWNER[m], `${MODE_LABEL[m]} ${what}`, err)
  }
  ctx.log(`testing: ${s.warmup} warm-up + ${s.reps} measured tests per mode, in the bench process (${modes.map(m => MODE_LABEL[m]).join(', ')})`)
  for (let w = 0; w < s.warmup; w++) {
    for (const m of modes) {
      if (broken.has(m)) continue
      try { await oneTest(libs, m, randomBytes(s.size)) } catch (err) { fail(m, 'warm-up', err) }
    }
  }
  const times: Record<Mode, Timing[]> = { inproc: [], server: [], s3rver: [] }
  for (let rep = 0; rep < s.reps; rep++) {
    if (ctx.secondsLeft() < 20) { ctx.note(`testing: stopped at rep ${rep + 1} (time bound)`); break }
    for (let j = 0; j < modes.length; j++) {
      const m = modes[(j + rep) % modes.length]
      if (broken.has(m)) continue
      try { times[m].push(await oneTest(libs, m, randomBytes(s.size))) } catch (err) { fail(m, `rep ${rep + 1}`, err) }
    }
  }

  const phase = (m: Mode, p: keyof Timing, q?: number): number => {
    const xs = times[m].map(t => t[p])
    return q === undefined ? median(xs) : quantile(xs, q)
  }
  for (const m of modes) {
    if (times[m].length === 0) continue
    ctx.check(`testing: ${MODE_LABEL[m]} — GetObject = PutObject's ${fmtBytes(s.size)}`, !broken.has(m),
      `${times[m].length} of ${s.reps} tests${broken.has(m) ? ' (then failed)' : ''}`)
    ctx.log(`testing ${MODE_LABEL[m]}: total median ${fmtNum(phase(m, 'total'))} ms, p90 ${fmtNum(phase(m, 'total', 0.9))} ms ` +
      `(setup ${fmtNum(phase(m, 'setup'))}, PUT+GET ${fmtNum(phase(m, 'roundTrip'))}` +
      `${m === 'inproc' ? ` of which ${fmtNum(phase(m, 'handler'))} in the handler` : ''}, close ${fmtNum(phase(m, 'close'))} ms)`)
  }

  const work = `fresh S3 + PUT + GET ${fmtBytes(s.size)} + close, AWS SDK`
  // one row per way of running ours, s3rver's figure beside it (so the table's ours/s3rver column is the ratio)
  const rec = (key: string, label: string, ours: Mode, q?: number): void => {
    for (const m of [ours, 's3rver'] as const) {
      const v = phase(m, 'total', q)
      if (Number.isFinite(v)) ctx.record(key, label, 'ms', OWNER[m], v, 'lower')
    }
  }
  rec('testing-inproc', `${work}: in-process (median)`, 'inproc')
  rec('testing-inproc-p90', '  p90', 'inproc', 0.9)
  rec('testing-server', `  same through startTestServer (median)`, 'server')
  rec('testing-server-p90', '  p90', 'server', 0.9)
  const parts = modes.filter(m => times[m].length > 0).map(m =>
    `${MODE_LABEL[m]} setup ${fmtNum(phase(m, 'setup'))} / PUT+GET ${fmtNum(phase(m, 'roundTrip'))}` +
    (m === 'inproc' ? ` (${fmtNum(phase(m, 'handler'))} of it inside the handler, the rest in the SDK)` : '') +
    ` / close ${fmtNum(phase(m, 'close'))} ms`)
  if (parts.length > 0) {
    ctx.note(`testing: medians of ${s.reps} tests per mode by phase — ${parts.join('; ')}. Timed in the bench process (tsx, src/ transpiled on import); ` +
      's3rver runs in-process too, without the --openssl-legacy-provider flag its child process gets (PUT and GET do not need it), and its temp directory is made and removed inside the timing.')
  }
}

/** The PASS/MISS lines of the section's targets (TESTING_TARGETS in bench/limits.ts). */
export function testingVerdicts (value: (key: string, t: TargetName) => number | undefined,
  verdict: (name: string, ok: boolean | undefined, detail: string) => void): void {
  const targets: Array<[Mode, string, number]> = [
    ['inproc', 'in-process', TESTING_TARGETS.inProcessVsS3rver],
    ['server', 'startTestServer', TESTING_TARGETS.serverVsS3rver],
  ]
  for (const [m, label, limit] of targets) {
    const name = `test setup + PUT + GET, ${label} ≤ ${limit === 1 ? '' : `${limit}× `}s3rver per test (median)`
    const o = value(`testing-${m}`, 'ours')
    const s = value(`testing-${m}`, 's3rver')
    if (o === undefined || s === undefined || !Number.isFinite(o / s)) { verdict(name, undefined, 'not measured'); continue }
    verdict(name, o <= s * limit, `${fmtNum(o)} ms vs allowed ${fmtNum(s * limit)} (s3rver ${fmtNum(s)} ms) → ${fmtRatio(o / s)} of s3rver`)
  }
}
