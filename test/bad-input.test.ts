/**
 * What a client library cannot send: hand-built bad requests. Each gets its S3 error and status,
 * changes no stored data, and the server keeps serving.
 */
import { connect } from 'node:net'
import { once } from 'node:events'
import test from 'ava'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import type { Gateway } from '../src/types.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { credentials, md5Hex, s3Client } from './helpers/s3.js'
import { sha256Hex, signedChunkedBody, signedFetch, signHeaders, signingKey } from './helpers/sign.js'

const BUCKET = 'bad-input'
const ORIGINAL = 'the original bytes'
let host: RunningHost
let gateway: Gateway
let s3: S3Client
let url: string

test.before(async () => {
  gateway = createGateway({ metadata: new MemoryMetadataStore(), maxObjectSize: 1024 * 1024 })
  host = await nodeHost.start(gateway, '/s3')
  url = `${host.url}/${BUCKET}`
  s3 = s3Client(host.url)
  const res = await signedFetch({ method: 'PUT', url })
  if (res.status !== 200) throw new Error(`setup failed: ${res.status}`)
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'victim', Body: ORIGINAL }))
})

test.after.always(async () => {
  s3?.destroy()
  await host?.close()
  await gateway?.close()
})

/** The bucket still holds exactly the victim object with its original bytes. */
async function assertUnchanged (t: import('ava').ExecutionContext): Promise<void> {
  const list = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))
  t.deepEqual(list.Contents?.map(c => c.Key), ['victim'])
  const get = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'victim' }))
  t.is(await get.Body?.transformToString(), ORIGINAL)
  t.is(get.ETag, `"${md5Hex(ORIGINAL)}"`)
}

async function expectError (t: import('ava').ExecutionContext, res: Response, status: number, code: string): Promise<void> {
  const text = await res.text()
  t.is(res.status, status, text)
  t.regex(text, new RegExp(`<Code>${code}</Code>`), text)
  t.regex(text, /<RequestId>[^<]+<\/RequestId>/)
}

test.serial('wrong secret: SignatureDoesNotMatch', async t => {
  const res = await signedFetch({ method: 'PUT', url: `${url}/victim`, body: 'evil', secretAccessKey: 'wrong' })
  await expectError(t, res, 403, 'SignatureDoesNotMatch')
  await assertUnchanged(t)
})

test.serial('unknown access key: InvalidAccessKeyId', async t => {
  const res = await signedFetch({ method: 'PUT', url: `${url}/victim`, body: 'evil', accessKeyId: 'NOSUCHKEY' })
  await expectError(t, res, 403, 'InvalidAccessKeyId')
  await assertUnchanged(t)
})

test.serial('tampered signed header: SignatureDoesNotMatch', async t => {
  const headers = await signHeaders({ method: 'PUT', url: `${url}/victim`, body: 'evil', headers: { 'x-amz-meta-a': '1' } })
  delete headers.host
  headers['x-amz-meta-a'] = '2'
  const res = await fetch(`${url}/victim`, { method: 'PUT', headers, body: 'evil' })
  await expectError(t, res, 403, 'SignatureDoesNotMatch')
  await assertUnchanged(t)
})

test.serial('clock skew over 15 minutes: RequestTimeTooSkewed', async t => {
  const res = await signedFetch({ method: 'PUT', url: `${url}/victim`, body: 'evil', signingDate: new Date(Date.now() - 16 * 60_000) })
  await expectError(t, res, 403, 'RequestTimeTooSkewed')
  await assertUnchanged(t)
})

test.serial('expired presigned URL: AccessDenied', async t => {
  const signed = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: 'victim' }), { expiresIn: 1, signingDate: new Date(Date.now() - 10_000) })
  await expectError(t, await fetch(signed), 403, 'AccessDenied')
  const tooLong = await getSignedUrl(s3, new GetObjectCommand({ Bucket: BUCKET, Key: 'victim' }), { expiresIn: 604800 })
  t.is((await fetch(tooLong)).status, 200)
})

test.serial('no credentials at all: AccessDenied', async t => {
  await expectError(t, await fetch(`${url}/victim`, { method: 'PUT', body: 'evil' }), 403, 'AccessDenied')
  await assertUnchanged(t)
})

