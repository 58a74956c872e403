/**
 * Bucket CORS end to end: rules set with the SDK's PutBucketCors, then what a browser sends, with
 * fetch over loopback: OPTIONS preflights, and actual requests (presigned GET and PUT, a form POST)
 * carrying an Origin, on success and on error.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import {
  CreateBucketCommand, DeleteBucketCorsCommand, GetBucketCorsCommand, GetObjectCommand, PutBucketCorsCommand,
  PutObjectCommand, type CORSRule, type S3Client,
} from '@aws-sdk/client-s3'
import { createPresignedPost } from '@aws-sdk/s3-presigned-post'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { createGateway } from '../src/gateway.js'
import type { Gateway } from '../src/types.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { md5Hex, s3Client } from './helpers/s3.js'

const APP = 'https://app.example'
const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method'
const CORS_HEADERS = [
  'access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-allow-credentials',
  'access-control-expose-headers', 'access-control-max-age',
]

const RULES: CORSRule[] = [
  {
    ID: 'app',
    AllowedOrigins: [APP, 'https://*.app.example'],
    AllowedMethods: ['GET', 'PUT', 'POST', 'HEAD'],
    AllowedHeaders: ['Content-Type', 'x-amz-*'],
    ExposeHeaders: ['ETag', 'x-amz-meta-cid', 'x-amz-request-id'],
    MaxAgeSeconds: 600,
  },
  { ID: 'anyone-reads', AllowedOrigins: ['*'], AllowedMethods: ['GET'] },
]

const B = 'web-assets'
const PLAIN = 'no-cors'

let gateway: Gateway
let host: RunningHost
let s3: S3Client

test.before(async () => {
  gateway = createGateway()
  host = await nodeHost.start(gateway, '')
  s3 = s3Client(host.url)
  await s3.send(new CreateBucketCommand({ Bucket: B }))
  await s3.send(new CreateBucketCommand({ Bucket: PLAIN }))
  await s3.send(new PutBucketCorsCommand({ Bucket: B, CORSConfiguration: { CORSRules: RULES } }))
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'app.js', Body: 'console.log(1)', ContentType: 'text/javascript' }))
  await s3.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'app.js', Body: 'console.log(2)' }))
})

test.after.always(async () => {
  s3.destroy()
  await host.close()
  await gateway.close()
})

async function preflight (path: string, headers: Record<string, string>): Promise<Response> {
  return await fetch(`${host.url}${path}`, { method: 'OPTIONS', headers })
}

function corsHeaders (res: Response): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of [...CORS_HEADERS, 'vary']) {
    const value = res.headers.get(name)
    if (value !== null) out[name] = value
  }
  return out
}

async function forbidden (t: ExecutionContext, res: Response, what: string, message = /This CORS request is not allowed/): Promise<void> {
  const body = await res.text()
  t.is(res.status, 403, `${what}: ${body}`)
  t.regex(body, /<Code>AccessForbidden<\/Code>/, what)
  t.regex(body, message, what)
  t.is(res.headers.get('access-control-allow-origin'), null, `${what}: a denied preflight allows nothing`)
}

/** The CORS headers an actual request from APP gets under the first rule. */
const APP_HEADERS = {
  'access-control-allow-origin': APP,
  'access-control-allow-methods': 'GET, PUT, POST, HEAD',
  'access-control-allow-credentials': 'true',
  'access-control-expose-headers': 'ETag, x-amz-meta-cid, x-amz-request-id',
  'access-control-max-age': '600',
  vary: VARY,
}

// ---- preflight ----------------------------------------------------------------------------------

test.serial('the rules read back as set', async (t) => {
  const got = await s3.send(new GetBucketCorsCommand({ Bucket: B }))
  t.deepEqual(got.CORSRules, RULES)
})

