/**
 * S3 behaviour that tools depend on, through the AWS SDK v3 over loopback HTTP (hand-signed requests
 * only where the SDK cannot send or does not show what is checked): bucket tagging, Object Ownership,
 * GetObjectAttributes, ListBuckets pagination, x-amz-expected-bucket-owner, and the answers where the
 * gateway used to differ from Amazon S3 (encoding-type=url, empty continuation tokens, CreateBucket of
 * one's own bucket, anonymous reads of missing keys, Content-Encoding, x-amz-tagging, complete ACL
 * grantees, non-ASCII metadata, and x-amz-meta-cid never being user metadata). On the standalone
 * server's storage (PackBlockstore + SQLite) and on the in-memory default.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketOwnershipControlsCommand,
  DeleteBucketTaggingCommand, GetBucketAclCommand, GetBucketOwnershipControlsCommand, GetBucketTaggingCommand, GetObjectAclCommand,
  GetObjectAttributesCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, ListBucketsCommand, ListObjectsV2Command,
  PutBucketAclCommand, PutBucketOwnershipControlsCommand, PutBucketPolicyCommand, PutBucketTaggingCommand, PutObjectAclCommand,
  PutObjectCommand, S3Client, UploadPartCommand, type ObjectAttributes,
} from '@aws-sdk/client-s3'
import { blockstoreUnderTest } from './helpers/blockstore.js'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { nodeHost } from './helpers/hosts.js'
import { captureHeaders, credentials, s3Client, s3Error } from './helpers/s3.js'
import { signedFetch } from './helpers/sign.js'

interface Target { name: string, s3: S3Client, reader: S3Client, url: string }

const OWNER = credentials.accessKeyId
/** A second known user. */
const READER = 'READERKEY'
const CREDENTIALS = { [credentials.accessKeyId]: credentials.secretAccessKey, [READER]: 'reader-secret' }
const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers'
const targets: Target[] = []
const cleanup: Array<() => Promise<void>> = []
let n = 0
const name = (prefix: string): string => `${prefix}-${++n}-${randomBytes(3).toString('hex')}`

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-behaviour-'))
  const sqlite = new SqliteMetadataStore({ path: join(dir, 'meta.db'), synchronous: 'NORMAL' })
  for (const [label, gateway] of [
    ['disk+sqlite', createGateway({ blockstore: blockstoreUnderTest(dir), metadata: sqlite, credentials: CREDENTIALS, masterKey: new Uint8Array(32).fill(3), allowInsecureSseC: true })],
    ['memory', createGateway({ credentials: CREDENTIALS, masterKey: new Uint8Array(32).fill(3), allowInsecureSseC: true })],
  ] as const) {
    const host = await nodeHost.start(gateway, '')
    const s3 = s3Client(host.url)
    const reader = new S3Client({ endpoint: host.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: READER, secretAccessKey: 'reader-secret' }, maxAttempts: 1 })
    targets.push({ name: label, s3, reader, url: host.url })
    cleanup.push(async () => { s3.destroy(); reader.destroy(); await host.close(); await gateway.close() })
  }
  cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
})
test.after.always(async () => {
  for (const c of cleanup) await c()
})

function each (title: string, fn: (t: ExecutionContext, target: Target) => Promise<void>): void {
  for (const label of ['disk+sqlite', 'memory']) {
    test(`${label}: ${title}`, async (t) => {
      const target = targets.find(x => x.name === label)
      if (target === undefined) throw new Error('no target')
      await fn(t, target)
    })
  }
}

async function expectCode (t: ExecutionContext, res: Response, status: number, code?: string): Promise<string> {
  const body = await res.text()
  t.is(res.status, status, body)
  if (code !== undefined) t.regex(body, new RegExp(`<Code>${code}</Code>`))
  return body
}

