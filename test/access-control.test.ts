/**
 * Who may do what: several users from a users file, bucket ownership, bucket policies with
 * conditions, canned ACLs, the public access block and identity policies, all through the AWS SDK
 * (and plain HTTP for anonymous requests) over loopback.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import {
  AbortMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketCommand,
  DeleteBucketPolicyCommand, DeletePublicAccessBlockCommand, DeleteObjectCommand, DeleteObjectsCommand, GetBucketAclCommand, GetBucketCorsCommand,
  GetBucketPolicyCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, ListBucketsCommand,
  ListMultipartUploadsCommand, ListObjectsV2Command, ListObjectVersionsCommand, ListPartsCommand, PutBucketAclCommand,
  PutBucketPolicyCommand, PutBucketVersioningCommand, PutObjectAclCommand, PutObjectCommand, PutObjectTaggingCommand,
  PutPublicAccessBlockCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3'
import { fileCredentials } from '../src/auth/user-file.js'
import { createGateway } from '../src/gateway.js'
import type { Gateway } from '../src/types.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { s3Error } from './helpers/s3.js'

const USERS = {
  users: [
    { name: 'alice', displayName: 'Alice', accessKeys: [{ accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }] },
    { name: 'bob', accessKeys: [{ accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' }, { accessKeyId: 'BOBKEY2', secretAccessKey: 'bob-secret-2' }] },
    {
      // Restricted: may read one bucket's objects and list it, nothing else (not even its own buckets).
      name: 'carol',
      accessKeys: [{ accessKeyId: 'CAROLKEY', secretAccessKey: 'carol-secret' }],
      policies: [{
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::shared/*' },
          { Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::shared' },
        ],
      }],
    },
    {
      // Restricted to buckets named after it, which it may create and use fully.
      name: 'dave',
      accessKeys: [{ accessKeyId: 'DAVEKEY', secretAccessKey: 'dave-secret' }],
      policies: [{
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 's3:*', Resource: ['arn:aws:s3:::${aws:username}-*', 'arn:aws:s3:::${aws:username}-*/*'] },
          { Effect: 'Allow', Action: 's3:ListAllMyBuckets', Resource: '*' },
          { Effect: 'Deny', Action: 's3:DeleteBucket', Resource: '*' },
        ],
      }],
    },
  ],
}

let dir: string
let usersPath: string
let gateway: Gateway
let host: RunningHost
const clients = new Map<string, S3Client>()

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 's3ipfs-access-'))
  usersPath = join(dir, 'users.json')
  await writeFile(usersPath, JSON.stringify(USERS))
  gateway = createGateway({ credentials: fileCredentials({ path: usersPath, reloadIntervalMs: 0 }) })
  // Loopback is a trusted proxy, so tests can claim a client address and TLS with X-Forwarded-*.
  host = await nodeHost.start(gateway, '', { trustProxy: ['127.0.0.1', '::1'] })
})

test.after.always(async () => {
  for (const c of clients.values()) c.destroy()
  await host.close()
  await gateway.close()
  await rm(dir, { recursive: true, force: true })
})

function as (user: string, extraHeaders: Record<string, string> = {}): S3Client {
  const key = `${user} ${JSON.stringify(extraHeaders)}`
  let client = clients.get(key)
  if (client === undefined) {
    const secrets: Record<string, [string, string]> = {
      alice: ['ALICEKEY', 'alice-secret'], bob: ['BOBKEY', 'bob-secret'], carol: ['CAROLKEY', 'carol-secret'], dave: ['DAVEKEY', 'dave-secret'],
    }
    const [accessKeyId, secretAccessKey] = secrets[user] ?? ['NOBODY', 'nobody']
    client = new S3Client({
      endpoint: host.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
      // Anonymous requests carry no signature at all.
      ...(user === 'anonymous' ? { signer: { sign: async <R>(request: R) => request }, requestChecksumCalculation: 'WHEN_REQUIRED' as const } : {}),
    })
    if (Object.keys(extraHeaders).length > 0) {
      client.middlewareStack.add((next) => async (args) => {
        const request = args.request as { headers: Record<string, string> }
        Object.assign(request.headers, extraHeaders)
        return await next(args)
      }, { step: 'build', name: 'extraHeaders' })
    }
    clients.set(key, client)
  }
  return client
}

