/**
 * Server-side encryption (SSE-S3 and SSE-C) end to end: the AWS SDK v3 with its default settings
 * (CRC32 checksums, aws-chunked trailers), presigned URLs and browser forms over loopback HTTP, on
 * the standalone server's storage (PackBlockstore + SQLite) and on the in-memory default. Besides what
 * S3 answers, the tests look into the blockstore: only ciphertext is there, the object's CID is the
 * ciphertext's, and a damaged block never turns into wrong bytes on the wire.
 */
import { createHash, randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  DeleteBucketEncryptionCommand, GetBucketEncryptionCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutBucketEncryptionCommand,
  PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type CompletedPart, type GetObjectCommandInput, type HeadObjectCommandInput, type S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { createPresignedPost } from '@aws-sdk/s3-presigned-post'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { CID } from 'multiformats/cid'
import { SALT_SIZE, SEGMENT_SIZE, TAG_SIZE, cipherSize } from '../src/content/encryption.js'
import { deterministicBytes, headerScope, ipfsAddCid, md5Hex, s3Error } from './helpers/s3.js'
import { signedFetch } from './helpers/sign.js'
import {
  blockCount, blockstoreHolds, closeGateways, copySourceSseC, customerKey, dataKeyOf, decryptStored, gatewayOf, marked, sseC,
  storedBytes, type Target,
} from './helpers/sse.js'

const MiB = 1024 * 1024
const SIZES = [0, 1, 65535, 65536, 65537, 3 * MiB + 5]

const SEGMENT_CIPHER = SEGMENT_SIZE + TAG_SIZE

test.after.always(closeGateways)

function each (title: string, body: (t: ExecutionContext, target: Target) => Promise<void>): void {
  for (const storage of ['disk+sqlite', 'memory'] as const) {
    test(`${storage}: ${title}`, async t => {
      const main = await gatewayOf(storage)
      await headerScope.run({}, async () => { await body(t, main) })
    })
  }
}

let counter = 0
async function newBucket (s3: S3Client, defaultEncryption = false): Promise<string> {
  const Bucket = `sse-${++counter}`
  await s3.send(new CreateBucketCommand({ Bucket }))
  if (defaultEncryption) await setDefaultEncryption(s3, Bucket)
  return Bucket
}

async function setDefaultEncryption (s3: S3Client, Bucket: string): Promise<void> {
  await s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } }))
}

async function getBytes (s3: S3Client, input: GetObjectCommandInput): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand(input))
  return Buffer.from(await res.Body!.transformToByteArray())
}

/** The status of a failed HEAD (which has no body to name an error code). */
async function headStatus (s3: S3Client, input: HeadObjectCommandInput): Promise<number | undefined> {
  return (await s3Error(s3.send(new HeadObjectCommand(input)))).status
}

/** Reads a response body until it ends or fails: what arrived, and the failure. */
async function drain (body: Readable): Promise<{ bytes: Buffer, error?: unknown }> {
  const chunks: Buffer[] = []
  try {
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array))
    return { bytes: Buffer.concat(chunks) }
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error }
  }
}

function multipartEtag (parts: Uint8Array[]): string {
  const md5 = createHash('md5')
  for (const part of parts) md5.update(createHash('md5').update(part).digest())
  return `"${md5.digest('hex')}-${parts.length}"`
}

// ---------------------------------------------------------------- SSE-S3

each('SSE-S3 PutObject: AES256 reported by PUT, HEAD and GET; same bytes, MD5 ETag and checksum; the CID is the ciphertext\'s', async (t, target) => {
  const { s3, headers } = target
  const Bucket = await newBucket(s3)
  for (const size of SIZES) {
    const data = deterministicBytes(`sse-s3 ${size}`, size)
    const Key = `object-${size}`
    const put = await s3.send(new PutObjectCommand({ Bucket, Key, Body: data, ServerSideEncryption: 'AES256' }))
    t.is(put.ServerSideEncryption, 'AES256', `${size}`)
    t.is(put.ETag, `"${md5Hex(data)}"`, `${size}: the ETag is the MD5 of the plaintext`)
    t.is(put.SSECustomerAlgorithm, undefined)
    const cid = headers.last()['x-amz-meta-cid']

    const head = await s3.send(new HeadObjectCommand({ Bucket, Key }))
    t.is(head.ServerSideEncryption, 'AES256')
    t.is(head.ContentLength, size)
    t.is(head.ETag, put.ETag)
    t.is(head.Metadata?.cid, cid)
    const get = await s3.send(new GetObjectCommand({ Bucket, Key }))
    t.is(get.ServerSideEncryption, 'AES256')
    t.is(get.ContentLength, size)
    // The SDK asks for and checks the CRC32 it sent: the checksum is the plaintext's.
    t.truthy(get.ChecksumCRC32, `${size}: full-object checksum returned`)
    t.true(Buffer.from(await get.Body!.transformToByteArray()).equals(data), `${size}: same bytes`)

    // The CID names the ciphertext: the DAG under it is what `ipfs add` of the ciphertext gives,
    // and it decrypts, with the data key the master key unwraps, to the plaintext.
    const ciphertext = await storedBytes(target, cid)
    t.is(ciphertext.byteLength, cipherSize(size))
    t.is(await ipfsAddCid(ciphertext), cid)
    const plaintextCid = await ipfsAddCid(data)
    t.not(cid, plaintextCid)
    t.false(await target.blockstore.has(CID.parse(plaintextCid)), `${size}: the plaintext's DAG is not stored`)
    t.true((await decryptStored(ciphertext, await dataKeyOf(target, Bucket, Key), [size])).equals(data))
  }
  const listed = await s3.send(new ListObjectsV2Command({ Bucket }))
  t.deepEqual(listed.Contents?.map(o => [o.Key, o.Size]), SIZES.map(s => [`object-${s}`, s]).sort())

  // A presigned PUT: the encryption header is signed, and sent by the client.
  const data = deterministicBytes('presigned sse-s3', 100_000)
  const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: 'presigned', ServerSideEncryption: 'AES256' }), { expiresIn: 300 })
  t.is(new URL(url).searchParams.get('x-amz-server-side-encryption'), null, 'the header is signed, not hoisted into the URL')
  t.regex(new URL(url).searchParams.get('X-Amz-SignedHeaders') ?? '', /x-amz-server-side-encryption/)
  const put = await fetch(url, { method: 'PUT', body: data, headers: { 'x-amz-server-side-encryption': 'AES256' } })
  t.is(put.status, 200, await put.text())
  t.is(put.headers.get('x-amz-server-side-encryption'), 'AES256')
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'presigned' }))).ServerSideEncryption, 'AES256')
  const get = await fetch(await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'presigned' }), { expiresIn: 300 }))
  t.is(get.headers.get('x-amz-server-side-encryption'), 'AES256')
  t.true(Buffer.from(await get.arrayBuffer()).equals(data))
})

