/**
 * Signature Version 2 with hand-built requests: what a client cannot send (bad signatures, missing
 * or negative Expires, skewed clocks, headers added after signing) and the exact string-to-sign
 * rules. boto3 drives the real thing in sigv2-clients.test.ts.
 */
import test from 'ava'
import { createHmac } from 'node:crypto'
import { authenticate, type AuthenticateOptions } from '../src/auth/sigv4.js'
import { toCredentialProvider } from '../src/auth/credentials.js'
import type { AuditEntry } from '../src/audit.js'
import { createGateway } from '../src/gateway.js'
import type { S3Error } from '../src/errors.js'
import type { S3Request, S3Response } from '../src/types.js'

const AK = 'AKIDV2EXAMPLE'
const SK = 'v2/example+secret'
const NOW = new Date('2025-03-04T05:06:07Z')
const opts: AuthenticateOptions = { credentials: toCredentialProvider({ [AK]: SK }), region: 'us-east-1', now: NOW }

function hmac (secret: string, text: string): string {
  return createHmac('sha1', secret).update(text, 'utf8').digest('base64')
}

async function * bodyOf (data = ''): AsyncGenerator<Uint8Array> {
  if (data !== '') yield Buffer.from(data)
}

interface Spec {
  method?: string
  /** The raw path, mount prefix included. */
  path?: string
  basePath?: string
  query?: string
  headers?: Record<string, string>
  /** The CanonicalizedResource to sign; default: the path and the query's sub-resources as given. */
  resource?: string
  /** The Date line to sign; default: Date, or empty with x-amz-date. */
  dateLine?: string
  accessKeyId?: string
  secret?: string
  body?: string
}

function stringToSign (s: Spec, headers: Record<string, string>, dateLine: string): string {
  const amz = Object.keys(headers).filter(n => n.startsWith('x-amz-')).sort().map(n => `${n}:${headers[n]}\n`).join('')
  return `${s.method ?? 'GET'}\n${headers['content-md5'] ?? ''}\n${headers['content-type'] ?? ''}\n${dateLine}\n${amz}${s.resource ?? s.path ?? '/bucket/key'}`
}

/** A request with `Authorization: AWS key:signature`. */
function headerSigned (s: Spec = {}): S3Request {
  const headers: Record<string, string> = { host: 'localhost:9000', date: NOW.toUTCString(), ...s.headers }
  const dateLine = s.dateLine ?? (headers['x-amz-date'] !== undefined ? '' : headers.date ?? '')
  const signature = hmac(s.secret ?? SK, stringToSign(s, headers, dateLine))
  return {
    method: s.method ?? 'GET',
    path: s.path ?? '/bucket/key',
    basePath: s.basePath ?? '',
    query: s.query ?? '',
    headers: { ...headers, authorization: `AWS ${s.accessKeyId ?? AK}:${signature}` },
    body: bodyOf(s.body),
  }
}

/** A presigned SigV2 URL's request; `expires` is signed in place of the date. */
function presigned (s: Spec & { expires?: string, signedAmz?: Record<string, string> } = {}): S3Request {
  const expires = s.expires ?? String(NOW.getTime() / 1000 + 300)
  const signature = hmac(s.secret ?? SK, stringToSign(s, { ...s.headers, ...s.signedAmz }, expires))
  const auth = `AWSAccessKeyId=${encodeURIComponent(s.accessKeyId ?? AK)}&Expires=${encodeURIComponent(expires)}&Signature=${encodeURIComponent(signature)}`
  return {
    method: s.method ?? 'GET',
    path: s.path ?? '/bucket/key',
    basePath: s.basePath ?? '',
    query: [s.query, auth].filter(q => q !== undefined && q !== '').join('&'),
    headers: { host: 'localhost:9000', ...s.headers },
    body: bodyOf(s.body),
  }
}

async function code (t: { throwsAsync: (p: Promise<unknown>) => Promise<unknown> }, req: S3Request, o: AuthenticateOptions = opts): Promise<S3Error> {
  return await t.throwsAsync(authenticate(req, o)) as S3Error
}

// ---- the header ----------------------------------------------------------------------------

