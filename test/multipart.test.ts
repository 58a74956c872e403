/**
 * Multipart uploads through the real AWS SDK (and @aws-sdk/lib-storage) over loopback HTTP, on the
 * standalone server's storage (FsBlockstore + SQLite), including restarts of the gateway.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import test from 'ava'
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  DeleteBucketCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand,
  PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type CompletedPart, type S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { blockstoreUnderTest } from './helpers/blockstore.js'
import { createGateway } from '../src/gateway.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { createChecksumHasher, toBase64 } from '../src/protocol/checksums.js'
import type { CidProfileName } from '../src/content/profiles.js'
import type { Gateway } from '../src/types.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { captureHeaders, credentials, deterministicBytes, ipfsAddCid, md5Hex, s3Client, s3Error } from './helpers/s3.js'
import { signedChunkedBody, signedFetch, signHeaders, signingKey } from './helpers/sign.js'

const MiB = 1024 * 1024

interface Running {
  dir: string
  gateway: Gateway
  metadata: SqliteMetadataStore
  host: RunningHost
  s3: S3Client
  headers: { last: () => Record<string, string> }
  stop: () => Promise<void>
}

/** A gateway on a directory; starting another on the same directory later is a restart. */
async function start (dir: string, profile: CidProfileName = 'unixfs-v1-2025'): Promise<Running> {
  const metadata = new SqliteMetadataStore({ path: join(dir, 'meta.db'), synchronous: 'NORMAL' })
  const gateway = createGateway({ blockstore: blockstoreUnderTest(dir), metadata, cidProfile: profile })
  const host = await nodeHost.start(gateway, '')
  const s3 = s3Client(host.url)
  const headers = captureHeaders(s3)
  return {
    dir,
    gateway,
    metadata,
    host,
    s3,
    headers,
    stop: async () => { s3.destroy(); await host.close(); await gateway.close() },
  }
}

const running: Running[] = []
async function fresh (profile?: CidProfileName): Promise<Running> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-mpu-'))
  const r = await start(dir, profile)
  running.push(r)
  await r.s3.send(new CreateBucketCommand({ Bucket: 'bkt' }))
  return r
}
test.after.always(async () => {
  for (const r of running) {
    await r.stop().catch(() => {})
    await rm(r.dir, { recursive: true, force: true })
  }
})

async function getBytes (s3: S3Client, key: string, extra: { Range?: string, PartNumber?: number } = {}): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: key, ...extra }))
  return Buffer.from(await (res.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray())
}

function expectedEtag (parts: Buffer[]): string {
  const md5 = createHash('md5')
  for (const p of parts) md5.update(createHash('md5').update(p).digest())
  return `"${md5.digest('hex')}-${parts.length}"`
}

/** Upload `parts` with the low-level calls and complete; returns the Complete output. */
async function uploadParts (s3: S3Client, key: string, parts: Buffer[]) {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: key }))
  const done: CompletedPart[] = []
  for (const [i, body] of parts.entries()) {
    const { ETag } = await s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: key, UploadId, PartNumber: i + 1, Body: body }))
    done.push({ PartNumber: i + 1, ETag })
  }
  const out = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'bkt', Key: key, UploadId, MultipartUpload: { Parts: done } }))
  return { out, uploadId: UploadId as string }
}

for (const [size, partSize] of [[20 * MiB, 5 * MiB], [20 * MiB, 8 * MiB], [200 * MiB, 5 * MiB], [200 * MiB, 8 * MiB]] as const) {
  test(`lib-storage Upload of ${size / MiB} MiB in ${partSize / MiB} MiB parts, 4 at once: ipfs-add CID, bytes and ETag`, async t => {
    const r = await fresh()
    const bytes = deterministicBytes(`lib-storage-${size}-${partSize}`, size)
    const upload = new Upload({
      client: r.s3,
      params: { Bucket: 'bkt', Key: 'big.bin', Body: Readable.from(chunksOf(bytes, 256 * 1024)), ContentType: 'application/x-test', Metadata: { origin: 'lib-storage' } },
      partSize,
      queueSize: 4,
      leavePartsOnError: false,
    })
    const out = await upload.done()
    const parts = Math.ceil(size / partSize)
    t.is(out.ETag, expectedEtag(Array.from({ length: parts }, (_, i) => bytes.subarray(i * partSize, (i + 1) * partSize))))

    const head = await r.s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'big.bin' }))
    t.is(head.ContentLength, size)
    t.is(head.ContentType, 'application/x-test')
    t.is(head.Metadata?.origin, 'lib-storage')
    // 5 and 8 MiB parts are whole multiples of unixfs-v1-2025's 1 MiB chunks: the CID is ipfs add's.
    t.is(head.Metadata?.cid, await ipfsAddCid(bytes, 'unixfs-v1-2025'))
    const got = await getBytes(r.s3, 'big.bin')
    t.true(got.equals(bytes))
    t.is((await r.s3.send(new ListMultipartUploadsCommand({ Bucket: 'bkt' }))).Uploads, undefined)
  })
}