const grants = (list: Array<{ Grantee?: { ID?: string, URI?: string }, Permission?: string }> | undefined): string[][] =>
  (list ?? []).map(g => [g.Grantee?.ID ?? g.Grantee?.URI ?? '?', g.Permission ?? '?'])

each('bucket tagging: NoSuchTagSet, put (up to 50, sorted by key), validation, delete', async (t, { s3 }) => {
  const Bucket = name('tags')
  await s3.send(new CreateBucketCommand({ Bucket }))
  t.deepEqual(await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket }))), { code: 'NoSuchTagSet', status: 404 })
  const put = await s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: [{ Key: 'team', Value: 'storage' }, { Key: 'cost-centre', Value: '' }] } }))
  t.is(put.$metadata.httpStatusCode, 204)
  t.deepEqual((await s3.send(new GetBucketTaggingCommand({ Bucket }))).TagSet, [{ Key: 'cost-centre', Value: '' }, { Key: 'team', Value: 'storage' }])
  const fifty = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: `v${i}` }))
  await s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: fifty } }))
  t.is((await s3.send(new GetBucketTaggingCommand({ Bucket }))).TagSet?.length, 50)
  for (const TagSet of [
    [...fifty, { Key: 'k50', Value: 'x' }],
    [{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }],
    [{ Key: 'aws:createdBy', Value: 'x' }],
    [{ Key: 'x'.repeat(129), Value: '' }],
    [{ Key: 'k', Value: 'v'.repeat(257) }],
  ]) {
    t.deepEqual(await s3Error(s3.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet } }))), { code: 'InvalidTag', status: 400 })
  }
  t.is((await s3.send(new GetBucketTaggingCommand({ Bucket }))).TagSet?.length, 50, 'a refused tag set changes nothing')
  t.is((await s3.send(new DeleteBucketTaggingCommand({ Bucket }))).$metadata.httpStatusCode, 204)
  t.deepEqual(await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket }))), { code: 'NoSuchTagSet', status: 404 })
  t.deepEqual(await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket: name('missing') }))), { code: 'NoSuchBucket', status: 404 })
})

each('Object Ownership: BucketOwnerEnforced disables ACLs, the bucket owner owns every object, reads show its FULL_CONTROL', async (t, { s3, reader, url }) => {
  const Bucket = name('enforced')
  await s3.send(new CreateBucketCommand({ Bucket, ObjectOwnership: 'BucketOwnerEnforced' }))
  t.deepEqual((await s3.send(new GetBucketOwnershipControlsCommand({ Bucket }))).OwnershipControls?.Rules, [{ ObjectOwnership: 'BucketOwnerEnforced' }])
  await s3.send(new PutBucketPolicyCommand({
    Bucket,
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: [READER] }, Action: ['s3:PutObject'], Resource: [`arn:aws:s3:::${Bucket}/*`] }] }),
  }))
  t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: 'public', Body: 'x', ACL: 'public-read' }))), { code: 'AccessControlListNotSupported', status: 400 })
  t.deepEqual(await s3Error(s3.send(new PutBucketAclCommand({ Bucket, ACL: 'public-read' }))), { code: 'AccessControlListNotSupported', status: 400 })
  await s3.send(new PutObjectCommand({ Bucket, Key: 'mine', Body: 'x', ACL: 'bucket-owner-full-control' }))
  t.deepEqual(await s3Error(s3.send(new PutObjectAclCommand({ Bucket, Key: 'mine', ACL: 'public-read' }))), { code: 'AccessControlListNotSupported', status: 400 })
  // Another account's upload (allowed by the policy) is owned by the bucket owner.
  await reader.send(new PutObjectCommand({ Bucket, Key: 'theirs', Body: 'y' }))
  await reader.send(new PutObjectCommand({ Bucket, Key: 'theirs-bofc', Body: 'y', ACL: 'bucket-owner-full-control' }))
  for (const Key of ['theirs', 'theirs-bofc']) {
    const acl = await s3.send(new GetObjectAclCommand({ Bucket, Key }))
    t.is(acl.Owner?.ID, OWNER, Key)
    t.deepEqual(grants(acl.Grants), [[OWNER, 'FULL_CONTROL']])
  }
  t.deepEqual(grants((await s3.send(new GetBucketAclCommand({ Bucket }))).Grants), [[OWNER, 'FULL_CONTROL']])
  t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: 'p', Body: 'x', GrantRead: `uri="${ALL_USERS}"` }))), { code: 'AccessControlListNotSupported', status: 400 })
  const anonymous = await fetch(`${url}/${Bucket}/mine`)
  t.is(anonymous.status, 403)
  await anonymous.arrayBuffer()
  t.deepEqual(await s3Error(s3.send(new PutBucketOwnershipControlsCommand({ Bucket, OwnershipControls: { Rules: [] } }))), { code: 'MalformedXML', status: 400 })
  t.is((await s3.send(new DeleteBucketOwnershipControlsCommand({ Bucket }))).$metadata.httpStatusCode, 204)
  t.deepEqual(await s3Error(s3.send(new GetBucketOwnershipControlsCommand({ Bucket }))), { code: 'OwnershipControlsNotFoundError', status: 404 })
})