test('a SigV2 header authenticates like SigV4: principal, display name, policies, signature version 2, the body as sent', async t => {
  const ctx = await authenticate(headerSigned(), opts)
  t.deepEqual(ctx, { anonymous: false, accessKeyId: AK, principal: AK, displayName: AK, signatureVersion: 2, payloadMode: 'NONE' })
  const withPolicies = toCredentialProvider(() => ({ secretAccessKey: SK, principal: 'carol', displayName: 'Carol', policies: ['{}'] }))
  t.like(await authenticate(headerSigned(), { ...opts, credentials: withPolicies }), { principal: 'carol', displayName: 'Carol', policies: ['{}'] })
  // The payload claims of x-amz-content-sha256 (signed like any x-amz-* header) are honoured, but
  // a signed chunk stream needs SigV4's seed signature.
  const claim = 'a'.repeat(64)
  t.like(await authenticate(headerSigned({ method: 'PUT', headers: { 'x-amz-content-sha256': claim } }), opts), { payloadMode: 'SHA256', payloadSha256: claim })
  t.is((await code(t, headerSigned({ method: 'PUT', headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' } }))).code, 'InvalidRequest')
})

test('a wrong secret, an unknown key, a malformed header', async t => {
  t.is((await code(t, headerSigned({ secret: 'other' }))).code, 'SignatureDoesNotMatch')
  const unknown = await code(t, headerSigned({ accessKeyId: 'AKIDUNKNOWN' }))
  t.is(unknown.code, 'InvalidAccessKeyId')
  t.deepEqual(unknown.detail, { AWSAccessKeyId: 'AKIDUNKNOWN' })
  for (const bad of ['AWS ' + AK, 'AWS :sig', 'AWS ' + AK + ':']) {
    const req = headerSigned()
    t.is((await code(t, { ...req, headers: { ...req.headers, authorization: bad } })).code, 'InvalidArgument', bad)
  }
})

test('what is signed: method, Content-MD5, Content-Type, every x-amz-* header (an added or changed one breaks it), the path', async t => {
  const headers = { 'content-md5': '1B2M2Y8AsgTpgAmY7PhCfg==', 'content-type': 'text/plain', 'x-amz-meta-b': 'two', 'x-amz-meta-a': 'one' }
  const req = headerSigned({ method: 'PUT', headers })
  t.false((await authenticate(req, opts)).anonymous)
  const variants: Array<[string, S3Request]> = [
    ['method', { ...req, method: 'POST' }],
    ['content-type', { ...req, headers: { ...req.headers, 'content-type': 'text/html' } }],
    ['content-md5', { ...req, headers: { ...req.headers, 'content-md5': 'AAAAAAAAAAAAAAAAAAAAAA==' } }],
    ['an x-amz-* header changed', { ...req, headers: { ...req.headers, 'x-amz-meta-a': 'uno' } }],
    ['an x-amz-* header added after signing', { ...req, headers: { ...req.headers, 'x-amz-acl': 'public-read' } }],
    ['path', { ...req, path: '/bucket/other' }],
    ['a sub-resource added', { ...req, query: 'acl' }],
  ]
  for (const [what, changed] of variants) t.is((await code(t, changed)).code, 'SignatureDoesNotMatch', what)
  // Other headers, and query parameters that are not sub-resources, are not signed (as in S3).
  t.false((await authenticate({ ...req, headers: { ...req.headers, 'user-agent': 'x', 'cache-control': 'no-cache' }, query: 'prefix=a&max-keys=2' }, opts)).anonymous)
})

test('x-amz-date replaces Date: the Date line is then empty', async t => {
  const amzDate = 'Tue, 04 Mar 2025 05:06:00 GMT'
  t.false((await authenticate(headerSigned({ headers: { 'x-amz-date': amzDate } }), opts)).anonymous)
  t.false((await authenticate(headerSigned({ headers: { date: 'Mon, 01 Jan 1990 00:00:00 GMT', 'x-amz-date': amzDate } }), opts)).anonymous, 'a stale Date is ignored')
  t.is((await code(t, headerSigned({ headers: { 'x-amz-date': amzDate }, dateLine: NOW.toUTCString() }))).code, 'SignatureDoesNotMatch', 'the Date line signed anyway')
  t.false((await authenticate(headerSigned({ headers: { 'x-amz-date': '20250304T050607Z' } }), opts)).anonymous, 'ISO 8601 basic format')
})

test('a request time more than 15 minutes off is RequestTimeTooSkewed; no valid date is AccessDenied', async t => {
  for (const minutes of [16, -16]) {
    const date = new Date(NOW.getTime() + minutes * 60_000).toUTCString()
    const err = await code(t, headerSigned({ headers: { date } }))
    t.is(err.code, 'RequestTimeTooSkewed')
    t.is(err.detail?.RequestTime, date)
    t.is(err.detail?.MaxAllowedSkewMilliseconds, '900000')
  }
  t.false((await authenticate(headerSigned({ headers: { date: new Date(NOW.getTime() + 14 * 60_000).toUTCString() } }), opts)).anonymous)
  const req = headerSigned()
  const { date: _date, ...undated } = req.headers
  t.is((await code(t, { ...req, headers: undated })).code, 'AccessDenied')
  t.is((await code(t, headerSigned({ headers: { date: 'yesterday' } }))).code, 'AccessDenied')
})

test('sub-resources are signed sorted, values decoded; the bare `name=` form as either', async t => {
  const query = 'versionId=v%2B1&tagging&prefix=x'
  t.false((await authenticate(headerSigned({ query, resource: '/bucket/key?tagging&versionId=v+1' }), opts)).anonymous)
  t.is((await code(t, headerSigned({ query, resource: '/bucket/key?versionId=v+1&tagging' }))).code, 'SignatureDoesNotMatch', 'unsorted')
  t.is((await code(t, headerSigned({ query, resource: '/bucket/key?tagging&versionId=v%2B1' }))).code, 'SignatureDoesNotMatch', 'still encoded')
  t.is((await code(t, headerSigned({ query, resource: '/bucket/key?prefix=x&tagging&versionId=v+1' }))).code, 'SignatureDoesNotMatch', 'prefix is no sub-resource')
  for (const resource of ['/bucket/key?acl', '/bucket/key?acl=']) {
    t.false((await authenticate(headerSigned({ query: 'acl=', resource }), opts)).anonymous, resource)
  }
  const disposition = 'attachment; filename="a b.txt"'
  t.false((await authenticate(headerSigned({
    query: `response-content-disposition=${encodeURIComponent(disposition)}&uploadId=u&partNumber=2`,
    resource: `/bucket/key?partNumber=2&response-content-disposition=${disposition}&uploadId=u`,
  }), opts)).anonymous)
})

test('the resource: the path as sent or without the mount prefix, a bucket with or without its slash, /bucket first when the Host names it', async t => {
  const mounted = { path: '/s3/bucket/a%20key', basePath: '/s3' }
  for (const resource of ['/s3/bucket/a%20key', '/bucket/a%20key']) {
    t.false((await authenticate(headerSigned({ ...mounted, resource }), opts)).anonymous, resource)
  }
  t.is((await code(t, headerSigned({ ...mounted, resource: '/bucket/a key' }))).code, 'SignatureDoesNotMatch', 'decoded path')
  for (const resource of ['/bucket', '/bucket/']) {
    t.false((await authenticate(headerSigned({ path: '/bucket', resource }), opts)).anonymous, resource)
  }
  const virtual = { ...opts, hostBucket: 'vbucket' }
  for (const resource of ['/vbucket/key', '/vbucket/s3/key']) {
    t.false((await authenticate(headerSigned({ path: '/s3/key', basePath: '/s3', resource }), virtual)).anonymous, resource)
  }
  t.is((await code(t, headerSigned({ path: '/key', resource: '/key' }), virtual)).code, 'SignatureDoesNotMatch', 'without the bucket')
  t.false((await authenticate(headerSigned({ path: '/', resource: '/vbucket/' }), virtual)).anonymous)
})

// ---- presigned URLs ------------------------------------------------------------------------

test('a presigned SigV2 URL authenticates; the Date header plays no part', async t => {
  const ctx = await authenticate(presigned({ headers: { date: 'Mon, 01 Jan 1990 00:00:00 GMT' } }), opts)
  t.deepEqual(ctx, { anonymous: false, accessKeyId: AK, principal: AK, displayName: AK, presigned: true, signatureVersion: 2, payloadMode: 'NONE' })
  t.is((await code(t, presigned({ secret: 'other' }))).code, 'SignatureDoesNotMatch')
  t.is((await code(t, presigned({ accessKeyId: 'AKIDUNKNOWN' }))).code, 'InvalidAccessKeyId')
  const req = presigned()
  t.is((await code(t, { ...req, query: req.query.replace(/Expires=\d+/, m => m + '0') })).code, 'SignatureDoesNotMatch', 'Expires changed')
})

test('x-amz-* headers sent with a presigned URL must have been signed; hoisted into the query they are', async t => {
  t.is((await code(t, presigned({ method: 'PUT', headers: { 'x-amz-acl': 'public-read' }, signedAmz: { 'x-amz-acl': 'private' } }))).code, 'SignatureDoesNotMatch')
  const req = presigned({ method: 'PUT' })
  t.is((await code(t, { ...req, headers: { ...req.headers, 'x-amz-meta-added': '1' } })).code, 'SignatureDoesNotMatch', 'added after signing')
  t.false((await authenticate(presigned({ method: 'PUT', headers: { 'x-amz-meta-a': '1' } }), opts)).anonymous, 'signed as a header')
  const hoisted = presigned({ method: 'PUT', query: 'x-amz-meta-a=1&content-type=text%2Fplain', signedAmz: { 'x-amz-meta-a': '1', 'content-type': 'text/plain' } })
  t.false((await authenticate(hoisted, opts)).anonymous, 'botocore moves x-amz-* and Content-Type into the query')
})

test('presigned: missing parameters, an invalid, negative or past Expires are AccessDenied', async t => {
  const req = presigned()
  for (const drop of ['Expires', 'Signature', 'AWSAccessKeyId']) {
    const query = req.query.split('&').filter(p => !p.startsWith(drop + '=')).join('&')
    const err = await code(t, { ...req, query })
    t.is(err.code, 'AccessDenied', drop)
    t.is(err.message, 'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters', drop)
  }
  const invalid = await code(t, presigned({ expires: 'tomorrow' }))
  t.is(invalid.code, 'AccessDenied')
  t.is(invalid.message, 'Invalid date (should be seconds since epoch): tomorrow')
  for (const expires of ['-5', String(NOW.getTime() / 1000 - 1), '0']) {
    const err = await code(t, presigned({ expires }))
    t.is(err.code, 'AccessDenied', expires)
    t.is(err.message, 'Request has expired', expires)
    t.is(err.detail?.Expires, new Date(Number(expires) * 1000).toISOString())
    t.is(err.detail?.ServerTime, NOW.toISOString())
  }
  t.false((await authenticate(presigned({ expires: String(NOW.getTime() / 1000) }), opts)).anonymous, 'valid through its Expires second')
})

// ---- turning it off, mixing mechanisms -----------------------------------------------------

test('with SigV2 off, the header and presigned URLs are InvalidRequest; a header with V2 query parameters is InvalidArgument', async t => {
  const off = { ...opts, signatureV2: false }
  for (const req of [headerSigned(), presigned()]) {
    const err = await code(t, req, off)
    t.is(err.code, 'InvalidRequest')
    t.is(err.message, 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.')
  }
  const both = headerSigned({ query: 'AWSAccessKeyId=x&Signature=y&Expires=1' })
  t.is((await code(t, both)).code, 'InvalidArgument')
})

// ---- through the gateway -------------------------------------------------------------------

async function text (res: S3Response): Promise<string> {
  if (res.body === undefined) return ''
  if (res.body instanceof Uint8Array) return Buffer.from(res.body).toString()
  const chunks: Uint8Array[] = []
  for await (const c of res.body) chunks.push(c)
  return Buffer.concat(chunks).toString()
}

test('through the gateway: identity policies, bucket policies on s3:signatureversion, size limits and the audit log apply to SigV2 requests', async t => {
  const audit: AuditEntry[] = []
  const carolPolicy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket'], Resource: '*' }] })
  const gateway = createGateway({
    credentials: (id) => id === AK ? { secretAccessKey: SK, principal: 'owner' } : id === 'CAROLKEY' ? { secretAccessKey: 'carol-secret', principal: 'carol', policies: [carolPolicy] } : undefined,
    baseDomains: ['s3.test'],
    maxObjectSize: 8,
    audit: (e) => { audit.push(e) },
    now: () => NOW,
  })
  t.teardown(async () => { await gateway.close() })
  const send = async (s: Spec): Promise<S3Response> => await gateway.handle(headerSigned(s))

  t.is((await send({ method: 'PUT', path: '/v2-bucket' })).status, 200)
  t.is((await send({ method: 'PUT', path: '/v2-bucket/k', body: 'hello', headers: { 'content-length': '5' } })).status, 200)
  const got = await send({ path: '/v2-bucket/k' })
  t.is(await text(got), 'hello')
  t.is((await send({ method: 'PUT', path: '/v2-bucket/big', body: 'too large!', headers: { 'content-length': '10' } })).status, 400, 'maxObjectSize')
  // Virtual-hosted: the Host names the bucket, the resource starts with it.
  const vreq = headerSigned({ path: '/k', resource: '/v2-bucket/k', headers: { host: 'v2-bucket.s3.test' } })
  t.is(await text(await gateway.handle({ ...vreq, hostname: 'v2-bucket.s3.test' })), 'hello')

  // carol's identity policy allows reads only; the bucket policy lets her write too.
  const carol = { accessKeyId: 'CAROLKEY', secret: 'carol-secret' }
  t.is(await text(await send({ path: '/v2-bucket/k', ...carol })), 'hello')
  t.is((await send({ method: 'PUT', path: '/v2-bucket/c', body: 'c', ...carol, headers: { 'content-length': '1' } })).status, 403, 'her identity policy does not allow PutObject')
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Principal: { AWS: ['carol'] }, Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::v2-bucket/*' },
      { Effect: 'Deny', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::v2-bucket/v4-only/*', Condition: { StringEquals: { 's3:signatureversion': 'AWS' } } },
    ],
  })
  t.is((await send({ method: 'PUT', path: '/v2-bucket', query: 'policy', resource: '/v2-bucket?policy', body: policy, headers: { 'content-length': String(policy.length) } })).status, 204)
  t.is((await send({ method: 'PUT', path: '/v2-bucket/c', body: 'c', ...carol, headers: { 'content-length': '1' } })).status, 200, 'the bucket policy does')
  t.is((await send({ method: 'PUT', path: '/v2-bucket/v4-only/x', body: 'x', headers: { 'content-length': '1' } })).status, 200)
  t.regex(await text(await send({ path: '/v2-bucket/v4-only/x' })), /<Code>AccessDenied<\/Code>/, 's3:signatureversion is AWS')

  const entry = audit.find(e => e.operation === 'GetObject' && e.accessKeyId === 'CAROLKEY' && e.status === 200)
  t.like(entry, { principal: 'carol', bucket: 'v2-bucket', key: 'k' })
  t.like(audit.find(e => e.status === 403 && e.operation === 'PutObject'), { principal: 'carol', error: 'AccessDenied' })
})

test('through the gateway: x-amz-* parameters of a presigned SigV2 URL act as headers; a header of the same name gives way', async t => {
  const gateway = createGateway({ credentials: { [AK]: SK }, now: () => NOW, signatureClock: () => NOW })
  t.teardown(async () => { await gateway.close() })
  t.is((await gateway.handle(headerSigned({ method: 'PUT', path: '/meta-bucket' }))).status, 200)
  const put = presigned({ method: 'PUT', path: '/meta-bucket/k', query: 'x-amz-meta-color=blue', signedAmz: { 'x-amz-meta-color': 'blue' }, body: 'x' })
  const res = await gateway.handle({ ...put, headers: { ...put.headers, 'x-amz-meta-color': 'red', 'content-length': '1' } })
  t.is(res.status, 200, await text(res))
  const head = await gateway.handle(headerSigned({ method: 'HEAD', path: '/meta-bucket/k' }))
  t.is(head.headers['x-amz-meta-color'], 'blue')
})

test('through the gateway with signatureV2: false: 400 InvalidRequest, as S3 answers', async t => {
  const gateway = createGateway({ credentials: { [AK]: SK }, signatureV2: false, now: () => NOW })
  t.teardown(async () => { await gateway.close() })
  for (const req of [headerSigned({ path: '/' }), presigned({ path: '/' })]) {
    const res = await gateway.handle(req)
    t.is(res.status, 400)
    t.regex(await text(res), /<Code>InvalidRequest<\/Code><Message>The authorization mechanism you have provided is not supported\. Please use AWS4-HMAC-SHA256\.<\/Message>/)
  }
})
