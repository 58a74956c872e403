import test from 'ava'
import { Readable } from 'node:stream'
import { createHash, createHmac } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'
import { HttpRequest } from '@smithy/protocol-http'
import { type S3Client, PutObjectCommand } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { authenticate, type AuthContext, type SigningContext } from '../src/auth/sigv4.js'
import { toCredentialProvider } from '../src/auth/credentials.js'
import { openPayload, readSmallBody, type Payload } from '../src/protocol/payload.js'
import { storedContentEncoding } from '../src/protocol/headers.js'
import type { S3Request } from '../src/types.js'
import { amzDate, captureClient, toS3Request, type Captured } from './helpers/sdk-capture.js'
import { Sha256 } from './helpers/sign.js'

const AK = 'AKIDEXAMPLE'
const SK = 'payload-test-secret'
const REGION = 'us-east-1'
const credentials = toCredentialProvider({ [AK]: SK })
const HELLO = 'hello world'
const HELLO_MD5 = '5eb63bbbe01eeed093cb22bb8f5acdc3'
const HELLO_CRC32 = 'DUoRhQ=='
const EMPTY = createHash('sha256').update('').digest('hex')
const anonymous: AuthContext = { anonymous: true, payloadMode: 'NONE' }
const MAX = 5 * 1024 * 1024 * 1024

async function * pieces (data: Uint8Array | string, size = 1 << 30): AsyncGenerator<Uint8Array> {
  const buf = Buffer.from(data as any)
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size)
}

function request (headers: Record<string, string>, body: Uint8Array | string = HELLO, query = ''): S3Request {
  return { method: 'PUT', path: '/b/k', basePath: '', query, headers: { host: 'localhost', ...headers }, body: pieces(body, 4) }
}

async function drain (payload: Payload): Promise<Buffer> {
  const out: Buffer[] = []
  for await (const p of payload) out.push(Buffer.from(p))
  return Buffer.concat(out)
}