each('Object Ownership: ACLs granted before BucketOwnerEnforced stop counting; a bucket ACL granting others refuses it', async (t, { s3, url }) => {
  const Bucket = name('acl-then-enforced')
  await s3.send(new CreateBucketCommand({ Bucket }))
  t.deepEqual(await s3Error(s3.send(new GetBucketOwnershipControlsCommand({ Bucket }))), { code: 'OwnershipControlsNotFoundError', status: 404 })
  await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'public', ACL: 'public-read' }))
  const before = await fetch(`${url}/${Bucket}/k`)
  t.is(before.status, 200)
  await before.arrayBuffer()
  await s3.send(new PutBucketAclCommand({ Bucket, ACL: 'public-read' }))
  t.deepEqual(await s3Error(s3.send(new PutBucketOwnershipControlsCommand({ Bucket, OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] } }))),
    { code: 'InvalidBucketAclWithObjectOwnership', status: 400 })
  await s3.send(new PutBucketAclCommand({ Bucket, ACL: 'private' }))
  await s3.send(new PutBucketOwnershipControlsCommand({ Bucket, OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] } }))
  const after = await fetch(`${url}/${Bucket}/k`)
  t.is(after.status, 403, 'the object\'s public-read ACL no longer grants anything')
  await after.arrayBuffer()
  t.deepEqual(await s3Error(s3.send(new CreateBucketCommand({ Bucket: name('bad'), ACL: 'public-read', ObjectOwnership: 'BucketOwnerEnforced' }))),
    { code: 'InvalidBucketAclWithObjectOwnership', status: 400 })
  await expectCode(t, await signedFetch({ method: 'PUT', url: `${url}/${name('bad')}`, headers: { 'x-amz-object-ownership': 'Nobody' } }), 400, 'InvalidArgument')
})

each('Object Ownership: BucketOwnerPreferred gives the bucket owner objects written with bucket-owner-full-control', async (t, { s3, reader }) => {
  const Bucket = name('preferred')
  await s3.send(new CreateBucketCommand({ Bucket, ObjectOwnership: 'BucketOwnerPreferred' }))
  await s3.send(new PutBucketAclCommand({ Bucket, GrantWrite: `id=${READER}`, GrantFullControl: `id=${OWNER}` }))
  await reader.send(new PutObjectCommand({ Bucket, Key: 'given', Body: 'g', ACL: 'bucket-owner-full-control' }))
  await reader.send(new PutObjectCommand({ Bucket, Key: 'kept', Body: 'k' }))
  t.is((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'given' }))).Owner?.ID, OWNER)
  t.is((await reader.send(new GetObjectAclCommand({ Bucket, Key: 'kept' }))).Owner?.ID, READER)
  const upload = await reader.send(new CreateMultipartUploadCommand({ Bucket, Key: 'multi', ACL: 'bucket-owner-full-control' }))
  const part = await reader.send(new UploadPartCommand({ Bucket, Key: 'multi', UploadId: upload.UploadId, PartNumber: 1, Body: 'm' }))
  await reader.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'multi', UploadId: upload.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }))
  t.is((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'multi' }))).Owner?.ID, OWNER)
})

