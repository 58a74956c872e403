/**
 * The S3 API as the real AWS SDK v3 (default settings) sees it, over real loopback HTTP. Run by each
 * host adapter's test file against that host, so every behaviour is proven through every mount.
 */
import { Readable } from 'node:stream'
import test, { type ExecutionContext } from 'ava'
import {
  AbortMultipartUploadCommand, CreateMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand, UploadPartCommand,
  CopyObjectCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand,
  DeleteObjectTaggingCommand, GetBucketLoggingCommand, GetBucketLocationCommand, GetBucketVersioningCommand,
  GetObjectCommand, GetObjectTaggingCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand,
  ListObjectsCommand, ListObjectsV2Command, type ListObjectsV2CommandOutput, PutObjectCommand, PutObjectTaggingCommand, type S3Client,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import type { MetadataStore } from '../../src/metadata/metadata-store.js'
import type { Gateway } from '../../src/types.js'
import { captureHeaders, deterministicBytes, headerScope, md5Hex, s3Client, s3Error, sha256Hex } from '../helpers/s3.js'

export interface SuiteTarget {
  /** Endpoint including the mount prefix, e.g. http://127.0.0.1:1234/s3 */
  endpoint: string
  gateway: Gateway
  metadata: MetadataStore
  /** The SDK client to drive it with; default: an HTTP client of `endpoint`. */
  client?: () => S3Client
  close(): Promise<void>
}

const HELLO_CID = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'
const EMPTY_CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
const MiB = 1024 * 1024

export function s3ApiSuite (name: string, start: () => Promise<SuiteTarget>): void {
  let target: SuiteTarget
  let s3: S3Client
  let seen: { last: () => Record<string, string> }
  let counter = 0
  /** An ava test whose captured headers are its own (tests share one client concurrently). */
  const it = (title: string, body: (t: ExecutionContext) => Promise<void>): void => {
    test(title, async t => { await headerScope.run({}, async () => { await body(t) }) })
  }
  /** A fresh bucket per test, so tests run concurrently without sharing state. */
  async function bucket (): Promise<string> {
    const b = `${name}-b${++counter}-${Date.now() % 100000}`
    await s3.send(new CreateBucketCommand({ Bucket: b }))
    return b
  }

  test.before(async () => {
    target = await start()
    s3 = target.client?.() ?? s3Client(target.endpoint)
    seen = captureHeaders(s3)
  })
  test.after.always(async () => {
    s3?.destroy()
    await target?.close()
  })

  it(`${name}: bucket lifecycle`, async t => {
    const b = await bucket()
    await t.notThrowsAsync(s3.send(new HeadBucketCommand({ Bucket: b })))
    const list = await s3.send(new ListBucketsCommand({}))
    t.true(list.Buckets?.some(x => x.Name === b))
    t.is(list.Owner?.ID, 'S3IPFSEXAMPLEKEY')
    const loc = await s3.send(new GetBucketLocationCommand({ Bucket: b }))
    t.falsy(loc.LocationConstraint) // us-east-1 is reported empty
    const ver = await s3.send(new GetBucketVersioningCommand({ Bucket: b }))
    t.is(ver.Status, undefined)
    // Amazon S3's legacy us-east-1 answer to re-creating one's own bucket: 200, nothing changes.
    t.is((await s3.send(new CreateBucketCommand({ Bucket: b }))).$metadata.httpStatusCode, 200)
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }))
    t.deepEqual(await s3Error(s3.send(new DeleteBucketCommand({ Bucket: b }))), { code: 'BucketNotEmpty', status: 409 })
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'k' }))
    const del = await s3.send(new DeleteBucketCommand({ Bucket: b }))
    t.is(del.$metadata.httpStatusCode, 204)
    t.deepEqual(await s3Error(s3.send(new HeadBucketCommand({ Bucket: b }))), { code: 'NotFound', status: 404 })
    t.deepEqual(await s3Error(s3.send(new DeleteBucketCommand({ Bucket: b }))), { code: 'NoSuchBucket', status: 404 })
    t.deepEqual(await s3Error(s3.send(new CreateBucketCommand({ Bucket: 'ab' }))), { code: 'InvalidBucketName', status: 400 })
    t.deepEqual(await s3Error(s3.send(new CreateBucketCommand({ Bucket: 'has..dots' }))), { code: 'InvalidBucketName', status: 400 })
    t.deepEqual(await s3Error(s3.send(new CreateBucketCommand({ Bucket: '192.168.5.4' }))), { code: 'InvalidBucketName', status: 400 })
  })

  it(`${name}: put and get round-trip content headers, metadata, ETag and CID`, async t => {
    const b = await bucket()
    const expires = new Date('2030-01-02T03:04:05Z')
    const put = await s3.send(new PutObjectCommand({
      Bucket: b,
      Key: 'hello.txt',
      Body: 'hello world',
      ContentType: 'text/plain; charset=utf-8',
      ContentEncoding: 'identity',
      ContentDisposition: 'attachment; filename="hello.txt"',
      ContentLanguage: 'en',
      CacheControl: 'max-age=60',
      Expires: expires,
      Metadata: { color: 'blue', 'two-words': 'a b' },
    }))
    t.is(put.ETag, `"${md5Hex('hello world')}"`)
    t.is(seen.last()['x-amz-meta-cid'], HELLO_CID)
    t.is(seen.last()['x-ipfs-path'], `/ipfs/${HELLO_CID}`)
    const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'hello.txt' }))
    t.is(await get.Body?.transformToString(), 'hello world')
    t.is(get.ContentType, 'text/plain; charset=utf-8')
    t.is(get.ContentEncoding, 'identity')
    t.is(get.ContentDisposition, 'attachment; filename="hello.txt"')
    t.is(get.ContentLanguage, 'en')
    t.is(get.CacheControl, 'max-age=60')
    t.is(get.Expires?.getTime(), expires.getTime())
    t.is(get.ContentLength, 11)
    t.is(get.ETag, put.ETag)
    t.deepEqual(get.Metadata, { color: 'blue', 'two-words': 'a b', cid: HELLO_CID })
    t.is(seen.last()['x-ipfs-path'], `/ipfs/${HELLO_CID}`)
    t.true(get.LastModified instanceof Date && Math.abs(get.LastModified.getTime() - Date.now()) < 60_000)
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: 'hello.txt' }))
    t.is(listed.Contents?.[0].LastModified?.getTime(), get.LastModified?.getTime(), 'listing and GET agree to the second')
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'hello.txt' }))
    t.is(head.ContentLength, 11)
    t.is(head.Metadata?.cid, HELLO_CID)
    t.is(head.AcceptRanges, 'bytes')
    // aws-chunked is transport framing, never a stored Content-Encoding
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'plain', Body: 'abc' }))
    const plain = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'plain' }))
    t.is(plain.ContentEncoding, undefined)
  })

  it(`${name}: the checksum the SDK sends is verified, stored and returned`, async t => {
    const b = await bucket()
    const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'c', Body: 'hello world', ChecksumAlgorithm: 'SHA256' }))
    t.is(put.ChecksumSHA256, Buffer.from(sha256Hex('hello world'), 'hex').toString('base64'))
    const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', ChecksumMode: 'ENABLED' }))
    t.is(get.ChecksumSHA256, put.ChecksumSHA256)
    await get.Body?.transformToString()
    const crc = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'd', Body: 'hello world' }))
    t.is(crc.ChecksumCRC32, 'DUoRhQ==')
  })

  it(`${name}: keys with spaces, %, +, unicode and slashes`, async t => {
    const b = await bucket()
    const keys = ['a b', '100%', 'a+b', 'dir/sub/file.txt', 'ünïcödé/日本語/😀', 'x//y', 'trailing/', '~!@$&*()=:,;\'"[]{}', 'q?x=1#frag']
    for (const key of keys) {
      await s3.send(new PutObjectCommand({ Bucket: b, Key: key, Body: `body of ${key}` }))
    }
    for (const key of keys) {
      const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: key }))
      t.is(await get.Body?.transformToString(), `body of ${key}`, key)
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: b }))
    const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    t.deepEqual(listed.Contents?.map(c => c.Key), expected)
    const encoded = await s3.send(new ListObjectsV2Command({ Bucket: b, EncodingType: 'url' }))
    t.deepEqual(encoded.Contents?.map(c => decodeURIComponent((c.Key ?? '').replace(/\+/g, ' '))), expected)
  })

  it(`${name}: sizes 0, 1, 1 MiB + 1 and 50 MiB keep their bytes and get ipfs-add CIDs`, async t => {
    const b = await bucket()
    const cases: Array<{ key: string, data: Buffer, cid?: string }> = [
      { key: 'zero', data: Buffer.alloc(0), cid: EMPTY_CID },
      { key: 'one', data: Buffer.from('z') },
      // Kubo's cid_profiles_test: seed chunk-v1-seed, 1 MiB + 1 byte under unixfs-v1-2025
      { key: 'mib-plus-one', data: deterministicBytes('chunk-v1-seed', MiB + 1), cid: 'bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64' },
      { key: 'fifty', data: deterministicBytes('fifty', 50 * MiB) },
    ]
    for (const c of cases) {
      const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: c.key, Body: c.data, ContentLength: c.data.length }))
      t.is(put.ETag, `"${md5Hex(c.data)}"`, c.key)
      if (c.cid !== undefined) t.is(seen.last()['x-amz-meta-cid'], c.cid, c.key)
      const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: c.key }))
      t.is(get.ContentLength, c.data.length)
      const bytes = Buffer.from(await get.Body?.transformToByteArray() ?? [])
      t.is(sha256Hex(bytes), sha256Hex(c.data), c.key)
    }
    // a 50 MiB body streamed from a Readable of unknown chunking also lands intact
    const data = deterministicBytes('stream', 8 * MiB + 17)
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'streamed', Body: Readable.from(chunks(data, 65536 + 3)), ContentLength: data.length }))
    const back = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'streamed' }))
    t.is(sha256Hex(Buffer.from(await back.Body?.transformToByteArray() ?? [])), sha256Hex(data))
  })

  it(`${name}: byte ranges and partNumber`, async t => {
    const b = await bucket()
    const data = deterministicBytes('ranges', 3 * MiB + 5)
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'r', Body: data }))
    const ranges: Array<[string, number, number]> = [
      ['bytes=0-0', 0, 0], ['bytes=10-20', 10, 20], ['bytes=1048570-1048590', 1048570, 1048590],
      [`bytes=${3 * MiB}-`, 3 * MiB, 3 * MiB + 4], ['bytes=-7', data.length - 7, data.length - 1],
      [`bytes=5-${10 * MiB}`, 5, data.length - 1],
    ]
    for (const [range, start, end] of ranges) {
      const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'r', Range: range }))
      t.is(get.$metadata.httpStatusCode, 206, range)
      t.is(get.ContentRange, `bytes ${start}-${end}/${data.length}`, range)
      t.is(get.ContentLength, end - start + 1)
      t.true(Buffer.from(await get.Body?.transformToByteArray() ?? []).equals(data.subarray(start, end + 1)), range)
    }
    t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'r', Range: `bytes=${data.length}-` }))), { code: 'InvalidRange', status: 416 })
    t.is(seen.last()['content-range'], `bytes */${data.length}`)
    // an unparseable Range is ignored, as S3 does
    const whole = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'r', Range: 'bytes=abc' }))
    t.is(whole.$metadata.httpStatusCode, 200)
    t.is(whole.ContentLength, data.length)
    await whole.Body?.transformToByteArray()
    const part = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'r', PartNumber: 1 }))
    t.is(part.$metadata.httpStatusCode, 206)
    t.is(part.ContentLength, data.length)
    await part.Body?.transformToByteArray()
    t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'r', PartNumber: 2 }))), { code: 'InvalidPartNumber', status: 416 })
    const headRange = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'r', Range: 'bytes=0-9' }))
    t.is(headRange.ContentLength, 10)
  })

  it(`${name}: conditional GET and HEAD`, async t => {
    const b = await bucket()
    const put = await s3.send(new PutObjectCommand({ Bucket: b, Key: 'c', Body: 'conditional' }))
    const etag = put.ETag as string
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'c' }))
    const modified = head.LastModified as Date
    const before = new Date(modified.getTime() - 3600_000)
    const after = new Date(modified.getTime() + 3600_000)
    const ok = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfMatch: etag }))
    t.is(await ok.Body?.transformToString(), 'conditional')
    t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfMatch: '"0000"' }))), { code: 'PreconditionFailed', status: 412 })
    // 304 has no body, so the SDK names the error by status alone
    t.is((await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfNoneMatch: etag })))).status, 304)
    t.is(seen.last().etag, etag)
    t.is((await s3Error(s3.send(new HeadObjectCommand({ Bucket: b, Key: 'c', IfNoneMatch: etag })))).status, 304)
    t.is((await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfModifiedSince: after })))).status, 304)
    const since = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfModifiedSince: before }))
    await since.Body?.transformToString()
    t.is(since.$metadata.httpStatusCode, 200)
    t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfUnmodifiedSince: before }))), { code: 'PreconditionFailed', status: 412 })
    // If-Match true wins over If-Unmodified-Since false; If-None-Match true wins over If-Modified-Since false
    const both = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfMatch: etag, IfUnmodifiedSince: before }))
    await both.Body?.transformToString()
    t.is(both.$metadata.httpStatusCode, 200)
    const none = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'c', IfNoneMatch: '"other"', IfModifiedSince: after }))
    await none.Body?.transformToString()
    t.is(none.$metadata.httpStatusCode, 200)
  })

  it(`${name}: response-* overrides`, async t => {
    const b = await bucket()
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'o', Body: 'x', ContentType: 'text/plain' }))
    const get = await s3.send(new GetObjectCommand({
      Bucket: b,
      Key: 'o',
      ResponseContentType: 'application/json',
      ResponseContentDisposition: 'inline',
      ResponseCacheControl: 'no-store',
      ResponseContentLanguage: 'fr',
      ResponseContentEncoding: 'identity',
      ResponseExpires: new Date('2031-01-01T00:00:00Z'),
    }))
    await get.Body?.transformToString()
    t.is(get.ContentType, 'application/json')
    t.is(get.ContentDisposition, 'inline')
    t.is(get.CacheControl, 'no-store')
    t.is(get.ContentLanguage, 'fr')
    t.is(get.ContentEncoding, 'identity')
    t.is(get.Expires?.toISOString(), '2031-01-01T00:00:00.000Z')
  })

  it(`${name}: copies reference the same CID; directives and copy-source conditions`, async t => {
    const b = await bucket()
    const other = await bucket()
    const body = `copy me ${b}`
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'src key+%', Body: body, ContentType: 'text/plain', Metadata: { a: '1' }, Tagging: 't=1' }))
    const cid = seen.last()['x-amz-meta-cid']
    const copy = await s3.send(new CopyObjectCommand({ Bucket: other, Key: 'dst', CopySource: `${b}/${encodeURIComponent('src key+%')}` }))
    t.is(copy.CopyObjectResult?.ETag, `"${md5Hex(body)}"`)
    t.is(seen.last()['x-amz-meta-cid'], cid)
    t.is(await target.metadata.refCount(cid), 2)
    const copied = await s3.send(new GetObjectCommand({ Bucket: other, Key: 'dst' }))
    t.is(await copied.Body?.transformToString(), body)
    t.is(copied.ContentType, 'text/plain')
    t.deepEqual(copied.Metadata, { a: '1', cid })
    t.is(copied.TagCount, 1)

    await s3.send(new CopyObjectCommand({
      Bucket: b, Key: 'replaced', CopySource: `${b}/${encodeURIComponent('src key+%')}`,
      MetadataDirective: 'REPLACE', ContentType: 'application/x-new', Metadata: { b: '2' }, TaggingDirective: 'REPLACE', Tagging: 'x=y&z=w',
    }))
    const replaced = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'replaced' }))
    t.is(replaced.ContentType, 'application/x-new')
    t.deepEqual(replaced.Metadata, { b: '2', cid })
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'replaced' }))
    t.deepEqual(tags.TagSet, [{ Key: 'x', Value: 'y' }, { Key: 'z', Value: 'w' }])

    t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'src key+%', CopySource: `${b}/${encodeURIComponent('src key+%')}` }))),
      { code: 'InvalidRequest', status: 400 })
    t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/src%20key%2B%25`, CopySourceIfMatch: '"nope"' }))),
      { code: 'PreconditionFailed', status: 412 })
    t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/src%20key%2B%25`, CopySourceIfNoneMatch: copy.CopyObjectResult?.ETag }))),
      { code: 'PreconditionFailed', status: 412 })
    t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/src%20key%2B%25`, CopySourceIfModifiedSince: new Date(Date.now() + 3600_000) }))),
      { code: 'PreconditionFailed', status: 412 })
    const ok = await s3.send(new CopyObjectCommand({ Bucket: b, Key: 'x', CopySource: `${b}/src%20key%2B%25`, CopySourceIfMatch: copy.CopyObjectResult?.ETag, CopySourceIfUnmodifiedSince: new Date(0) }))
    t.truthy(ok.CopyObjectResult?.ETag)
    t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'y', CopySource: `${b}/missing` }))), { code: 'NoSuchKey', status: 404 })
    t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket: b, Key: 'y', CopySource: 'no-such-bucket-here/k' }))), { code: 'NoSuchBucket', status: 404 })
  })

  it(`${name}: shared content survives deleting one of its keys; overwrite releases the old CID`, async t => {
    const b = await bucket()
    const body = `shared ${name} ${Date.now()}`
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'one', Body: body }))
    const cid = seen.last()['x-amz-meta-cid']
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'two', Body: body }))
    t.is(seen.last()['x-amz-meta-cid'], cid)
    t.is(await target.metadata.refCount(cid), 2)
    await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'one' }))
    t.is(await target.metadata.refCount(cid), 1)
    const two = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'two' }))
    t.is(await two.Body?.transformToString(), body)
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'two', Body: `${body} changed` }))
    t.is(await target.metadata.refCount(cid), 0)
    // deleting what is not there succeeds, as S3
    const again = await s3.send(new DeleteObjectCommand({ Bucket: b, Key: 'one' }))
    t.is(again.$metadata.httpStatusCode, 204)
    t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: b, Key: 'one' }))), { code: 'NoSuchKey', status: 404 })
    t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket: b, Key: 'one' }))), { code: 'NotFound', status: 404 })
    t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket-here', Key: 'one' }))), { code: 'NoSuchBucket', status: 404 })
  })

  it(`${name}: DeleteObjects, quiet and with per-key errors`, async t => {
    const b = await bucket()
    for (const k of ['a', 'b', 'c']) await s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }))
    const res = await s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: [{ Key: 'a' }, { Key: 'missing' }, { Key: 'k'.repeat(1025) }] } }))
    t.deepEqual(res.Deleted?.map(d => d.Key), ['a', 'missing'])
    t.deepEqual(res.Errors?.map(e => e.Code), ['KeyTooLongError'])
    const quiet = await s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Quiet: true, Objects: [{ Key: 'b' }] } }))
    t.is(quiet.Deleted, undefined)
    const left = await s3.send(new ListObjectsV2Command({ Bucket: b }))
    t.deepEqual(left.Contents?.map(c => c.Key), ['c'])
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ Key: `k${i}` }))
    t.deepEqual(await s3Error(s3.send(new DeleteObjectsCommand({ Bucket: b, Delete: { Objects: tooMany } }))), { code: 'MalformedXML', status: 400 })
  })

  it(`${name}: object tagging`, async t => {
    const b = await bucket()
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 't', Body: 'x', Tagging: 'project=s3%20ipfs&empty=' }))
    // Read back sorted by key, as Ceph RGW returns them.
    t.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 't' }))).TagSet, [{ Key: 'empty', Value: '' }, { Key: 'project', Value: 's3 ipfs' }])
    const get = await s3.send(new GetObjectCommand({ Bucket: b, Key: 't' }))
    await get.Body?.transformToString()
    t.is(get.TagCount, 2)
    await s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 't', Tagging: { TagSet: [{ Key: 'k', Value: 'v' }] } }))
    t.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 't' }))).TagSet, [{ Key: 'k', Value: 'v' }])
    await s3.send(new DeleteObjectTaggingCommand({ Bucket: b, Key: 't' }))
    t.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 't' }))).TagSet ?? [], [])
    const eleven = Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }))
    t.deepEqual(await s3Error(s3.send(new PutObjectTaggingCommand({ Bucket: b, Key: 't', Tagging: { TagSet: eleven } }))), { code: 'InvalidTag', status: 400 })
    t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket: b, Key: 't2', Body: 'x', Tagging: 'a=1&a=2' }))), { code: 'InvalidTag', status: 400 })
    t.deepEqual(await s3Error(s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: 'nope' }))), { code: 'NoSuchKey', status: 404 })
  })

  it(`${name}: ListObjectsV2 pages through prefixes and delimiters without repeats`, async t => {
    const b = await bucket()
    const keys: string[] = []
    for (let d = 0; d < 5; d++) for (let f = 0; f < 7; f++) keys.push(`dir${d}/file${f}`)
    keys.push('top1', 'top2', 'dir2', 'dir2.txt')
    await Promise.all(keys.map(k => s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }))))
    const sorted = [...keys].sort()

    const all: string[] = []
    let token: string | undefined
    let pages = 0
    do {
      const page: ListObjectsV2CommandOutput = await s3.send(new ListObjectsV2Command({ Bucket: b, MaxKeys: 4, ContinuationToken: token }))
      all.push(...(page.Contents ?? []).map(c => c.Key as string))
      t.is(page.KeyCount, (page.Contents ?? []).length)
      token = page.NextContinuationToken
      t.is(page.IsTruncated, token !== undefined)
      pages++
    } while (token !== undefined && pages < 100)
    t.deepEqual(all, sorted)

    const seenEntries: string[] = []
    token = undefined
    pages = 0
    do {
      const page: ListObjectsV2CommandOutput = await s3.send(new ListObjectsV2Command({ Bucket: b, MaxKeys: 2, Delimiter: '/', ContinuationToken: token }))
      seenEntries.push(...(page.Contents ?? []).map(c => c.Key as string), ...(page.CommonPrefixes ?? []).map(p => p.Prefix as string))
      t.true((page.KeyCount ?? 0) <= 2)
      token = page.NextContinuationToken
      pages++
    } while (token !== undefined && pages < 100)
    t.deepEqual(seenEntries.sort(), ['dir0/', 'dir1/', 'dir2', 'dir2.txt', 'dir2/', 'dir3/', 'dir4/', 'top1', 'top2'].sort())

    const prefixed = await s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: 'dir3/', StartAfter: 'dir3/file2', FetchOwner: true }))
    t.deepEqual(prefixed.Contents?.map(c => c.Key), ['dir3/file3', 'dir3/file4', 'dir3/file5', 'dir3/file6'])
    t.is(prefixed.Contents?.[0].Owner?.ID, 'S3IPFSEXAMPLEKEY')
    t.is(prefixed.Contents?.[0].Size, 'dir3/file3'.length)
    t.is(prefixed.Contents?.[0].StorageClass, 'STANDARD')
    const noOwner = await s3.send(new ListObjectsV2Command({ Bucket: b, Prefix: 'top' }))
    t.is(noOwner.Contents?.[0].Owner, undefined)
    t.is(noOwner.Contents?.[0].ETag, `"${md5Hex('top1')}"`)
    const afterPrefix = await s3.send(new ListObjectsV2Command({ Bucket: b, Delimiter: '/', StartAfter: 'dir1/file3' }))
    t.deepEqual(afterPrefix.CommonPrefixes?.map(p => p.Prefix), ['dir2/', 'dir3/', 'dir4/'])
    const zero = await s3.send(new ListObjectsV2Command({ Bucket: b, MaxKeys: 0 }))
    t.is(zero.KeyCount, 0)
    t.deepEqual(await s3Error(s3.send(new ListObjectsV2Command({ Bucket: b, ContinuationToken: '!!!' }))), { code: 'InvalidArgument', status: 400 })
  })

  it(`${name}: ListObjects v1 marker and NextMarker`, async t => {
    const b = await bucket()
    const keys = ['a/1', 'a/2', 'b', 'c/1', 'c/2', 'd']
    for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: b, Key: k, Body: k }))
    const first = await s3.send(new ListObjectsCommand({ Bucket: b, Delimiter: '/', MaxKeys: 2 }))
    t.deepEqual(first.CommonPrefixes?.map(p => p.Prefix), ['a/'])
    t.deepEqual(first.Contents?.map(c => c.Key), ['b'])
    t.true(first.IsTruncated)
    t.is(first.NextMarker, 'b')
    const second = await s3.send(new ListObjectsCommand({ Bucket: b, Delimiter: '/', MaxKeys: 2, Marker: first.NextMarker }))
    t.deepEqual(second.CommonPrefixes?.map(p => p.Prefix), ['c/'])
    t.deepEqual(second.Contents?.map(c => c.Key), ['d'])
    t.false(second.IsTruncated)
    const fromPrefix = await s3.send(new ListObjectsCommand({ Bucket: b, Delimiter: '/', Marker: 'a/' }))
    t.deepEqual(fromPrefix.CommonPrefixes?.map(p => p.Prefix), ['c/'])
    const flat = await s3.send(new ListObjectsCommand({ Bucket: b, Marker: 'b' }))
    t.deepEqual(flat.Contents?.map(c => c.Key), ['c/1', 'c/2', 'd'])
    t.is(flat.Contents?.[0].Owner?.ID, 'S3IPFSEXAMPLEKEY')
  })

  it(`${name}: presigned GET and PUT`, async t => {
    const b = await bucket()
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: b, Key: 'pre signed/ü' }), { expiresIn: 300 })
    const put = await fetch(putUrl, { method: 'PUT', body: 'uploaded through a presigned URL' })
    t.is(put.status, 200, await put.text())
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: b, Key: 'pre signed/ü' }), { expiresIn: 300 })
    const get = await fetch(getUrl)
    t.is(get.status, 200)
    t.is(await get.text(), 'uploaded through a presigned URL')
    t.truthy(get.headers.get('x-amz-meta-cid'))
    const tampered = await fetch(getUrl.replace('X-Amz-Expires=300', 'X-Amz-Expires=301'))
    t.is(tampered.status, 403)
    t.regex(await tampered.text(), /<Code>SignatureDoesNotMatch<\/Code>/)
  })

  it(`${name}: lib-storage multipart upload (5 MiB parts, 4 at once) gets the single-PUT CID; parts are listed and readable`, async t => {
    const b = await bucket()
    const bytes = deterministicBytes(`${name}-multipart`, 17 * MiB + 3)
    await s3.send(new PutObjectCommand({ Bucket: b, Key: 'single', Body: bytes }))
    const singleCid = (await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'single' }))).Metadata?.cid
    const upload = new Upload({ client: s3, params: { Bucket: b, Key: 'multi', Body: Readable.from([bytes]) }, partSize: 5 * MiB, queueSize: 4 })
    const out = await upload.done()
    t.regex(out.ETag ?? '', /^"[0-9a-f]{32}-4"$/)
    const head = await s3.send(new HeadObjectCommand({ Bucket: b, Key: 'multi' }))
    t.is(head.Metadata?.cid, singleCid)
    t.is(head.ContentLength, bytes.length)
    const part4 = await s3.send(new GetObjectCommand({ Bucket: b, Key: 'multi', PartNumber: 4 }))
    t.is(part4.PartsCount, 4)
    t.true(Buffer.from(await part4.Body!.transformToByteArray()).equals(bytes.subarray(15 * MiB)))
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: b, Key: 'pending' }))
    await s3.send(new UploadPartCommand({ Bucket: b, Key: 'pending', UploadId, PartNumber: 7, Body: 'seven' }))
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: b }))
    t.deepEqual(uploads.Uploads?.map(u => [u.Key, u.UploadId]), [['pending', UploadId]])
    const parts = await s3.send(new ListPartsCommand({ Bucket: b, Key: 'pending', UploadId }))
    t.deepEqual(parts.Parts?.map(p => [p.PartNumber, p.Size]), [[7, 5]])
    await s3.send(new AbortMultipartUploadCommand({ Bucket: b, Key: 'pending', UploadId }))
    t.is((await s3.send(new ListMultipartUploadsCommand({ Bucket: b }))).Uploads, undefined)
  })

  it(`${name}: unimplemented subresources answer NotImplemented; anonymous requests are denied`, async t => {
    const b = await bucket()
    t.deepEqual(await s3Error(s3.send(new GetBucketLoggingCommand({ Bucket: b }))), { code: 'NotImplemented', status: 501 })
    const anonymous = await fetch(`${target.endpoint}/${b}`)
    t.is(anonymous.status, 403)
    t.regex(await anonymous.text(), /<Code>AccessDenied<\/Code>/)
  })
}

function * chunks (data: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}
