/**
 * A request fuzzer over loopback HTTP (node adapter, raw sockets), seeded and replayable:
 * `S3IPFS_FUZZ_SEED=<n>` replays a run (the seed is logged), `S3IPFS_FUZZ_BATCHES` scales it,
 * `S3IPFS_FUZZ_LOG=<file>` lists every request and its answer. Two users from a users file; a
 * versioned bucket with a bucket policy, CORS rules, ACLs, tags, SSE-S3 and SSE-C objects and a
 * multipart upload in progress; a scratch bucket where anything valid may happen; the other user's
 * bucket.
 *
 * Each batch first sends requests generated as unauthorized or malformed (broken signatures,
 * requests no policy allows, definitely invalid bodies, headers and framing, reads of every kind),
 * then requests that may change the scratch bucket. Properties:
 *
 * 1. every answer is a success or a well-formed S3 error (XML `<Error><Code>` with a known code, at
 *    that code's status); never InternalError;
 * 2. the server keeps answering: an authorized GET succeeds after every batch;
 * 3. nothing stored changes unless a valid request by an allowed user succeeded: the metadata is
 *    compared around every request, and the owners' SDK view (every version's bytes, ETag, tags
 *    and ACL, every bucket's policy, CORS, ACL, versioning and uploads) around every batch.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto'
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import {
  AbortMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand, DeleteObjectCommand,
  GetObjectCommand, ListBucketsCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand, PutBucketAclCommand,
  PutBucketCorsCommand, PutBucketPolicyCommand, PutBucketVersioningCommand, PutObjectAclCommand, PutObjectCommand,
  S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3'
import { fileCredentials } from '../src/auth/user-file.js'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import type { Gateway } from '../src/types.js'
import { nextCase, type FuzzCase } from './helpers/fuzz-cases.js'
import type { World } from './helpers/fuzz-ops.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { rawRequest, type RawResult } from './helpers/raw-http.js'
import { sdkModel, stateDiff, storeState, type StoreState } from './helpers/store-model.js'
import { Rand, serialize, signHeader } from './helpers/wire.js'

// CI replays fixed seeds (a landing must not depend on luck); every other run explores a new one.
const CI_SEEDS = [853589044, 847031126, 1438310857]
const SEED = process.env.S3IPFS_FUZZ_SEED !== undefined && process.env.S3IPFS_FUZZ_SEED !== ''
  ? Number(process.env.S3IPFS_FUZZ_SEED)
  : process.env.CI === 'true' ? CI_SEEDS[new Date().getUTCDate() % CI_SEEDS.length] : randomInt(2 ** 31)
/** A file to list every request in (family, label, status, error code), for replays. */
const LOG = process.env.S3IPFS_FUZZ_LOG
const BATCHES = Number(process.env.S3IPFS_FUZZ_BATCHES ?? 18)
const GUARDED_PER_BATCH = 110
const SCRATCH_PER_BATCH = 40
/** A liveness bound for one loopback request, far above what any takes: only a hang reaches it. */
const HANG_MS = 30_000