function * chunksOf (bytes: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

for (const profile of ['unixfs-v1-2025', 'unixfs-v0-2015'] as const) {
  test(`${profile}: aligned parts give exactly the single-PUT CID; GET partNumber serves each part`, async t => {
    const r = await fresh(profile)
    const bytes = deterministicBytes(`aligned-${profile}`, 21 * MiB + 12345)
    const sizes = [8 * MiB, 8 * MiB, 5 * MiB + 12345]
    const parts = cut(bytes, sizes)
    const { out } = await uploadParts(r.s3, 'mp', parts)
    t.is(out.ETag, expectedEtag(parts))
    await r.s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'single', Body: bytes }))
    const single = await r.s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'single' }))
    const multi = await r.s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'mp' }))
    t.is(multi.Metadata?.cid, single.Metadata?.cid)
    t.is(multi.Metadata?.cid, await ipfsAddCid(bytes, profile))
    t.false('x-amz-mp-parts-count' in r.headers.last())

    const part2 = await r.s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'mp', PartNumber: 2 }))
    t.is(part2.ContentLength, 8 * MiB)
    t.is(part2.PartsCount, 3)
    t.is(part2.ContentRange, `bytes ${8 * MiB}-${16 * MiB - 1}/${bytes.length}`)
    t.true((await getBytes(r.s3, 'mp', { PartNumber: 3 })).equals(parts[2]))
    t.deepEqual(await s3Error(r.s3.send(new GetObjectCommand({ Bucket: 'bkt', Key: 'mp', PartNumber: 4 }))), { code: 'InvalidPartNumber', status: 416 })
  })
}

function cut (bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = []
  let at = 0
  for (const size of sizes) { out.push(bytes.subarray(at, at + size)); at += size }
  return out
}

test('unaligned parts make a valid DAG whose ranged reads across part boundaries are the bytes', async t => {
  const r = await fresh()
  const sizes = [5 * MiB + 1, 5 * MiB + 777, 3 * MiB + 5]
  const bytes = deterministicBytes('unaligned', sizes.reduce((a, b) => a + b))
  const parts = cut(bytes, sizes)
  await uploadParts(r.s3, 'u', parts)
  const head = await r.s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'u' }))
  t.is(head.ContentLength, bytes.length)
  t.not(head.Metadata?.cid, await ipfsAddCid(bytes, 'unixfs-v1-2025')) // documented: leaves differ at part boundaries
  t.true((await getBytes(r.s3, 'u')).equals(bytes))
  const boundary = sizes[0]
  for (const [start, end] of [[boundary - 10, boundary + 10], [boundary - 1, boundary], [0, boundary + sizes[1] + 3], [boundary + sizes[1] - 5, bytes.length - 1], [MiB - 3, 6 * MiB]]) {
    const got = await getBytes(r.s3, 'u', { Range: `bytes=${start}-${end}` })
    t.true(got.equals(bytes.subarray(start, end + 1)), `bytes=${start}-${end}`)
  }
  t.true((await getBytes(r.s3, 'u', { PartNumber: 2 })).equals(parts[1]))
})