each('only ciphertext reaches the blockstore: a plaintext marker is in no block of an encrypted object, and is for an unencrypted one', async (t, target) => {
  const { s3 } = target
  const Bucket = await newBucket(s3)
  const defaultBucket = await newBucket(s3, true)
  const markers = { plain: `PLAIN-${randomUUID()}`, sseS3: `SSES3-${randomUUID()}`, sseC: `SSEC-${randomUUID()}`, byDefault: `DEFAULT-${randomUUID()}`, multipart: `MPU-${randomUUID()}` }
  await s3.send(new PutObjectCommand({ Bucket, Key: 'plain', Body: marked(markers.plain) }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'sse-s3', Body: marked(markers.sseS3), ServerSideEncryption: 'AES256' }))
  const k = customerKey()
  await s3.send(new PutObjectCommand({ Bucket, Key: 'sse-c', Body: marked(markers.sseC), ...sseC(k) }))
  await s3.send(new PutObjectCommand({ Bucket: defaultBucket, Key: 'by-default', Body: marked(markers.byDefault) }))
  const upload = new Upload({ client: s3, params: { Bucket, Key: 'multipart', Body: marked(markers.multipart, 11 * MiB), ServerSideEncryption: 'AES256' } })
  await upload.done()

  t.true(await blockstoreHolds(target, markers.plain), 'the scan finds plaintext where there is some')
  for (const [name, marker] of Object.entries(markers)) {
    if (name !== 'plain') t.false(await blockstoreHolds(target, marker), `${name}: no block holds plaintext`)
  }
  t.true((await getBytes(s3, { Bucket, Key: 'sse-c', ...sseC(k) })).equals(marked(markers.sseC)))
  t.true((await getBytes(s3, { Bucket: defaultBucket, Key: 'by-default' })).equals(marked(markers.byDefault)))
  t.true((await getBytes(s3, { Bucket, Key: 'multipart' })).equals(marked(markers.multipart, 11 * MiB)))
})

each('Range GETs of an encrypted object return exactly the plaintext slice (segment boundaries, suffixes, whole)', async (t, target) => {
  const { s3 } = target
  const Bucket = await newBucket(s3)
  const size = 3 * MiB + 5
  const data = deterministicBytes('ranges', size)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'big', Body: data, ServerSideEncryption: 'AES256' }))
  const small = deterministicBytes('ranges small', 65537)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'small', Body: small, ServerSideEncryption: 'AES256' }))

  // The plaintext offset whose ciphertext starts the second 1 MiB block of the DAG.
  const leafBoundary = Math.floor((MiB - SALT_SIZE) / SEGMENT_CIPHER) * SEGMENT_SIZE + ((MiB - SALT_SIZE) % SEGMENT_CIPHER)
  const ranges: Array<[string, number, number]> = [
    ['bytes=0-0', 0, 0], [`bytes=${size - 1}-${size - 1}`, size - 1, size - 1], ['bytes=65535-65536', 65535, 65536],
    ['bytes=65535-65535', 65535, 65535], ['bytes=65536-65536', 65536, 65536], ['bytes=65530-65545', 65530, 65545],
    ['bytes=0-65535', 0, 65535], ['bytes=0-65536', 0, 65536], ['bytes=65536-131071', 65536, 131071],
    ['bytes=131071-262144', 131071, 262144], [`bytes=${leafBoundary - 3}-${leafBoundary + 3}`, leafBoundary - 3, leafBoundary + 3],
    [`bytes=${3 * MiB - 1}-`, 3 * MiB - 1, size - 1], ['bytes=-1', size - 1, size - 1], ['bytes=-65537', size - 65537, size - 1],
    [`bytes=-${size}`, 0, size - 1], ['bytes=0-', 0, size - 1], ['bytes=12345-', 12345, size - 1],
    [`bytes=100-${size + 1000}`, 100, size - 1],
  ]
  let seed = 7
  for (let i = 0; i < 12; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648
    const first = seed % size
    seed = (seed * 1103515245 + 12345) % 2147483648
    const last = Math.min(size - 1, first + (seed % (3 * SEGMENT_SIZE)))
    ranges.push([`bytes=${first}-${last}`, first, last])
  }
  for (const [Range, first, last] of ranges) {
    const res = await s3.send(new GetObjectCommand({ Bucket, Key: 'big', Range }))
    t.is(res.ContentRange, `bytes ${first}-${last}/${size}`, Range)
    t.is(res.ContentLength, last - first + 1, Range)
    t.true(Buffer.from(await res.Body!.transformToByteArray()).equals(data.subarray(first, last + 1)), Range)
  }
  for (const [Range, first, last] of [['bytes=65536-65536', 65536, 65536], ['bytes=65535-', 65535, 65536], ['bytes=-2', 65535, 65536], ['bytes=0-', 0, 65536]] as const) {
    t.true((await getBytes(s3, { Bucket, Key: 'small', Range })).equals(small.subarray(first, last + 1)), `small ${Range}`)
  }
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'small', Range: 'bytes=65537-' }))), { code: 'InvalidRange', status: 416 })

  // A presigned GET with a Range header, as a browser would send it.
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'big' }), { expiresIn: 300 })
  const res = await fetch(url, { headers: { range: 'bytes=65530-131080' } })
  t.is(res.status, 206)
  t.is(res.headers.get('x-amz-server-side-encryption'), 'AES256')
  t.true(Buffer.from(await res.arrayBuffer()).equals(data.subarray(65530, 131081)))
})