test.serial('payload hash that does not match the body: XAmzContentSHA256Mismatch', async t => {
  const res = await signedFetch({ method: 'PUT', url: `${url}/victim`, body: 'evil', payloadHash: sha256Hex('something else') })
  await expectError(t, res, 400, 'XAmzContentSHA256Mismatch')
  await assertUnchanged(t)
})

test.serial('wrong Content-MD5: BadDigest; malformed Content-MD5: InvalidDigest', async t => {
  const bad = await signedFetch({ method: 'PUT', url: `${url}/victim`, body: 'evil', headers: { 'content-md5': Buffer.from(md5Hex('other'), 'hex').toString('base64') } })
  await expectError(t, bad, 400, 'BadDigest')
  const malformed = await signedFetch({ method: 'PUT', url: `${url}/victim`, body: 'evil', headers: { 'content-md5': 'not-base64!' } })
  await expectError(t, malformed, 400, 'InvalidDigest')
  await assertUnchanged(t)
})

test.serial('wrong x-amz-checksum-crc32 header: BadDigest', async t => {
  const res = await signedFetch({ method: 'PUT', url: `${url}/victim`, body: 'evil', headers: { 'x-amz-checksum-crc32': 'AAAAAA==' } })
  await expectError(t, res, 400, 'BadDigest')
  await assertUnchanged(t)
})

function unsignedTrailerBody (data: string, trailer: string, chunkLine?: string): string {
  return `${chunkLine ?? Buffer.byteLength(data).toString(16)}\r\n${data}\r\n0\r\n${trailer}\r\n\r\n`
}

async function putUnsignedTrailer (body: string, decodedLength: number): Promise<Response> {
  return await signedFetch({
    method: 'PUT',
    url: `${url}/victim`,
    body,
    payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    headers: {
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(decodedLength),
      'x-amz-trailer': 'x-amz-checksum-crc32',
    },
  })
}

test.serial('wrong trailer checksum: BadDigest', async t => {
  const res = await putUnsignedTrailer(unsignedTrailerBody('evil', 'x-amz-checksum-crc32:AAAAAA=='), 4)
  await expectError(t, res, 400, 'BadDigest')
  await assertUnchanged(t)
})

test.serial('broken chunk framing is rejected', async t => {
  const cases = [
    unsignedTrailerBody('evil', 'x-amz-checksum-crc32:AAAAAA==', 'zz'), // not hex
    '4\r\nevilEXTRA\r\n0\r\n\r\n', // chunk longer than declared
    '4\r\nevil', // truncated
    '4\r\nevil\r\n0\r\n\r\ntrailing garbage', // bytes after the last chunk
  ]
  for (const body of cases) {
    const res = await putUnsignedTrailer(body, 4)
    const text = await res.text()
    t.true(res.status === 400, `${JSON.stringify(body)} → ${res.status} ${text}`)
    t.regex(text, /<Code>(InvalidRequest|IncompleteBody|BadDigest)<\/Code>/)
  }
  await assertUnchanged(t)
})

test.serial('wrong chunk signature: SignatureDoesNotMatch', async t => {
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  const date = amzDate.slice(0, 8)
  const chunks = [Buffer.alloc(70000, 1), Buffer.from('tail')]
  const decoded = chunks.reduce((n, c) => n + c.length, 0)
  const scope = `${date}/us-east-1/s3/aws4_request`
  const key = signingKey(credentials.secretAccessKey, date)
  for (const corrupt of [undefined, 1]) {
    // the seed signature depends on the headers only (the payload hash is the streaming marker)
    const headers = await signHeaders({
      method: 'PUT',
      url: `${url}/chunked`,
      payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(decoded) },
    })
    const seedSignature = /Signature=([0-9a-f]{64})/.exec(headers.authorization)?.[1] as string
    const body = signedChunkedBody(chunks, { seedSignature, amzDate: headers['x-amz-date'], scope, key, corrupt })
    delete headers.host
    const res = await fetch(`${url}/chunked`, { method: 'PUT', headers, body })
    if (corrupt === undefined) {
      t.is(res.status, 200, await res.text())
      await s3.send(new (await import('@aws-sdk/client-s3')).DeleteObjectCommand({ Bucket: BUCKET, Key: 'chunked' }))
    } else {
      await expectError(t, res, 403, 'SignatureDoesNotMatch')
    }
  }
  await assertUnchanged(t)
})