test('errors: NoSuchUpload, InvalidArgument, InvalidPart, InvalidPartOrder, EntityTooSmall, MalformedXML; a retried Complete answers the same', async t => {
  const r = await fresh()
  const s3 = r.s3
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'e' }))
  const small = Buffer.from('tiny part')
  const big = deterministicBytes('e1', 5 * MiB)
  const last = Buffer.from('the last part')
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'e', UploadId, PartNumber: 0, Body: small }))), { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'e', UploadId, PartNumber: 10001, Body: small }))), { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'e', UploadId: 'nope', PartNumber: 1, Body: small }))), { code: 'NoSuchUpload', status: 404 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'other', UploadId, PartNumber: 1, Body: small }))), { code: 'NoSuchUpload', status: 404 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ Bucket: 'nobucket', Key: 'e', UploadId, PartNumber: 1, Body: small }))), { code: 'NoSuchBucket', status: 404 })

  const p1 = await s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'e', UploadId, PartNumber: 1, Body: small }))
  const p2 = await s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'e', UploadId, PartNumber: 2, Body: big }))
  const p3 = await s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'e', UploadId, PartNumber: 3, Body: last }))
  t.is(p1.ETag, `"${md5Hex(small)}"`)
  const complete = (Parts: CompletedPart[]) => s3.send(new CompleteMultipartUploadCommand({ Bucket: 'bkt', Key: 'e', UploadId, MultipartUpload: { Parts } }))
  t.deepEqual(await s3Error(complete([])), { code: 'MalformedXML', status: 400 })
  t.deepEqual(await s3Error(complete([{ PartNumber: 2, ETag: p2.ETag }, { PartNumber: 1, ETag: p1.ETag }])), { code: 'InvalidPartOrder', status: 400 })
  t.deepEqual(await s3Error(complete([{ PartNumber: 2, ETag: p2.ETag }, { PartNumber: 2, ETag: p2.ETag }])), { code: 'InvalidPartOrder', status: 400 })
  t.deepEqual(await s3Error(complete([{ PartNumber: 2, ETag: p2.ETag }, { PartNumber: 4, ETag: p3.ETag }])), { code: 'InvalidPart', status: 400 })
  t.deepEqual(await s3Error(complete([{ PartNumber: 2, ETag: p2.ETag }, { PartNumber: 3, ETag: p1.ETag }])), { code: 'InvalidPart', status: 400 })
  t.deepEqual(await s3Error(complete([{ PartNumber: 1, ETag: p1.ETag }, { PartNumber: 2, ETag: p2.ETag }])), { code: 'EntityTooSmall', status: 400 })
  // A failed Complete changes nothing: the upload and its parts are all still there.
  const listed = await s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'e', UploadId }))
  t.deepEqual(listed.Parts?.map(p => [p.PartNumber, p.Size, p.ETag]), [[1, small.length, p1.ETag], [2, big.length, p2.ETag], [3, last.length, p3.ETag]])

  // Part 1 is left out: the object is parts 2 and 3, and part 1's content is released.
  const partCids = await partCidsOf(r, 'e', UploadId as string)
  const done = await complete([{ PartNumber: 2, ETag: p2.ETag }, { PartNumber: 3, ETag: p3.ETag }])
  t.is(done.ETag, expectedEtag([big, last]))
  t.is(done.Key, 'e')
  t.is(done.Bucket, 'bkt')
  t.regex(done.Location ?? '', /^http:\/\/127\.0\.0\.1:\d+\/bkt\/e$/)
  t.true((await getBytes(s3, 'e')).equals(Buffer.concat([big, last])))
  t.is(await r.metadata.refCount(partCids[0]), 0)

  // A retry of the same Complete gets the same answer (as from Amazon S3); another list does not.
  const again = await complete([{ PartNumber: 2, ETag: p2.ETag }, { PartNumber: 3, ETag: p3.ETag }])
  t.is(again.ETag, done.ETag)
  t.is(again.$metadata.httpStatusCode, 200)
  t.deepEqual(await s3Error(complete([{ PartNumber: 2, ETag: p2.ETag }])), { code: 'NoSuchUpload', status: 404 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'e', UploadId, PartNumber: 1, Body: small }))), { code: 'NoSuchUpload', status: 404 })
  t.deepEqual(await s3Error(s3.send(new AbortMultipartUploadCommand({ Bucket: 'bkt', Key: 'e', UploadId }))), { code: 'NoSuchUpload', status: 404 })
  t.deepEqual(await s3Error(s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'e', UploadId }))), { code: 'NoSuchUpload', status: 404 })
  t.deepEqual(await s3Error(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'bkt', Key: 'e', UploadId: 'never', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }] } }))), { code: 'NoSuchUpload', status: 404 })
})

