import test from 'ava'
import { createHash, createHmac } from 'node:crypto'
import { decodeAwsChunked, type AwsChunkedOptions } from '../src/auth/chunked.js'
import { authenticate, deriveSigningKey, type SigningContext } from '../src/auth/sigv4.js'
import type { S3Request } from '../src/types.js'

const EMPTY = createHash('sha256').update('').digest('hex')

/** Splits `data` into pieces of `size` bytes (the network may cut anywhere). */
async function * pieces (data: Uint8Array | string, size = 1 << 30): AsyncGenerator<Uint8Array> {
  const buf = Buffer.from(data as any)
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size)
}

async function decode (body: Uint8Array | string, opts: AwsChunkedOptions = {}, pieceSize?: number): Promise<{ data: Buffer, trailers?: Record<string, string>, yields: number }> {
  const out: Buffer[] = []
  let trailers: Record<string, string> | undefined
  for await (const p of decodeAwsChunked(pieces(body, pieceSize), { ...opts, onTrailers: (t) => { trailers = t } })) out.push(Buffer.from(p))
  return { data: Buffer.concat(out), trailers, yields: out.length }
}

async function code (body: Uint8Array | string, opts: AwsChunkedOptions = {}, pieceSize?: number): Promise<string | undefined> {
  try {
    await decode(body, opts, pieceSize)
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

// ---- the example of the Amazon S3 documentation ("Transferring payload in multiple chunks") ----

const DOC_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const DOC_SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9'
const DOC_SIGS = [
  'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
  '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
  'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'
]
const docSigning: SigningContext = {
  signingKey: deriveSigningKey(DOC_SECRET, '20130524', 'us-east-1', 's3'),
  seedSignature: DOC_SEED,
  amzDate: '20130524T000000Z',
  scope: '20130524/us-east-1/s3/aws4_request'
}
const docBody = Buffer.concat([
  Buffer.from(`10000;chunk-signature=${DOC_SIGS[0]}\r\n`), Buffer.alloc(65536, 'a'), Buffer.from('\r\n'),
  Buffer.from(`400;chunk-signature=${DOC_SIGS[1]}\r\n`), Buffer.alloc(1024, 'a'), Buffer.from('\r\n'),
  Buffer.from(`0;chunk-signature=${DOC_SIGS[2]}\r\n\r\n`)
])

test('S3 documentation example: seed request signature verifies', async t => {
  const req: S3Request = {
    method: 'PUT',
    path: '/examplebucket/chunkObject.txt',
    basePath: '',
    query: '',
    headers: {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      authorization: `AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=${DOC_SEED}`,
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824'
    },
    body: pieces(docBody)
  }
  t.is(docBody.length, 66824)
  const ctx = await authenticate(req, { credentials: () => ({ secretAccessKey: DOC_SECRET }), region: 'us-east-1', now: new Date('2013-05-24T00:01:00Z') })
  t.is(ctx.payloadMode, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD')
  t.deepEqual(ctx.signing, docSigning)
})

test('S3 documentation example: chunk signatures verify, however the bytes are cut', async t => {
  for (const size of [1 << 30, 65536, 4096, 77, 1]) {
    const { data } = await decode(docBody, { signing: docSigning }, size)
    t.is(data.length, 66560)
    t.true(data.every(b => b === 0x61))
  }
})

test('S3 documentation example: any wrong chunk signature → SignatureDoesNotMatch', async t => {
  for (const i of [0, 1, 2]) {
    const bad = Buffer.from(docBody.toString('latin1').replace(DOC_SIGS[i], DOC_SIGS[i].replace(/.$/, c => c === '0' ? '1' : '0')), 'latin1')
    t.is(await code(bad, { signing: docSigning }), 'SignatureDoesNotMatch', `chunk ${i}`)
  }
  // Tampered data with the original signatures.
  const tampered = Buffer.from(docBody)
  tampered[200] = 0x62
  t.is(await code(tampered, { signing: docSigning }), 'SignatureDoesNotMatch')
  // A chunk without a signature in signed mode.
  t.is(await code('5\r\nhello\r\n0\r\n\r\n', { signing: docSigning }), 'SignatureDoesNotMatch')
})

// ---- an independent encoder for signed chunks and signed trailers ----

function hmac (key: Uint8Array, s: string): string { return createHmac('sha256', key).update(s).digest('hex') }
function sha (s: string | Uint8Array): string { return createHash('sha256').update(s).digest('hex') }

function encodeSigned (chunks: string[], signing: SigningContext, trailer?: Array<[string, string]>): Buffer {
  let prev = signing.seedSignature
  const out: Buffer[] = []
  for (const c of [...chunks, '']) {
    const sig = hmac(signing.signingKey, ['AWS4-HMAC-SHA256-PAYLOAD', signing.amzDate, signing.scope, prev, EMPTY, sha(c)].join('\n'))
    out.push(Buffer.from(`${Buffer.byteLength(c).toString(16)};chunk-signature=${sig}\r\n`))
    if (c !== '') out.push(Buffer.from(c), Buffer.from('\r\n'))
    prev = sig
  }
  if (trailer != null) {
    const canonical = trailer.map(([k, v]) => `${k}:${v}\n`).join('')
    const sig = hmac(signing.signingKey, ['AWS4-HMAC-SHA256-TRAILER', signing.amzDate, signing.scope, prev, sha(canonical)].join('\n'))
    for (const [k, v] of trailer) out.push(Buffer.from(`${k}:${v}\r\n`))
    out.push(Buffer.from(`x-amz-trailer-signature:${sig}\r\n`))
  }
  out.push(Buffer.from('\r\n'))
  return Buffer.concat(out)
}

const signing: SigningContext = {
  signingKey: deriveSigningKey('secret', '20250101', 'us-east-1', 's3'),
  seedSignature: 'a'.repeat(64),
  amzDate: '20250101T000000Z',
  scope: '20250101/us-east-1/s3/aws4_request'
}

test('signed chunks with a signed trailer verify and deliver the trailer', async t => {
  const body = encodeSigned(['hello ', 'world'], signing, [['x-amz-checksum-crc32', 'DUoRhQ==']])
  const { data, trailers } = await decode(body, { signing, trailer: true }, 3)
  t.is(data.toString(), 'hello world')
  t.deepEqual(trailers, { 'x-amz-checksum-crc32': 'DUoRhQ==' })
})

test('tampered or missing trailer signature → SignatureDoesNotMatch', async t => {
  const body = encodeSigned(['hello world'], signing, [['x-amz-checksum-crc32', 'DUoRhQ==']]).toString('latin1')
  t.is(await code(body.replace('DUoRhQ==', 'AAAAAA=='), { signing, trailer: true }), 'SignatureDoesNotMatch')
  t.is(await code(body.replace(/x-amz-trailer-signature:[0-9a-f]+\r\n/, ''), { signing, trailer: true }), 'SignatureDoesNotMatch')
  t.is(await code(body.replace(/x-amz-trailer-signature:[0-9a-f]/, 'x-amz-trailer-signature:_'), { signing, trailer: true }), 'SignatureDoesNotMatch')
})

test('signed chunks reordered → SignatureDoesNotMatch', async t => {
  const a = encodeSigned(['first', 'second'], signing).toString('latin1')
  const lines = a.split('\r\n')
  // Swap the two data chunks together with their signatures.
  const swapped = [lines[2], lines[3], lines[0], lines[1], ...lines.slice(4)].join('\r\n')
  t.is(await code(swapped, { signing }), 'SignatureDoesNotMatch')
})

// ---- unsigned chunks (STREAMING-UNSIGNED-PAYLOAD-TRAILER), as the AWS SDK sends them ----

test('unsigned chunks with a checksum trailer', async t => {
  const body = '6\r\nhello \r\n5\r\nworld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n'
  for (const size of [1000, 1, 2, 7]) {
    const { data, trailers } = await decode(body, { trailer: true }, size)
    t.is(data.toString(), 'hello world')
    t.deepEqual(trailers, { 'x-amz-checksum-crc32': 'DUoRhQ==' })
  }
})

test('final chunk followed directly by the end of the body is accepted (AWS SDK without checksum)', async t => {
  t.is((await decode('5\r\nhello\r\n0\r\n')).data.toString(), 'hello')
  t.is((await decode('0\r\n\r\n')).data.length, 0)
  t.is((await decode('5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n', { trailer: true })).trailers?.['x-amz-checksum-crc32'], 'AAAAAA==')
})

test('a big chunk is yielded as it arrives, not buffered whole', async t => {
  const size = 4 * 1024 * 1024
  const body = Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), Buffer.alloc(size, 1), Buffer.from('\r\n0\r\n\r\n')])
  const seen: number[] = []
  for await (const p of decodeAwsChunked(pieces(body, 65536))) seen.push(p.length)
  t.true(seen.length >= 64)
  t.true(Math.max(...seen) <= 65536)
  t.is(seen.reduce((a, b) => a + b, 0), size)
})