each('bucket default encryption (PutBucketEncryption AES256) encrypts objects PUT without a header, presigned PUTs included', async (t, target) => {
  const { s3, headers } = target
  const Bucket = await newBucket(s3)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'before', Body: 'written before the default' }))
  await setDefaultEncryption(s3, Bucket)
  const data = deterministicBytes('default encryption', 200_000)
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'after', Body: data }))
  t.is(put.ServerSideEncryption, 'AES256')
  t.is(put.ETag, `"${md5Hex(data)}"`)
  const cid = headers.last()['x-amz-meta-cid']
  t.not(cid, await ipfsAddCid(data))
  t.true((await decryptStored(await storedBytes(target, cid), await dataKeyOf(target, Bucket, 'after'), [data.byteLength])).equals(data))
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'after' }))).ServerSideEncryption, 'AES256')
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'before' }))).ServerSideEncryption, undefined, 'existing objects stay as they are')
  t.true((await getBytes(s3, { Bucket, Key: 'after' })).equals(data))

  // A presigned PUT without any encryption header, then a presigned GET.
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: 'presigned' }), { expiresIn: 300 })
  const presignedPut = await fetch(putUrl, { method: 'PUT', body: data })
  t.is(presignedPut.status, 200, await presignedPut.text())
  t.is(presignedPut.headers.get('x-amz-server-side-encryption'), 'AES256')
  t.is(presignedPut.headers.get('etag'), `"${md5Hex(data)}"`)
  t.not(presignedPut.headers.get('x-amz-meta-cid'), await ipfsAddCid(data))
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'presigned' }), { expiresIn: 300 })
  const presignedGet = await fetch(getUrl)
  t.is(presignedGet.status, 200)
  t.is(presignedGet.headers.get('x-amz-server-side-encryption'), 'AES256')
  t.true(Buffer.from(await presignedGet.arrayBuffer()).equals(data))

  // A request for SSE-C wins over the bucket's default.
  const k = customerKey()
  const sseCPut = await s3.send(new PutObjectCommand({ Bucket, Key: 'customer', Body: data, ...sseC(k) }))
  t.is(sseCPut.ServerSideEncryption, undefined)
  t.is(sseCPut.SSECustomerKeyMD5, k.md5)
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'customer' }))), { code: 'InvalidRequest', status: 400 })

  await s3.send(new DeleteBucketEncryptionCommand({ Bucket }))
  const plain = await s3.send(new PutObjectCommand({ Bucket, Key: 'plain', Body: data }))
  t.is(plain.ServerSideEncryption, undefined)
  t.is(headers.last()['x-amz-meta-cid'], await ipfsAddCid(data))
  t.true((await getBytes(s3, { Bucket, Key: 'after' })).equals(data), 'encrypted objects stay readable')
})

each('encryptByDefault: every new object is SSE-S3 (PUT, multipart, copy) unless the request asks for SSE-C', async (t, main) => {
  const target = await gatewayOf(main.storage, 'encryptByDefault')
  const { s3, headers } = target
  const Bucket = await newBucket(s3)
  const data = deterministicBytes('encrypt by default', 100_000)
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: data }))
  t.is(put.ServerSideEncryption, 'AES256')
  const cid = headers.last()['x-amz-meta-cid']
  t.true((await decryptStored(await storedBytes(target, cid), await dataKeyOf(target, Bucket, 'k'), [data.byteLength])).equals(data))
  t.true((await getBytes(s3, { Bucket, Key: 'k' })).equals(data))
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'k' }))).ServerSideEncryption, 'AES256')

  const copy = await s3.send(new CopyObjectCommand({ Bucket, Key: 'copy', CopySource: `${Bucket}/k` }))
  t.is(copy.ServerSideEncryption, 'AES256')
  t.true((await getBytes(s3, { Bucket, Key: 'copy' })).equals(data))
  const create = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'mpu' }))
  t.is(create.ServerSideEncryption, 'AES256')

  const k = customerKey()
  const customer = await s3.send(new PutObjectCommand({ Bucket, Key: 'customer', Body: data, ...sseC(k) }))
  t.is(customer.ServerSideEncryption, undefined)
  t.is(customer.SSECustomerKeyMD5, k.md5)
  t.true((await getBytes(s3, { Bucket, Key: 'customer', ...sseC(k) })).equals(data))
  t.false(await blockstoreHolds(target, data.subarray(5000, 5100)))
})

each('without a master key: SSE-S3 (asked for or a bucket default) is 501 NotImplemented and nothing is stored; SSE-C works', async (t, main) => {
  const target = await gatewayOf(main.storage, 'noMasterKey')
  const { s3 } = target
  const Bucket = await newBucket(s3)
  const before = await blockCount(target)
  t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: 'asked', Body: 'secret', ServerSideEncryption: 'AES256' }))), { code: 'NotImplemented', status: 501 })
  t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket, Key: 'asked' }))), { code: 'NotFound', status: 404 })
  t.deepEqual(await s3Error(s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'mpu', ServerSideEncryption: 'AES256' }))), { code: 'NotImplemented', status: 501 })
  await s3.send(new PutObjectCommand({ Bucket, Key: 'plain', Body: 'plain' }))
  const afterPlain = await blockCount(target)
  t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'copy', CopySource: `${Bucket}/plain`, ServerSideEncryption: 'AES256' }))), { code: 'NotImplemented', status: 501 })

  // A bucket default that could never be honoured is refused when it is set.
  const defaulted = await newBucket(s3)
  t.deepEqual(await s3Error(s3.send(new PutBucketEncryptionCommand({
    Bucket: defaulted, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
  }))), { code: 'NotImplemented', status: 501 })
  t.deepEqual(await s3Error(s3.send(new GetBucketEncryptionCommand({ Bucket: defaulted }))), { code: 'ServerSideEncryptionConfigurationNotFoundError', status: 404 })
  t.is(await blockCount(target), afterPlain, 'no block was written by the refused requests')
  t.true(afterPlain > before)
  t.deepEqual((await s3.send(new ListObjectsV2Command({ Bucket }))).Contents?.map(o => o.Key), ['plain'])

  const k = customerKey()
  await s3.send(new PutObjectCommand({ Bucket: defaulted, Key: 'customer', Body: 'customer secret', ...sseC(k) }))
  t.is((await getBytes(s3, { Bucket: defaulted, Key: 'customer', ...sseC(k) })).toString(), 'customer secret')
})