async function failure (fn: () => Payload | Promise<unknown>): Promise<string | undefined> {
  try {
    const r = await fn()
    if (r != null && typeof r === 'object' && Symbol.asyncIterator in r) await drain(r as Payload)
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

// ---- plain bodies -------------------------------------------------------------------------

test('plain body: bytes, size and MD5', async t => {
  const p = openPayload(request({ 'content-length': '11' }), anonymous, { maxSize: MAX })
  t.throws(() => p.digests())
  t.is((await drain(p)).toString(), HELLO)
  t.deepEqual(p.digests(), { size: 11, md5: HELLO_MD5 })
})

test('Content-MD5: correct passes, wrong → BadDigest, malformed → InvalidDigest', async t => {
  const good = Buffer.from(HELLO_MD5, 'hex').toString('base64')
  const p = openPayload(request({ 'content-md5': good }), anonymous, { maxSize: MAX })
  await drain(p)
  t.is(p.digests().md5, HELLO_MD5)
  const wrong = createHash('md5').update('other').digest('base64')
  t.is(await failure(() => openPayload(request({ 'content-md5': wrong }), anonymous, { maxSize: MAX })), 'BadDigest')
  t.is(await failure(() => openPayload(request({ 'content-md5': 'abc' }), anonymous, { maxSize: MAX })), 'InvalidDigest')
  t.is(await failure(() => openPayload(request({ 'content-md5': HELLO_MD5 }), anonymous, { maxSize: MAX })), 'InvalidDigest')
})

test('the error comes from the final next(), after all bytes, before done', async t => {
  const wrong = createHash('md5').update('other').digest('base64')
  const it = openPayload(request({ 'content-md5': wrong }), anonymous, { maxSize: MAX })[Symbol.asyncIterator]()
  let bytes = 0
  while (true) {
    try {
      const r = await it.next()
      t.false(r.done, 'must not report done')
      if (r.done === true) return
      bytes += r.value.length
    } catch (err) {
      t.is((err as any).code, 'BadDigest')
      break
    }
  }
  t.is(bytes, 11)
})

test('x-amz-checksum-* header: match; mismatch or a malformed value → BadDigest; two algorithms → InvalidRequest', async t => {
  const p = openPayload(request({ 'x-amz-checksum-crc32': HELLO_CRC32 }), anonymous, { maxSize: MAX })
  await drain(p)
  t.deepEqual(p.digests().checksum, { algorithm: 'CRC32', value: HELLO_CRC32 })

  const sha = createHash('sha256').update('other').digest('base64')
  const err = await t.throwsAsync(drain(openPayload(request({ 'x-amz-checksum-sha256': sha }), anonymous, { maxSize: MAX })))
  t.is((err as any).code, 'BadDigest')
  t.is(err!.message, 'The SHA256 you specified did not match the calculated checksum.')

  // A value that is no digest of the algorithm's size cannot match: BadDigest too, as Ceph RGW answers.
  t.is(await failure(() => openPayload(request({ 'x-amz-checksum-crc32': 'nope' }), anonymous, { maxSize: MAX })), 'BadDigest')
  t.is(await failure(() => openPayload(request({ 'x-amz-checksum-crc64nvme': HELLO_CRC32 }), anonymous, { maxSize: MAX })), 'BadDigest')
  t.is(await failure(() => openPayload(request({ 'x-amz-checksum-sha256': 'ABCD' }), anonymous, { maxSize: MAX })), 'BadDigest')
  t.is(await failure(() => openPayload(request({ 'x-amz-checksum-crc32': HELLO_CRC32, 'x-amz-checksum-crc32c': HELLO_CRC32 }), anonymous, { maxSize: MAX })), 'InvalidRequest')
})

test('every algorithm in a header verifies', async t => {
  const values: Record<string, string> = {
    crc32: HELLO_CRC32,
    crc32c: Buffer.from('c99465aa', 'hex').toString('base64'),
    sha1: createHash('sha1').update(HELLO).digest('base64'),
    sha256: createHash('sha256').update(HELLO).digest('base64')
  }
  for (const [alg, value] of Object.entries(values)) {
    const p = openPayload(request({ [`x-amz-checksum-${alg}`]: value }), anonymous, { maxSize: MAX })
    await drain(p)
    t.is(p.digests().checksum?.value, value, alg)
  }
})

test('x-amz-sdk-checksum-algorithm without a value: computed for storage', async t => {
  const p = openPayload(request({ 'x-amz-sdk-checksum-algorithm': 'CRC64NVME' }), anonymous, { maxSize: MAX })
  await drain(p)
  t.is(p.digests().checksum?.algorithm, 'CRC64NVME')
  t.is(await failure(() => openPayload(request({ 'x-amz-sdk-checksum-algorithm': 'MD4' }), anonymous, { maxSize: MAX })), 'InvalidRequest')
  t.is(await failure(() => openPayload(request({ 'x-amz-sdk-checksum-algorithm': 'SHA1', 'x-amz-checksum-crc32': HELLO_CRC32 }), anonymous, { maxSize: MAX })), 'InvalidRequest')
})

test('Content-Length mismatch → IncompleteBody', async t => {
  t.is(await failure(() => openPayload(request({ 'content-length': '12' }), anonymous, { maxSize: MAX })), 'IncompleteBody')
  t.is(await failure(() => openPayload(request({ 'content-length': '10' }), anonymous, { maxSize: MAX })), 'IncompleteBody')
})

test('claimed SHA-256: match passes, mismatch → XAmzContentSHA256Mismatch', async t => {
  const good = createHash('sha256').update(HELLO).digest('hex')
  await drain(openPayload(request({}), { anonymous: true, payloadMode: 'SHA256', payloadSha256: good }, { maxSize: MAX }))
  t.is(await failure(() => openPayload(request({}), { anonymous: true, payloadMode: 'SHA256', payloadSha256: EMPTY }, { maxSize: MAX })), 'XAmzContentSHA256Mismatch')
})

test('over maxSize → EntityTooLarge: declared at open, streamed as soon as exceeded', async t => {
  t.is(await failure(() => openPayload(request({ 'content-length': '11' }), anonymous, { maxSize: 10 })), 'EntityTooLarge')
  let pulled = 0
  async function * endless (): AsyncGenerator<Uint8Array> { while (true) { pulled++; yield Buffer.alloc(1024) } }
  const req: S3Request = { ...request({}), body: endless() }
  t.is(await failure(() => openPayload(req, anonymous, { maxSize: 10_000 })), 'EntityTooLarge')
  t.true(pulled <= 10)
})

test('readSmallBody: under the limit, and over → MaxMessageLengthExceeded', async t => {
  t.is(Buffer.from(await readSmallBody(openPayload(request({}), anonymous, { maxSize: MAX }), 100)).toString(), HELLO)
  const err = await t.throwsAsync(readSmallBody(openPayload(request({}), anonymous, { maxSize: MAX }), 5))
  t.is((err as any).code, 'MaxMessageLengthExceeded')
})

test('a payload is read only once', async t => {
  const p = openPayload(request({}), anonymous, { maxSize: MAX })
  await drain(p)
  await t.throwsAsync(drain(p))
})

test('storedContentEncoding drops aws-chunked', t => {
  t.is(storedContentEncoding('aws-chunked'), undefined)
  t.is(storedContentEncoding('aws-chunked,gzip'), 'gzip')
  t.is(storedContentEncoding('gzip'), 'gzip')
  t.is(storedContentEncoding(undefined), undefined)
})

// ---- aws-chunked bodies (hand-built) --------------------------------------------------------

const unsignedTrailerAuth: AuthContext = { anonymous: false, payloadMode: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }
const trailerHeaders = { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '11', 'x-amz-trailer': 'x-amz-checksum-crc32' }

test('unsigned trailer: checksum verified', async t => {
  const p = openPayload(request(trailerHeaders, `6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:${HELLO_CRC32}\r\n\r\n`), unsignedTrailerAuth, { maxSize: MAX })
  t.is((await drain(p)).toString(), HELLO)
  t.deepEqual(p.digests(), { size: 11, md5: HELLO_MD5, checksum: { algorithm: 'CRC32', value: HELLO_CRC32 } })
})

test('unsigned trailer: wrong or malformed checksum → BadDigest; missing → InvalidRequest', async t => {
  const body = (v: string): string => `b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:${v}\r\n\r\n`
  const err = await t.throwsAsync(drain(openPayload(request(trailerHeaders, body('AAAAAA==')), unsignedTrailerAuth, { maxSize: MAX })))
  t.is((err as any).code, 'BadDigest')
  t.is(err!.message, 'The CRC32 you specified did not match the calculated checksum.')
  t.is(await failure(() => openPayload(request(trailerHeaders, body('zz')), unsignedTrailerAuth, { maxSize: MAX })), 'BadDigest')
  t.is(await failure(() => openPayload(request(trailerHeaders, 'b\r\nhello world\r\n0\r\n\r\n'), unsignedTrailerAuth, { maxSize: MAX })), 'InvalidRequest')
})

test('x-amz-decoded-content-length mismatch → IncompleteBody', async t => {
  const h = { ...trailerHeaders, 'x-amz-decoded-content-length': '12' }
  t.is(await failure(() => openPayload(request(h, `b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:${HELLO_CRC32}\r\n\r\n`), unsignedTrailerAuth, { maxSize: MAX })), 'IncompleteBody')
  const short = { ...trailerHeaders, 'x-amz-decoded-content-length': '5' }
  t.is(await failure(() => openPayload(request(short, `b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:${HELLO_CRC32}\r\n\r\n`), unsignedTrailerAuth, { maxSize: MAX })), 'IncompleteBody')
})

test('broken framing surfaces through the payload', async t => {
  t.is(await failure(() => openPayload(request(trailerHeaders, 'b\r\nhello world'), unsignedTrailerAuth, { maxSize: MAX })), 'IncompleteBody')
  t.is(await failure(() => openPayload(request(trailerHeaders, 'q\r\nhello world\r\n0\r\n\r\n'), unsignedTrailerAuth, { maxSize: MAX })), 'InvalidRequest')
})

test('content-encoding: aws-chunked alone selects chunked decoding', async t => {
  const p = openPayload(request({ 'content-encoding': 'aws-chunked' }, 'b\r\nhello world\r\n0\r\n\r\n'), { anonymous: false, payloadMode: 'UNSIGNED-PAYLOAD' }, { maxSize: MAX })
  t.is((await drain(p)).toString(), HELLO)
})

// ---- signed requests: smithy signer + independent chunk encoder ------------------------------

const NOW = new Date('2025-06-01T12:00:00Z')

async function signedRequest (headers: Record<string, string>): Promise<S3Request> {
  const signer = new SignatureV4({ service: 's3', region: REGION, credentials: { accessKeyId: AK, secretAccessKey: SK }, sha256: Sha256, uriEscapePath: false })
  const out = await signer.sign(new HttpRequest({ method: 'PUT', protocol: 'http:', hostname: 'localhost', path: '/b/k', headers: { host: 'localhost', ...headers } }), { signingDate: NOW })
  return { method: 'PUT', path: '/b/k', basePath: '', query: '', headers: Object.fromEntries(Object.entries(out.headers).map(([k, v]) => [k.toLowerCase(), v])), body: pieces('') }
}

function hmac (key: Uint8Array, s: string): string { return createHmac('sha256', key).update(s).digest('hex') }
function sha (s: string | Uint8Array): string { return createHash('sha256').update(s).digest('hex') }

function encodeSigned (chunks: string[], s: SigningContext, trailer?: Array<[string, string]>): string {
  let prev = s.seedSignature
  let out = ''
  for (const c of [...chunks, '']) {
    const sig = hmac(s.signingKey, ['AWS4-HMAC-SHA256-PAYLOAD', s.amzDate, s.scope, prev, EMPTY, sha(c)].join('\n'))
    out += `${Buffer.byteLength(c).toString(16)};chunk-signature=${sig}\r\n` + (c !== '' ? `${c}\r\n` : '')
    prev = sig
  }
  if (trailer != null) {
    const canonical = trailer.map(([k, v]) => `${k}:${v}\n`).join('')
    const sig = hmac(s.signingKey, ['AWS4-HMAC-SHA256-TRAILER', s.amzDate, s.scope, prev, sha(canonical)].join('\n'))
    out += trailer.map(([k, v]) => `${k}:${v}\r\n`).join('') + `x-amz-trailer-signature:${sig}\r\n`
  }
  return out + '\r\n'
}

test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD end to end; wrong chunk signature → SignatureDoesNotMatch', async t => {
  const req = await signedRequest({ 'content-encoding': 'aws-chunked', 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'x-amz-decoded-content-length': '11' })
  const auth = await authenticate(req, { credentials, region: REGION, now: NOW })
  const body = encodeSigned(['hello ', 'world'], auth.signing!)
  const p = openPayload({ ...req, body: pieces(body, 5) }, auth, { maxSize: MAX })
  t.is((await drain(p)).toString(), HELLO)
  t.is(p.digests().md5, HELLO_MD5)

  const bad = encodeSigned(['hello ', 'world'], { ...auth.signing!, seedSignature: 'b'.repeat(64) })
  t.is(await failure(() => openPayload({ ...req, body: pieces(bad) }, auth, { maxSize: MAX })), 'SignatureDoesNotMatch')
})

