import test from 'ava'
import { Readable } from 'node:stream'
import { createHash, createHmac } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'
import { HttpRequest } from '@smithy/protocol-http'
import { type S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { authenticate, parseQuery } from '../src/auth/sigv4.js'
import { toCredentialProvider } from '../src/auth/credentials.js'
import type { S3Request } from '../src/types.js'
import { amzDate, captureClient, toS3Request, type Captured } from './helpers/sdk-capture.js'
import { Sha256 } from './helpers/sign.js'

const AK = 'AKIDEXAMPLE'
const SK = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
const REGION = 'us-east-1'
const NOW = new Date('2025-03-04T05:06:07Z')
const credentials = toCredentialProvider({ [AK]: SK })
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex')

function signer (secret = SK, region = REGION): SignatureV4 {
  return new SignatureV4({ service: 's3', region, credentials: { accessKeyId: AK, secretAccessKey: secret }, sha256: Sha256, uriEscapePath: false })
}

async function signed (opts: { method?: string, path?: string, query?: Record<string, string | string[]>, headers?: Record<string, string>, secret?: string, region?: string, date?: Date, payload?: string } = {}): Promise<S3Request> {
  const req = new HttpRequest({
    method: opts.method ?? 'GET',
    protocol: 'http:',
    hostname: 'localhost',
    port: 9000,
    path: opts.path ?? '/s3/bucket/a%20key/x~y',
    query: opts.query ?? {},
    headers: { host: 'localhost:9000', 'x-amz-content-sha256': opts.payload ?? EMPTY_SHA256, ...opts.headers }
  })
  const out = await signer(opts.secret, opts.region).sign(req, { signingDate: opts.date ?? NOW })
  return toS3Request(out as HttpRequest)
}

async function presigned (opts: { expiresIn?: number, date?: Date, method?: string, query?: Record<string, string> } = {}): Promise<S3Request> {
  const req = new HttpRequest({
    method: opts.method ?? 'GET',
    protocol: 'http:',
    hostname: 'localhost',
    port: 9000,
    path: '/s3/bucket/key',
    query: opts.query ?? {},
    // As @aws-sdk/s3-request-presigner does: S3 presigned URLs sign UNSIGNED-PAYLOAD.
    headers: { host: 'localhost:9000', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }
  })
  const out = await signer().presign(req, { signingDate: opts.date ?? NOW, expiresIn: opts.expiresIn ?? 300 })
  return toS3Request(out as HttpRequest)
}

const opts = { credentials, region: REGION, now: NOW }

test('no authentication at all is anonymous', async t => {
  const ctx = await authenticate({ method: 'GET', path: '/b/k', basePath: '', query: '', headers: { host: 'h' }, body: (async function * () {})() }, opts)
  t.true(ctx.anonymous)
  t.is(ctx.payloadMode, 'NONE')
})

test('header auth signed by smithy verifies', async t => {
  const req = await signed({ query: { prefix: 'a b', 'list-type': '2', 'encoding-type': 'url', acl: '' } })
  const ctx = await authenticate(req, opts)
  t.false(ctx.anonymous)
  t.is(ctx.accessKeyId, AK)
  t.is(ctx.principal, AK)
  t.is(ctx.payloadMode, 'SHA256')
  t.is(ctx.payloadSha256, EMPTY_SHA256)
  t.truthy(ctx.signing)
  t.is(ctx.signing?.scope, '20250304/us-east-1/s3/aws4_request')
})

test('multi-valued query parameters verify', async t => {
  const req = await signed({ query: { a: ['2', '1'], b: 'x' } })
  t.false((await authenticate(req, opts)).anonymous)
})

test('credential provider function with principal and display name', async t => {
  const req = await signed()
  const ctx = await authenticate(req, { ...opts, credentials: async (id) => id === AK ? { secretAccessKey: SK, principal: 'owner-1', displayName: 'Alice' } : undefined })
  t.is(ctx.principal, 'owner-1')
  t.is(ctx.displayName, 'Alice')
})

test('wrong secret → SignatureDoesNotMatch', async t => {
  const req = await signed({ secret: 'not-the-secret' })
  const err = await t.throwsAsync(authenticate(req, opts))
  t.is((err as any).code, 'SignatureDoesNotMatch')
  t.is((err as any).status, 403)
})

test('unknown access key → InvalidAccessKeyId', async t => {
  const req = await signed()
  const err = await t.throwsAsync(authenticate(req, { ...opts, credentials: () => undefined }))
  t.is((err as any).code, 'InvalidAccessKeyId')
})

test('tampered signature → SignatureDoesNotMatch', async t => {
  const req = await signed()
  req.headers.authorization = req.headers.authorization.replace(/Signature=([0-9a-f])/, (_m, c) => `Signature=${c === '0' ? '1' : '0'}`)
  const err = await t.throwsAsync(authenticate(req, opts))
  t.is((err as any).code, 'SignatureDoesNotMatch')
})

test('tampered signed header, path and query → SignatureDoesNotMatch', async t => {
  const a = await signed({ headers: { 'x-amz-meta-color': 'blue' } })
  a.headers['x-amz-meta-color'] = 'red'
  t.is(((await t.throwsAsync(authenticate(a, opts))) as any).code, 'SignatureDoesNotMatch')
  const b = await signed()
  b.path = '/s3/bucket/other'
  t.is(((await t.throwsAsync(authenticate(b, opts))) as any).code, 'SignatureDoesNotMatch')
  const c = await signed({ query: { prefix: 'a' } })
  c.query = 'prefix=b'
  t.is(((await t.throwsAsync(authenticate(c, opts))) as any).code, 'SignatureDoesNotMatch')
})

test('path is not double-encoded: a re-encoded path does not verify', async t => {
  const req = await signed({ path: '/s3/bucket/a%2Bb' })
  t.false((await authenticate(req, opts)).anonymous)
  req.path = '/s3/bucket/a+b'
  t.is(((await t.throwsAsync(authenticate(req, opts))) as any).code, 'SignatureDoesNotMatch')
})

test('unsigned x-amz-* header → AccessDenied', async t => {
  const req = await signed()
  req.headers['x-amz-meta-sneaky'] = '1'
  const err = await t.throwsAsync(authenticate(req, opts))
  t.is((err as any).code, 'AccessDenied')
})

test('clock skew over 15 minutes → RequestTimeTooSkewed', async t => {
  const req = await signed({ date: new Date(NOW.getTime() - 16 * 60 * 1000) })
  const err = await t.throwsAsync(authenticate(req, opts))
  t.is((err as any).code, 'RequestTimeTooSkewed')
  t.is((err as any).status, 403)
  const ok = await signed({ date: new Date(NOW.getTime() + 14 * 60 * 1000) })
  t.false((await authenticate(ok, opts)).anonymous)
})

test('wrong region in scope → AuthorizationHeaderMalformed naming the expected region', async t => {
  const req = await signed({ region: 'eu-west-1' })
  const err = await t.throwsAsync(authenticate(req, opts))
  t.is((err as any).code, 'AuthorizationHeaderMalformed')
  t.regex(err!.message, /us-east-1/)
  t.is((err as any).detail.Region, 'us-east-1')
})

test('garbled Authorization header → AuthorizationHeaderMalformed', async t => {
  const req = await signed()
  for (const bad of [
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250304/us-east-1/s3/aws4_request',
    'AWS4-HMAC-SHA256 garbage',
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2025/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00',
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250304/us-east-1/s3, SignedHeaders=host, Signature=00',
    'Bearer abc'
  ]) {
    const err = await t.throwsAsync(authenticate({ ...req, headers: { ...req.headers, authorization: bad } }, opts))
    t.is((err as any).code, 'AuthorizationHeaderMalformed', bad)
  }
})

test('SigV2 header while SigV2 is off → InvalidRequest', async t => {
  const err = await t.throwsAsync(authenticate({ ...(await signed()), headers: { host: 'h', authorization: 'AWS AK:sig' } }, { ...opts, signatureV2: false }))
  t.is((err as any).code, 'InvalidRequest')
})

test('missing dates → AccessDenied; Date header alone works', async t => {
  const req = await signed()
  const { 'x-amz-date': _, ...rest } = req.headers
  t.is(((await t.throwsAsync(authenticate({ ...req, headers: rest }, opts))) as any).code, 'AccessDenied')

  // A client that signs the Date header instead of x-amz-date.
  const dateValue = NOW.toUTCString()
  const scope = `20250304/${REGION}/s3/aws4_request`
  const canonical = ['GET', '/s3/bucket/key', '', `date:${dateValue}`, 'host:localhost:9000', `x-amz-content-sha256:${EMPTY_SHA256}`, '', 'date;host;x-amz-content-sha256', EMPTY_SHA256].join('\n')
  const sts = ['AWS4-HMAC-SHA256', '20250304T050607Z', scope, createHash('sha256').update(canonical).digest('hex')].join('\n')
  let key: Buffer = Buffer.from('AWS4' + SK)
  for (const p of ['20250304', REGION, 's3', 'aws4_request']) key = createHmac('sha256', key).update(p).digest()
  const sig = createHmac('sha256', key).update(sts).digest('hex')
  const ctx = await authenticate({
    method: 'GET',
    path: '/s3/bucket/key',
    basePath: '/s3',
    query: '',
    headers: { host: 'localhost:9000', date: dateValue, 'x-amz-content-sha256': EMPTY_SHA256, authorization: `AWS4-HMAC-SHA256 Credential=${AK}/${scope}, SignedHeaders=date;host;x-amz-content-sha256, Signature=${sig}` },
    body: (async function * () {})()
  }, opts)
  t.false(ctx.anonymous)
})

test('missing x-amz-content-sha256 with header auth → InvalidRequest; garbage value → InvalidArgument', async t => {
  const req = await signed()
  const { 'x-amz-content-sha256': _, ...rest } = req.headers
  t.is(((await t.throwsAsync(authenticate({ ...req, headers: rest }, opts))) as any).code, 'InvalidRequest')
  const bad = await signed({ payload: 'nonsense' })
  t.is(((await t.throwsAsync(authenticate(bad, opts))) as any).code, 'InvalidArgument')
})

test('streaming payload modes are reported', async t => {
  for (const mode of ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'UNSIGNED-PAYLOAD'] as const) {
    const ctx = await authenticate(await signed({ method: 'PUT', payload: mode }), opts)
    t.is(ctx.payloadMode, mode)
    t.is(ctx.signing?.amzDate, '20250304T050607Z')
    t.regex(ctx.signing?.seedSignature ?? '', /^[0-9a-f]{64}$/)
  }
})