each('SSE-C over plain HTTP is refused with InvalidRequest unless allowInsecureSseC', async (t, main) => {
  const target = await gatewayOf(main.storage, 'secureSseCOnly')
  const { s3 } = target
  const Bucket = await newBucket(s3)
  const k = customerKey()
  t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: 'c', Body: 'secret', ...sseC(k) }))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket, Key: 'c' }))), { code: 'NotFound', status: 404 })
  t.deepEqual(await s3Error(s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'm', ...sseC(k) }))), { code: 'InvalidRequest', status: 400 })
  await s3.send(new PutObjectCommand({ Bucket, Key: 's3', Body: 'sse-s3 works', ServerSideEncryption: 'AES256' }))
  t.is((await getBytes(s3, { Bucket, Key: 's3' })).toString(), 'sse-s3 works')
  t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'copy', CopySource: `${Bucket}/s3`, ...sseC(k) }))), { code: 'InvalidRequest', status: 400 })
})

// ---------------------------------------------------------------- SSE-C

each('SSE-C: the key is needed to read (400 without, 403 with another); responses echo its MD5; the ETag is not the plaintext\'s MD5', async (t, target) => {
  const { s3, headers, url } = target
  const Bucket = await newBucket(s3)
  const a = customerKey()
  const b = customerKey()
  const data = deterministicBytes('sse-c', 3 * SEGMENT_SIZE + 17)
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'c', Body: data, ...sseC(a) }))
  t.is(put.SSECustomerAlgorithm, 'AES256')
  t.is(put.SSECustomerKeyMD5, a.md5)
  t.is(put.ServerSideEncryption, undefined)
  t.not(put.ETag, `"${md5Hex(data)}"`)
  t.regex(put.ETag ?? '', /^"[0-9a-f]{32}"$/)
  const cid = headers.last()['x-amz-meta-cid']
  t.true((await decryptStored(await storedBytes(target, cid), await dataKeyOf(target, Bucket, 'c', Buffer.from(a.key, 'base64')), [data.byteLength])).equals(data))
  t.not(cid, await ipfsAddCid(data))

  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'c' }))), { code: 'InvalidRequest', status: 400 })
  t.is(await headStatus(s3, { Bucket, Key: 'c' }), 400)
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'c', ...sseC(b) }))), { code: 'AccessDenied', status: 403 })
  t.is(await headStatus(s3, { Bucket, Key: 'c', ...sseC(b) }), 403)

  const get = await s3.send(new GetObjectCommand({ Bucket, Key: 'c', ...sseC(a) }))
  t.is(get.SSECustomerAlgorithm, 'AES256')
  t.is(get.SSECustomerKeyMD5, a.md5)
  t.is(get.ServerSideEncryption, undefined)
  t.is(get.ETag, put.ETag)
  t.true(Buffer.from(await get.Body!.transformToByteArray()).equals(data))
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'c', ...sseC(a) }))
  t.is(head.ContentLength, data.byteLength)
  t.is(head.SSECustomerKeyMD5, a.md5)
  const ranged = await s3.send(new GetObjectCommand({ Bucket, Key: 'c', Range: 'bytes=65530-131075', ...sseC(a) }))
  t.is(ranged.SSECustomerKeyMD5, a.md5)
  t.true(Buffer.from(await ranged.Body!.transformToByteArray()).equals(data.subarray(65530, 131076)))
  t.is((await s3.send(new ListObjectsV2Command({ Bucket }))).Contents?.[0].ETag, put.ETag)

  // A key MD5 that does not match the key: what the SDK never sends.
  const badMd5 = { ...a.headers, 'x-amz-server-side-encryption-customer-key-md5': b.md5 }
  for (const [method, body] of [['GET', undefined], ['PUT', 'x']] as const) {
    const res = await signedFetch({ method, url: `${url}/${Bucket}/${method === 'GET' ? 'c' : 'bad-md5'}`, headers: badMd5, body })
    t.is(res.status, 400, method)
    t.regex(await res.text(), /<Code>InvalidArgument<\/Code>/, method)
  }
  t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket, Key: 'bad-md5' }))), { code: 'NotFound', status: 404 })

  // SSE-C headers for an object that is not SSE-C.
  await s3.send(new PutObjectCommand({ Bucket, Key: 'plain', Body: 'plain' }))
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'plain', ...sseC(a) }))), { code: 'InvalidRequest', status: 400 })
  t.is(await headStatus(s3, { Bucket, Key: 'plain', ...sseC(a) }), 400)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'sse-s3', Body: 'sse-s3', ServerSideEncryption: 'AES256' }))
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'sse-s3', ...sseC(a) }))), { code: 'InvalidRequest', status: 400 })
})