async function denied (t: ExecutionContext, promise: Promise<unknown>, what: string): Promise<void> {
  const { code, status } = await s3Error(promise)
  t.is(status, 403, what)
  // A HEAD answer has no body, so the SDK cannot know the code.
  if (code !== 'Forbidden' && code !== 'Unknown') t.is(code, 'AccessDenied', what)
}

async function text (client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return await out.Body!.transformToString()
}

/** A plain HTTP request with no authentication, as a browser or curl sends it. */
async function anonymous (path: string, init: RequestInit = {}): Promise<Response> {
  return await fetch(`${host.url}${path}`, init)
}

async function policy (owner: string, bucket: string, statements: unknown[]): Promise<void> {
  await as(owner).send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify({ Version: '2012-10-17', Statement: statements }) }))
}

test.serial('each user owns the buckets it creates and lists only those; anonymous may not list buckets', async (t) => {
  await as('alice').send(new CreateBucketCommand({ Bucket: 'alice-1' }))
  await as('alice').send(new CreateBucketCommand({ Bucket: 'alice-2' }))
  await as('bob').send(new CreateBucketCommand({ Bucket: 'bob-1' }))
  const alice = await as('alice').send(new ListBucketsCommand({}))
  t.deepEqual(alice.Buckets?.map((b) => b.Name), ['alice-1', 'alice-2'])
  t.is(alice.Owner?.ID, 'alice')
  t.is(alice.Owner?.DisplayName, 'Alice')
  const bob = await as('bob').send(new ListBucketsCommand({}))
  t.deepEqual(bob.Buckets?.map((b) => b.Name), ['bob-1'])
  t.is(bob.Owner?.ID, 'bob', 'both of a user\'s keys act as that user')
  const bob2 = new S3Client({ endpoint: host.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'BOBKEY2', secretAccessKey: 'bob-secret-2' }, maxAttempts: 1 })
  t.deepEqual((await bob2.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ['bob-1'])
  bob2.destroy()
  t.deepEqual(await s3Error(as('bob').send(new CreateBucketCommand({ Bucket: 'alice-1' }))), { code: 'BucketAlreadyExists', status: 409 })
  t.is((await as('alice').send(new CreateBucketCommand({ Bucket: 'alice-1' }))).$metadata.httpStatusCode, 200, 'us-east-1: re-creating one\'s own bucket is 200')
  await denied(t, as('anonymous').send(new ListBucketsCommand({})), 'anonymous ListBuckets')
  await denied(t, as('anonymous').send(new CreateBucketCommand({ Bucket: 'anon-bucket' })), 'anonymous CreateBucket')
  t.is((await anonymous('/')).status, 403)
})