test('both header and query auth → InvalidArgument', async t => {
  const req = await signed()
  req.query = 'X-Amz-Algorithm=AWS4-HMAC-SHA256'
  t.is(((await t.throwsAsync(authenticate(req, opts))) as any).code, 'InvalidArgument')
})

test('presigned URL by smithy verifies; UNSIGNED-PAYLOAD', async t => {
  const ctx = await authenticate(await presigned(), opts)
  t.false(ctx.anonymous)
  t.true(ctx.presigned)
  t.is(ctx.payloadMode, 'UNSIGNED-PAYLOAD')
})

test('presigned URL expired → AccessDenied "Request has expired"', async t => {
  const req = await presigned({ expiresIn: 60, date: new Date(NOW.getTime() - 61 * 1000) })
  const err = await t.throwsAsync(authenticate(req, opts))
  t.is((err as any).code, 'AccessDenied')
  t.is(err!.message, 'Request has expired')
  // Not expired yet, even though older than the 15-minute header skew.
  const ok = await presigned({ expiresIn: 3600, date: new Date(NOW.getTime() - 30 * 60 * 1000) })
  t.false((await authenticate(ok, opts)).anonymous)
})

test('presigned X-Amz-Expires over a week → AuthorizationQueryParametersError', async t => {
  const req = await presigned()
  req.query = req.query.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=604801')
  t.is(((await t.throwsAsync(authenticate(req, opts))) as any).code, 'AuthorizationQueryParametersError')
  req.query = req.query.replace(/X-Amz-Expires=\d+/, 'X-Amz-Expires=abc')
  t.is(((await t.throwsAsync(authenticate(req, opts))) as any).code, 'AuthorizationQueryParametersError')
})