each('SSE-C with presigned URLs: the key travels in signed headers', async (t, { s3 }) => {
  const Bucket = await newBucket(s3)
  const k = customerKey()
  const data = deterministicBytes('presigned sse-c', 70_000)
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: 'p', ...sseC(k) }), { expiresIn: 300 })
  t.false(putUrl.includes(encodeURIComponent(k.key)), 'the key is not in the URL')
  const put = await fetch(putUrl, { method: 'PUT', body: data, headers: k.headers })
  t.is(put.status, 200, await put.text())
  t.is(put.headers.get('x-amz-server-side-encryption-customer-key-md5'), k.md5)
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'p', ...sseC(k) }), { expiresIn: 300 })
  const get = await fetch(getUrl, { headers: k.headers })
  t.is(get.status, 200)
  t.true(Buffer.from(await get.arrayBuffer()).equals(data))
  const other = customerKey()
  const otherUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'p', ...sseC(other) }), { expiresIn: 300 })
  const denied = await fetch(otherUrl, { headers: other.headers })
  t.is(denied.status, 403)
  t.regex(await denied.text(), /<Code>AccessDenied<\/Code>/)
  const plainUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: 'p' }), { expiresIn: 300 })
  const withoutKey = await fetch(plainUrl)
  t.is(withoutKey.status, 400)
  t.regex(await withoutKey.text(), /<Code>InvalidRequest<\/Code>/)
})

// ---------------------------------------------------------------- multipart

interface MultipartResult { Bucket: string, Key: string, parts: Buffer[], data: Buffer }

async function uploadParts (t: ExecutionContext, s3: S3Client, Bucket: string, Key: string, encryption: Record<string, string>): Promise<MultipartResult> {
  const parts = [deterministicBytes(`${Key} 1`, 5 * MiB), deterministicBytes(`${Key} 2`, 5 * MiB), deterministicBytes(`${Key} 3`, 12_345)]
  const create = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key, ...encryption }))
  const UploadId = create.UploadId
  const completed: CompletedPart[] = []
  for (const [i, Body] of parts.entries()) {
    const res = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body, ...encryption }))
    completed.push({ PartNumber: i + 1, ETag: res.ETag })
    t.is(res.ServerSideEncryption, create.ServerSideEncryption)
    t.is(res.SSECustomerKeyMD5, create.SSECustomerKeyMD5)
  }
  const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: completed } }))
  t.is(done.ServerSideEncryption, create.ServerSideEncryption)
  t.regex(done.ETag ?? '', /-3"$/)
  // A retried Complete gets the first answer again, encryption included.
  const retried = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: completed } }))
  t.is(retried.ETag, done.ETag)
  t.is(retried.ServerSideEncryption, create.ServerSideEncryption)
  return { Bucket, Key, parts, data: Buffer.concat(parts) }
}

async function checkMultipartReads (t: ExecutionContext, s3: S3Client, { Bucket, Key, parts, data }: MultipartResult, encryption: Record<string, string> = {}): Promise<void> {
  t.true((await getBytes(s3, { Bucket, Key, ...encryption })).equals(data), 'whole object')
  const b1 = parts[0].byteLength
  const b2 = b1 + parts[1].byteLength
  for (const [first, last] of [[b1 - 10, b1 + 10], [b1 - 1, b1], [b1, b1], [b1 - SEGMENT_SIZE - 3, b2 + 5], [b2 - 1, data.byteLength - 1], [0, b2], [b2 + 12000, b2 + 12344]]) {
    const Range = `bytes=${first}-${last}`
    t.true((await getBytes(s3, { Bucket, Key, Range, ...encryption })).equals(data.subarray(first, last + 1)), Range)
  }
  const part2 = await s3.send(new GetObjectCommand({ Bucket, Key, PartNumber: 2, ...encryption }))
  t.is(part2.PartsCount, 3)
  t.is(part2.ContentRange, `bytes ${b1}-${b2 - 1}/${data.byteLength}`)
  t.true(Buffer.from(await part2.Body!.transformToByteArray()).equals(parts[1]), 'partNumber=2')
  const part3 = await s3.send(new HeadObjectCommand({ Bucket, Key, PartNumber: 3, ...encryption }))
  t.is(part3.ContentLength, parts[2].byteLength)
}

each('multipart with SSE-S3 (explicit parts and lib-storage): bytes, part-boundary ranges, partNumber reads', async (t, target) => {
  const { s3, headers } = target
  const Bucket = await newBucket(s3)
  const result = await uploadParts(t, s3, Bucket, 'explicit', { ServerSideEncryption: 'AES256' })
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'explicit' }))
  t.is(head.ServerSideEncryption, 'AES256')
  t.is(head.ETag, multipartEtag(result.parts), 'the multipart ETag of the plaintext parts')
  await checkMultipartReads(t, s3, result)
  const version = await target.metadata.getObject(Bucket, 'explicit')
  const stored = await storedBytes(target, version!.cid)
  t.is(stored.byteLength, result.parts.reduce((n, p) => n + cipherSize(p.byteLength), 0), 'the object is its parts\' ciphertexts')
  t.true((await decryptStored(stored, await dataKeyOf(target, Bucket, 'explicit'), result.parts.map(p => p.byteLength))).equals(result.data))

  // Under the CIDv0 profile (dag-pb leaves of 256 KiB) too.
  const v0 = `sse-v0-${++counter}`
  const created = await signedFetch({ method: 'PUT', url: `${target.url}/${v0}`, headers: { 'x-amz-meta-cid-profile': 'unixfs-v0-2015' } })
  t.is(created.status, 200, await created.text())
  const v0Result = await uploadParts(t, s3, v0, 'v0', { ServerSideEncryption: 'AES256' })
  t.regex(headers.last()['x-amz-meta-cid'], /^Qm/)
  await checkMultipartReads(t, s3, v0Result)

  const body = deterministicBytes('lib-storage', 10 * MiB + 1000)
  const upload = new Upload({ client: s3, params: { Bucket, Key: 'lib-storage', Body: body, ServerSideEncryption: 'AES256' } })
  const done = await upload.done()
  t.is(done.ServerSideEncryption, 'AES256')
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'lib-storage' }))).ServerSideEncryption, 'AES256')
  t.true((await getBytes(s3, { Bucket, Key: 'lib-storage' })).equals(body))
  t.not(headers.last()['x-amz-meta-cid'], undefined)
})