each('GetObjectAttributes: ETag, Checksum, ObjectSize, StorageClass; multipart parts paged with their checksums; versions, errors, SSE-C', async (t, { s3, url }) => {
  const Bucket = name('attrs')
  await s3.send(new CreateBucketCommand({ Bucket }))
  const all: ObjectAttributes[] = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize']
  const put = await s3.send(new PutObjectCommand({ Bucket, Key: 'single', Body: 'hello attributes', ChecksumAlgorithm: 'SHA256' }))
  const single = await s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'single', ObjectAttributes: all }))
  t.is(single.ETag, put.ETag?.replace(/"/g, ''))
  t.is(single.ObjectSize, 16)
  t.is(single.StorageClass, 'STANDARD')
  t.is(single.Checksum?.ChecksumSHA256, createHash('sha256').update('hello attributes').digest('base64'))
  t.is(single.Checksum?.ChecksumType, 'FULL_OBJECT')
  t.is(single.ObjectParts, undefined, 'a single-part object has no parts')
  t.truthy(single.LastModified)
  const only = await s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'single', ObjectAttributes: ['ObjectSize'] }))
  t.is(only.ETag, undefined)
  t.is(only.ObjectSize, 16)

  const sizes = [5 * 1024 * 1024, 5 * 1024 * 1024, 1000]
  const bodies = sizes.map((size, i) => Buffer.alloc(size, i + 1))
  const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'multi', ChecksumAlgorithm: 'SHA256', StorageClass: 'STANDARD_IA' }))
  const parts = []
  for (const [i, Body] of bodies.entries()) {
    const p = await s3.send(new UploadPartCommand({ Bucket, Key: 'multi', UploadId: upload.UploadId, PartNumber: i + 1, Body, ChecksumAlgorithm: 'SHA256' }))
    parts.push({ PartNumber: i + 1, ETag: p.ETag, ChecksumSHA256: p.ChecksumSHA256 })
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'multi', UploadId: upload.UploadId, MultipartUpload: { Parts: parts } }))
  const multi = await s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'multi', ObjectAttributes: all }))
  t.is(multi.StorageClass, 'STANDARD_IA')
  t.is(multi.ObjectSize, sizes.reduce((a, b) => a + b))
  t.regex(multi.ETag ?? '', /^[0-9a-f]{32}-3$/)
  t.is(multi.Checksum?.ChecksumType, 'COMPOSITE')
  t.is(multi.ObjectParts?.TotalPartsCount, 3)
  t.is(multi.ObjectParts?.IsTruncated, false)
  t.deepEqual(multi.ObjectParts?.Parts?.map(p => [p.PartNumber, p.Size, p.ChecksumSHA256]),
    bodies.map((b, i) => [i + 1, sizes[i], createHash('sha256').update(b).digest('base64')]))
  const first = await s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'multi', ObjectAttributes: ['ObjectParts'], MaxParts: 2 }))
  t.is(first.ObjectParts?.IsTruncated, true)
  t.is(first.ObjectParts?.MaxParts, 2)
  t.is(String(first.ObjectParts?.NextPartNumberMarker), '2')
  t.deepEqual(first.ObjectParts?.Parts?.map(p => p.PartNumber), [1, 2])
  const rest = await s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'multi', ObjectAttributes: ['ObjectParts'], MaxParts: 2, PartNumberMarker: '2' }))
  t.is(rest.ObjectParts?.IsTruncated, false)
  t.deepEqual(rest.ObjectParts?.Parts?.map(p => p.PartNumber), [3])
  // A copy of the whole object keeps its parts; a multipart object without part checksums gives the count alone.
  await s3.send(new CopyObjectCommand({ Bucket, Key: 'multi-copy', CopySource: `${Bucket}/multi` }))
  t.is((await s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'multi-copy', ObjectAttributes: ['ObjectParts'] }))).ObjectParts?.Parts?.length, 3)
  const plain = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'plain' }))
  const signedPart = await signedFetch({ method: 'PUT', url: `${url}/${Bucket}/plain?partNumber=1&uploadId=${plain.UploadId}`, body: 'no checksum' })
  t.is(signedPart.status, 200)
  await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'plain', UploadId: plain.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: signedPart.headers.get('etag') ?? '' }] } }))
  const counted = await s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'plain', ObjectAttributes: ['ObjectParts'] }))
  t.is(counted.ObjectParts?.TotalPartsCount, 1)
  t.is(counted.ObjectParts?.Parts, undefined)

  t.deepEqual(await s3Error(s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'missing', ObjectAttributes: all }))), { code: 'NoSuchKey', status: 404 })
  await expectCode(t, await signedFetch({ method: 'GET', url: `${url}/${Bucket}/single?attributes`, headers: { 'x-amz-object-attributes': 'ETag,Colour' } }), 400, 'InvalidArgument')
  await expectCode(t, await signedFetch({ method: 'GET', url: `${url}/${Bucket}/single?attributes` }), 400, 'InvalidArgument')

  await s3.send(new PutObjectCommand({ Bucket, Key: 'single', Body: 'newer' }))
  const old = await s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'single', ObjectAttributes: ['ObjectSize'], VersionId: 'null' }))
  t.is(old.ObjectSize, 5, 'unversioned: the null version is the one there is')

  const key = randomBytes(32)
  const sse = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: key.toString('base64'), SSECustomerKeyMD5: createHash('md5').update(key).digest('base64') }
  await s3.send(new PutObjectCommand({ Bucket, Key: 'sse-c', Body: 'secret', ...sse }))
  t.is((await s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'sse-c', ObjectAttributes: ['ObjectSize'], ...sse }))).ObjectSize, 6)
  t.deepEqual(await s3Error(s3.send(new GetObjectAttributesCommand({ Bucket, Key: 'sse-c', ObjectAttributes: ['ObjectSize'] }))), { code: 'InvalidRequest', status: 400 })
})