test.serial('a private bucket refuses another user every action family and changes nothing', async (t) => {
  const B = 'alice-private'
  const alice = as('alice')
  const bob = as('bob')
  await alice.send(new CreateBucketCommand({ Bucket: B }))
  await alice.send(new PutObjectCommand({ Bucket: B, Key: 'k', Body: 'alice data', Tagging: 'a=1' }))
  const { UploadId } = await alice.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'mp' }))
  await denied(t, bob.send(new ListObjectsV2Command({ Bucket: B })), 'ListObjectsV2')
  await denied(t, bob.send(new ListObjectVersionsCommand({ Bucket: B })), 'ListObjectVersions')
  await denied(t, bob.send(new ListMultipartUploadsCommand({ Bucket: B })), 'ListMultipartUploads')
  await denied(t, bob.send(new GetObjectCommand({ Bucket: B, Key: 'k' })), 'GetObject')
  await denied(t, bob.send(new HeadObjectCommand({ Bucket: B, Key: 'k' })), 'HeadObject')
  await denied(t, bob.send(new PutObjectCommand({ Bucket: B, Key: 'k', Body: 'bob data' })), 'PutObject')
  await denied(t, bob.send(new DeleteObjectCommand({ Bucket: B, Key: 'k' })), 'DeleteObject')
  await denied(t, bob.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'k' })), 'GetObjectTagging')
  await denied(t, bob.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'k', Tagging: { TagSet: [] } })), 'PutObjectTagging')
  await denied(t, bob.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'k' })), 'CreateMultipartUpload')
  await denied(t, bob.send(new UploadPartCommand({ Bucket: B, Key: 'mp', UploadId, PartNumber: 1, Body: 'x' })), 'UploadPart')
  await denied(t, bob.send(new ListPartsCommand({ Bucket: B, Key: 'mp', UploadId })), 'ListParts')
  await denied(t, bob.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'mp', UploadId })), 'AbortMultipartUpload')
  await denied(t, bob.send(new GetBucketPolicyCommand({ Bucket: B })), 'GetBucketPolicy')
  await denied(t, bob.send(new PutBucketPolicyCommand({ Bucket: B, Policy: JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:*', Resource: `arn:aws:s3:::${B}/*` }] }) })), 'PutBucketPolicy')
  await denied(t, bob.send(new GetBucketAclCommand({ Bucket: B })), 'GetBucketAcl')
  await denied(t, bob.send(new PutBucketAclCommand({ Bucket: B, ACL: 'public-read-write' })), 'PutBucketAcl')
  await denied(t, bob.send(new PutObjectAclCommand({ Bucket: B, Key: 'k', ACL: 'public-read' })), 'PutObjectAcl')
  await denied(t, bob.send(new GetBucketCorsCommand({ Bucket: B })), 'GetBucketCors')
  await denied(t, bob.send(new PutBucketVersioningCommand({ Bucket: B, VersioningConfiguration: { Status: 'Enabled' } })), 'PutBucketVersioning')
  await denied(t, bob.send(new PutPublicAccessBlockCommand({ Bucket: B, PublicAccessBlockConfiguration: { BlockPublicAcls: false } })), 'PutPublicAccessBlock')
  await denied(t, bob.send(new DeleteBucketCommand({ Bucket: B })), 'DeleteBucket')
  await bob.send(new CreateBucketCommand({ Bucket: 'bob-copies' }))
  await denied(t, bob.send(new CopyObjectCommand({ Bucket: 'bob-copies', Key: 'stolen', CopySource: `${B}/k` })), 'CopyObject from a bucket one may not read')
  const many = await bob.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: 'k' }, { Key: 'other' }] } }))
  t.deepEqual(many.Errors?.map((e) => [e.Key, e.Code]), [['k', 'AccessDenied'], ['other', 'AccessDenied']])
  t.is(many.Deleted, undefined)

  t.is(await text(alice, B, 'k'), 'alice data', 'the object is unchanged')
  t.deepEqual((await alice.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'k' }))).TagSet, [{ Key: 'a', Value: '1' }])
  t.deepEqual((await alice.send(new ListObjectsV2Command({ Bucket: B }))).Contents?.map((o) => o.Key), ['k'])
  t.is((await alice.send(new ListMultipartUploadsCommand({ Bucket: B }))).Uploads?.length, 1)
  await denied(t, as('anonymous').send(new GetObjectCommand({ Bucket: B, Key: 'k' })), 'anonymous GetObject')
  t.is((await anonymous(`/${B}/k`)).status, 403)
  t.is((await anonymous(`/${B}?list-type=2`)).status, 403)
  t.is((await anonymous(`/${B}/k`, { method: 'PUT', body: 'anon' })).status, 403)
  t.is(await text(alice, B, 'k'), 'alice data')
  t.deepEqual(await s3Error(bob.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' }))), { code: 'NoSuchBucket', status: 404 }, 'a missing bucket is still NoSuchBucket')
})