async function partCidsOf (r: Running, key: string, uploadId: string): Promise<string[]> {
  const parts = await r.metadata.listParts('bkt', key, uploadId, { limit: 10000 })
  return (parts ?? []).map(p => p.cid)
}

test('a failed Complete body is MalformedXML and the server keeps serving', async t => {
  const r = await fresh()
  const { UploadId } = await r.s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'x' }))
  // The SDK always sends well-formed XML: send a broken document through a signing middleware.
  const s3 = s3Client(r.host.url)
  s3.middlewareStack.add((next) => async (args) => {
    const request = args.request as { body?: unknown, headers: Record<string, string> }
    request.body = '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>'
    delete request.headers['content-length']
    return await next(args)
  }, { step: 'build', name: 'breakBody' })
  t.deepEqual(await s3Error(s3.send(new CompleteMultipartUploadCommand({ Bucket: 'bkt', Key: 'x', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"x"' }] } }))), { code: 'MalformedXML', status: 400 })
  s3.destroy()
  t.is((await r.s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'x', UploadId }))).UploadId, UploadId)
})

test('UploadPartCopy: whole objects by reference, ranges re-imported, copy-source conditions', async t => {
  const r = await fresh()
  const s3 = r.s3
  const src = deterministicBytes('copy-src', 6 * MiB)
  const put = await s3.send(new PutObjectCommand({ Bucket: 'bkt', Key: 'src', Body: src }))
  const srcCid = (await s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'src' }))).Metadata?.cid as string
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'dst' }))
  const whole = await s3.send(new UploadPartCopyCommand({ Bucket: 'bkt', Key: 'dst', UploadId, PartNumber: 1, CopySource: 'bkt/src' }))
  t.is(whole.CopyPartResult?.ETag, put.ETag)
  t.is((await partCidsOf(r, 'dst', UploadId as string))[0], srcCid) // metadata only: same content
  t.deepEqual(await s3Error(s3.send(new UploadPartCopyCommand({ Bucket: 'bkt', Key: 'dst', UploadId, PartNumber: 2, CopySource: 'bkt/src', CopySourceRange: `bytes=0-${src.length}` }))), { code: 'InvalidRange', status: 416 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCopyCommand({ Bucket: 'bkt', Key: 'dst', UploadId, PartNumber: 2, CopySource: 'bkt/src', CopySourceRange: 'bytes=5-' }))), { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCopyCommand({ Bucket: 'bkt', Key: 'dst', UploadId, PartNumber: 2, CopySource: 'bkt/src', CopySourceIfMatch: '"0000"' }))), { code: 'PreconditionFailed', status: 412 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCopyCommand({ Bucket: 'bkt', Key: 'dst', UploadId, PartNumber: 2, CopySource: 'bkt/missing' }))), { code: 'NoSuchKey', status: 404 })
  await s3.send(new UploadPartCopyCommand({ Bucket: 'bkt', Key: 'dst', UploadId, PartNumber: 2, CopySource: 'bkt/src', CopySourceIfMatch: put.ETag }))
  const ranged = await s3.send(new UploadPartCopyCommand({ Bucket: 'bkt', Key: 'dst', UploadId, PartNumber: 3, CopySource: 'bkt/src', CopySourceRange: 'bytes=100-1048675' }))
  t.is(ranged.CopyPartResult?.ETag, `"${md5Hex(src.subarray(100, 1048676))}"`)
  const parts = await s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'dst', UploadId }))
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'bkt', Key: 'dst', UploadId, MultipartUpload: { Parts: parts.Parts?.map(p => ({ PartNumber: p.PartNumber, ETag: p.ETag })) } }))
  t.true((await getBytes(s3, 'dst')).equals(Buffer.concat([src, src, src.subarray(100, 1048676)])))
  // The source's content is still referenced by the source and by the new object.
  t.true((await r.metadata.refCount(srcCid)) >= 1)
  t.true((await getBytes(s3, 'src')).equals(src))
})