each('multipart with SSE-C: every part needs the upload\'s key (400 without, 403 with another); reads need it too', async (t, { s3, url }) => {
  const Bucket = await newBucket(s3)
  const a = customerKey()
  const b = customerKey()
  const result = await uploadParts(t, s3, Bucket, 'customer', sseC(a))
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'customer' }))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'customer', PartNumber: 2, ...sseC(b) }))), { code: 'AccessDenied', status: 403 })
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'customer', ...sseC(a) }))
  t.is(head.SSECustomerKeyMD5, a.md5)
  t.not(head.ETag, multipartEtag(result.parts))
  await checkMultipartReads(t, s3, result, sseC(a))

  const create = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'parts', ...sseC(a) }))
  t.is(create.SSECustomerKeyMD5, a.md5)
  const part = { Bucket, Key: 'parts', UploadId: create.UploadId, PartNumber: 1, Body: 'part' }
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand(part))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ ...part, ...sseC(b) }))), { code: 'AccessDenied', status: 403 })
  const ok = await s3.send(new UploadPartCommand({ ...part, ...sseC(a) }))
  t.is(ok.SSECustomerKeyMD5, a.md5)
  await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'parts', UploadId: create.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: ok.ETag }] } }))
  t.is((await getBytes(s3, { Bucket, Key: 'parts', ...sseC(a) })).toString(), 'part')

  // SSE-C headers on a part of an unencrypted or SSE-S3 upload.
  for (const encryption of [{}, { ServerSideEncryption: 'AES256' as const }]) {
    const other = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'other', ...encryption }))
    t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ Bucket, Key: 'other', UploadId: other.UploadId, PartNumber: 1, Body: 'x', ...sseC(a) }))),
      { code: 'InvalidRequest', status: 400 }, JSON.stringify(encryption))
  }
  // SSE headers the SDK never sends on a part are checked as on a PUT, not ignored.
  const plainUpload = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'checked' }))
  for (const [headers, status, code] of [
    [{ 'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:us-east-1:1:key/x' }, 400, 'InvalidArgument'],
    [{ 'x-amz-server-side-encryption': 'aws:kms' }, 501, 'NotImplemented'],
    [{ 'x-amz-server-side-encryption': 'AES257' }, 400, 'InvalidArgument'],
  ] as const) {
    const res = await signedFetch({ method: 'PUT', url: `${url}/${Bucket}/checked?partNumber=1&uploadId=${plainUpload.UploadId ?? ''}`, headers, body: 'x' })
    t.is(res.status, status, JSON.stringify(headers))
    t.regex(await res.text(), new RegExp(`<Code>${code}</Code>`), JSON.stringify(headers))
  }
})

// ---------------------------------------------------------------- copies

each('CopyObject: plain → SSE-S3, SSE-S3 → plain (the plaintext\'s CID back), SSE-C → SSE-C under a new key; a copy-source key is needed', async (t, target) => {
  const { s3, headers } = target
  const Bucket = await newBucket(s3)
  const data = deterministicBytes('copies', 2 * SEGMENT_SIZE + 99)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'plain', Body: data }))
  const plainCid = headers.last()['x-amz-meta-cid']
  t.is(plainCid, await ipfsAddCid(data))

  const toS3 = await s3.send(new CopyObjectCommand({ Bucket, Key: 'encrypted', CopySource: `${Bucket}/plain`, ServerSideEncryption: 'AES256' }))
  t.is(toS3.ServerSideEncryption, 'AES256')
  t.is(toS3.CopyObjectResult?.ETag, `"${md5Hex(data)}"`)
  const encryptedCid = headers.last()['x-amz-meta-cid']
  t.not(encryptedCid, plainCid)
  t.true((await decryptStored(await storedBytes(target, encryptedCid), await dataKeyOf(target, Bucket, 'encrypted'), [data.byteLength])).equals(data))
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'encrypted' }))).ServerSideEncryption, 'AES256')
  t.true((await getBytes(s3, { Bucket, Key: 'encrypted' })).equals(data))

  const toPlain = await s3.send(new CopyObjectCommand({ Bucket, Key: 'decrypted', CopySource: `${Bucket}/encrypted` }))
  t.is(toPlain.ServerSideEncryption, undefined)
  t.is(headers.last()['x-amz-meta-cid'], plainCid, 'decrypted, the copy is the plaintext\'s DAG again')
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'decrypted' }))).ServerSideEncryption, undefined)
  t.true((await getBytes(s3, { Bucket, Key: 'decrypted' })).equals(data))

  const s3ToS3 = await s3.send(new CopyObjectCommand({ Bucket, Key: 'encrypted', CopySource: `${Bucket}/encrypted`, ServerSideEncryption: 'AES256', MetadataDirective: 'REPLACE' }))
  t.is(s3ToS3.ServerSideEncryption, 'AES256')
  t.not(headers.last()['x-amz-meta-cid'], encryptedCid, 'a new data key, so new ciphertext')
  t.true((await getBytes(s3, { Bucket, Key: 'encrypted' })).equals(data))

  const a = customerKey()
  const b = customerKey()
  await s3.send(new PutObjectCommand({ Bucket, Key: 'customer', Body: data, ...sseC(a) }))
  const rekeyed = await s3.send(new CopyObjectCommand({ Bucket, Key: 'rekeyed', CopySource: `${Bucket}/customer`, ...copySourceSseC(a), ...sseC(b) }))
  t.is(rekeyed.SSECustomerKeyMD5, b.md5)
  t.is(rekeyed.SSECustomerAlgorithm, 'AES256')
  t.true((await getBytes(s3, { Bucket, Key: 'rekeyed', ...sseC(b) })).equals(data))
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'rekeyed', ...sseC(a) }))), { code: 'AccessDenied', status: 403 })
  t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'x', CopySource: `${Bucket}/customer`, ...sseC(b) }))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'x', CopySource: `${Bucket}/customer` }))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'x', CopySource: `${Bucket}/customer`, ...copySourceSseC(b) }))), { code: 'AccessDenied', status: 403 })
  t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'x', CopySource: `${Bucket}/plain`, ...copySourceSseC(a) }))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket, Key: 'x' }))), { code: 'NotFound', status: 404 })

  // IPFS content adopted into an encrypted object is stored as ciphertext, not referenced.
  const adopted = await s3.send(new CopyObjectCommand({ Bucket, Key: 'adopted', CopySource: `/ipfs/${plainCid}`, ServerSideEncryption: 'AES256' }))
  t.is(adopted.ServerSideEncryption, 'AES256')
  t.is(adopted.CopyObjectResult?.ETag, `"${md5Hex(data)}"`)
  const adoptedCid = headers.last()['x-amz-meta-cid']
  t.not(adoptedCid, plainCid)
  t.true((await decryptStored(await storedBytes(target, adoptedCid), await dataKeyOf(target, Bucket, 'adopted'), [data.byteLength])).equals(data))
  t.true((await getBytes(s3, { Bucket, Key: 'adopted' })).equals(data))

  const customerToS3 = await s3.send(new CopyObjectCommand({ Bucket, Key: 'from-customer', CopySource: `${Bucket}/customer`, ...copySourceSseC(a), ServerSideEncryption: 'AES256' }))
  t.is(customerToS3.ServerSideEncryption, 'AES256')
  t.true((await getBytes(s3, { Bucket, Key: 'from-customer' })).equals(data))
})