test('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed trailer checksum; wrong checksum → BadDigest', async t => {
  const req = await signedRequest({ 'content-encoding': 'aws-chunked', 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'x-amz-decoded-content-length': '11', 'x-amz-trailer': 'x-amz-checksum-crc32c' })
  const auth = await authenticate(req, { credentials, region: REGION, now: NOW })
  const crc32c = Buffer.from('c99465aa', 'hex').toString('base64')
  const p = openPayload({ ...req, body: pieces(encodeSigned([HELLO], auth.signing!, [['x-amz-checksum-crc32c', crc32c]]), 3) }, auth, { maxSize: MAX })
  t.is((await drain(p)).toString(), HELLO)
  t.deepEqual(p.digests().checksum, { algorithm: 'CRC32C', value: crc32c })

  const wrong = encodeSigned([HELLO], auth.signing!, [['x-amz-checksum-crc32c', 'AAAAAA==']])
  t.is(await failure(() => openPayload({ ...req, body: pieces(wrong) }, auth, { maxSize: MAX })), 'BadDigest')
  const forged = encodeSigned([HELLO], auth.signing!, [['x-amz-checksum-crc32c', 'AAAAAA==']]).replace('AAAAAA==', crc32c)
  t.is(await failure(() => openPayload({ ...req, body: pieces(forged) }, auth, { maxSize: MAX })), 'SignatureDoesNotMatch')
})