// ---- broken framing ----

test('bad hex chunk size → InvalidRequest', async t => {
  t.is(await code('zz\r\nhello\r\n0\r\n\r\n'), 'InvalidRequest')
  t.is(await code('\r\nhello\r\n0\r\n\r\n'), 'InvalidRequest')
  t.is(await code('-5\r\nhello\r\n0\r\n\r\n'), 'InvalidRequest')
})

test('chunk data not followed by CRLF → InvalidRequest', async t => {
  t.is(await code('5\r\nhelloXX0\r\n\r\n'), 'InvalidRequest')
  t.is(await code('5\r\nhello\n0\r\n\r\n'), 'InvalidRequest')
})

test('chunk longer than declared → InvalidRequest', async t => {
  t.is(await code('3\r\nhello\r\n0\r\n\r\n'), 'InvalidRequest')
})

test('truncated body → IncompleteBody', async t => {
  t.is(await code('5\r\nhel'), 'IncompleteBody')
  t.is(await code('5\r\nhello'), 'IncompleteBody')
  t.is(await code('5\r\nhello\r'), 'IncompleteBody')
  t.is(await code('5\r\nhello\r\n'), 'IncompleteBody')
  t.is(await code('5\r\nhello\r\n0'), 'IncompleteBody')
  t.is(await code(''), 'IncompleteBody')
  t.is(await code(encodeSigned(['abc'], signing).subarray(0, 100), { signing }), 'IncompleteBody')
})