test('ListParts and ListMultipartUploads page with their markers', async t => {
  const r = await fresh()
  const s3 = r.s3
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'lp' }))
  for (const n of [1, 2, 3, 5, 8]) await s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'lp', UploadId, PartNumber: n, Body: `part ${n}` }))
  const page1 = await s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'lp', UploadId, MaxParts: 2 }))
  t.deepEqual(page1.Parts?.map(p => p.PartNumber), [1, 2])
  t.true(page1.IsTruncated)
  t.is(page1.NextPartNumberMarker, '2')
  t.is(page1.Initiator?.ID, 'S3IPFSEXAMPLEKEY')
  t.is(page1.StorageClass, 'STANDARD')
  const page2 = await s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'lp', UploadId, MaxParts: 2, PartNumberMarker: page1.NextPartNumberMarker }))
  t.deepEqual(page2.Parts?.map(p => p.PartNumber), [3, 5])
  const page3 = await s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'lp', UploadId, MaxParts: 2, PartNumberMarker: page2.NextPartNumberMarker }))
  t.deepEqual(page3.Parts?.map(p => p.PartNumber), [8])
  t.false(page3.IsTruncated)

  const ids: Record<string, string[]> = {}
  for (const key of ['a/1', 'a/2', 'b/1', 'c', 'c', 'd']) {
    const { UploadId: id } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: key }))
    ;(ids[key] ??= []).push(id as string)
  }
  const all = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'bkt' }))
  t.deepEqual(all.Uploads?.map(u => u.Key), ['a/1', 'a/2', 'b/1', 'c', 'c', 'd', 'lp'])
  t.deepEqual(all.Uploads?.filter(u => u.Key === 'c').map(u => u.UploadId), ids.c)
  const rolled = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'bkt', Delimiter: '/' }))
  t.deepEqual(rolled.CommonPrefixes?.map(p => p.Prefix), ['a/', 'b/'])
  t.deepEqual(rolled.Uploads?.map(u => u.Key), ['c', 'c', 'd', 'lp'])
  const prefixed = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'bkt', Prefix: 'a/' }))
  t.deepEqual(prefixed.Uploads?.map(u => u.Key), ['a/1', 'a/2'])

  // Paging two at a time visits every upload once, in order, across a key with two uploads.
  const seen: string[] = []
  let keyMarker: string | undefined
  let uploadIdMarker: string | undefined
  for (let pages = 0; pages < 10; pages++) {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'bkt', MaxUploads: 2, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }))
    seen.push(...(page.Uploads ?? []).map(u => `${u.Key}:${u.UploadId}`))
    if (page.IsTruncated !== true) break
    keyMarker = page.NextKeyMarker
    uploadIdMarker = page.NextUploadIdMarker
  }
  t.deepEqual(seen, (all.Uploads ?? []).map(u => `${u.Key}:${u.UploadId}`))
  const afterKey = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'bkt', KeyMarker: 'c' }))
  t.deepEqual(afterKey.Uploads?.map(u => u.Key), ['d', 'lp'])
})