test('signed header request with a wrong payload hash → XAmzContentSHA256Mismatch', async t => {
  const req = await signedRequest({ 'x-amz-content-sha256': sha('something else') })
  const auth = await authenticate(req, { credentials, region: REGION, now: NOW })
  t.is(await failure(() => openPayload({ ...req, body: pieces(HELLO) }, auth, { maxSize: MAX })), 'XAmzContentSHA256Mismatch')
})

// ---- the real AWS SDK -------------------------------------------------------------------------

function sdkClient (captured: Captured[]): S3Client {
  return captureClient(captured, { accessKeyId: AK, secretAccessKey: SK, region: REGION, etag: HELLO_MD5 })
}

function fromCaptured ({ request, body }: Captured, pieceSize = 7): S3Request {
  return toS3Request(request, body, { pieceSize })
}

test('AWS SDK PutObject, string body (SHA-256 + CRC32 header)', async t => {
  const captured: Captured[] = []
  await sdkClient(captured).send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: HELLO }))
  const req = fromCaptured(captured[0])
  const auth = await authenticate(req, { credentials, region: REGION, now: amzDate(req.headers['x-amz-date']) })
  const p = openPayload(req, auth, { maxSize: MAX })
  t.is((await drain(p)).toString(), HELLO)
  t.deepEqual(p.digests(), { size: 11, md5: HELLO_MD5, checksum: { algorithm: 'CRC32', value: HELLO_CRC32 } })
})