test('bytes after the final chunk → InvalidRequest', async t => {
  t.is(await code('5\r\nhello\r\n0\r\n\r\nextra'), 'InvalidRequest')
  t.is(await code('5\r\nhello\r\n0\r\n\r\n5\r\nhello\r\n'), 'InvalidRequest')
})

test('trailers that were not announced → InvalidRequest', async t => {
  t.is(await code('5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n'), 'InvalidRequest')
  t.is(await code('5\r\nhello\r\n0\r\nnot a header\r\n\r\n', { trailer: true }), 'InvalidRequest')
})

test('over-long chunk-size line → InvalidRequest, without reading on', async t => {
  t.is(await code(`5;${'x'.repeat(10000)}\r\nhello\r\n0\r\n\r\n`), 'InvalidRequest')
  // An endless line without CRLF must fail as soon as the limit is passed.
  let pulled = 0
  async function * endless (): AsyncGenerator<Uint8Array> { while (true) { pulled++; yield Buffer.alloc(1024, 0x61) } }
  const err = await t.throwsAsync(async () => { for await (const _ of decodeAwsChunked(endless())) { /* drain */ } })
  t.is((err as any).code, 'InvalidRequest')
  t.true(pulled < 10)
})

test('absurd chunk size → InvalidRequest before reading the data', async t => {
  t.is(await code('7fffffff\r\n'), 'InvalidRequest')
  t.is(await code('1000001\r\n'), 'InvalidRequest')
  t.is(await code('ffffffffffffffffff\r\n'), 'InvalidRequest')
  t.is(await code('11\r\n0123456789abcdefg\r\n0\r\n\r\n', { maxChunkSize: 16 }), 'InvalidRequest')
})