test.serial('an allowed preflight answers 200 with the matching rule\'s headers, echoing the requested headers', async (t) => {
  const res = await preflight(`/${B}/uploads/photo.png`, {
    Origin: APP,
    'Access-Control-Request-Method': 'PUT',
    'Access-Control-Request-Headers': 'Content-Type, X-Amz-Date, x-amz-content-sha256',
  })
  t.is(res.status, 200, await res.clone().text())
  t.deepEqual(corsHeaders(res), {
    ...APP_HEADERS,
    'access-control-allow-headers': 'content-type, x-amz-date, x-amz-content-sha256',
  })
  t.is(await res.text(), '')

  const sub = await preflight(`/${B}`, { Origin: 'https://eu.app.example', 'Access-Control-Request-Method': 'POST' })
  t.is(sub.status, 200, 'a wildcard origin pattern; a preflight to the bucket itself (form POST)')
  t.is(sub.headers.get('access-control-allow-origin'), 'https://eu.app.example')
  t.is(sub.headers.get('access-control-allow-headers'), null, 'none requested, none answered')

  const anyone = await preflight(`/${B}/app.js`, { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'GET' })
  t.is(anyone.status, 200)
  t.deepEqual(corsHeaders(anyone), { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET', vary: VARY }, 'a "*" rule: no credentials')
})

// A preflight is sent to the URL of the request that follows: a presigned URL's signature is not
// the preflight's, and a subresource in the query is the following request's.
test.serial('a browser preflights the presigned URL itself: its X-Amz-* query does not get in the way', async (t) => {
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: B, Key: 'uploads/presigned.txt' }), { expiresIn: 300 })
  const res = await fetch(putUrl, { method: 'OPTIONS', headers: { Origin: APP, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type' } })
  t.is(res.status, 200, await res.text())
  t.is(res.headers.get('access-control-allow-origin'), APP)
})

test.serial('a preflight for a multipart upload part or DeleteObjects (subresource in the query) is answered from the rules', async (t) => {
  const part = await preflight(`/${B}/big.bin?partNumber=1&uploadId=abc`, { Origin: APP, 'Access-Control-Request-Method': 'PUT' })
  t.is(part.status, 200, await part.text())
  const create = await preflight(`/${B}/big.bin?uploads`, { Origin: APP, 'Access-Control-Request-Method': 'POST' })
  t.is(create.status, 200, await create.text())
  const many = await preflight(`/${B}?delete`, { Origin: APP, 'Access-Control-Request-Method': 'POST' })
  t.is(many.status, 200, await many.text())
})

test.serial('a preflight is refused (403 AccessForbidden) for an origin, method or header no rule allows', async (t) => {
  await forbidden(t, await preflight(`/${B}/x`, { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'PUT' }), 'origin not allowed to PUT')
  await forbidden(t, await preflight(`/${B}/x`, { Origin: APP, 'Access-Control-Request-Method': 'DELETE' }), 'method not allowed')
  await forbidden(t, await preflight(`/${B}/x`, { Origin: APP, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'content-type, x-custom' }), 'header not allowed')
  await forbidden(t, await preflight(`/${B}/x`, { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' }), 'the "*" rule allows no headers')
  await forbidden(t, await preflight(`/${B}/x`, { Origin: 'https://app.example.evil', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-amz-date' }), 'origins match whole')
})

test.serial('a preflight to a bucket without CORS, or to a missing bucket, is 403; one without Origin is 400', async (t) => {
  await forbidden(t, await preflight(`/${PLAIN}/app.js`, { Origin: APP, 'Access-Control-Request-Method': 'GET' }), 'no CORS', /CORS is not enabled for this bucket/)
  await forbidden(t, await preflight('/no-such-bucket/app.js', { Origin: APP, 'Access-Control-Request-Method': 'GET' }), 'missing bucket', /CORS is not enabled for this bucket/)
  const noOrigin = await preflight(`/${B}/app.js`, { 'Access-Control-Request-Method': 'GET' })
  t.is(noOrigin.status, 400)
  t.regex(await noOrigin.text(), /<Code>BadRequest<\/Code>/)
  const noMethod = await preflight(`/${B}/app.js`, { Origin: APP })
  t.is(noMethod.status, 400)
})

// ---- actual requests ----------------------------------------------------------------------------

test.serial('a presigned GET and PUT from an allowed origin get Allow-Origin and Expose-Headers; the browser can read ETag and the CID', async (t) => {
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'app.js' }), { expiresIn: 300 })
  const got = await fetch(getUrl, { headers: { Origin: APP } })
  t.is(got.status, 200)
  t.is(await got.text(), 'console.log(1)')
  t.deepEqual(corsHeaders(got), APP_HEADERS)
  t.truthy(got.headers.get('etag'))
  t.truthy(got.headers.get('x-amz-meta-cid'))

  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: B, Key: 'uploads/from-browser.txt' }), { expiresIn: 300 })
  const put = await fetch(putUrl, { method: 'PUT', body: 'from the browser', headers: { Origin: 'https://eu.app.example' } })
  t.is(put.status, 200, await put.clone().text())
  t.deepEqual(corsHeaders(put), { ...APP_HEADERS, 'access-control-allow-origin': 'https://eu.app.example' })
  t.is(put.headers.get('etag'), `"${md5Hex('from the browser')}"`)

  const anyone = await fetch(`${host.url}/${B}/app.js`, { headers: { Origin: 'https://elsewhere.example' } })
  t.is(anyone.status, 403, 'CORS does not grant access: the object is private')
  t.deepEqual(corsHeaders(anyone), { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET', vary: VARY }, 'but the error is readable by the page')
})

test.serial('error responses carry the CORS headers too: 404 NoSuchKey, 403 on an expired presigned URL, 403 on a bad signature', async (t) => {
  const missing = await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'missing.js' }), { expiresIn: 300 })
  const notFound = await fetch(missing, { headers: { Origin: APP } })
  t.is(notFound.status, 404)
  t.regex(await notFound.text(), /<Code>NoSuchKey<\/Code>/)
  t.deepEqual(corsHeaders(notFound), APP_HEADERS)

  const expiredUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'app.js' }), { expiresIn: 60, signingDate: new Date(Date.now() - 3600_000) })
  const expired = await fetch(expiredUrl, { headers: { Origin: APP } })
  t.is(expired.status, 403)
  t.regex(await expired.text(), /<Code>AccessDenied<\/Code>/)
  t.deepEqual(corsHeaders(expired), APP_HEADERS)

  const badUrl = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'app.js' }), { expiresIn: 300 }))
  badUrl.searchParams.set('X-Amz-Signature', '0'.repeat(64))
  const bad = await fetch(badUrl, { headers: { Origin: APP } })
  t.is(bad.status, 403)
  t.regex(await bad.text(), /<Code>SignatureDoesNotMatch<\/Code>/)
  t.deepEqual(corsHeaders(bad), APP_HEADERS)

  const head = await fetch(await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'missing.js' }), { expiresIn: 300 }), { method: 'HEAD', headers: { Origin: APP } })
  t.is(head.status, 403, 'a GET URL does not sign a HEAD')
  t.deepEqual(corsHeaders(head), APP_HEADERS, 'HEAD errors too')
})