test.serial('malformed and DOCTYPE-bearing XML: MalformedXML, nothing deleted', async t => {
  const bodies = [
    '<Delete><Object><Key>victim</Key></Object>',
    '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "victim">]><Delete><Object><Key>&x;</Key></Object></Delete>',
    '<NotDelete><Object><Key>victim</Key></Object></NotDelete>',
    '',
  ]
  for (const body of bodies) {
    const res = await signedFetch({ method: 'POST', url: `${url}?delete`, body, headers: { 'content-md5': Buffer.from(md5Hex(body), 'hex').toString('base64') } })
    await expectError(t, res, 400, 'MalformedXML')
  }
  const tagging = await signedFetch({ method: 'PUT', url: `${url}/victim?tagging`, body: '<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>' })
  await expectError(t, tagging, 400, 'MalformedXML')
  await assertUnchanged(t)
})

test.serial('invalid ranges: 416 InvalidRange with the object size', async t => {
  for (const range of ['bytes=100-', 'bytes=-0']) {
    const res = await signedFetch({ method: 'GET', url: `${url}/victim`, headers: { range } })
    await expectError(t, res, 416, 'InvalidRange')
    t.is(res.headers.get('content-range'), `bytes */${ORIGINAL.length}`)
  }
})

test.serial('invalid bucket names: InvalidBucketName', async t => {
  for (const name of ['UPPER', 'a_b', '-start', 'end-', 'xn--punycode', 'a'.repeat(64), 'ip.1.2.3']) {
    const res = await signedFetch({ method: 'PUT', url: `${host.url}/${name}` })
    if (name === 'ip.1.2.3') {
      t.is(res.status, 200) // dotted but not an IP address: valid
      continue
    }
    await expectError(t, res, 400, 'InvalidBucketName')
  }
})

test.serial('oversize metadata, key too long, body too large: nothing stored', async t => {
  const meta = await signedFetch({ method: 'PUT', url: `${url}/victim`, body: 'evil', headers: { 'x-amz-meta-big': 'x'.repeat(2100) } })
  await expectError(t, meta, 400, 'MetadataTooLarge')
  const key = await signedFetch({ method: 'PUT', url: `${url}/${'k'.repeat(1025)}`, body: 'evil' })
  await expectError(t, key, 400, 'KeyTooLongError')
  const big = await signedFetch({ method: 'PUT', url: `${url}/victim`, body: Buffer.alloc(1024 * 1024 + 1), payloadHash: 'UNSIGNED-PAYLOAD' })
  await expectError(t, big, 400, 'EntityTooLarge')
  await assertUnchanged(t)
})

test.serial('unknown subresources and actions: 501 NotImplemented', async t => {
  for (const [method, path] of [['GET', '?logging'], ['PUT', '?website'], ['GET', '?notification'], ['POST', '/victim?select'], ['PUT', '/victim?retention']]) {
    const res = await signedFetch({ method, url: `${url}${path}` })
    await expectError(t, res, 501, 'NotImplemented')
  }
  await assertUnchanged(t)
})

test.serial('a client that disconnects mid-upload stores nothing and the server keeps serving', async t => {
  const target = new URL(`${url}/victim`)
  const headers = await signHeaders({ method: 'PUT', url: target.href, payloadHash: 'UNSIGNED-PAYLOAD', headers: { 'content-length': '100000' } })
  const socket = connect(Number(target.port), target.hostname)
  await once(socket, 'connect')
  const head = [`PUT ${target.pathname} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n')
  socket.write(head)
  socket.write(Buffer.alloc(50000, 7))
  await new Promise(resolve => setTimeout(resolve, 200))
  socket.destroy()
  await new Promise(resolve => setTimeout(resolve, 200))
  await assertUnchanged(t)
})