test('presigned with missing parameters → AuthorizationQueryParametersError', async t => {
  const req = await presigned()
  req.query = req.query.replace(/&?X-Amz-SignedHeaders=[^&]*/, '')
  t.is(((await t.throwsAsync(authenticate(req, opts))) as any).code, 'AuthorizationQueryParametersError')
  const other = await presigned()
  other.query = other.query.replace('X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Algorithm=AWS4-HMAC-SHA1')
  t.is(((await t.throwsAsync(authenticate(other, opts))) as any).code, 'AuthorizationQueryParametersError')
})

test('presigned tampered → SignatureDoesNotMatch; wrong region → AuthorizationQueryParametersError', async t => {
  const req = await presigned({ query: { 'response-content-type': 'text/plain' } })
  req.query = req.query.replace('text%2Fplain', 'text%2Fhtml')
  t.is(((await t.throwsAsync(authenticate(req, opts))) as any).code, 'SignatureDoesNotMatch')
  const ok = await presigned()
  const err = await t.throwsAsync(authenticate(ok, { ...opts, region: 'eu-central-1' }))
  t.is((err as any).code, 'AuthorizationQueryParametersError')
  t.regex(err!.message, /eu-central-1/)
})

test('parseQuery keeps repeated names and flag parameters', t => {
  t.deepEqual({ ...parseQuery('a=1&a=2&acl&b=x%20y') }, { a: ['1', '2'], acl: '', b: 'x y' })
})