test.serial('no Origin, an origin no rule allows, or a bucket without CORS: no CORS headers', async (t) => {
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'app.js' }), { expiresIn: 300 })
  const plain = await fetch(url)
  t.is(plain.status, 200)
  t.deepEqual(corsHeaders(plain), {})
  const other = await fetch(url, { headers: { Origin: 'null' } })
  t.is(other.status, 200)
  t.deepEqual(corsHeaders(other), { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET', vary: VARY }, '"null" is an origin like any other for "*"')

  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: B, Key: 'evil.txt' }), { expiresIn: 300 })
  const evil = await fetch(putUrl, { method: 'PUT', body: 'x', headers: { Origin: 'https://evil.example' } })
  t.is(evil.status, 200, 'CORS is for browsers: the request itself is not refused')
  t.deepEqual(corsHeaders(evil), {})

  const noCors = await fetch(await getSignedUrl(s3, new GetObjectCommand({ Bucket: PLAIN, Key: 'app.js' }), { expiresIn: 300 }), { headers: { Origin: APP } })
  t.is(noCors.status, 200)
  t.deepEqual(corsHeaders(noCors), {})
  const noBucket = await fetch(`${host.url}/no-such-bucket/x`, { headers: { Origin: APP } })
  t.is(noBucket.status, 404)
  t.deepEqual(corsHeaders(noBucket), {})
  const service = await fetch(`${host.url}/`, { headers: { Origin: APP } })
  t.deepEqual(corsHeaders(service), {}, 'ListBuckets belongs to no bucket')
})

test.serial('a form POST from an allowed origin gets the CORS headers, on success and on error', async (t) => {
  const { url, fields } = await createPresignedPost(s3, { Bucket: B, Key: 'forms/${filename}', Expires: 300 })
  const form = new FormData()
  for (const [name, value] of Object.entries(fields)) form.append(name, value)
  form.append('file', new Blob(['posted']), 'posted.txt')
  const res = await fetch(url, { method: 'POST', body: form, headers: { Origin: APP } })
  t.is(res.status, 204, await res.text())
  t.deepEqual(corsHeaders(res), APP_HEADERS)
  t.is(res.headers.get('etag'), `"${md5Hex('posted')}"`)

  const noFile = new FormData()
  for (const [name, value] of Object.entries(fields)) noFile.append(name, value)
  const failed = await fetch(url, { method: 'POST', body: noFile, headers: { Origin: APP } })
  t.is(failed.status, 400)
  t.regex(await failed.text(), /<Code>InvalidArgument<\/Code>/)
  t.deepEqual(corsHeaders(failed), APP_HEADERS)

  const notForm = await fetch(url, { method: 'POST', body: 'x', headers: { Origin: APP, 'content-type': 'text/plain' } })
  t.is(notForm.status, 412)
  t.deepEqual(corsHeaders(notForm), APP_HEADERS)
})

test.serial('the CORS rules take effect at once when changed, and are gone after DeleteBucketCors', async (t) => {
  await s3.send(new PutBucketCorsCommand({ Bucket: B, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['https://new.example'], AllowedMethods: ['GET'] }] } }))
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'app.js' }), { expiresIn: 300 })
  t.deepEqual(corsHeaders(await fetch(url, { headers: { Origin: APP } })), {}, 'the old rule is gone')
  const fresh = await fetch(url, { headers: { Origin: 'https://new.example' } })
  t.is(fresh.headers.get('access-control-allow-origin'), 'https://new.example')
  t.is((await preflight(`/${B}/app.js`, { Origin: 'https://new.example', 'Access-Control-Request-Method': 'GET' })).status, 200)

  await s3.send(new DeleteBucketCorsCommand({ Bucket: B }))
  const after = await fetch(url, { headers: { Origin: 'https://new.example' } })
  t.is(after.status, 200)
  t.deepEqual(corsHeaders(after), {})
  const notFound = await fetch(await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'missing' }), { expiresIn: 300 }), { headers: { Origin: 'https://new.example' } })
  t.is(notFound.status, 404)
  t.deepEqual(corsHeaders(notFound), {})
  await forbidden(t, await preflight(`/${B}/app.js`, { Origin: 'https://new.example', 'Access-Control-Request-Method': 'GET' }), 'after DeleteBucketCors', /CORS is not enabled for this bucket/)
})