test('checksums: COMPOSITE CRC32 and FULL_OBJECT CRC64NVME objects, per-part checksums verified', async t => {
  const r = await fresh()
  const s3 = r.s3
  const parts = [deterministicBytes('ck1', 5 * MiB), deterministicBytes('ck2', 1234)]
  const whole = Buffer.concat(parts)
  const digest = async (algorithm: 'CRC32' | 'CRC64NVME', bytes: Uint8Array): Promise<Uint8Array> => {
    const h = createChecksumHasher(algorithm)
    h.update(bytes)
    return await h.digest()
  }

  for (const [algorithm, type] of [['CRC32', 'COMPOSITE'], ['CRC64NVME', 'FULL_OBJECT']] as const) {
    const key = `ck-${algorithm}`
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: key, ChecksumAlgorithm: algorithm, ChecksumType: type }))
    t.is(created.ChecksumAlgorithm, algorithm)
    t.is(created.ChecksumType, type)
    const UploadId = created.UploadId
    const done: CompletedPart[] = []
    for (const [i, body] of parts.entries()) {
      const out = await s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: key, UploadId, PartNumber: i + 1, Body: body, ChecksumAlgorithm: algorithm }))
      const value = algorithm === 'CRC32' ? out.ChecksumCRC32 : out.ChecksumCRC64NVME
      t.is(value, toBase64(await digest(algorithm, body)))
      done.push({ PartNumber: i + 1, ETag: out.ETag, [`Checksum${algorithm}`]: value })
    }
    const listed = await s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: key, UploadId }))
    t.is(listed.ChecksumAlgorithm, algorithm)
    const out = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'bkt', Key: key, UploadId, MultipartUpload: { Parts: done } }))
    let expected: string
    if (type === 'COMPOSITE') {
      const partDigests = await Promise.all(parts.map(async p => await digest(algorithm, p)))
      expected = `${toBase64(await digest(algorithm, Buffer.concat(partDigests)))}-${parts.length}`
      t.is(out.ChecksumCRC32, expected)
    } else {
      expected = toBase64(await digest(algorithm, whole))
      t.is(out.ChecksumCRC64NVME, expected)
    }
    t.is(out.ChecksumType, type)
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: key, ChecksumMode: 'ENABLED' }))
    t.is(algorithm === 'CRC32' ? head.ChecksumCRC32 : head.ChecksumCRC64NVME, expected)
    t.is(head.ChecksumType, type)
  }

  // A part checksum that does not match the bytes fails the part; another algorithm is refused.
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'bad', ChecksumAlgorithm: 'SHA256' }))
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'bad', UploadId, PartNumber: 1, Body: 'abc', ChecksumSHA256: toBase64(Buffer.alloc(32)) }))), { code: 'BadDigest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'bad', UploadId, PartNumber: 1, Body: 'abc', ChecksumAlgorithm: 'CRC32' }))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'bad', ChecksumAlgorithm: 'SHA256', ChecksumType: 'FULL_OBJECT' }))), { code: 'InvalidRequest', status: 400 })
})

test('an upload survives a gateway restart: parts uploaded before and after, then completed', async t => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-mpu-restart-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const parts = [deterministicBytes('r1', 5 * MiB), deterministicBytes('r2', 5 * MiB), deterministicBytes('r3', 333)]
  let r = await start(dir)
  await r.s3.send(new CreateBucketCommand({ Bucket: 'bkt' }))
  const { UploadId } = await r.s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'resumed', Metadata: { kept: 'yes' } }))
  const done: CompletedPart[] = []
  for (const i of [0, 1]) {
    const { ETag } = await r.s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'resumed', UploadId, PartNumber: i + 1, Body: parts[i] }))
    done.push({ PartNumber: i + 1, ETag })
  }
  await r.stop()

  r = await start(dir)
  t.teardown(async () => { await r.stop() })
  const listed = await r.s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'resumed', UploadId }))
  t.deepEqual(listed.Parts?.map(p => [p.PartNumber, p.ETag]), done.map(p => [p.PartNumber, p.ETag]))
  const { ETag } = await r.s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'resumed', UploadId, PartNumber: 3, Body: parts[2] }))
  done.push({ PartNumber: 3, ETag })
  await r.s3.send(new CompleteMultipartUploadCommand({ Bucket: 'bkt', Key: 'resumed', UploadId, MultipartUpload: { Parts: done } }))
  const head = await r.s3.send(new HeadObjectCommand({ Bucket: 'bkt', Key: 'resumed' }))
  t.is(head.Metadata?.kept, 'yes')
  t.is(head.Metadata?.cid, await ipfsAddCid(Buffer.concat(parts), 'unixfs-v1-2025'))
  t.true((await getBytes(r.s3, 'resumed')).equals(Buffer.concat(parts)))
})

test('abort while a part is still uploading: the late part is refused and nothing stays referenced', async t => {
  const r = await fresh()
  const s3 = r.s3
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'ab' }))
  const first = await s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'ab', UploadId, PartNumber: 1, Body: deterministicBytes('ab1', 2 * MiB) }))
  t.truthy(first.ETag)
  const firstCid = (await partCidsOf(r, 'ab', UploadId as string))[0]
  t.is(await r.metadata.refCount(firstCid), 1)

  const body = new PassThrough()
  const slow = deterministicBytes('ab2', 3 * MiB)
  body.write(slow.subarray(0, MiB))
  const late = s3.send(new UploadPartCommand({ Bucket: 'bkt', Key: 'ab', UploadId, PartNumber: 2, Body: body, ContentLength: slow.length }))
  await new Promise(resolve => setTimeout(resolve, 200))
  const aborted = await s3.send(new AbortMultipartUploadCommand({ Bucket: 'bkt', Key: 'ab', UploadId }))
  t.is(aborted.$metadata.httpStatusCode, 204)
  body.end(slow.subarray(MiB))
  t.deepEqual(await s3Error(late), { code: 'NoSuchUpload', status: 404 })
  t.is(await r.metadata.refCount(firstCid), 0)
  t.is(await r.metadata.refCount(await ipfsAddCid(slow, 'unixfs-v1-2025')), 0)
  t.is((await s3.send(new ListMultipartUploadsCommand({ Bucket: 'bkt' }))).Uploads, undefined)
  t.deepEqual(await s3Error(s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'ab', UploadId }))), { code: 'NoSuchUpload', status: 404 })
})