// ---- the real AWS SDK ------------------------------------------------------------------

function sdkClient (captured: Captured[]): S3Client {
  return captureClient(captured, { accessKeyId: AK, secretAccessKey: SK, region: REGION })
}

function signingTime (req: S3Request): Date {
  return amzDate(req.headers['x-amz-date'])
}

test('AWS SDK PutObject (string body, keys needing encoding) verifies', async t => {
  const captured: Captured[] = []
  const client = sdkClient(captured)
  await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'dir/a b+c~d(é).txt', Body: 'hello world', Metadata: { color: 'blue' } }))
  const req = toS3Request(captured[0].request, captured[0].body)
  t.is(req.path, '/s3/bucket/dir/a%20b%2Bc~d%28%C3%A9%29.txt')
  const ctx = await authenticate(req, { ...opts, now: signingTime(req) })
  t.false(ctx.anonymous)
  t.is(ctx.payloadMode, 'SHA256')
})

test('AWS SDK PutObject with a stream (unsigned payload trailer) and ListObjectsV2 verify', async t => {
  const captured: Captured[] = []
  const client = sdkClient(captured)
  await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'k', Body: Readable.from([Buffer.from('hello')]), ContentLength: 5 }))
  await client.send(new ListObjectsV2Command({ Bucket: 'bucket', Prefix: 'a/b c', Delimiter: '/' }))
  const put = toS3Request(captured[0].request, captured[0].body)
  const ctx = await authenticate(put, { ...opts, now: signingTime(put) })
  t.is(ctx.payloadMode, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER')
  const list = toS3Request(captured[1].request)
  t.false((await authenticate(list, { ...opts, now: signingTime(list) })).anonymous)
})

test('AWS SDK presigned GET and PUT verify', async t => {
  const client = sdkClient([])
  for (const command of [new GetObjectCommand({ Bucket: 'bucket', Key: 'a b/c', ResponseContentDisposition: 'attachment; filename="x y"' }), new PutObjectCommand({ Bucket: 'bucket', Key: 'a b/c' })]) {
    const url = new URL(await getSignedUrl(client, command, { expiresIn: 600 }))
    const req: S3Request = { method: command instanceof GetObjectCommand ? 'GET' : 'PUT', path: url.pathname, basePath: '/s3', query: url.search.slice(1), headers: { host: url.host }, body: (async function * () {})() }
    const now = amzDate(url.searchParams.get('X-Amz-Date')!)
    const ctx = await authenticate(req, { ...opts, now })
    t.true(ctx.presigned)
    t.is(ctx.payloadMode, 'UNSIGNED-PAYLOAD')
    t.is(((await t.throwsAsync(authenticate(req, { ...opts, now: new Date(now.getTime() + 601_000) }))) as any).code, 'AccessDenied')
  }
})
