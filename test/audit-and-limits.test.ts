/**
 * The audit log (one entry per request, to a sink function or a JSON-lines file) and the request
 * limits. Each over-limit request gets S3's error, changes nothing stored (checked against a
 * snapshot of a versioned bucket), and the server keeps serving. Real SDK clients and signed fetch
 * over loopback.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import test from 'ava'
import { MAX_XML_BYTES } from '../src/xml/parse.js'
import type { ExecutionContext } from 'ava'
import {
  AbortMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteObjectsCommand,
  GetBucketPolicyCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, ListBucketsCommand,
  ListMultipartUploadsCommand, ListObjectVersionsCommand, ListPartsCommand, PutBucketPolicyCommand, PutBucketVersioningCommand,
  PutObjectCommand, PutObjectTaggingCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3'
import type { S3ServiceException } from '@aws-sdk/client-s3'
import { auditLogFile, type AuditEntry } from '../src/audit.js'
import { fileCredentials } from '../src/auth/user-file.js'
import { createGateway } from '../src/gateway.js'
import type { Gateway } from '../src/types.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { credentials, md5Hex, s3Client } from './helpers/s3.js'
import { signedChunkedBody, signedFetch, signHeaders, signingKey } from './helpers/sign.js'

const HELLO = 'hello world'
// `ipfs add --cid-version 1 --raw-leaves` of "hello world" (no newline)
const HELLO_CID = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'
const MAX_OBJECT = 512 * 1024
const KiB = 1024

const USERS = {
  users: [
    { name: 'alice', displayName: 'Alice', accessKeys: [{ accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }] },
    { name: 'bob', accessKeys: [{ accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' }] },
  ],
}
const ALICE = { accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }

/** Versioned, owned by alice: every limit test leaves it exactly as `before` (see snapshot). */
const LIMITS = 'limits'
/** Where the at-the-limit requests that must succeed store what they store. */
const AT_LIMITS = 'at-limits'
const AUDITED = 'audited'

let dir: string
let gateway: Gateway
let host: RunningHost
let alice: S3Client
let bob: S3Client
const entries: AuditEntry[] = []
let before: Snapshot

function client (creds: { accessKeyId: string, secretAccessKey: string }): S3Client {
  return new S3Client({ endpoint: host.url, region: 'us-east-1', forcePathStyle: true, credentials: creds, maxAttempts: 1 })
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3ipfs-audit-'))
  const usersPath = join(dir, 'users.json')
  await writeFile(usersPath, JSON.stringify(USERS))
  gateway = createGateway({
    credentials: fileCredentials({ path: usersPath }),
    maxObjectSize: MAX_OBJECT,
    audit: (entry) => { entries.push(entry) },
  })
  host = await nodeHost.start(gateway, '')
  alice = client(ALICE)
  bob = client({ accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' })

  for (const Bucket of [LIMITS, AT_LIMITS, AUDITED]) await alice.send(new CreateBucketCommand({ Bucket }))
  for (const Bucket of [LIMITS, AUDITED]) await alice.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }))
  await alice.send(new PutObjectCommand({ Bucket: LIMITS, Key: 'victim', Body: 'the original bytes', Metadata: { note: 'original' }, Tagging: 'keep=yes' }))
  await alice.send(new PutBucketPolicyCommand({ Bucket: LIMITS, Policy: JSON.stringify(bobReads(LIMITS)) }))
  before = await snapshot()
})

test.after.always(async () => {
  alice?.destroy()
  bob?.destroy()
  await host?.close()
  await gateway?.close()
  await rm(dir, { recursive: true, force: true })
})