test('AWS SDK PutObject, stream body (STREAMING-UNSIGNED-PAYLOAD-TRAILER + CRC32 trailer)', async t => {
  const captured: Captured[] = []
  const data = Buffer.alloc(300_000)
  for (let i = 0; i < data.length; i++) data[i] = i % 251
  await sdkClient(captured).send(new PutObjectCommand({ Bucket: 'b', Key: 'big key', Body: Readable.from([data.subarray(0, 100_000), data.subarray(100_000)]), ContentLength: data.length }))
  const req = fromCaptured(captured[0], 8192)
  t.is(req.headers['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER')
  const auth = await authenticate(req, { credentials, region: REGION, now: amzDate(req.headers['x-amz-date']) })
  const p = openPayload(req, auth, { maxSize: MAX })
  t.true((await drain(p)).equals(data))
  t.is(p.digests().md5, createHash('md5').update(data).digest('hex'))
  t.is(p.digests().checksum?.algorithm, 'CRC32')

  // The same request with the trailer value altered.
  const tampered = { ...captured[0], body: Buffer.from(captured[0].body.toString('latin1').replace(/x-amz-checksum-crc32:[^\r]+/, 'x-amz-checksum-crc32:AAAAAA=='), 'latin1') }
  t.is(await failure(() => openPayload(fromCaptured(tampered), auth, { maxSize: MAX })), 'BadDigest')
})

test('AWS SDK presigned PUT (query carries the CRC32 of an empty body) accepts a real upload', async t => {
  const url = new URL(await getSignedUrl(sdkClient([]), new PutObjectCommand({ Bucket: 'b', Key: 'k' }), { expiresIn: 600 }))
  t.regex(url.search, /x-amz-checksum-crc32=AAAAAA%3D%3D/)
  const req: S3Request = { method: 'PUT', path: url.pathname, basePath: '/s3', query: url.search.slice(1), headers: { host: url.host, 'content-length': '11' }, body: pieces(HELLO) }
  const auth = await authenticate(req, { credentials, region: REGION, now: amzDate(url.searchParams.get('X-Amz-Date')!) })
  const p = openPayload(req, auth, { maxSize: MAX })
  t.is((await drain(p)).toString(), HELLO)
  t.deepEqual(p.digests().checksum, { algorithm: 'CRC32', value: HELLO_CRC32 })
})