each('ListBuckets: max-buckets pages with continuation tokens, prefix, bucket-region; an empty token is a first page', async (t, { s3, url }) => {
  const prefix = name('lb')
  const names = ['a', 'b', 'c', 'd', 'e'].map(s => `${prefix}-${s}`)
  for (const Bucket of names) await s3.send(new CreateBucketCommand({ Bucket }))
  const seen: string[] = []
  let ContinuationToken: string | undefined
  do {
    const page = await s3.send(new ListBucketsCommand({ Prefix: prefix, MaxBuckets: 2, ContinuationToken }))
    t.true((page.Buckets?.length ?? 0) <= 2)
    t.is(page.Prefix, prefix)
    seen.push(...(page.Buckets ?? []).map(b => b.Name ?? ''))
    ContinuationToken = page.ContinuationToken
  } while (ContinuationToken !== undefined)
  t.deepEqual(seen, names)
  t.deepEqual((await s3.send(new ListBucketsCommand({ Prefix: prefix, BucketRegion: 'us-east-1' }))).Buckets?.map(b => [b.Name, b.BucketRegion]), names.map(b => [b, 'us-east-1']))
  t.deepEqual((await s3.send(new ListBucketsCommand({ Prefix: prefix, BucketRegion: 'eu-west-1' }))).Buckets ?? [], [])
  const empty = await signedFetch({ method: 'GET', url: `${url}/?prefix=${prefix}&max-buckets=1&continuation-token=` })
  const body = await expectCode(t, empty, 200)
  t.regex(body, new RegExp(`<Name>${names[0]}</Name>`))
  await expectCode(t, await signedFetch({ method: 'GET', url: empty.url.replace('max-buckets=1', 'max-buckets=0') }), 400, 'InvalidArgument')
})