function bobReads (bucket: string): Record<string, unknown> {
  return { Version: '2012-10-17', Statement: [{ Sid: 'BobReads', Effect: 'Allow', Principal: { AWS: 'bob' }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${bucket}/*` }] }
}

interface Snapshot {
  versions: unknown[]
  uploads: unknown[]
  metadata: unknown
  tags: unknown
  policy: unknown
  body: unknown
}

/** Everything a refused request could have changed in LIMITS. */
async function snapshot (): Promise<Snapshot> {
  const versions = await alice.send(new ListObjectVersionsCommand({ Bucket: LIMITS }))
  const uploads = await alice.send(new ListMultipartUploadsCommand({ Bucket: LIMITS }))
  const head = await alice.send(new HeadObjectCommand({ Bucket: LIMITS, Key: 'victim' }))
  const tags = await alice.send(new GetObjectTaggingCommand({ Bucket: LIMITS, Key: 'victim' }))
  const policy = await alice.send(new GetBucketPolicyCommand({ Bucket: LIMITS }))
  const get = await alice.send(new GetObjectCommand({ Bucket: LIMITS, Key: 'victim' }))
  return {
    versions: [
      ...(versions.Versions ?? []).map(v => [v.Key, v.VersionId, v.ETag, v.Size]),
      ...(versions.DeleteMarkers ?? []).map(m => [m.Key, m.VersionId, 'delete marker']),
    ],
    uploads: (uploads.Uploads ?? []).map(u => [u.Key, u.UploadId]),
    metadata: head.Metadata,
    tags: tags.TagSet,
    policy: policy.Policy,
    body: await get.Body?.transformToString(),
  }
}

async function assertUnchanged (t: ExecutionContext): Promise<void> {
  t.deepEqual(await snapshot(), before, 'the refused requests changed nothing, and the server still answers')
}

interface Refusal { code: string, status?: number, requestId?: string }

/** What an SDK call that must fail was answered with. */
async function refusal (promise: Promise<unknown>): Promise<Refusal> {
  try {
    await promise
  } catch (err) {
    const e = err as S3ServiceException
    return { code: e.name, status: e.$metadata?.httpStatusCode, requestId: e.$metadata?.requestId }
  }
  throw new Error('expected the request to fail')
}

async function refused (t: ExecutionContext, promise: Promise<unknown>, code: string, message?: string): Promise<Refusal> {
  const r = await refusal(promise)
  t.like(r, { code, status: 400 }, message)
  return r
}

/** The error code of a fetch response, which must have `status`. */
async function fetchError (t: ExecutionContext, res: Response, status: number, code: string, message?: string): Promise<string> {
  const text = await res.text()
  t.is(res.status, status, `${message ?? ''} ${text}`)
  t.regex(text, new RegExp(`<Code>${code}</Code>`), message)
  return text
}

/** The one audit entry of a request. */
function entryOf (t: ExecutionContext, requestId: string | null | undefined): AuditEntry {
  t.truthy(requestId, 'the response names its request id')
  const found = entries.filter(e => e.requestId === requestId)
  t.is(found.length, 1, `one audit entry for request ${String(requestId)}`)
  return found[0] ?? ({} as AuditEntry)
}

// ---------------------------------------------------------------------------------------------
// The audit log
// ---------------------------------------------------------------------------------------------

test('audit: a versioned PutObject and GetObject name the principal, the version and the CID', async (t) => {
  const start = Date.now()
  const put = await alice.send(new PutObjectCommand({ Bucket: AUDITED, Key: 'dir/hello.txt', Body: HELLO }))
  t.truthy(put.VersionId)
  const e = entryOf(t, put.$metadata.requestId)
  t.like(e, {
    principal: 'alice',
    accessKeyId: 'ALICEKEY',
    operation: 'PutObject',
    method: 'PUT',
    bucket: AUDITED,
    key: 'dir/hello.txt',
    versionId: put.VersionId,
    cid: HELLO_CID,
    status: 200,
  })
  t.is(e.error, undefined)
  t.regex(e.sourceIp ?? '', /127\.0\.0\.1$/)
  t.regex(e.userAgent ?? '', /aws-sdk-js/)
  t.is(new Date(e.time).toISOString(), e.time, 'ISO 8601')
  t.true(Date.parse(e.time) >= start - 1000 && Date.parse(e.time) <= Date.now() + 1000, e.time)

  const get = await alice.send(new GetObjectCommand({ Bucket: AUDITED, Key: 'dir/hello.txt' }))
  t.is(await get.Body?.transformToString(), HELLO)
  t.like(entryOf(t, get.$metadata.requestId), {
    principal: 'alice', operation: 'GetObject', method: 'GET', versionId: put.VersionId, cid: HELLO_CID, status: 200,
  })
  t.like(JSON.parse(JSON.stringify(e)), { requestId: e.requestId, principal: 'alice' }, 'an entry is plain JSON')
})

test('audit: an anonymous request that is refused has principal null and error AccessDenied', async (t) => {
  await alice.send(new PutObjectCommand({ Bucket: AUDITED, Key: 'private.txt', Body: HELLO }))
  const res = await fetch(`${host.url}/${AUDITED}/private.txt`, { headers: { 'user-agent': 'audit-test/1.0' } })
  await fetchError(t, res, 403, 'AccessDenied')
  const e = entryOf(t, res.headers.get('x-amz-request-id'))
  t.like(e, { principal: null, operation: 'GetObject', method: 'GET', bucket: AUDITED, key: 'private.txt', status: 403, error: 'AccessDenied', userAgent: 'audit-test/1.0' })
  t.is(e.accessKeyId, undefined)
  t.is(e.cid, undefined, 'a refused read names no content')
  t.is(e.versionId, undefined)
})

test('audit: a bad signature is SignatureDoesNotMatch with principal null, refused before routing; nothing is stored', async (t) => {
  const url = `${host.url}/${AUDITED}/forged.txt`
  const res = await signedFetch({ method: 'PUT', url, body: 'forged', accessKeyId: 'ALICEKEY', secretAccessKey: 'not-alice-secret' })
  await fetchError(t, res, 403, 'SignatureDoesNotMatch')
  const e = entryOf(t, res.headers.get('x-amz-request-id'))
  t.like(e, { principal: null, method: 'PUT', bucket: AUDITED, key: 'forged.txt', status: 403, error: 'SignatureDoesNotMatch' })
  t.is(e.operation, undefined)
  t.is(e.versionId, undefined)
  t.is(e.cid, undefined)

  const unknown = await signedFetch({ method: 'PUT', url, body: 'forged', accessKeyId: 'NOSUCHKEY', secretAccessKey: 'x' })
  await fetchError(t, unknown, 403, 'InvalidAccessKeyId')
  t.like(entryOf(t, unknown.headers.get('x-amz-request-id')), { principal: null, error: 'InvalidAccessKeyId', status: 403 })

  t.like(await refusal(alice.send(new HeadObjectCommand({ Bucket: AUDITED, Key: 'forged.txt' }))), { status: 404 })
})

test('audit: HEAD of a missing key is a 404 NoSuchKey entry', async (t) => {
  const r = await refusal(alice.send(new HeadObjectCommand({ Bucket: AUDITED, Key: 'missing' })))
  t.like(r, { code: 'NotFound', status: 404 })
  const e = entryOf(t, r.requestId)
  t.like(e, { principal: 'alice', accessKeyId: 'ALICEKEY', operation: 'HeadObject', method: 'HEAD', bucket: AUDITED, key: 'missing', status: 404, error: 'NoSuchKey' })
  t.is(e.versionId, undefined)
})

test('audit: each user of the users file is its own principal', async (t) => {
  const list = await bob.send(new ListBucketsCommand({}))
  t.deepEqual(list.Buckets ?? [], [], 'bob owns no bucket')
  const e = entryOf(t, list.$metadata.requestId)
  t.like(e, { principal: 'bob', accessKeyId: 'BOBKEY', operation: 'ListBuckets', method: 'GET', status: 200 })
  t.is(e.bucket, undefined)
  t.is(e.key, undefined)

  await alice.send(new PutObjectCommand({ Bucket: AUDITED, Key: 'alice-only', Body: HELLO }))
  const r = await refusal(bob.send(new GetObjectCommand({ Bucket: AUDITED, Key: 'alice-only' })))
  t.like(r, { code: 'AccessDenied', status: 403 })
  t.like(entryOf(t, r.requestId), { principal: 'bob', operation: 'GetObject', error: 'AccessDenied', status: 403 })
})

test('audit: a sink that throws or rejects is logged, and the request still succeeds', async (t) => {
  for (const sink of [() => { throw new Error('disk full') }, async () => { throw new Error('disk full') }]) {
    const errors: Array<{ message?: string, details?: Record<string, unknown> }> = []
    let failed!: () => void
    const logged = new Promise<void>((resolve) => { failed = resolve })
    const g = createGateway({
      audit: sink,
      logger: { error: (details, message) => { errors.push({ message, details }); failed() }, warn: () => {}, info: () => {} },
    })
    const h = await nodeHost.start(g, '')
    const s3 = s3Client(h.url)
    try {
      const created = await s3.send(new CreateBucketCommand({ Bucket: 'sinkless' }))
      await logged
      t.is(errors.length, 1)
      t.regex(errors[0].message ?? '', /audit sink failed/)
      t.is(errors[0].details?.requestId, created.$metadata.requestId)
      await s3.send(new PutObjectCommand({ Bucket: 'sinkless', Key: 'k', Body: HELLO }))
      t.is(await (await s3.send(new GetObjectCommand({ Bucket: 'sinkless', Key: 'k' }))).Body?.transformToString(), HELLO)
    } finally {
      s3.destroy()
      await h.close()
      await g.close()
    }
  }
})

test('auditLogFile: one JSON line per request, in order, appended across opens, mode 0600', async (t) => {
  const path = join(dir, 'audit.log')
  const ids: string[] = []
  const serve = async (fn: (s3: S3Client, url: string) => Promise<void>): Promise<void> => {
    const log = auditLogFile(path)
    const g = createGateway({ audit: log.sink })
    const h = await nodeHost.start(g, '')
    const s3 = s3Client(h.url)
    try {
      await fn(s3, h.url)
    } finally {
      s3.destroy()
      await h.close()
      await g.close()
      await log.close()
      await log.close() // repeated: the same promise
    }
    t.throws(() => { void log.sink({} as AuditEntry) }, { message: /closed/ }, 'a closed log refuses entries')
  }

  await serve(async (s3, url) => {
    ids.push((await s3.send(new CreateBucketCommand({ Bucket: 'logged' }))).$metadata.requestId ?? '')
    ids.push((await s3.send(new PutObjectCommand({ Bucket: 'logged', Key: 'hello', Body: HELLO }))).$metadata.requestId ?? '')
    const get = await s3.send(new GetObjectCommand({ Bucket: 'logged', Key: 'hello' }))
    await get.Body?.transformToString()
    ids.push(get.$metadata.requestId ?? '')
    ids.push((await refusal(s3.send(new HeadObjectCommand({ Bucket: 'logged', Key: 'missing' })))).requestId ?? '')
    const anonymous = await fetch(`${url}/logged/hello`)
    await anonymous.arrayBuffer()
    ids.push(anonymous.headers.get('x-amz-request-id') ?? '')
    const forged = await signedFetch({ method: 'GET', url: `${url}/logged/hello`, secretAccessKey: 'wrong' })
    await forged.arrayBuffer()
    ids.push(forged.headers.get('x-amz-request-id') ?? '')
    // A key can hold a line break: it must not break the log into a second (forged) line.
    ids.push((await s3.send(new PutObjectCommand({ Bucket: 'logged', Key: 'a\n{"principal":"root"}', Body: HELLO }))).$metadata.requestId ?? '')
  })
  t.is((await stat(path)).mode & 0o777, 0o600)
  const first = (await readFile(path, 'utf8')).split('\n')
  t.is(first.pop(), '', 'every line ends with a newline')
  const lines = first.map(line => JSON.parse(line) as AuditEntry)
  t.deepEqual(lines.map(l => l.requestId), ids)
  t.deepEqual(lines.map(l => [l.operation, l.status, l.error, l.principal]), [
    ['CreateBucket', 200, undefined, credentials.accessKeyId],
    ['PutObject', 200, undefined, credentials.accessKeyId],
    ['GetObject', 200, undefined, credentials.accessKeyId],
    ['HeadObject', 404, 'NoSuchKey', credentials.accessKeyId],
    ['GetObject', 403, 'AccessDenied', null],
    [undefined, 403, 'SignatureDoesNotMatch', null],
    ['PutObject', 200, undefined, credentials.accessKeyId],
  ])
  t.is(lines[6].key, 'a\n{"principal":"root"}')
  t.is(lines[1].cid, HELLO_CID)
  t.is(lines[2].cid, HELLO_CID)

  await serve(async (s3) => {
    ids.push((await s3.send(new ListBucketsCommand({}))).$metadata.requestId ?? '')
  })
  const second = (await readFile(path, 'utf8')).trimEnd().split('\n').map(line => JSON.parse(line) as AuditEntry)
  t.deepEqual(second.map(l => l.requestId), ids, 'a second open appends')
})

test('auditLogFile: a path that cannot be opened throws at once', (t) => {
  t.throws(() => auditLogFile(join(dir, 'no-such-dir', 'audit.log')), { code: 'ENOENT' })
})

// ---------------------------------------------------------------------------------------------
// Request limits: each refused, nothing changed, the server keeps serving
// ---------------------------------------------------------------------------------------------

test.serial('a header section over 8 KiB: 400 RequestHeaderSectionTooLarge, before authentication', async (t) => {
  const url = `${host.url}/${LIMITS}/victim`
  const res = await signedFetch({ method: 'PUT', url, body: 'evil', headers: { 'x-padding': 'p'.repeat(9 * KiB) } })
  const text = await fetchError(t, res, 400, 'RequestHeaderSectionTooLarge')
  t.regex(text, /<MaxSizeAllowed>8192<\/MaxSizeAllowed>/)
  const e = entryOf(t, res.headers.get('x-amz-request-id'))
  t.like(e, { principal: null, method: 'PUT', bucket: LIMITS, key: 'victim', status: 400, error: 'RequestHeaderSectionTooLarge' })
  t.is(e.operation, undefined)

  // Anonymous, the same.
  const anonymous = await fetch(`${host.url}/${LIMITS}/victim`, { headers: { 'x-padding': 'p'.repeat(9 * KiB) } })
  await fetchError(t, anonymous, 400, 'RequestHeaderSectionTooLarge')
  await assertUnchanged(t)
})

test.serial('user metadata over 2 KB: MetadataTooLarge from PutObject, CreateMultipartUpload and CopyObject', async (t) => {
  const over = { big: 'x'.repeat(2048 - 'big'.length + 1) } // 2049 bytes of names and values
  const put = await refused(t, alice.send(new PutObjectCommand({ Bucket: LIMITS, Key: 'victim', Body: 'evil', Metadata: over })), 'MetadataTooLarge')
  t.like(entryOf(t, put.requestId), { principal: 'alice', operation: 'PutObject', status: 400, error: 'MetadataTooLarge' })
  const spread = { a: 'x'.repeat(1000), b: 'y'.repeat(1000), c: 'z'.repeat(46) } // 3 + 2046 = 2049
  await refused(t, alice.send(new PutObjectCommand({ Bucket: LIMITS, Key: 'new', Body: 'evil', Metadata: spread })), 'MetadataTooLarge', 'counted over all entries')
  await refused(t, alice.send(new CreateMultipartUploadCommand({ Bucket: LIMITS, Key: 'victim', Metadata: over })), 'MetadataTooLarge')
  await refused(t, alice.send(new CopyObjectCommand({
    Bucket: LIMITS, Key: 'victim', CopySource: `${LIMITS}/victim`, MetadataDirective: 'REPLACE', Metadata: over,
  })), 'MetadataTooLarge')
  await assertUnchanged(t)
})

test.serial('a key over 1024 bytes: KeyTooLongError from PutObject, CreateMultipartUpload and CopyObject', async (t) => {
  const long = 'k'.repeat(1025)
  const wide = 'é'.repeat(513) // 513 characters, 1026 bytes of UTF-8
  for (const Key of [long, wide]) {
    await refused(t, alice.send(new PutObjectCommand({ Bucket: LIMITS, Key, Body: 'evil' })), 'KeyTooLongError')
    await refused(t, alice.send(new CreateMultipartUploadCommand({ Bucket: LIMITS, Key })), 'KeyTooLongError')
    await refused(t, alice.send(new CopyObjectCommand({ Bucket: LIMITS, Key, CopySource: `${LIMITS}/victim` })), 'KeyTooLongError')
  }
  await assertUnchanged(t)
})

/** A PUT of `chunks` as an aws-chunked body signed chunk by chunk; `decodedLength` declared only when given. */
async function putSignedChunked (url: string, chunks: Buffer[], decodedLength?: number): Promise<Response> {
  const headers = await signHeaders({
    method: 'PUT',
    url,
    payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    headers: { 'content-encoding': 'aws-chunked', ...(decodedLength === undefined ? {} : { 'x-amz-decoded-content-length': String(decodedLength) }) },
    accessKeyId: ALICE.accessKeyId,
    secretAccessKey: ALICE.secretAccessKey,
  })
  const amzDate = headers['x-amz-date']
  const date = amzDate.slice(0, 8)
  const seedSignature = /Signature=([0-9a-f]{64})/.exec(headers.authorization)?.[1] ?? ''
  const body = signedChunkedBody(chunks, { seedSignature, amzDate, scope: `${date}/us-east-1/s3/aws4_request`, key: signingKey(ALICE.secretAccessKey, date) })
  delete headers.host
  return await fetch(url, { method: 'PUT', headers, body })
}

/** A PUT with UNSIGNED-PAYLOAD and no length at all (Transfer-Encoding: chunked). */
async function putUnknownLength (url: string, size: number): Promise<Response> {
  const headers = await signHeaders({ method: 'PUT', url, payloadHash: 'UNSIGNED-PAYLOAD', accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey })
  delete headers.host
  async function * pieces (): AsyncGenerator<Uint8Array> {
    for (let sent = 0; sent < size; sent += 64 * KiB) yield new Uint8Array(Math.min(64 * KiB, size - sent)).fill(7)
  }
  const body = Readable.toWeb(Readable.from(pieces())) as ReadableStream<Uint8Array>
  return await fetch(url, { method: 'PUT', headers, body, duplex: 'half' } as RequestInit)
}

test.serial('an object over maxObjectSize: EntityTooLarge, declared or streamed', async (t) => {
  const url = `${host.url}/${LIMITS}/victim`
  const over = Buffer.alloc(MAX_OBJECT + 1, 1)

  const declared = await refused(t, alice.send(new PutObjectCommand({ Bucket: LIMITS, Key: 'victim', Body: over })), 'EntityTooLarge', 'Content-Length over the limit (SDK)')
  t.like(entryOf(t, declared.requestId), { principal: 'alice', operation: 'PutObject', error: 'EntityTooLarge', status: 400 })

  const chunks = [over.subarray(0, 200 * KiB), over.subarray(200 * KiB, 400 * KiB), over.subarray(400 * KiB)]
  const text = await fetchError(t, await putSignedChunked(url, chunks, over.length), 400, 'EntityTooLarge', 'aws-chunked, x-amz-decoded-content-length over the limit')
  t.regex(text, new RegExp(`<ProposedSize>${over.length}</ProposedSize>`))
  t.regex(text, new RegExp(`<MaxSizeAllowed>${MAX_OBJECT}</MaxSizeAllowed>`))
  await fetchError(t, await putSignedChunked(url, chunks), 400, 'EntityTooLarge', 'aws-chunked of undeclared length, streamed past the limit')
  await fetchError(t, await putUnknownLength(url, MAX_OBJECT + 100 * KiB), 400, 'EntityTooLarge', 'no length at all, streamed past the limit')

  const upload = await alice.send(new CreateMultipartUploadCommand({ Bucket: LIMITS, Key: 'victim' }))
  try {
    await refused(t, alice.send(new UploadPartCommand({ Bucket: LIMITS, Key: 'victim', UploadId: upload.UploadId, PartNumber: 1, Body: over })), 'EntityTooLarge', 'a part over the limit')
    t.deepEqual((await alice.send(new ListPartsCommand({ Bucket: LIMITS, Key: 'victim', UploadId: upload.UploadId }))).Parts ?? [], [])
  } finally {
    await alice.send(new AbortMultipartUploadCommand({ Bucket: LIMITS, Key: 'victim', UploadId: upload.UploadId }))
  }
  await assertUnchanged(t)
})

test.serial('DeleteObjects of more than 1000 keys: MalformedXML, nothing deleted', async (t) => {
  const objects = [{ Key: 'victim' }, ...Array.from({ length: 1000 }, (_, i) => ({ Key: `k${i}` }))]
  await refused(t, alice.send(new DeleteObjectsCommand({ Bucket: LIMITS, Delete: { Objects: objects } })), 'MalformedXML')
  await assertUnchanged(t)
})

/** A well-formed DeleteObjects document, naming `victim` first, of more than 2 MiB. */
function oversizeDelete (): string {
  const object = '<Object><Key>x</Key></Object>'
  return '<Delete><Object><Key>victim</Key></Object>' + object.repeat(Math.ceil(MAX_XML_BYTES / object.length)) + '</Delete>'
}

// S3 answers an over-long XML request body with MaxMessageLengthExceeded ("Your request was too big.").
test.serial('an XML body over MAX_XML_BYTES is MaxMessageLengthExceeded before it is parsed; nothing deleted', async (t) => {
  const body = oversizeDelete()
  t.true(body.length > MAX_XML_BYTES)
  const res = await signedFetch({
    method: 'POST', url: `${host.url}/${LIMITS}?delete`, body, accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey,
    headers: { 'content-md5': Buffer.from(md5Hex(body), 'hex').toString('base64') },
  })
  await fetchError(t, res, 400, 'MaxMessageLengthExceeded')
  await assertUnchanged(t)
})

/** A policy document of `count` statements like bobReads's (on the placeholder BUCKET). */
function policyOf (count: number): Record<string, unknown> {
  const statements = Array.from({ length: count }, (_, i) => ({
    Sid: `Statement${i}`, Effect: 'Allow', Principal: { AWS: 'bob' }, Action: 's3:GetObject', Resource: `arn:aws:s3:::BUCKET/prefix-${i}/*`,
  }))
  return { Version: '2012-10-17', Statement: statements }
}

function policyText (bucket: string, count: number, indent?: number): string {
  return JSON.stringify(policyOf(count), null, indent).replaceAll('BUCKET', bucket)
}

test.serial('a bucket policy over 20 KB (normalised): MalformedPolicy, the old policy stays', async (t) => {
  let count = 1
  while (Buffer.byteLength(policyText(LIMITS, count)) <= 20 * KiB) count++
  const over = policyText(LIMITS, count)
  t.true(Buffer.byteLength(over) > 20480)
  await refused(t, alice.send(new PutBucketPolicyCommand({ Bucket: LIMITS, Policy: over })), 'MalformedPolicy')
  await assertUnchanged(t)
})

test.serial('tags over the limits: InvalidTag from PutObjectTagging, PutObject and CopyObject', async (t) => {
  const tag = (Key: string, Value = 'v'): { Key: string, Value: string } => ({ Key, Value })
  const bad: Array<[string, Array<{ Key: string, Value: string }>]> = [
    ['11 tags', Array.from({ length: 11 }, (_, i) => tag(`k${i}`))],
    ['a key of 129 characters', [tag('k'.repeat(129))]],
    ['a value of 257 characters', [tag('k', 'v'.repeat(257))]],
    ['a repeated key', [tag('k', '1'), tag('k', '2')]],
  ]
  for (const [what, TagSet] of bad) {
    await refused(t, alice.send(new PutObjectTaggingCommand({ Bucket: LIMITS, Key: 'victim', Tagging: { TagSet } })), 'InvalidTag', `PutObjectTagging: ${what}`)
    const header = TagSet.map(x => `${encodeURIComponent(x.Key)}=${encodeURIComponent(x.Value)}`).join('&')
    await refused(t, alice.send(new PutObjectCommand({ Bucket: LIMITS, Key: 'victim', Body: 'evil', Tagging: header })), 'InvalidTag', `PutObject: ${what}`)
    await refused(t, alice.send(new CopyObjectCommand({
      Bucket: LIMITS, Key: 'victim', CopySource: `${LIMITS}/victim`, MetadataDirective: 'REPLACE', TaggingDirective: 'REPLACE', Tagging: header,
    })), 'InvalidTag', `CopyObject: ${what}`)
  }
  await assertUnchanged(t)
})

test.serial('exactly at each limit, requests succeed', async (t) => {
  // Header section just under 8 KiB.
  const padded = await signedFetch({
    method: 'PUT', url: `${host.url}/${AT_LIMITS}/padded`, body: 'ok', headers: { 'x-padding': 'p'.repeat(7 * KiB) },
    accessKeyId: ALICE.accessKeyId, secretAccessKey: ALICE.secretAccessKey,
  })
  t.is(padded.status, 200, await padded.text())

  const metadata = { big: 'x'.repeat(2048 - 'big'.length) }
  await alice.send(new PutObjectCommand({ Bucket: AT_LIMITS, Key: 'meta', Body: 'ok', Metadata: metadata }))
  t.is((await alice.send(new HeadObjectCommand({ Bucket: AT_LIMITS, Key: 'meta' }))).Metadata?.big, metadata.big)

  for (const Key of ['k'.repeat(1024), 'é'.repeat(512)]) {
    await alice.send(new PutObjectCommand({ Bucket: AT_LIMITS, Key, Body: 'ok' }))
    t.is((await alice.send(new HeadObjectCommand({ Bucket: AT_LIMITS, Key }))).ContentLength, 2)
  }

  const full = Buffer.alloc(MAX_OBJECT, 2)
  await alice.send(new PutObjectCommand({ Bucket: AT_LIMITS, Key: 'full', Body: full }))
  t.is((await alice.send(new HeadObjectCommand({ Bucket: AT_LIMITS, Key: 'full' }))).ContentLength, MAX_OBJECT)
  const chunked = await putSignedChunked(`${host.url}/${AT_LIMITS}/full-chunked`, [full.subarray(0, 100 * KiB), full.subarray(100 * KiB)])
  t.is(chunked.status, 200, await chunked.text())
  const unknown = await putUnknownLength(`${host.url}/${AT_LIMITS}/full-unknown`, MAX_OBJECT)
  t.is(unknown.status, 200, await unknown.text())
  t.is((await alice.send(new HeadObjectCommand({ Bucket: AT_LIMITS, Key: 'full-unknown' }))).ContentLength, MAX_OBJECT)

  const TagSet = [{ Key: 'k'.repeat(128), Value: 'v'.repeat(256) }, ...Array.from({ length: 9 }, (_, i) => ({ Key: `k${i}`, Value: '' }))]
  await alice.send(new PutObjectTaggingCommand({ Bucket: AT_LIMITS, Key: 'meta', Tagging: { TagSet } }))
  t.deepEqual((await alice.send(new GetObjectTaggingCommand({ Bucket: AT_LIMITS, Key: 'meta' }))).TagSet, [...TagSet.slice(1), TagSet[0]], 'sorted by key')

  // S3 counts a policy's size without its whitespace: a pretty-printed one may be longer as sent.
  let count = 1
  while (Buffer.byteLength(policyText(AT_LIMITS, count + 1)) <= 20480) count++
  const pretty = policyText(AT_LIMITS, count, 4)
  t.true(Buffer.byteLength(pretty) > 20480, 'over 20 KB as sent')
  await alice.send(new PutBucketPolicyCommand({ Bucket: AT_LIMITS, Policy: pretty }))
  t.is((await alice.send(new GetBucketPolicyCommand({ Bucket: AT_LIMITS }))).Policy, pretty)

  const objects = Array.from({ length: 1000 }, (_, i) => ({ Key: `gone-${i}` }))
  const deleted = await alice.send(new DeleteObjectsCommand({ Bucket: AT_LIMITS, Delete: { Objects: objects, Quiet: true } }))
  t.deepEqual(deleted.Errors ?? [], [], '1000 keys')
})

// The largest valid DeleteObjects (1000 keys of up to 1024 bytes) is large once the SDK escapes its
// keys ('&' is 5 bytes as '&amp;'): S3 takes any 1000 valid keys.
test.serial('DeleteObjects of 1000 valid keys of escaped characters is not refused for its XML size', async (t) => {
  const objects = Array.from({ length: 1000 }, (_, i) => ({ Key: `${'&'.repeat(1000)}${i}` }))
  const deleted = await alice.send(new DeleteObjectsCommand({ Bucket: AT_LIMITS, Delete: { Objects: objects, Quiet: true } }))
  t.deepEqual(deleted.Errors ?? [], [])
})