each('UploadPartCopy from encrypted sources with a range, into encrypted and unencrypted uploads', async (t, { s3 }) => {
  const Bucket = await newBucket(s3)
  const a = customerKey()
  const b = customerKey()
  const big = deterministicBytes('copy source s3', 5 * MiB + 70_000)
  const small = deterministicBytes('copy source c', 3 * SEGMENT_SIZE)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'sse-s3', Body: big, ServerSideEncryption: 'AES256' }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'sse-c', Body: small, ...sseC(a) }))
  const first = [3, 5 * MiB + 2]
  const second = [SEGMENT_SIZE - 7, 2 * SEGMENT_SIZE + 7]
  const expected = Buffer.concat([big.subarray(first[0], first[1] + 1), big, small.subarray(second[0], second[1] + 1)])

  for (const [name, encryption] of [['unencrypted', {}], ['sse-s3', { ServerSideEncryption: 'AES256' as const }], ['sse-c', sseC(b)]] as const) {
    const Key = `assembled-${name}`
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key, ...encryption }))
    const upload = { Bucket, Key, UploadId, ...encryption }
    const p1 = await s3.send(new UploadPartCopyCommand({ ...upload, PartNumber: 1, CopySource: `${Bucket}/sse-s3`, CopySourceRange: `bytes=${first[0]}-${first[1]}` }))
    const p2 = await s3.send(new UploadPartCopyCommand({ ...upload, PartNumber: 2, CopySource: `${Bucket}/sse-s3` }))
    const range = { ...upload, PartNumber: 3, CopySource: `${Bucket}/sse-c`, CopySourceRange: `bytes=${second[0]}-${second[1]}` }
    t.deepEqual(await s3Error(s3.send(new UploadPartCopyCommand(range))), { code: 'InvalidRequest', status: 400 }, `${name}: an SSE-C source needs its key`)
    t.deepEqual(await s3Error(s3.send(new UploadPartCopyCommand({ ...range, ...copySourceSseC(b) }))), { code: 'AccessDenied', status: 403 }, `${name}: another key`)
    const p3 = await s3.send(new UploadPartCopyCommand({ ...range, ...copySourceSseC(a) }))
    for (const p of [p1, p2, p3]) {
      t.is(p.ServerSideEncryption, name === 'sse-s3' ? 'AES256' : undefined, name)
      t.is(p.SSECustomerKeyMD5, name === 'sse-c' ? b.md5 : undefined, name)
    }
    await s3.send(new CompleteMultipartUploadCommand({
      Bucket, Key, UploadId,
      MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.CopyPartResult?.ETag }, { PartNumber: 2, ETag: p2.CopyPartResult?.ETag }, { PartNumber: 3, ETag: p3.CopyPartResult?.ETag }] },
    }))
    const read = name === 'sse-c' ? sseC(b) : {}
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key, ...read }))
    t.is(head.ServerSideEncryption, name === 'sse-s3' ? 'AES256' : undefined, name)
    t.true((await getBytes(s3, { Bucket, Key, ...read })).equals(expected), name)
    const boundary = first[1] - first[0] + 1
    t.true((await getBytes(s3, { Bucket, Key, Range: `bytes=${boundary - 5}-${boundary + 5}`, ...read })).equals(expected.subarray(boundary - 5, boundary + 6)), `${name}: across parts`)
    t.true((await getBytes(s3, { Bucket, Key, PartNumber: 3, ...read })).equals(small.subarray(second[0], second[1] + 1)), `${name}: part 3`)
  }
})

// ---------------------------------------------------------------- damage