test('DeleteBucket removes uploads in progress with it, as Amazon S3 does', async t => {
  const r = await fresh()
  await r.s3.send(new CreateBucketCommand({ Bucket: 'gone' }))
  const { UploadId } = await r.s3.send(new CreateMultipartUploadCommand({ Bucket: 'gone', Key: 'k' }))
  await r.s3.send(new UploadPartCommand({ Bucket: 'gone', Key: 'k', UploadId, PartNumber: 1, Body: 'abandoned' }))
  const cid = (await r.metadata.listParts('gone', 'k', UploadId as string, { limit: 10 }))?.[0].cid as string
  t.is(await r.metadata.refCount(cid), 1)
  await r.s3.send(new DeleteBucketCommand({ Bucket: 'gone' }))
  t.is(await r.metadata.refCount(cid), 0)
  t.deepEqual(await s3Error(r.s3.send(new ListPartsCommand({ Bucket: 'gone', Key: 'k', UploadId }))), { code: 'NoSuchBucket', status: 404 })
})

test('UploadPart takes every SigV4 payload mode: signed hash, signed chunks, unsigned; a bad chunk signature stores no part', async t => {
  const r = await fresh()
  const { UploadId } = await r.s3.send(new CreateMultipartUploadCommand({ Bucket: 'bkt', Key: 'modes' }))
  const partUrl = (n: number): string => `${r.host.url}/bkt/modes?partNumber=${n}&uploadId=${UploadId as string}`
  const bodies = [deterministicBytes('mode1', 5 * MiB), deterministicBytes('mode2', 5 * MiB), deterministicBytes('mode3', 100001)]

  const hashed = await signedFetch({ method: 'PUT', url: partUrl(1), body: bodies[0] })
  t.is(hashed.status, 200, await hashed.text())
  t.is(hashed.headers.get('etag'), `"${md5Hex(bodies[0])}"`)

  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  const date = amzDate.slice(0, 8)
  const scope = `${date}/us-east-1/s3/aws4_request`
  const key = signingKey(credentials.secretAccessKey, date)
  for (const corrupt of [2, undefined]) {
    const chunks = [bodies[1].subarray(0, 3 * MiB), bodies[1].subarray(3 * MiB)]
    const headers = await signHeaders({
      method: 'PUT',
      url: partUrl(2),
      payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(bodies[1].length) },
    })
    const seedSignature = /Signature=([0-9a-f]{64})/.exec(headers.authorization)?.[1] as string
    delete headers.host
    const res = await fetch(partUrl(2), { method: 'PUT', headers, body: signedChunkedBody(chunks, { seedSignature, amzDate: headers['x-amz-date'], scope, key, corrupt }) })
    if (corrupt !== undefined) {
      t.is(res.status, 403)
      t.deepEqual((await r.s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'modes', UploadId }))).Parts?.map(p => p.PartNumber), [1])
    } else {
      t.is(res.status, 200, await res.text())
    }
  }

  const unsigned = await signedFetch({ method: 'PUT', url: partUrl(3), body: bodies[2], payloadHash: 'UNSIGNED-PAYLOAD' })
  t.is(unsigned.status, 200)
  const parts = await r.s3.send(new ListPartsCommand({ Bucket: 'bkt', Key: 'modes', UploadId }))
  await r.s3.send(new CompleteMultipartUploadCommand({ Bucket: 'bkt', Key: 'modes', UploadId, MultipartUpload: { Parts: parts.Parts?.map(p => ({ PartNumber: p.PartNumber, ETag: p.ETag })) } }))
  t.true((await getBytes(r.s3, 'modes')).equals(Buffer.concat(bodies)))
})