each('x-amz-expected-bucket-owner and x-amz-source-expected-bucket-owner: a mismatch is AccessDenied', async (t, { s3 }) => {
  const Bucket = name('expected')
  await s3.send(new CreateBucketCommand({ Bucket }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'x', ExpectedBucketOwner: OWNER }))
  t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: 'k2', Body: 'x', ExpectedBucketOwner: '111122223333' }))), { code: 'AccessDenied', status: 403 })
  t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket, Key: 'k2' }))), { code: 'NotFound', status: 404 }, 'the refused write stored nothing')
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'k', ExpectedBucketOwner: '111122223333' }))), { code: 'AccessDenied', status: 403 })
  t.deepEqual(await s3Error(s3.send(new ListObjectsV2Command({ Bucket, ExpectedBucketOwner: '111122223333' }))), { code: 'AccessDenied', status: 403 })
  t.is((await s3.send(new ListObjectsV2Command({ Bucket, ExpectedBucketOwner: OWNER }))).KeyCount, 1)
  t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'c', CopySource: `${Bucket}/k`, ExpectedSourceBucketOwner: '111122223333' }))), { code: 'AccessDenied', status: 403 })
  await s3.send(new CopyObjectCommand({ Bucket, Key: 'c', CopySource: `${Bucket}/k`, ExpectedSourceBucketOwner: OWNER, ExpectedBucketOwner: OWNER }))
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket: name('none'), Key: 'k', ExpectedBucketOwner: OWNER }))), { code: 'NoSuchBucket', status: 404 })
})

each('listings: encoding-type=url encodes spaces as %20 and only the fields S3 encodes; an empty continuation-token is a first page', async (t, { s3, url }) => {
  const Bucket = name('encoding')
  await s3.send(new CreateBucketCommand({ Bucket }))
  for (const Key of ['a b/c+d é', 'a b/x', 'z']) await s3.send(new PutObjectCommand({ Bucket, Key, Body: 'x' }))
  const v1 = await expectCode(t, await signedFetch({ method: 'GET', url: `${url}/${Bucket}?prefix=a%20b%2F&delimiter=%2F&encoding-type=url&marker=a%20b%2Fc` }), 200)
  t.regex(v1, /<Prefix>a b\/<\/Prefix>/, 'ListObjects leaves its top-level Prefix alone')
  t.regex(v1, /<Marker>a%20b\/c<\/Marker>/)
  t.regex(v1, /<Key>a%20b\/c%2Bd%20%C3%A9<\/Key>/)
  t.notRegex(v1, /\+/)
  const v2 = await expectCode(t, await signedFetch({ method: 'GET', url: `${url}/${Bucket}?list-type=2&delimiter=%2F&encoding-type=url&start-after=a%20a` }), 200)
  t.regex(v2, /<CommonPrefixes><Prefix>a%20b\/<\/Prefix><\/CommonPrefixes>/)
  t.regex(v2, /<StartAfter>a%20a<\/StartAfter>/)
  const prefixed = await expectCode(t, await signedFetch({ method: 'GET', url: `${url}/${Bucket}?list-type=2&prefix=a%20b%2F&encoding-type=url` }), 200)
  t.regex(prefixed, /<Prefix>a%20b\/<\/Prefix>/, 'ListObjectsV2 encodes its Prefix')
  const versions = await expectCode(t, await signedFetch({ method: 'GET', url: `${url}/${Bucket}?versions&prefix=a%20b%2F&encoding-type=url` }), 200)
  t.regex(versions, /<Prefix>a%20b\/<\/Prefix>/)
  t.regex(versions, /<Key>a%20b\/x<\/Key>/)
  const first = await expectCode(t, await signedFetch({ method: 'GET', url: `${url}/${Bucket}?list-type=2&continuation-token=` }), 200)
  t.regex(first, /<ContinuationToken\s*\/>|<ContinuationToken><\/ContinuationToken>/)
  t.regex(first, /<KeyCount>3<\/KeyCount>/)
})