const USERS = {
  users: [
    { name: 'alice', displayName: 'Alice', accessKeys: [{ accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }] },
    { name: 'bob', accessKeys: [{ accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' }] },
  ],
}

/** S3 error codes (Amazon S3 API Reference, "Error responses") and their statuses. */
const S3_ERRORS: Record<string, number> = {
  AccessDenied: 403, AccessForbidden: 403, AccountProblem: 403, AllAccessDisabled: 403, AmbiguousGrantByEmailAddress: 400,
  AuthorizationHeaderMalformed: 400, AuthorizationQueryParametersError: 400, BadDigest: 400, BadRequest: 400, BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409, BucketNotEmpty: 409, CredentialsNotSupported: 400, EntityTooSmall: 400, EntityTooLarge: 400,
  ExpiredToken: 400, IllegalLocationConstraintException: 400, IllegalVersioningConfigurationException: 400, IncompleteBody: 400,
  IncorrectNumberOfFilesInPostRequest: 400, InlineDataTooLarge: 400, InternalError: 500, InvalidAccessKeyId: 403, InvalidArgument: 400,
  InvalidBucketName: 400, InvalidBucketState: 409, InvalidDigest: 400, InvalidEncryptionAlgorithmError: 400, InvalidLocationConstraint: 400,
  InvalidObjectState: 403, InvalidPart: 400, InvalidPartNumber: 416, InvalidPartOrder: 400, InvalidPolicyDocument: 400, InvalidRange: 416,
  InvalidRequest: 400, InvalidSecurity: 403, InvalidStorageClass: 400, InvalidTag: 400, InvalidToken: 400, InvalidURI: 400,
  KeyTooLongError: 400, MalformedACLError: 400, MalformedPOSTRequest: 400, MalformedPolicy: 400, MalformedXML: 400,
  MaxMessageLengthExceeded: 400, MaxPostPreDataLengthExceededError: 400, MetadataTooLarge: 400, MethodNotAllowed: 405,
  MissingContentLength: 411, MissingRequestBodyError: 400, MissingSecurityElement: 400, MissingSecurityHeader: 400, NoSuchBucket: 404,
  NoSuchBucketPolicy: 404, NoSuchCORSConfiguration: 404, NoSuchKey: 404, NoSuchLifecycleConfiguration: 404, NoSuchTagSet: 404,
  NoSuchUpload: 404, NoSuchVersion: 404, NoSuchPublicAccessBlockConfiguration: 404, NotImplemented: 501, NotSignedUp: 403,
  OperationAborted: 409, PreconditionFailed: 412, RequestHeaderSectionTooLarge: 400, RequestIsNotMultiPartContent: 400,
  RequestTimeout: 400, RequestTimeTooSkewed: 403, ServerSideEncryptionConfigurationNotFoundError: 404, ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403, SlowDown: 503, TooManyBuckets: 400, UnexpectedContent: 400, UnresolvableGrantByEmailAddress: 400,
  UserKeyMustBeSpecified: 400, XAmzContentSHA256Mismatch: 400,
}

const BASE_BUCKETS = ['fuzz-ver', 'fuzz-plain', 'bob-own']
const BASE_DOMAIN = 's3.fuzz.test'
const CANARY = 'canary bytes: read after every batch'
const SSE_C_KEY = Buffer.alloc(32, 0x5c)

interface Problem {
  kind: string
  detail: string
  c?: FuzzCase
  response?: RawResult['response']
}

let dir: string
let gateway: Gateway
let host: RunningHost
let metadata: MemoryMetadataStore
let alice: S3Client
let bob: S3Client
let inFlight = 0
const logged: string[] = []
const problems: Problem[] = []

function client (accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({ endpoint: host.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 })
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3ipfs-fuzz-'))
  const usersPath = join(dir, 'users.json')
  await writeFile(usersPath, JSON.stringify(USERS))
  metadata = new MemoryMetadataStore()
  gateway = createGateway({
    metadata,
    credentials: fileCredentials({ path: usersPath }),
    masterKey: randomBytes(32),
    allowInsecureSseC: true,
    maxObjectSize: 4 * 1024 * 1024,
    baseDomains: [BASE_DOMAIN],
    logger: {
      error: (details, message) => { logged.push(`${message ?? ''} ${String((details?.err as Error | undefined)?.stack ?? JSON.stringify(details))}`) },
      warn: () => {},
      info: () => {},
    },
  })
  // Counts requests inside the core, so a check runs only once the gateway is done with a request.
  const counted: Gateway = {
    ...gateway,
    handle: async (req) => {
      inFlight++
      try {
        return await gateway.handle(req)
      } catch (err) {
        logged.push(`gateway.handle rejected: ${String((err as Error).stack ?? err)}`)
        throw err
      } finally {
        inFlight--
      }
    },
  }
  host = await nodeHost.start(counted, '')
  alice = client('ALICEKEY', 'alice-secret')
  bob = client('BOBKEY', 'bob-secret')
  await seed()
})

test.after.always(async () => {
  alice?.destroy()
  bob?.destroy()
  await host?.close()
  await gateway?.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

async function seed (): Promise<void> {
  await alice.send(new CreateBucketCommand({ Bucket: 'fuzz-ver' }))
  await alice.send(new CreateBucketCommand({ Bucket: 'fuzz-plain' }))
  await bob.send(new CreateBucketCommand({ Bucket: 'bob-own' }))
  await alice.send(new PutBucketVersioningCommand({ Bucket: 'fuzz-ver', VersioningConfiguration: { Status: 'Enabled' } }))
  const put = async (Key: string, Body: string, extra: Record<string, unknown> = {}): Promise<void> => {
    await alice.send(new PutObjectCommand({ Bucket: 'fuzz-ver', Key, Body, ...extra }))
  }
  await put('a.txt', 'alpha one')
  await put('a.txt', 'alpha two, longer')
  await put('gone.txt', 'deleted later')
  await alice.send(new DeleteObjectCommand({ Bucket: 'fuzz-ver', Key: 'gone.txt' }))
  await put('dir/tagged', 'tagged bytes', { Tagging: 'k1=v1&k2=v2' })
  await alice.send(new PutObjectAclCommand({ Bucket: 'fuzz-ver', Key: 'dir/tagged', GrantFullControl: 'id="alice"', GrantRead: 'id="bob"' }))
  await put('enc', 'encrypted at rest (SSE-S3)', { ServerSideEncryption: 'AES256' })
  await put('ssec', 'encrypted under a customer key', {
    SSECustomerAlgorithm: 'AES256',
    SSECustomerKey: SSE_C_KEY.toString('base64'),
    SSECustomerKeyMD5: createHash('md5').update(SSE_C_KEY).digest('base64'),
  })
  await put('public/readme', 'anyone may read this')
  await put('shared/doc', 'bob may read this')
  await put('canary', CANARY)
  const { UploadId } = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'fuzz-ver', Key: 'mp' }))
  await alice.send(new UploadPartCommand({ Bucket: 'fuzz-ver', Key: 'mp', UploadId, PartNumber: 1, Body: 'the first part' }))
  await alice.send(new PutBucketPolicyCommand({
    Bucket: 'fuzz-ver',
    Policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::fuzz-ver/public/*' },
        { Sid: 'BobReadsShared', Effect: 'Allow', Principal: { AWS: 'bob' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::fuzz-ver/shared/*' },
        { Sid: 'BobDrops', Effect: 'Allow', Principal: { AWS: 'bob' }, Action: 's3:PutObject', Resource: 'arn:aws:s3:::fuzz-ver/drop/*' },
        { Sid: 'BobNeverDeletes', Effect: 'Deny', Principal: { AWS: 'bob' }, Action: 's3:DeleteObject*', Resource: 'arn:aws:s3:::fuzz-ver/*' },
      ],
    }),
  }))
  await alice.send(new PutBucketCorsCommand({
    Bucket: 'fuzz-ver',
    CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['https://app.example'], AllowedMethods: ['GET', 'PUT', 'POST', 'HEAD'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 600 }] },
  }))
  await alice.send(new PutBucketAclCommand({ Bucket: 'fuzz-ver', GrantFullControl: 'id="alice"', GrantRead: 'id="bob"' }))
  await alice.send(new PutObjectCommand({ Bucket: 'fuzz-plain', Key: 'x', Body: 'scratch x', Tagging: 't=1' }))
  await alice.send(new PutObjectCommand({ Bucket: 'fuzz-plain', Key: 'y', Body: 'scratch y' }))
  await bob.send(new PutObjectCommand({ Bucket: 'bob-own', Key: 'bob.txt', Body: 'bob alone reads this' }))
}

/** The canary as a CAR (GET ?format=car), for CAR imports. */
async function canaryCar (): Promise<Buffer> {
  const h = new URL(host.origin).host
  const req = await signHeader({ method: 'GET', path: '/fuzz-ver/canary', query: 'format=car', headers: [], body: Buffer.alloc(0) }, h, { accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' })
  const res = await rawRequest(Number(new URL(host.origin).port), serialize(req, h), { method: 'GET', timeoutMs: HANG_MS })
  if (res.response?.status !== 200) throw new Error(`GET ?format=car failed: ${res.response?.status} ${res.response?.body.toString()}`)
  return res.response.body
}

async function barrier (port: number): Promise<void> {
  await rawRequest(port, Buffer.from(`GET / HTTP/1.1\r\nHost: ${new URL(host.origin).host}\r\nConnection: close\r\n\r\n`), { method: 'GET', timeoutMs: HANG_MS })
}

/** Waits until the gateway holds no request (a dropped connection may leave one finishing). */
async function settled (): Promise<boolean> {
  for (let i = 0; i < HANG_MS / 5 && inFlight > 0; i++) await new Promise(resolve => setTimeout(resolve, 5))
  return inFlight === 0
}

function describeRequest (c: FuzzCase): string {
  const end = c.bytes.indexOf('\r\n\r\n')
  const headLength = end < 0 ? Math.min(c.bytes.length, 1500) : end + 4
  const head = c.bytes.subarray(0, Math.min(headLength, 900)).toString('latin1')
  const body = c.bytes.subarray(headLength)
  const shown = body.subarray(0, 200).toString('latin1')
  return `${JSON.stringify(head)}${body.length > 0 ? ` + body (${body.length} bytes) ${JSON.stringify(shown)}` : ''}`
}

const codes = new Map<string, number>()

/** Property 1 for one response, and the success/failure the case demands. */
function checkResponse (c: FuzzCase, result: RawResult): void {
  const fail = (kind: string, detail: string): void => { problems.push({ kind, detail, c, response: result.response }) }
  if (result.timedOut) return fail('hang', `no answer within ${HANG_MS} ms`)
  const r = result.response
  if (r === undefined) {
    if (c.mayDrop !== true) fail('no-response', `connection ended without an answer (${result.error ?? 'closed'})`)
    return
  }
  if (!r.complete && c.mayDrop !== true) fail('truncated-response', `status ${r.status}, body ended early after ${r.body.length} bytes`)
  const isError = r.status >= 400
  if (r.status < 200 || r.status >= 600) return fail('bad-status', `status ${r.status}`)
  if (isError) {
    const fromGateway = r.headers['x-amz-request-id'] !== undefined
    const body = r.body.toString('utf8')
    if (c.method !== 'HEAD' && (body !== '' || fromGateway)) {
      const code = /^(?:<\?xml[^>]*\?>)?\s*<Error>[\s\S]*?<Code>([^<]*)<\/Code>[\s\S]*<\/Error>\s*$/.exec(body)?.[1]
      if (code === undefined) return fail('malformed-error', `status ${r.status} without an <Error><Code> document: ${body.slice(0, 300)}`)
      codes.set(code, (codes.get(code) ?? 0) + 1)
      if (S3_ERRORS[code] === undefined) fail('unknown-code', `code ${code} is not an S3 error code`)
      else if (S3_ERRORS[code] !== r.status) fail('wrong-status', `${code} answered with status ${r.status}, S3 uses ${S3_ERRORS[code]}`)
      if (code === 'InternalError') fail('internal-error', body.slice(0, 400))
    } else {
      codes.set(`(${r.status} no body)`, (codes.get(`(${r.status} no body)`) ?? 0) + 1)
    }
    if (r.status >= 500 && r.status !== 501 && r.status !== 503) fail('server-error', `status ${r.status}`)
    if (c.mustSucceed === true) fail('valid-request-refused', `status ${r.status}: ${body.slice(0, 300)}`)
  } else {
    codes.set(`(${r.status})`, (codes.get(`(${r.status})`) ?? 0) + 1)
    if (c.mustFail) fail('invalid-request-accepted', `status ${r.status}; a request generated as invalid or unauthorized must fail`)
  }
}

async function send (w: World, c: FuzzCase, before: StoreState): Promise<StoreState> {
  const port = Number(new URL(host.origin).port)
  const result = await rawRequest(port, c.bytes, { method: c.method, halfClose: c.halfClose, destroy: c.destroy, timeoutMs: HANG_MS })
  // Without an answer the server may not even have parsed the request yet: an answered request on
  // a later connection comes after it.
  if (result.response === undefined || c.destroy === true || c.halfClose === true) await barrier(port)
  if (!await settled()) problems.push({ kind: 'hang', detail: 'the gateway is still working on the request long after the connection ended', c })
  checkResponse(c, result)
  if (LOG !== undefined) {
    const code = /<Code>([^<]*)<\/Code>/.exec(result.response?.body.toString('utf8') ?? '')?.[1] ?? ''
    await appendFile(LOG, `${c.family}\t${c.label}\t${result.response?.status ?? (result.timedOut ? 'timeout' : 'none')}\t${code}\n`)
  }
  const after = await storeState(metadata)
  const status = result.response?.status
  // The gateway's error answer means nothing happened. (Node's own 400 for broken HTTP framing
  // may come while the gateway acts on a request whose headers were fine: no such conclusion.)
  const gatewayError = status !== undefined && status >= 400 && result.response?.headers['x-amz-request-id'] !== undefined
  if ((c.mustNotChange || gatewayError) && JSON.stringify(before) !== JSON.stringify(after)) {
    const diff = stateDiff(before, after)
    if (diff.length > 0) problems.push({ kind: 'stored-change', detail: `${c.mustNotChange ? 'must-not-change request' : `request answered ${status ?? 'nothing'}`} changed: ${diff.slice(0, 5).join('; ')}`, c, response: result.response })
  }
  while (logged.length > 0) problems.push({ kind: 'logged-error', detail: (logged.shift() ?? '').slice(0, 1500), c, response: result.response })
  w.state = after
  return after
}

function jsonDiff (a: unknown, b: unknown, path = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return []
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    return [...keys].flatMap(k => jsonDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`))
  }
  return [`${path}: ${JSON.stringify(a)?.slice(0, 300)} -> ${JSON.stringify(b)?.slice(0, 300)}`]
}

async function model (): Promise<Record<string, unknown>> {
  return await sdkModel({ clients: { alice, bob }, sseCustomerKey: SSE_C_KEY.toString('base64') })
}

/** Keeps the scratch areas small: extra buckets go, fuzz-plain and drop/ are trimmed. */
async function tidy (): Promise<void> {
  for (const [owner, c] of [['alice', alice], ['bob', bob]] as const) {
    const { Buckets = [] } = await c.send(new ListBucketsCommand({}))
    for (const { Name } of Buckets) {
      const Bucket = Name as string
      const extra = !BASE_BUCKETS.includes(Bucket)
      const prefix = Bucket === 'fuzz-ver' ? 'drop/' : undefined
      if (Bucket === 'bob-own' || (Bucket === 'fuzz-ver' && owner !== 'alice')) continue
      const versions = await c.send(new ListObjectVersionsCommand({ Bucket, Prefix: prefix }))
      const all = [...(versions.Versions ?? []), ...(versions.DeleteMarkers ?? [])]
      if (extra || all.length > 12) {
        for (const v of all) {
          if (!extra && Bucket === 'fuzz-plain' && (v.Key === 'x' || v.Key === 'y') && v.IsLatest === true) continue
          await c.send(new DeleteObjectCommand({ Bucket, Key: v.Key, VersionId: v.VersionId }))
        }
      }
      const uploads = (await c.send(new ListMultipartUploadsCommand({ Bucket, Prefix: prefix }))).Uploads ?? []
      if (extra || uploads.length > 3) {
        for (const u of uploads) await c.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId }))
      }
      if (extra) await c.send(new DeleteBucketCommand({ Bucket }))
    }
  }
  if ((await metadata.getBucket('fuzz-plain')) === undefined) await alice.send(new CreateBucketCommand({ Bucket: 'fuzz-plain' }))
}

/** The problems one request caused, as one report: what went wrong, the request, the answer. */
function report (group: Problem[]): string {
  const [first] = group
  const lines = group.map(p => `[${p.kind}] ${p.detail}`)
  if (first.c !== undefined) lines.push(`  case: ${first.c.family}: ${first.c.label}`, `  request: ${describeRequest(first.c)}`)
  if (first.response !== undefined) lines.push(`  response: ${first.response.status} ${first.response.body.toString('utf8').slice(0, 400)}`)
  return lines.join('\n')
}

test.serial('fuzzed requests get S3 answers and change nothing they must not change', async (t) => {
  t.log(`seed ${SEED} (replay with S3IPFS_FUZZ_SEED=${SEED}), ${BATCHES} batches of ${GUARDED_PER_BATCH} + ${SCRATCH_PER_BATCH} requests`)
  const w: World = {
    rand: new Rand(SEED),
    host: new URL(host.origin).host,
    users: { alice: { accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }, bob: { accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' } },
    sseC: { key: SSE_C_KEY.toString('base64'), md5: createHash('md5').update(SSE_C_KEY).digest('base64') },
    state: await storeState(metadata),
    car: await canaryCar(),
    baseDomain: BASE_DOMAIN,
  }
  const families = new Map<string, number>()
  let sent = 0
  let before = await model()
  for (let batch = 0; batch < BATCHES; batch++) {
    let state = await storeState(metadata)
    w.state = state
    for (let i = 0; i < GUARDED_PER_BATCH; i++) {
      const c = await nextCase(w, 'guarded')
      families.set(c.family, (families.get(c.family) ?? 0) + 1)
      state = await send(w, c, state)
      sent++
    }
    const after = await model()
    const diff = jsonDiff(before, after)
    if (diff.length > 0) problems.push({ kind: 'stored-change (SDK view)', detail: `batch ${batch}: ${diff.slice(0, 5).join('; ')}` })
    for (let i = 0; i < SCRATCH_PER_BATCH; i++) {
      const c = await nextCase(w, 'scratch')
      families.set(c.family, (families.get(c.family) ?? 0) + 1)
      state = await send(w, c, state)
      sent++
    }
    const canary = await alice.send(new GetObjectCommand({ Bucket: 'fuzz-ver', Key: 'canary' }))
    t.is(await canary.Body?.transformToString(), CANARY, `the canary reads back after batch ${batch}`)
    await tidy()
    while (logged.length > 0) problems.push({ kind: 'logged-error', detail: `during tidying after batch ${batch}: ${(logged.shift() ?? '').slice(0, 1500)}` })
    before = await model()
  }
  t.log(`${sent} requests: ${[...families].map(([f, n]) => `${f} ${n}`).join(', ')}`)
  t.log(`answers: ${[...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(', ')}`)
  // One report per request, and one per kind of failure and case label: a bug hit many times is listed once.
  const byRequest = new Map<FuzzCase | Problem, Problem[]>()
  for (const p of problems) byRequest.set(p.c ?? p, [...(byRequest.get(p.c ?? p) ?? []), p])
  const seen = new Set<string>()
  for (const group of byRequest.values()) {
    const key = `${group.map(p => p.kind).join()} ${group[0].c?.label.replace(/\[.*\]/, '') ?? group[0].detail.slice(0, 60)}`
    if (seen.has(key)) continue
    seen.add(key)
    t.log(report(group))
  }
  t.is(problems.length, 0, `${problems.length} problems (${seen.size} distinct), seed ${SEED}`)
})