each('a damaged block of an encrypted object: reads touching it fail and never return wrong bytes; other ranges still read', async (t, target) => {
  const { s3, headers } = target
  const Bucket = await newBucket(s3)
  const size = 3 * MiB + 5
  const data = deterministicBytes(`tamper ${target.storage}`, size)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'victim', Body: data, ServerSideEncryption: 'AES256' }))
  const cid = headers.last()['x-amz-meta-cid']
  const ciphertext = await storedBytes(target, cid)

  // Segment 20 (plaintext bytes 20 × 64 KiB onwards) lies in the second 1 MiB leaf of the DAG.
  const damaged = 20
  const at = SALT_SIZE + damaged * SEGMENT_CIPHER + 100
  const leaf = ciphertext.subarray(MiB, 2 * MiB)
  let found = false
  for await (const block of target.blocks()) {
    if (Buffer.compare(block.bytes, leaf) !== 0) continue
    const altered = Buffer.from(leaf)
    altered[at - MiB] ^= 0x01
    await block.overwrite(altered)
    found = true
  }
  t.true(found, 'the leaf holding segment 20 is in the blockstore')

  const segment = (n: number): [number, number] => [n * SEGMENT_SIZE, (n + 1) * SEGMENT_SIZE - 1]
  // The first segment read is decrypted before the answer starts: an S3 error.
  for (const [first, last] of [[damaged * SEGMENT_SIZE + 5, damaged * SEGMENT_SIZE + 10], segment(damaged), [damaged * SEGMENT_SIZE + 65535, (damaged + 2) * SEGMENT_SIZE]]) {
    t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'victim', Range: `bytes=${first}-${last}` }))), { code: 'InternalError', status: 500 }, `${first}-${last}`)
  }
  // A later segment fails after the headers: the body stops short, and what came is the plaintext.
  for (const Range of [`bytes=${(damaged - 1) * SEGMENT_SIZE}-${(damaged + 1) * SEGMENT_SIZE}`, undefined]) {
    const expected = Range === undefined ? data : data.subarray((damaged - 1) * SEGMENT_SIZE, (damaged + 1) * SEGMENT_SIZE + 1)
    let received: { bytes: Buffer, error?: unknown }
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket, Key: 'victim', Range }))
      received = await drain(res.Body as Readable)
    } catch (error) {
      received = { bytes: Buffer.alloc(0), error }
    }
    t.truthy(received.error, `${Range ?? 'whole'}: the read fails`)
    t.true(received.bytes.byteLength < expected.byteLength, `${Range ?? 'whole'}: short`)
    t.true(received.bytes.equals(expected.subarray(0, received.bytes.byteLength)), `${Range ?? 'whole'}: only plaintext bytes arrived`)
  }
  // Segments the damage does not touch, in the same block and elsewhere.
  for (const [first, last] of [segment(0), segment(damaged - 1), segment(damaged + 1), [size - 5, size - 1], [2 * MiB, 2 * MiB + 100]]) {
    t.true((await getBytes(s3, { Bucket, Key: 'victim', Range: `bytes=${first}-${last}` })).equals(data.subarray(first, last + 1)), `${first}-${last}`)
  }
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'victim' }))).ContentLength, size)
  // A copy reads all of it: it fails, and no copy is made.
  t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'copy', CopySource: `${Bucket}/victim` }))), { code: 'InternalError', status: 500 })
  t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket, Key: 'copy' }))), { code: 'NotFound', status: 404 })
})

// ---------------------------------------------------------------- CAR import, browser forms

each('a CAR import (x-amz-meta-import: car) cannot be encrypted: 400 InvalidRequest, asked for or a bucket default', async (t, { s3 }) => {
  const Bucket = await newBucket(s3)
  const defaulted = await newBucket(s3, true)
  const k = customerKey()
  const car = Buffer.from('not even a CAR: refused before it is read')
  const cases = [
    ['SSE-S3', Bucket, { ServerSideEncryption: 'AES256' as const }],
    ['SSE-C', Bucket, sseC(k)],
    ['bucket default', defaulted, {}],
  ] as const
  for (const [name, b, encryption] of cases) {
    t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket: b, Key: 'dag.car', Body: car, Metadata: { import: 'car' }, ...encryption }))), { code: 'InvalidRequest', status: 400 }, name)
    t.deepEqual(await s3Error(s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'dag.car', Metadata: { import: 'car' }, ...encryption }))), { code: 'InvalidRequest', status: 400 }, `${name} multipart`)
    t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket: b, Key: 'dag.car' }))), { code: 'NotFound', status: 404 }, name)
  }
})

each('PostObject (browser form) into a bucket with default encryption stores ciphertext and reads back plaintext; form SSE fields work too', async (t, target) => {
  const { s3 } = target
  const Bucket = await newBucket(s3, true)
  const marker = `FORM-${randomUUID()}`
  const data = marked(marker, 150_000)
  const post = async (Key: string, fields: Record<string, string>, bucket = Bucket): Promise<Response> => {
    const presigned = await createPresignedPost(s3, { Bucket: bucket, Key, Fields: fields })
    const form = new FormData()
    for (const [name, value] of Object.entries(presigned.fields)) form.append(name, value)
    form.append('file', new Blob([data]), 'upload.txt')
    return await fetch(presigned.url, { method: 'POST', body: form })
  }
  const res = await post('form.txt', {})
  t.is(res.status, 204, await res.text())
  t.is(res.headers.get('x-amz-server-side-encryption'), 'AES256')
  t.is(res.headers.get('etag'), `"${md5Hex(data)}"`)
  const cid = res.headers.get('x-amz-meta-cid') ?? ''
  t.not(cid, await ipfsAddCid(data))
  t.true((await decryptStored(await storedBytes(target, cid), await dataKeyOf(target, Bucket, 'form.txt'), [data.byteLength])).equals(data))
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'form.txt' }))).ServerSideEncryption, 'AES256')
  t.true((await getBytes(s3, { Bucket, Key: 'form.txt' })).equals(data))
  t.false(await blockstoreHolds(target, marker))

  // Encryption asked for by the form's own fields, in a bucket without a default.
  const plainBucket = await newBucket(s3)
  const asked = await post('asked.txt', { 'x-amz-server-side-encryption': 'AES256' }, plainBucket)
  t.is(asked.status, 204, await asked.text())
  t.is(asked.headers.get('x-amz-server-side-encryption'), 'AES256')
  t.is((await s3.send(new HeadObjectCommand({ Bucket: plainBucket, Key: 'asked.txt' }))).ServerSideEncryption, 'AES256')
  const k = customerKey()
  const customer = await post('customer.txt', k.headers, plainBucket)
  t.is(customer.status, 204, await customer.text())
  t.is(customer.headers.get('x-amz-server-side-encryption-customer-key-md5'), k.md5)
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: plainBucket, Key: 'customer.txt' }))), { code: 'InvalidRequest', status: 400 })
  t.true((await getBytes(s3, { Bucket: plainBucket, Key: 'customer.txt', ...sseC(k) })).equals(data))
})