each('CreateBucket of one\'s own bucket in us-east-1 is 200 and changes nothing; another owner\'s is BucketAlreadyExists', async (t, { s3, reader }) => {
  const Bucket = name('again')
  await s3.send(new CreateBucketCommand({ Bucket }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'kept' }))
  t.is((await s3.send(new CreateBucketCommand({ Bucket }))).$metadata.httpStatusCode, 200)
  t.is(await (await s3.send(new GetObjectCommand({ Bucket, Key: 'k' }))).Body?.transformToString(), 'kept')
  t.deepEqual(await s3Error(reader.send(new CreateBucketCommand({ Bucket }))), { code: 'BucketAlreadyExists', status: 409 })
})

each('an anonymous read of a missing key is NoSuchKey where anonymous may list the bucket, AccessDenied where not', async (t, { s3, url }) => {
  const listable = name('listable')
  await s3.send(new CreateBucketCommand({ Bucket: listable, ACL: 'public-read' }))
  const viaPolicy = name('listpolicy')
  await s3.send(new CreateBucketCommand({ Bucket: viaPolicy }))
  await s3.send(new PutBucketPolicyCommand({
    Bucket: viaPolicy,
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${viaPolicy}` }] }),
  }))
  const closed = name('closed')
  await s3.send(new CreateBucketCommand({ Bucket: closed }))
  for (const Bucket of [listable, viaPolicy, closed]) await s3.send(new PutObjectCommand({ Bucket, Key: 'private', Body: 'p' }))
  for (const method of ['GET', 'HEAD']) {
    for (const Bucket of [listable, viaPolicy]) {
      const missing = await fetch(`${url}/${Bucket}/missing`, { method })
      t.is(missing.status, 404, `${method} ${Bucket}`)
      if (method === 'GET') t.regex(await missing.text(), /<Code>NoSuchKey<\/Code>/)
      else await missing.arrayBuffer()
      const existing = await fetch(`${url}/${Bucket}/private`, { method })
      t.is(existing.status, 403, `${method} ${Bucket}: an existing private object stays AccessDenied`)
      await existing.arrayBuffer()
    }
    const refused = await fetch(`${url}/${closed}/missing`, { method })
    t.is(refused.status, 403, method)
    await refused.arrayBuffer()
  }
})

each('storage classes: GLACIER and DEEP_ARCHIVE (archived until restored) are NotImplemented, not stored as readable objects', async (t, { s3 }) => {
  const Bucket = name('classes')
  await s3.send(new CreateBucketCommand({ Bucket }))
  for (const StorageClass of ['GLACIER', 'DEEP_ARCHIVE'] as const) {
    t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'x', StorageClass }))), { code: 'NotImplemented', status: 501 })
    t.deepEqual(await s3Error(s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'k', StorageClass }))), { code: 'NotImplemented', status: 501 })
  }
  t.deepEqual(await s3Error(s3.send(new HeadObjectCommand({ Bucket, Key: 'k' }))), { code: 'NotFound', status: 404 })
  await s3.send(new PutObjectCommand({ Bucket, Key: 'ir', Body: 'x', StorageClass: 'GLACIER_IR' }))
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'ir' }))).StorageClass, 'GLACIER_IR')
})

each('Content-Encoding drops only aws-chunked and keeps the rest as sent; x-amz-tagging keeps empty values and reads back sorted', async (t, { s3, url }) => {
  const Bucket = name('headers')
  await s3.send(new CreateBucketCommand({ Bucket }))
  const chunked = await signedFetch({
    method: 'PUT',
    url: `${url}/${Bucket}/gz`,
    body: '1\r\nx\r\n0\r\n\r\n',
    payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    headers: { 'content-encoding': 'aws-chunked,gzip', 'x-amz-decoded-content-length': '1' },
  })
  t.is(chunked.status, 200)
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'gz' }))).ContentEncoding, 'gzip')
  await s3.send(new PutObjectCommand({ Bucket, Key: 'br', Body: 'x', ContentEncoding: 'gzip, br' }))
  t.is((await s3.send(new HeadObjectCommand({ Bucket, Key: 'br' }))).ContentEncoding, 'gzip, br')
  await s3.send(new PutObjectCommand({ Bucket, Key: 'tagged', Body: 'x', Tagging: 'foo=bar&bar' }))
  t.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: 'tagged' }))).TagSet, [{ Key: 'bar', Value: '' }, { Key: 'foo', Value: 'bar' }])
})

each('ACL grants name every grantee completely, canned ACLs list group grants first and the owner last', async (t, { s3 }) => {
  const Bucket = name('grants')
  await s3.send(new CreateBucketCommand({ Bucket }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'public', Body: 'x', ACL: 'public-read-write' }))
  const acl = await s3.send(new GetObjectAclCommand({ Bucket, Key: 'public' }))
  t.deepEqual(acl.Grants?.map(g => g.Grantee), [
    { Type: 'Group', URI: ALL_USERS },
    { Type: 'Group', URI: ALL_USERS },
    { Type: 'CanonicalUser', ID: OWNER, DisplayName: OWNER },
  ])
  await s3.send(new PutObjectCommand({ Bucket, Key: 'granted', Body: 'x', GrantRead: `id=${READER}` }))
  t.deepEqual((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'granted' }))).Grants?.map(g => g.Grantee),
    [{ Type: 'CanonicalUser', ID: READER, DisplayName: READER }])
})

each('user metadata: non-ASCII values round-trip; x-amz-meta-cid is the gateway\'s, never stored from a client', async (t, { s3 }) => {
  const Bucket = name('meta')
  await s3.send(new CreateBucketCommand({ Bucket }))
  const capture = captureHeaders(s3)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'x', Metadata: { name: 'café', cid: 'bafy-not-mine', plain: 'p' } }))
  const cid = capture.last()['x-ipfs-path']?.replace('/ipfs/', '')
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'k' }))
  t.deepEqual(head.Metadata, { name: 'café', plain: 'p', cid })
  await s3.send(new CopyObjectCommand({ Bucket, Key: 'copy', CopySource: `${Bucket}/k`, MetadataDirective: 'REPLACE', Metadata: { cid: 'forged', own: 'o' } }))
  t.deepEqual((await s3.send(new HeadObjectCommand({ Bucket, Key: 'copy' }))).Metadata, { own: 'o', cid })
})

test('cidMetadata: false returns the CID only in x-ipfs-path, so metadata reads back exactly as stored', async (t) => {
  const gateway = createGateway({ cidMetadata: false })
  const host = await nodeHost.start(gateway, '')
  const s3 = s3Client(host.url)
  try {
    const capture = captureHeaders(s3)
    await s3.send(new CreateBucketCommand({ Bucket: 'plain-meta' }))
    await s3.send(new PutObjectCommand({ Bucket: 'plain-meta', Key: 'k', Body: 'hello world', Metadata: { a: 'b', cid: 'mine?' } }))
    t.false('x-amz-meta-cid' in capture.last())
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'plain-meta', Key: 'k' }))
    t.deepEqual(head.Metadata, { a: 'b' })
    t.is(capture.last()['x-ipfs-path'], '/ipfs/bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
  } finally {
    s3.destroy()
    await host.close()
    await gateway.close()
  }
})