test.serial('a bucket policy grants anonymous and named users; an explicit Deny beats every Allow, the owner\'s too', async (t) => {
  const B = 'alice-policy'
  const alice = as('alice')
  await alice.send(new CreateBucketCommand({ Bucket: B }))
  await alice.send(new PutObjectCommand({ Bucket: B, Key: 'public/a.txt', Body: 'A' }))
  await alice.send(new PutObjectCommand({ Bucket: B, Key: 'secret/b.txt', Body: 'B' }))
  await policy('alice', B, [
    { Sid: 'PublicRead', Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${B}/public/*` },
    { Sid: 'BobWrites', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:user/bob' }, Action: ['s3:PutObject', 's3:GetObject'], Resource: `arn:aws:s3:::${B}/*` },
    { Sid: 'NoDeletes', Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject*', Resource: `arn:aws:s3:::${B}/*` },
  ])
  const got = await anonymous(`/${B}/public/a.txt`)
  t.is(got.status, 200)
  t.is(await got.text(), 'A')
  t.is(await text(as('anonymous'), B, 'public/a.txt'), 'A')
  t.is((await anonymous(`/${B}/secret/b.txt`)).status, 403, 'outside the granted prefix')
  t.is((await anonymous(`/${B}?list-type=2`)).status, 403, 'GetObject does not grant listing')
  await as('bob').send(new PutObjectCommand({ Bucket: B, Key: 'from-bob', Body: 'bob' }))
  t.is(await text(as('bob'), B, 'secret/b.txt'), 'B')
  await denied(t, as('carol').send(new GetObjectCommand({ Bucket: B, Key: 'secret/b.txt' })), 'not named, and carol\'s own policy does not cover it')
  await denied(t, alice.send(new DeleteObjectCommand({ Bucket: B, Key: 'public/a.txt' })), 'the owner is denied by an explicit Deny')
  const many = await alice.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: 'public/a.txt' }] } }))
  t.is(many.Errors?.[0]?.Code, 'AccessDenied')
  t.is(await text(alice, B, 'public/a.txt'), 'A')
  t.is(JSON.parse((await alice.send(new GetBucketPolicyCommand({ Bucket: B }))).Policy ?? '').Statement.length, 3, 'the owner manages its policy')
  await alice.send(new DeleteBucketPolicyCommand({ Bucket: B }))
  t.is((await anonymous(`/${B}/public/a.txt`)).status, 403, 'gone with the policy')
  await alice.send(new DeleteObjectCommand({ Bucket: B, Key: 'public/a.txt' }))
})

test.serial('policy conditions: aws:SourceIp, aws:SecureTransport, s3:prefix, s3:ExistingObjectTag, aws:Referer', async (t) => {
  const B = 'alice-conditions'
  const alice = as('alice')
  await alice.send(new CreateBucketCommand({ Bucket: B }))
  await alice.send(new PutObjectCommand({ Bucket: B, Key: 'home/bob/1', Body: '1' }))
  await alice.send(new PutObjectCommand({ Bucket: B, Key: 'home/carol/1', Body: '2' }))
  await alice.send(new PutObjectCommand({ Bucket: B, Key: 'tagged', Body: 'T', Tagging: 'share=yes' }))
  await alice.send(new PutObjectCommand({ Bucket: B, Key: 'untagged', Body: 'U', Tagging: 'share=no' }))
  await alice.send(new PutObjectCommand({ Bucket: B, Key: 'site/page.html', Body: 'P' }))
  await policy('alice', B, [
    { Effect: 'Allow', Principal: { AWS: 'bob' }, Action: 's3:ListBucket', Resource: `arn:aws:s3:::${B}`, Condition: { StringLike: { 's3:prefix': 'home/bob/*' } } },
    { Effect: 'Allow', Principal: { AWS: 'bob' }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${B}/*`, Condition: { StringEquals: { 's3:ExistingObjectTag/share': 'yes' } } },
    { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${B}/site/*`, Condition: { StringLike: { 'aws:Referer': 'https://www.example.com/*' } } },
    { Effect: 'Allow', Principal: { AWS: 'carol' }, Action: 's3:GetObject', Resource: `arn:aws:s3:::${B}/home/carol/*`, Condition: { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' } } },
    { Effect: 'Deny', Principal: '*', Action: 's3:PutObject', Resource: `arn:aws:s3:::${B}/*`, Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
  ])
  const bob = as('bob')
  const listed = await bob.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'home/bob/' }))
  t.deepEqual(listed.Contents?.map((o) => o.Key), ['home/bob/1'])
  await denied(t, bob.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'home/' })), 's3:prefix outside the pattern')
  await denied(t, bob.send(new ListObjectsV2Command({ Bucket: B })), 'no prefix at all')
  t.is(await text(bob, B, 'tagged'), 'T')
  await denied(t, bob.send(new GetObjectCommand({ Bucket: B, Key: 'untagged' })), 'tag has another value')
  await alice.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'untagged', Tagging: { TagSet: [{ Key: 'share', Value: 'yes' }] } }))
  t.is(await text(bob, B, 'untagged'), 'U', 'the tag now allows it')

  t.is((await anonymous(`/${B}/site/page.html`, { headers: { referer: 'https://www.example.com/index.html' } })).status, 200)
  t.is((await anonymous(`/${B}/site/page.html`, { headers: { referer: 'https://evil.example.net/' } })).status, 403)
  t.is((await anonymous(`/${B}/site/page.html`)).status, 403, 'no Referer')

  await denied(t, as('carol').send(new GetObjectCommand({ Bucket: B, Key: 'home/carol/1' })), 'carol\'s own policy does not reach this bucket')
  // The restricted user carol is allowed by the bucket policy only from 203.0.113.0/24 (claimed
  // through the trusted proxy header).
  t.is(await text(as('carol', { 'x-forwarded-for': '203.0.113.9' }), B, 'home/carol/1'), '2')
  await denied(t, as('carol', { 'x-forwarded-for': '198.51.100.9' }).send(new GetObjectCommand({ Bucket: B, Key: 'home/carol/1' })), 'other source address')

  await denied(t, alice.send(new PutObjectCommand({ Bucket: B, Key: 'plain', Body: 'x' })), 'Deny over plain HTTP, owner included')
  await as('alice', { 'x-forwarded-proto': 'https' }).send(new PutObjectCommand({ Bucket: B, Key: 'plain', Body: 'over tls' }))
  t.is(await text(alice, B, 'plain'), 'over tls')
})

test.serial('malformed bucket policies are MalformedPolicy and change nothing', async (t) => {
  const B = 'alice-malformed'
  const alice = as('alice')
  await alice.send(new CreateBucketCommand({ Bucket: B }))
  const good = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${B}/*` }] }
  await alice.send(new PutBucketPolicyCommand({ Bucket: B, Policy: JSON.stringify(good) }))
  for (const bad of [
    'not json',
    '{"Version":"2012-10-17"}',
    JSON.stringify({ Statement: [{ Effect: 'Maybe', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${B}/*` }] }),
    JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:Fly', Resource: `arn:aws:s3:::${B}/*` }] }),
    JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::other-bucket/*' }] }),
    JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${B}/*` }] }),
    JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${B}/*`, Condition: { Sometimes: { 'aws:SourceIp': '1.2.3.4' } } }] }),
  ]) {
    t.deepEqual(await s3Error(alice.send(new PutBucketPolicyCommand({ Bucket: B, Policy: bad }))), { code: 'MalformedPolicy', status: 400 }, bad)
  }
  t.deepEqual(JSON.parse((await alice.send(new GetBucketPolicyCommand({ Bucket: B }))).Policy ?? ''), good)
})

test.serial('canned ACLs: public-read objects and buckets, public-read-write, authenticated-read', async (t) => {
  const alice = as('alice')
  await alice.send(new CreateBucketCommand({ Bucket: 'alice-acl' }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-acl', Key: 'open', Body: 'open', ACL: 'public-read' }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-acl', Key: 'closed', Body: 'closed' }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-acl', Key: 'members', Body: 'members', ACL: 'authenticated-read' }))
  t.is(await (await anonymous('/alice-acl/open')).text(), 'open')
  t.is((await anonymous('/alice-acl/closed')).status, 403)
  t.is((await anonymous('/alice-acl/members')).status, 403, 'authenticated-read is not for anonymous')
  t.is(await text(as('bob'), 'alice-acl', 'members'), 'members')
  t.is(await text(as('bob'), 'alice-acl', 'open'), 'open')
  await denied(t, as('bob').send(new GetObjectCommand({ Bucket: 'alice-acl', Key: 'closed' })), 'private object')
  t.is((await anonymous('/alice-acl?list-type=2')).status, 403, 'object ACLs do not open the listing')
  await alice.send(new PutBucketAclCommand({ Bucket: 'alice-acl', ACL: 'public-read' }))
  const listing = await anonymous('/alice-acl?list-type=2')
  t.is(listing.status, 200)
  t.regex(await listing.text(), /<Key>closed<\/Key>/)
  t.is((await anonymous('/alice-acl/closed')).status, 403, 'a public-read bucket does not open its objects')
  await alice.send(new PutObjectAclCommand({ Bucket: 'alice-acl', Key: 'closed', ACL: 'public-read' }))
  t.is(await (await anonymous('/alice-acl/closed')).text(), 'closed')

  await alice.send(new CreateBucketCommand({ Bucket: 'alice-dropbox', ACL: 'public-read-write' }))
  t.is((await anonymous('/alice-dropbox/anon.txt', { method: 'PUT', body: 'from anyone' })).status, 200)
  await as('bob').send(new PutObjectCommand({ Bucket: 'alice-dropbox', Key: 'bob.txt', Body: 'from bob' }))
  t.is(await text(as('bob'), 'alice-dropbox', 'bob.txt'), 'from bob', 'the writer owns what it wrote')
  t.is(await text(alice, 'alice-dropbox', 'anon.txt'), 'from anyone', 'the bucket owner reads what others wrote')
  await denied(t, as('bob').send(new GetObjectCommand({ Bucket: 'alice-dropbox', Key: 'anon.txt' })), 'others\' objects stay private')
})

test.serial('the public access block ignores public ACLs, refuses public ACLs and policies, restricts public buckets', async (t) => {
  const B = 'alice-blocked'
  const alice = as('alice')
  await alice.send(new CreateBucketCommand({ Bucket: B }))
  await alice.send(new PutObjectCommand({ Bucket: B, Key: 'o', Body: 'o', ACL: 'public-read' }))
  t.is((await anonymous(`/${B}/o`)).status, 200)
  await alice.send(new PutPublicAccessBlockCommand({ Bucket: B, PublicAccessBlockConfiguration: { IgnorePublicAcls: true } }))
  t.is((await anonymous(`/${B}/o`)).status, 403, 'IgnorePublicAcls')
  await alice.send(new PutPublicAccessBlockCommand({ Bucket: B, PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true } }))
  await denied(t, alice.send(new PutObjectCommand({ Bucket: B, Key: 'p', Body: 'p', ACL: 'public-read' })), 'BlockPublicAcls on PutObject')
  await denied(t, alice.send(new PutObjectAclCommand({ Bucket: B, Key: 'o', ACL: 'public-read-write' })), 'BlockPublicAcls on PutObjectAcl')
  const open = [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${B}/*` }]
  await denied(t, policy('alice', B, open), 'BlockPublicPolicy')
  await alice.send(new PutPublicAccessBlockCommand({ Bucket: B, PublicAccessBlockConfiguration: { IgnorePublicAcls: true, RestrictPublicBuckets: true } }))
  await policy('alice', B, open)
  t.is((await anonymous(`/${B}/o`)).status, 403, 'RestrictPublicBuckets: a public policy grants no one outside')
  await alice.send(new DeletePublicAccessBlockCommand({ Bucket: B }))
  t.is((await anonymous(`/${B}/o`)).status, 200, 'nothing blocked: the public policy applies')
})

test.serial('identity policies bound a user, on its own buckets too', async (t) => {
  const alice = as('alice')
  await alice.send(new CreateBucketCommand({ Bucket: 'shared' }))
  await alice.send(new PutObjectCommand({ Bucket: 'shared', Key: 'doc', Body: 'shared doc' }))
  // The operator's identity policy is enough for what it allows; the bucket policy may add more.
  t.is(await text(as('carol'), 'shared', 'doc'), 'shared doc')
  t.deepEqual((await as('carol').send(new ListObjectsV2Command({ Bucket: 'shared' }))).Contents?.map((o) => o.Key), ['doc'])
  await denied(t, as('carol').send(new PutObjectCommand({ Bucket: 'shared', Key: 'by-carol', Body: 'c' })), 'not in carol\'s policy')
  await policy('alice', 'shared', [{ Effect: 'Allow', Principal: { AWS: 'carol' }, Action: 's3:PutObject', Resource: 'arn:aws:s3:::shared/by-carol' }])
  await as('carol').send(new PutObjectCommand({ Bucket: 'shared', Key: 'by-carol', Body: 'c' }))
  t.is(await text(alice, 'shared', 'by-carol'), 'c')
  await policy('alice', 'shared', [{ Effect: 'Deny', Principal: { AWS: 'carol' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::shared/doc' }])
  await denied(t, as('carol').send(new GetObjectCommand({ Bucket: 'shared', Key: 'doc' })), 'the bucket owner\'s explicit Deny beats the identity policy')
  await denied(t, as('carol').send(new ListBucketsCommand({})), 'carol may not list buckets')
  await denied(t, as('carol').send(new CreateBucketCommand({ Bucket: 'carol-own' })), 'carol may not create buckets')

  const dave = as('dave')
  await dave.send(new CreateBucketCommand({ Bucket: 'dave-things' }))
  await dave.send(new PutObjectCommand({ Bucket: 'dave-things', Key: 'x', Body: 'x' }))
  t.is(await text(dave, 'dave-things', 'x'), 'x')
  t.deepEqual((await dave.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name), ['dave-things'])
  await denied(t, dave.send(new CreateBucketCommand({ Bucket: 'not-daves' })), 'outside ${aws:username}-*')
  await dave.send(new DeleteObjectCommand({ Bucket: 'dave-things', Key: 'x' }))
  await denied(t, dave.send(new DeleteBucketCommand({ Bucket: 'dave-things' })), 'explicit Deny in its own policy, on its own bucket')
})

test.serial('the users file is re-read when it changes: new keys work, removed keys stop', async (t) => {
  const edited = structuredClone(USERS)
  edited.users.push({ name: 'erin', accessKeys: [{ accessKeyId: 'ERINKEY', secretAccessKey: 'erin-secret' }] })
  edited.users[1].accessKeys = [{ accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' }]
  await writeFile(usersPath, JSON.stringify(edited))
  // mtime resolution: make sure the change is seen even on coarse clocks.
  const { utimes } = await import('node:fs/promises')
  await utimes(usersPath, new Date(), new Date(Date.now() + 5000))
  const erin = new S3Client({ endpoint: host.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'ERINKEY', secretAccessKey: 'erin-secret' }, maxAttempts: 1 })
  const bob2 = new S3Client({ endpoint: host.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'BOBKEY2', secretAccessKey: 'bob-secret-2' }, maxAttempts: 1 })
  t.teardown(() => { erin.destroy(); bob2.destroy() })
  t.deepEqual((await erin.send(new ListBucketsCommand({}))).Buckets ?? [], [])
  t.deepEqual(await s3Error(bob2.send(new ListBucketsCommand({}))), { code: 'InvalidAccessKeyId', status: 403 })
  await writeFile(usersPath, '{ broken')
  await utimes(usersPath, new Date(), new Date(Date.now() + 10000))
  t.deepEqual((await erin.send(new ListBucketsCommand({}))).Buckets ?? [], [], 'a bad edit keeps the last good users')
})
