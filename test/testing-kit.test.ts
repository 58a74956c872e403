/**
 * The testing kit (`s3-ipfs-gateway/testing`) as users drive it: the AWS SDK in-process and over
 * startTestServer, deterministic clock and ids, inspection, reset and fault injection.
 */
import test from 'ava'
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { createTestGateway, inProcessHandler, startTestServer, TEST_CREDENTIALS, type TestGateway } from '../src/testing/index.js'
import { deterministicBytes, s3Error } from './helpers/s3.js'

function client (gateway: TestGateway, options: { maxAttempts?: number, secretAccessKey?: string } = {}): S3Client {
  return new S3Client({
    requestHandler: inProcessHandler(gateway),
    endpoint: 'http://s3.test',
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { ...TEST_CREDENTIALS, ...(options.secretAccessKey === undefined ? {} : { secretAccessKey: options.secretAccessKey }) },
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: 'standard',
  })
}

test('in-process: the SDK round-trips objects with no socket, and the gateway still verifies signatures and checksums', async t => {
  const gateway = createTestGateway({ buckets: ['app'] })
  const s3 = client(gateway)
  const body = deterministicBytes('kit', 3 * 1024 * 1024 + 5) // aws-chunked with a CRC32 trailer
  await s3.send(new PutObjectCommand({ Bucket: 'app', Key: 'dir/a file+1.bin', Body: body, ContentType: 'application/x-kit' }))
  const got = await s3.send(new GetObjectCommand({ Bucket: 'app', Key: 'dir/a file+1.bin' }))
  t.is(got.ContentType, 'application/x-kit')
  t.true(Buffer.from(await got.Body!.transformToByteArray()).equals(body))
  t.regex(got.Metadata?.cid ?? '', /^bafy/)

  const forged = client(gateway, { secretAccessKey: 'not-the-secret', maxAttempts: 1 })
  t.deepEqual(await s3Error(forged.send(new PutObjectCommand({ Bucket: 'app', Key: 'x', Body: 'x' }))), { code: 'SignatureDoesNotMatch', status: 403 })
  t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket: 'app', Key: 'bad', Body: 'abc', ChecksumSHA256: Buffer.alloc(32).toString('base64') }))), { code: 'BadDigest', status: 400 })
  t.deepEqual((await gateway.objects('app')).map(o => o.key), ['dir/a file+1.bin'])
  await gateway.close()
})

test('deterministic clock and ids; objects() shows versions and CIDs; reset() empties and re-creates buckets', async t => {
  const when = new Date('2031-02-03T04:05:06Z')
  const gateway = createTestGateway({ buckets: ['app', 'other'], clock: when, deterministicIds: true })
  const s3 = client(gateway)
  await s3.send(new PutBucketVersioningCommand({ Bucket: 'app', VersioningConfiguration: { Status: 'Enabled' } }))
  const v1 = await s3.send(new PutObjectCommand({ Bucket: 'app', Key: 'k', Body: 'one' }))
  const v2 = await s3.send(new PutObjectCommand({ Bucket: 'app', Key: 'k', Body: 'two' }))
  t.is(v1.VersionId, 'version-000001')
  t.is(v2.VersionId, 'version-000002')
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'app', Key: 'mp' }))
  t.is(UploadId, 'upload-000003')
  const part = await s3.send(new UploadPartCommand({ Bucket: 'app', Key: 'mp', UploadId, PartNumber: 1, Body: 'part' }))
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'app', Key: 'mp', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }))
  const head = await s3.send(new HeadObjectCommand({ Bucket: 'app', Key: 'k' }))
  t.deepEqual(head.LastModified, when)

  const objects = await gateway.objects()
  t.deepEqual(objects.map(o => [o.bucket, o.key, o.versionId, o.isLatest]), [
    ['app', 'k', 'version-000002', true], ['app', 'k', 'version-000001', false], ['app', 'mp', 'version-000004', true],
  ])
  t.true(objects.every(o => o.cid.startsWith('baf') && o.lastModified.getTime() === when.getTime()))

  await gateway.reset()
  t.deepEqual(await gateway.objects(), [])
  t.is((await s3.send(new ListObjectsV2Command({ Bucket: 'other' }))).KeyCount, 0) // re-created
  t.is((await gateway.blockstore.listBlocks()[Symbol.asyncIterator]().next()).done, true) // blocks collected
  t.is((await s3.send(new PutObjectCommand({ Bucket: 'app', Key: 'k', Body: 'again' }))).VersionId, undefined) // versioning reset too
  await gateway.close()
})

test('injectFault: the next N matching requests fail with an S3 error (SDK retries see them) or are delayed', async t => {
  const gateway = createTestGateway({ buckets: ['app'] })
  const s3 = client(gateway, { maxAttempts: 3 })
  await s3.send(new PutObjectCommand({ Bucket: 'app', Key: 'k', Body: 'value' }))

  gateway.injectFault({ operation: 'GetObject', error: 'SlowDown', times: 2 })
  const retried = await s3.send(new GetObjectCommand({ Bucket: 'app', Key: 'k' }))
  t.is(retried.$metadata.attempts, 3)
  t.is(await retried.Body!.transformToString(), 'value')

  gateway.injectFault({ operation: 'GetObject', error: 'InternalError', times: 5 })
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: 'app', Key: 'k' }))), { code: 'InternalError', status: 500 })
  gateway.clearFaults()

  const remove = gateway.injectFault({ operation: 'DeleteObject', key: 'k', error: 'AccessDenied', times: Infinity })
  t.deepEqual(await s3Error(s3.send(new DeleteObjectCommand({ Bucket: 'app', Key: 'k' }))), { code: 'AccessDenied', status: 403 })
  await s3.send(new DeleteObjectCommand({ Bucket: 'app', Key: 'other' })) // another key is not affected
  remove()
  await s3.send(new DeleteObjectCommand({ Bucket: 'app', Key: 'k' }))

  // A delayed request is still pending after other requests have completed, then completes.
  gateway.injectFault({ operation: 'HeadBucket', latencyMs: 1000 })
  let settled = false
  const delayed = s3.send(new HeadBucketCommand({ Bucket: 'app' })).finally(() => { settled = true })
  await s3.send(new PutObjectCommand({ Bucket: 'app', Key: 'meanwhile', Body: 'x' }))
  await s3.send(new GetObjectCommand({ Bucket: 'app', Key: 'meanwhile' }))
  t.false(settled)
  t.is((await delayed).$metadata.httpStatusCode, 200)
  await gateway.close()
})

test('startTestServer: an HTTP endpoint for URL-based code, presigned URLs included', async t => {
  const server = await startTestServer({ buckets: ['app'] })
  t.teardown(async () => { await server.close() })
  t.regex(server.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/)
  const s3 = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials })
  await s3.send(new PutObjectCommand({ Bucket: 'app', Key: 'k', Body: 'over http' }))
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'app', Key: 'k' }), { expiresIn: 60 })
  const res = await fetch(url)
  t.is(res.status, 200)
  t.is(await res.text(), 'over http')
  t.deepEqual((await server.gateway.objects('app')).map(o => o.key), ['k'])
  s3.destroy()
})
