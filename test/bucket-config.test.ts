/**
 * Bucket configurations and ACLs through the AWS SDK over loopback HTTP: bucket policies and their
 * status, bucket and object ACLs (also as set by CreateBucket, PutObject, CopyObject and multipart
 * uploads), CORS, Block Public Access and default encryption, on the standalone server's storage
 * (PackBlockstore + SQLite) and on the in-memory default. Requests the SDK cannot send (a body and
 * ACL headers together, no Content-MD5) are signed by hand.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  DeleteBucketCorsCommand, DeleteBucketEncryptionCommand, DeleteBucketPolicyCommand, DeleteObjectCommand,
  DeletePublicAccessBlockCommand, GetBucketAclCommand, GetBucketCorsCommand, GetBucketEncryptionCommand,
  GetBucketPolicyCommand, GetBucketPolicyStatusCommand, GetObjectAclCommand, GetObjectCommand, GetPublicAccessBlockCommand,
  PutBucketAclCommand, PutBucketCorsCommand, PutBucketEncryptionCommand, PutBucketPolicyCommand, PutBucketVersioningCommand,
  PutObjectAclCommand, PutObjectCommand, PutPublicAccessBlockCommand, UploadPartCommand,
  type Grant, type S3Client,
} from '@aws-sdk/client-s3'
import { blockstoreUnderTest } from './helpers/blockstore.js'
import { createGateway } from '../src/gateway.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { credentials, s3Client, s3Error } from './helpers/s3.js'
import { signedFetch } from './helpers/sign.js'

interface Target { name: string, s3: S3Client, url: string }

/** Bucket default encryption (SSE-S3) needs a master key. */
const MASTER_KEY = new Uint8Array(32).fill(7)
const targets: Target[] = []
const cleanup: Array<() => Promise<void>> = []

const OWNER = credentials.accessKeyId
/** A second known user (grants may name only known users). */
const READER = 'READERKEY'
const CREDENTIALS = { [credentials.accessKeyId]: credentials.secretAccessKey, [READER]: 'reader-secret' }
const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers'
const AUTHENTICATED_USERS = 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers'

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-bucket-config-'))
  const sqlite = new SqliteMetadataStore({ path: join(dir, 'meta.db'), synchronous: 'NORMAL' })
  for (const [name, gateway] of [
    ['disk+sqlite', createGateway({ blockstore: blockstoreUnderTest(dir), metadata: sqlite, credentials: CREDENTIALS, masterKey: MASTER_KEY })],
    ['memory', createGateway({ metadata: new MemoryMetadataStore(), credentials: CREDENTIALS, masterKey: MASTER_KEY })],
  ] as const) {
    const host: RunningHost = await nodeHost.start(gateway, '')
    const s3 = s3Client(host.url)
    targets.push({ name, s3, url: host.url })
    cleanup.push(async () => { s3.destroy(); await host.close(); await gateway.close() })
  }
  cleanup.push(async () => { await rm(dir, { recursive: true, force: true }) })
})
test.after.always(async () => {
  for (const c of cleanup) await c()
})

let counter = 0
async function bucket (s3: S3Client): Promise<string> {
  const Bucket = `config-${++counter}`
  await s3.send(new CreateBucketCommand({ Bucket }))
  return Bucket
}

function each (title: string, body: (t: ExecutionContext, target: Target) => Promise<void>): void {
  for (const name of ['disk+sqlite', 'memory']) {
    test(`${name}: ${title}`, async t => { await body(t, targets.find(x => x.name === name)!) })
  }
}

function policy (Bucket: string, principal: unknown = '*', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: principal, Action: 's3:GetObject', Resource: `arn:aws:s3:::${Bucket}/*`, ...extra }],
  }, null, 2)
}

/** Grants as [grantee, permission] pairs, for comparing. */
function grants (list: Grant[] | undefined): Array<[string, string]> {
  return (list ?? []).map(g => [g.Grantee?.Type === 'Group' ? g.Grantee.URI ?? '' : g.Grantee?.ID ?? '', g.Permission ?? ''])
}

async function expectCode (t: ExecutionContext, res: Response, status: number, code: string): Promise<void> {
  const body = await res.text()
  t.is(res.status, status, body)
  t.regex(body, new RegExp(`<Code>${code}</Code>`))
}

function md5Base64 (text: string): string {
  return createHash('md5').update(text).digest('base64')
}

// ---------------------------------------------------------------- bucket policy

each('PutBucketPolicy / GetBucketPolicy / DeleteBucketPolicy: the document verbatim, 204s, NoSuchBucketPolicy', async (t, { s3, url }) => {
  const Bucket = await bucket(s3)
  t.deepEqual(await s3Error(s3.send(new GetBucketPolicyCommand({ Bucket }))), { code: 'NoSuchBucketPolicy', status: 404 })
  const text = policy(Bucket, { AWS: ['arn:aws:iam::123456789012:root'] })
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: text }))
  t.is((await s3.send(new GetBucketPolicyCommand({ Bucket }))).Policy, text)

  const raw = await signedFetch({ method: 'GET', url: `${url}/${Bucket}?policy` })
  t.is(raw.status, 200)
  t.is(raw.headers.get('content-type'), 'application/json')
  t.is(await raw.text(), text)

  const put = await signedFetch({ method: 'PUT', url: `${url}/${Bucket}?policy`, body: policy(Bucket) })
  t.is(put.status, 204)
  t.is((await s3.send(new GetBucketPolicyCommand({ Bucket }))).Policy, policy(Bucket))

  const del = await signedFetch({ method: 'DELETE', url: `${url}/${Bucket}?policy` })
  t.is(del.status, 204)
  t.deepEqual(await s3Error(s3.send(new GetBucketPolicyCommand({ Bucket }))), { code: 'NoSuchBucketPolicy', status: 404 })
  await s3.send(new DeleteBucketPolicyCommand({ Bucket })) // deleting nothing is fine, as in S3
  t.deepEqual(await s3Error(s3.send(new GetBucketPolicyCommand({ Bucket: 'no-such-bucket-p' }))), { code: 'NoSuchBucket', status: 404 })
  t.deepEqual(await s3Error(s3.send(new PutBucketPolicyCommand({ Bucket: 'no-such-bucket-p', Policy: policy('no-such-bucket-p') }))), { code: 'NoSuchBucket', status: 404 })
})

each('PutBucketPolicy: a malformed policy is MalformedPolicy and changes nothing', async (t, { s3 }) => {
  const Bucket = await bucket(s3)
  const good = policy(Bucket)
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: good }))
  for (const bad of [
    'not json',
    '{"Statement": [',
    JSON.stringify({ Version: '2012-10-17', Statement: [] }),
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${Bucket}/*` }] }),
    policy('another-bucket'),
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Principal: '*', Action: 's3:GetObject', Resource: `arn:aws:s3:::${Bucket}/*` }] }),
  ]) {
    t.deepEqual(await s3Error(s3.send(new PutBucketPolicyCommand({ Bucket, Policy: bad }))), { code: 'MalformedPolicy', status: 400 }, bad)
  }
  t.is((await s3.send(new GetBucketPolicyCommand({ Bucket }))).Policy, good)
})

each('GetBucketPolicyStatus: IsPublic for a grant to everyone, not for named or condition-pinned principals; NoSuchBucketPolicy without one', async (t, { s3 }) => {
  const Bucket = await bucket(s3)
  t.deepEqual(await s3Error(s3.send(new GetBucketPolicyStatusCommand({ Bucket }))), { code: 'NoSuchBucketPolicy', status: 404 })
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: policy(Bucket) }))
  t.is((await s3.send(new GetBucketPolicyStatusCommand({ Bucket }))).PolicyStatus?.IsPublic, true)
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: policy(Bucket, { AWS: 'arn:aws:iam::123456789012:root' }) }))
  t.is((await s3.send(new GetBucketPolicyStatusCommand({ Bucket }))).PolicyStatus?.IsPublic, false)
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: policy(Bucket, '*', { Condition: { IpAddress: { 'aws:SourceIp': '192.0.2.0/24' } } }) }))
  t.is((await s3.send(new GetBucketPolicyStatusCommand({ Bucket }))).PolicyStatus?.IsPublic, false)
})

each('BlockPublicPolicy refuses a public policy (AccessDenied) but not a private one; removing the block allows it', async (t, { s3 }) => {
  const Bucket = await bucket(s3)
  await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: { BlockPublicPolicy: true } }))
  t.deepEqual(await s3Error(s3.send(new PutBucketPolicyCommand({ Bucket, Policy: policy(Bucket) }))), { code: 'AccessDenied', status: 403 })
  t.deepEqual(await s3Error(s3.send(new GetBucketPolicyCommand({ Bucket }))), { code: 'NoSuchBucketPolicy', status: 404 })
  const named = policy(Bucket, { AWS: 'arn:aws:iam::123456789012:root' })
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: named }))
  t.is((await s3.send(new GetBucketPolicyCommand({ Bucket }))).Policy, named)
  // BlockPublicAcls alone does not stop a public policy.
  await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: true } }))
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: policy(Bucket) }))
  t.is((await s3.send(new GetBucketPolicyStatusCommand({ Bucket }))).PolicyStatus?.IsPublic, true)
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket }))
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: policy(Bucket) }))
})

// ---------------------------------------------------------------- bucket ACL

each('GetBucketAcl: the default is the owner\'s FULL_CONTROL, with its display name', async (t, { s3 }) => {
  const Bucket = await bucket(s3)
  const acl = await s3.send(new GetBucketAclCommand({ Bucket }))
  t.deepEqual(acl.Owner, { ID: OWNER, DisplayName: OWNER })
  t.deepEqual(acl.Grants, [{ Grantee: { ID: OWNER, DisplayName: OWNER, Type: 'CanonicalUser' }, Permission: 'FULL_CONTROL' }])
  t.deepEqual(await s3Error(s3.send(new GetBucketAclCommand({ Bucket: 'no-such-bucket-a' }))), { code: 'NoSuchBucket', status: 404 })
})

each('PutBucketAcl: canned ACL, grant headers and an AccessControlPolicy body, each read back', async (t, { s3 }) => {
  const Bucket = await bucket(s3)
  await s3.send(new PutBucketAclCommand({ Bucket, ACL: 'public-read' }))
  t.deepEqual(grants((await s3.send(new GetBucketAclCommand({ Bucket }))).Grants), [[ALL_USERS, 'READ'], [OWNER, 'FULL_CONTROL']])

  await s3.send(new PutBucketAclCommand({ Bucket, GrantRead: `uri="${AUTHENTICATED_USERS}"`, GrantFullControl: `id="${OWNER}"`, GrantWriteACP: `id=${READER}` }))
  t.deepEqual(grants((await s3.send(new GetBucketAclCommand({ Bucket }))).Grants),
    [[AUTHENTICATED_USERS, 'READ'], [READER, 'WRITE_ACP'], [OWNER, 'FULL_CONTROL']])

  await s3.send(new PutBucketAclCommand({
    Bucket,
    AccessControlPolicy: {
      Owner: { ID: OWNER },
      Grants: [
        { Grantee: { Type: 'CanonicalUser', ID: OWNER }, Permission: 'FULL_CONTROL' },
        { Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'READ_ACP' },
      ],
    },
  }))
  const acl = await s3.send(new GetBucketAclCommand({ Bucket }))
  t.deepEqual(acl.Owner, { ID: OWNER, DisplayName: OWNER })
  t.deepEqual(grants(acl.Grants), [[OWNER, 'FULL_CONTROL'], [ALL_USERS, 'READ_ACP']])
  t.is(acl.Grants?.[0].Grantee?.DisplayName, OWNER)

  await s3.send(new PutBucketAclCommand({ Bucket, ACL: 'private' }))
  t.deepEqual(grants((await s3.send(new GetBucketAclCommand({ Bucket }))).Grants), [[OWNER, 'FULL_CONTROL']])
})

each('PutBucketAcl errors: malformed ACL XML, headers with a body, neither, canned with grants, unknown canned ACL, email grantee, another owner', async (t, { s3, url }) => {
  const Bucket = await bucket(s3)
  await s3.send(new PutBucketAclCommand({ Bucket, ACL: 'authenticated-read' }))
  const aclUrl = `${url}/${Bucket}?acl`
  const document = (grant: string, owner = OWNER): string =>
    `<AccessControlPolicy><Owner><ID>${owner}</ID></Owner><AccessControlList>${grant}</AccessControlList></AccessControlPolicy>`
  const ownerGrant = `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>${OWNER}</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>`

  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: '<AccessControlPolicy><Owner>' }), 400, 'MalformedXML')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: '<Policy/>' }), 400, 'MalformedACLError')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: document(ownerGrant.replace('FULL_CONTROL', 'EVERYTHING')) }), 400, 'MalformedACLError')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: '<AccessControlPolicy><AccessControlList/></AccessControlPolicy>' }), 400, 'MalformedACLError')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: document(ownerGrant), headers: { 'x-amz-acl': 'private' } }), 400, 'UnexpectedContent')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: document(ownerGrant), headers: { 'x-amz-grant-read': `id=${OWNER}` } }), 400, 'UnexpectedContent')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl }), 400, 'MissingSecurityHeader')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, headers: { 'x-amz-acl': 'private', 'x-amz-grant-read': `id=${OWNER}` } }), 400, 'InvalidRequest')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, headers: { 'x-amz-acl': 'public' } }), 400, 'InvalidArgument')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, headers: { 'x-amz-grant-read': 'uri=http://example.com/group' } }), 400, 'InvalidArgument')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, headers: { 'x-amz-grant-read': 'id=nobody-known' } }), 400, 'InvalidArgument')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: document(ownerGrant.replace(`<ID>${OWNER}</ID>`, '<ID>nobody-known</ID>')) }), 400, 'InvalidArgument')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, headers: { 'x-amz-grant-read': 'emailAddress="someone@example.com"' } }), 400, 'UnresolvableGrantByEmailAddress')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: document(ownerGrant, 'not-the-owner') }), 403, 'AccessDenied')
  t.deepEqual(grants((await s3.send(new GetBucketAclCommand({ Bucket }))).Grants), [[AUTHENTICATED_USERS, 'READ'], [OWNER, 'FULL_CONTROL']])
})

each('CreateBucket: x-amz-acl and grant headers become the bucket\'s ACL; a bad one creates nothing', async (t, { s3 }) => {
  const Bucket = `config-${++counter}`
  await s3.send(new CreateBucketCommand({ Bucket, ACL: 'public-read-write' }))
  t.deepEqual(grants((await s3.send(new GetBucketAclCommand({ Bucket }))).Grants), [[ALL_USERS, 'READ'], [ALL_USERS, 'WRITE'], [OWNER, 'FULL_CONTROL']])

  const granted = `config-${++counter}`
  await s3.send(new CreateBucketCommand({ Bucket: granted, GrantRead: `uri="${AUTHENTICATED_USERS}"` }))
  t.deepEqual(grants((await s3.send(new GetBucketAclCommand({ Bucket: granted }))).Grants), [[AUTHENTICATED_USERS, 'READ']])

  const plain = `config-${++counter}`
  await s3.send(new CreateBucketCommand({ Bucket: plain, ACL: 'private' }))
  t.deepEqual(grants((await s3.send(new GetBucketAclCommand({ Bucket: plain }))).Grants), [[OWNER, 'FULL_CONTROL']])

  const bad = `config-${++counter}`
  t.deepEqual(await s3Error(s3.send(new CreateBucketCommand({ Bucket: bad, ACL: 'nonsense' as 'private' }))), { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await s3Error(s3.send(new GetBucketAclCommand({ Bucket: bad }))), { code: 'NoSuchBucket', status: 404 })
})

// ---------------------------------------------------------------- object ACL

each('GetObjectAcl / PutObjectAcl: default owner-only, canned, grants and body; versionId; missing key, version and delete markers', async (t, { s3 }) => {
  const Bucket = await bucket(s3)
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }))
  const v1 = (await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'one' }))).VersionId
  const v2 = (await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'two' }))).VersionId

  const initial = await s3.send(new GetObjectAclCommand({ Bucket, Key: 'k' }))
  t.deepEqual(initial.Owner, { ID: OWNER, DisplayName: OWNER })
  t.deepEqual(grants(initial.Grants), [[OWNER, 'FULL_CONTROL']])

  await s3.send(new PutObjectAclCommand({ Bucket, Key: 'k', VersionId: v1, ACL: 'public-read' }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'k', VersionId: v1 }))).Grants), [[ALL_USERS, 'READ'], [OWNER, 'FULL_CONTROL']])
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'k' }))).Grants), [[OWNER, 'FULL_CONTROL']], 'the latest version keeps its own ACL')
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'k', VersionId: v2 }))).Grants), [[OWNER, 'FULL_CONTROL']])

  await s3.send(new PutObjectAclCommand({ Bucket, Key: 'k', GrantRead: `uri="${AUTHENTICATED_USERS}"` }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'k', VersionId: v2 }))).Grants), [[AUTHENTICATED_USERS, 'READ']])

  await s3.send(new PutObjectAclCommand({
    Bucket,
    Key: 'k',
    AccessControlPolicy: {
      Owner: { ID: OWNER },
      Grants: [{ Grantee: { Type: 'CanonicalUser', ID: READER }, Permission: 'READ' }],
    },
  }))
  const fromBody = await s3.send(new GetObjectAclCommand({ Bucket, Key: 'k' }))
  t.deepEqual(fromBody.Owner, { ID: OWNER, DisplayName: OWNER })
  t.deepEqual(grants(fromBody.Grants), [[READER, 'READ']])
  t.is(await (await s3.send(new GetObjectCommand({ Bucket, Key: 'k' }))).Body?.transformToString(), 'two', 'an ACL change leaves the content')

  t.deepEqual(await s3Error(s3.send(new GetObjectAclCommand({ Bucket, Key: 'missing' }))), { code: 'NoSuchKey', status: 404 })
  t.deepEqual(await s3Error(s3.send(new PutObjectAclCommand({ Bucket, Key: 'missing', ACL: 'private' }))), { code: 'NoSuchKey', status: 404 })
  t.deepEqual(await s3Error(s3.send(new GetObjectAclCommand({ Bucket, Key: 'k', VersionId: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }))), { code: 'NoSuchVersion', status: 404 })
  t.deepEqual(await s3Error(s3.send(new PutObjectAclCommand({ Bucket, Key: 'k', VersionId: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', ACL: 'private' }))), { code: 'NoSuchVersion', status: 404 })
  t.deepEqual(await s3Error(s3.send(new GetObjectAclCommand({ Bucket: 'no-such-bucket-o', Key: 'k' }))), { code: 'NoSuchBucket', status: 404 })

  const marker = (await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }))).VersionId
  t.deepEqual(await s3Error(s3.send(new GetObjectAclCommand({ Bucket, Key: 'k' }))), { code: 'NoSuchKey', status: 404 })
  t.deepEqual(await s3Error(s3.send(new GetObjectAclCommand({ Bucket, Key: 'k', VersionId: marker }))), { code: 'MethodNotAllowed', status: 405 })
  t.deepEqual(await s3Error(s3.send(new PutObjectAclCommand({ Bucket, Key: 'k', VersionId: marker, ACL: 'private' }))), { code: 'MethodNotAllowed', status: 405 })
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'k', VersionId: v1 }))).Grants), [[ALL_USERS, 'READ'], [OWNER, 'FULL_CONTROL']])
})

each('PutObjectAcl errors: malformed ACL, headers with a body, neither, log-delivery-write on an object', async (t, { s3, url }) => {
  const Bucket = await bucket(s3)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'k', Body: 'x', ACL: 'authenticated-read' }))
  const aclUrl = `${url}/${Bucket}/k?acl`
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: '<AccessControlPolicy><Owner><ID>x</ID></Owner>' }), 400, 'MalformedXML')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: '<AccessControlPolicy><Grant/></AccessControlPolicy>' }), 400, 'MalformedACLError')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, body: '<AccessControlPolicy/>', headers: { 'x-amz-acl': 'private' } }), 400, 'UnexpectedContent')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl }), 400, 'MissingSecurityHeader')
  await expectCode(t, await signedFetch({ method: 'PUT', url: aclUrl, headers: { 'x-amz-acl': 'log-delivery-write' } }), 400, 'InvalidArgument')
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'k' }))).Grants), [[AUTHENTICATED_USERS, 'READ'], [OWNER, 'FULL_CONTROL']])
})

each('PutObject, CopyObject and multipart uploads take their ACL from x-amz-acl / grant headers; a copy does not take the source\'s', async (t, { s3 }) => {
  const Bucket = await bucket(s3)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'public', Body: 'p', ACL: 'public-read' }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'public' }))).Grants), [[ALL_USERS, 'READ'], [OWNER, 'FULL_CONTROL']])
  await s3.send(new PutObjectCommand({ Bucket, Key: 'granted', Body: 'g', GrantRead: `uri="${AUTHENTICATED_USERS}"`, GrantReadACP: `id=${READER}` }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'granted' }))).Grants), [[AUTHENTICATED_USERS, 'READ'], [READER, 'READ_ACP']])
  await s3.send(new PutObjectCommand({ Bucket, Key: 'public', Body: 'p2' }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'public' }))).Grants), [[OWNER, 'FULL_CONTROL']], 'an overwrite without ACL is private again')
  await s3.send(new PutObjectAclCommand({ Bucket, Key: 'public', ACL: 'public-read' }))

  await s3.send(new CopyObjectCommand({ Bucket, Key: 'copy', CopySource: `${Bucket}/public` }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'copy' }))).Grants), [[OWNER, 'FULL_CONTROL']])
  await s3.send(new CopyObjectCommand({ Bucket, Key: 'copy-acl', CopySource: `${Bucket}/public`, ACL: 'authenticated-read' }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'copy-acl' }))).Grants), [[AUTHENTICATED_USERS, 'READ'], [OWNER, 'FULL_CONTROL']])
  await s3.send(new CopyObjectCommand({ Bucket, Key: 'public', CopySource: `${Bucket}/public`, MetadataDirective: 'REPLACE', ACL: 'private' }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'public' }))).Grants), [[OWNER, 'FULL_CONTROL']], 'copy onto itself with a new ACL')

  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'multi', ACL: 'public-read' }))
  const part = await s3.send(new UploadPartCommand({ Bucket, Key: 'multi', UploadId, PartNumber: 1, Body: 'multipart body' }))
  await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'multi', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag, ChecksumCRC32: part.ChecksumCRC32 }] } }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'multi' }))).Grants), [[ALL_USERS, 'READ'], [OWNER, 'FULL_CONTROL']])
  const plain = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'multi-plain' }))
  const p1 = await s3.send(new UploadPartCommand({ Bucket, Key: 'multi-plain', UploadId: plain.UploadId, PartNumber: 1, Body: 'body' }))
  await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: 'multi-plain', UploadId: plain.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag, ChecksumCRC32: p1.ChecksumCRC32 }] } }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'multi-plain' }))).Grants), [[OWNER, 'FULL_CONTROL']])

  t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: 'bad', Body: 'b', ACL: 'private', GrantRead: `id=${OWNER}` }))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: 'bad', Body: 'b', ACL: 'log-delivery-write' as 'private' }))), { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'bad' }))), { code: 'NoSuchKey', status: 404 })
})

each('BlockPublicAcls refuses public ACLs on every path (AccessDenied, nothing stored) and allows private ones', async (t, { s3, url }) => {
  const Bucket = await bucket(s3)
  await s3.send(new PutObjectCommand({ Bucket, Key: 'source', Body: 'src' }))
  await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: true } }))
  const denied = { code: 'AccessDenied', status: 403 }

  t.deepEqual(await s3Error(s3.send(new PutBucketAclCommand({ Bucket, ACL: 'public-read' }))), denied)
  t.deepEqual(await s3Error(s3.send(new PutBucketAclCommand({ Bucket, GrantRead: `uri="${AUTHENTICATED_USERS}"` }))), denied)
  t.deepEqual(await s3Error(s3.send(new PutBucketAclCommand({
    Bucket,
    AccessControlPolicy: { Owner: { ID: OWNER }, Grants: [{ Grantee: { Type: 'Group', URI: ALL_USERS }, Permission: 'READ' }] },
  }))), denied)
  t.deepEqual(grants((await s3.send(new GetBucketAclCommand({ Bucket }))).Grants), [[OWNER, 'FULL_CONTROL']])

  t.deepEqual(await s3Error(s3.send(new PutObjectAclCommand({ Bucket, Key: 'source', ACL: 'public-read-write' }))), denied)
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'source' }))).Grants), [[OWNER, 'FULL_CONTROL']])

  t.deepEqual(await s3Error(s3.send(new PutObjectCommand({ Bucket, Key: 'new', Body: 'n', ACL: 'public-read' }))), denied)
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'new' }))), { code: 'NoSuchKey', status: 404 })
  t.deepEqual(await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'new', CopySource: `${Bucket}/source`, ACL: 'authenticated-read' }))), denied)
  t.deepEqual(await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'new' }))), { code: 'NoSuchKey', status: 404 })
  t.deepEqual(await s3Error(s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'new', ACL: 'public-read' }))), denied)
  const uploads = await signedFetch({ method: 'GET', url: `${url}/${Bucket}?uploads` })
  t.notRegex(await uploads.text(), /<Upload>/)

  // Private and non-public grants still work.
  await s3.send(new PutBucketAclCommand({ Bucket, GrantRead: `id=${READER}` }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'private', Body: 'p', ACL: 'private' }))
  await s3.send(new PutObjectAclCommand({ Bucket, Key: 'private', ACL: 'bucket-owner-full-control' }))
  await s3.send(new CopyObjectCommand({ Bucket, Key: 'copy', CopySource: `${Bucket}/source`, ACL: 'private' }))

  // IgnorePublicAcls alone does not refuse writes.
  await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: { IgnorePublicAcls: true } }))
  await s3.send(new PutObjectCommand({ Bucket, Key: 'new', Body: 'n', ACL: 'public-read' }))
  t.deepEqual(grants((await s3.send(new GetObjectAclCommand({ Bucket, Key: 'new' }))).Grants), [[ALL_USERS, 'READ'], [OWNER, 'FULL_CONTROL']])
})

// ---------------------------------------------------------------- CORS

const CORS_RULES = [
  { ID: 'site', AllowedOrigins: ['https://example.com'], AllowedMethods: ['GET', 'PUT'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 3000 },
  { AllowedOrigins: ['*'], AllowedMethods: ['HEAD'] },
]

each('PutBucketCors / GetBucketCors / DeleteBucketCors round trip; NoSuchCORSConfiguration', async (t, { s3, url }) => {
  const Bucket = await bucket(s3)
  t.deepEqual(await s3Error(s3.send(new GetBucketCorsCommand({ Bucket }))), { code: 'NoSuchCORSConfiguration', status: 404 })
  await s3.send(new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: CORS_RULES } }))
  t.deepEqual((await s3.send(new GetBucketCorsCommand({ Bucket }))).CORSRules, CORS_RULES)

  const body = '<CORSConfiguration><CORSRule><AllowedOrigin>https://a.example</AllowedOrigin><AllowedMethod>POST</AllowedMethod></CORSRule></CORSConfiguration>'
  const put = await signedFetch({ method: 'PUT', url: `${url}/${Bucket}?cors`, body, headers: { 'content-md5': md5Base64(body) } })
  t.is(put.status, 200)
  t.deepEqual((await s3.send(new GetBucketCorsCommand({ Bucket }))).CORSRules, [{ AllowedOrigins: ['https://a.example'], AllowedMethods: ['POST'] }])

  const del = await signedFetch({ method: 'DELETE', url: `${url}/${Bucket}?cors` })
  t.is(del.status, 204)
  t.deepEqual(await s3Error(s3.send(new GetBucketCorsCommand({ Bucket }))), { code: 'NoSuchCORSConfiguration', status: 404 })
  await s3.send(new DeleteBucketCorsCommand({ Bucket }))
  t.deepEqual(await s3Error(s3.send(new GetBucketCorsCommand({ Bucket: 'no-such-bucket-c' }))), { code: 'NoSuchBucket', status: 404 })
})

each('PutBucketCors errors: bad rules, not XML, no Content-MD5 or checksum, a wrong Content-MD5; nothing changes', async (t, { s3, url }) => {
  const Bucket = await bucket(s3)
  await s3.send(new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: CORS_RULES } }))
  t.deepEqual(await s3Error(s3.send(new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['PATCH'] }] } }))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual(await s3Error(s3.send(new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: [] } }))), { code: 'MalformedXML', status: 400 })
  const corsUrl = `${url}/${Bucket}?cors`
  const rule = '<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>'
  const missing = await signedFetch({ method: 'PUT', url: corsUrl, body: rule })
  const text = await missing.text()
  t.is(missing.status, 400)
  t.regex(text, /<Code>InvalidRequest<\/Code><Message>Missing required header for this request: Content-MD5<\/Message>/)
  await expectCode(t, await signedFetch({ method: 'PUT', url: corsUrl, body: rule, headers: { 'content-md5': md5Base64('other') } }), 400, 'BadDigest')
  await expectCode(t, await signedFetch({ method: 'PUT', url: corsUrl, body: '<CORSConfiguration>', headers: { 'content-md5': md5Base64('<CORSConfiguration>') } }), 400, 'MalformedXML')
  const noOrigin = '<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>'
  await expectCode(t, await signedFetch({ method: 'PUT', url: corsUrl, body: noOrigin, headers: { 'content-md5': md5Base64(noOrigin) } }), 400, 'MalformedXML')
  t.deepEqual((await s3.send(new GetBucketCorsCommand({ Bucket }))).CORSRules, CORS_RULES)
})

// ---------------------------------------------------------------- public access block

each('PutPublicAccessBlock / GetPublicAccessBlock / DeletePublicAccessBlock: unnamed settings are false; errors', async (t, { s3, url }) => {
  const Bucket = await bucket(s3)
  t.deepEqual(await s3Error(s3.send(new GetPublicAccessBlockCommand({ Bucket }))), { code: 'NoSuchPublicAccessBlockConfiguration', status: 404 })
  await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true } }))
  t.deepEqual((await s3.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration,
    { BlockPublicAcls: true, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: true })
  const all = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true }
  await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: all }))
  t.deepEqual((await s3.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration, all)

  const pabUrl = `${url}/${Bucket}?publicAccessBlock`
  await expectCode(t, await signedFetch({ method: 'PUT', url: pabUrl, body: '<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>' }), 400, 'MalformedXML')
  await expectCode(t, await signedFetch({ method: 'PUT', url: pabUrl, body: '<PublicAccessBlockConfiguration><BlockEverything>true</BlockEverything></PublicAccessBlockConfiguration>' }), 400, 'MalformedXML')
  await expectCode(t, await signedFetch({ method: 'PUT', url: pabUrl, body: '<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><BlockPublicAcls>false</BlockPublicAcls></PublicAccessBlockConfiguration>' }), 400, 'MalformedXML')
  await expectCode(t, await signedFetch({ method: 'PUT', url: pabUrl, body: '<PublicAccessBlockConfiguration><BlockPublicAcls>' }), 400, 'MalformedXML')
  await expectCode(t, await signedFetch({ method: 'PUT', url: pabUrl, body: '<PublicAccessBlockConfiguration/>' }), 400, 'InvalidRequest')
  t.deepEqual(await s3Error(s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: {} }))), { code: 'InvalidRequest', status: 400 })
  t.deepEqual((await s3.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration, all)

  const del = await signedFetch({ method: 'DELETE', url: pabUrl })
  t.is(del.status, 204)
  t.deepEqual(await s3Error(s3.send(new GetPublicAccessBlockCommand({ Bucket }))), { code: 'NoSuchPublicAccessBlockConfiguration', status: 404 })
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket }))
  t.deepEqual(await s3Error(s3.send(new GetPublicAccessBlockCommand({ Bucket: 'no-such-bucket-b' }))), { code: 'NoSuchBucket', status: 404 })
})

// ---------------------------------------------------------------- default encryption

each('PutBucketEncryption / GetBucketEncryption / DeleteBucketEncryption: AES256 with BucketKeyEnabled echoed; KMS is NotImplemented; errors', async (t, { s3, url }) => {
  const Bucket = await bucket(s3)
  t.deepEqual(await s3Error(s3.send(new GetBucketEncryptionCommand({ Bucket }))), { code: 'ServerSideEncryptionConfigurationNotFoundError', status: 404 })
  await s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } }))
  t.deepEqual((await s3.send(new GetBucketEncryptionCommand({ Bucket }))).ServerSideEncryptionConfiguration,
    { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: false }] })
  await s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: true }] } }))
  t.deepEqual((await s3.send(new GetBucketEncryptionCommand({ Bucket }))).ServerSideEncryptionConfiguration,
    { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: true }] })

  for (const algorithm of ['aws:kms', 'aws:kms:dsse'] as const) {
    const kms = await s3Error(s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: algorithm, KMSMasterKeyID: 'alias/key' } }] } })))
    t.deepEqual(kms, { code: 'NotImplemented', status: 501 })
  }
  const encUrl = `${url}/${Bucket}?encryption`
  const kmsRes = await signedFetch({ method: 'PUT', url: encUrl, body: '<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>' })
  t.is(kmsRes.status, 501)
  t.regex(await kmsRes.text(), /KMS is not supported by this gateway/)
  t.deepEqual(await s3Error(s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256', KMSMasterKeyID: 'alias/key' } }] } }))), { code: 'InvalidArgument', status: 400 })
  t.deepEqual(await s3Error(s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES128' as 'AES256' } }] } }))), { code: 'MalformedXML', status: 400 })
  t.deepEqual(await s3Error(s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [] } }))), { code: 'MalformedXML', status: 400 })
  await expectCode(t, await signedFetch({ method: 'PUT', url: encUrl, body: '<ServerSideEncryptionConfiguration><Rule><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>' }), 400, 'MalformedXML')
  await expectCode(t, await signedFetch({ method: 'PUT', url: encUrl, body: '<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>maybe</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>' }), 400, 'MalformedXML')
  await expectCode(t, await signedFetch({ method: 'PUT', url: encUrl, body: 'AES256' }), 400, 'MalformedXML')
  t.deepEqual((await s3.send(new GetBucketEncryptionCommand({ Bucket }))).ServerSideEncryptionConfiguration?.Rules?.[0].BucketKeyEnabled, true)

  const del = await signedFetch({ method: 'DELETE', url: encUrl })
  t.is(del.status, 204)
  t.deepEqual(await s3Error(s3.send(new GetBucketEncryptionCommand({ Bucket }))), { code: 'ServerSideEncryptionConfigurationNotFoundError', status: 404 })
  await s3.send(new DeleteBucketEncryptionCommand({ Bucket }))
  t.deepEqual(await s3Error(s3.send(new GetBucketEncryptionCommand({ Bucket: 'no-such-bucket-e' }))), { code: 'NoSuchBucket', status: 404 })
})

// ---------------------------------------------------------------- independence

each('configurations are independent: deleting one leaves the others', async (t, { s3 }) => {
  const Bucket = await bucket(s3)
  const text = policy(Bucket, { AWS: 'arn:aws:iam::123456789012:root' })
  await s3.send(new PutBucketPolicyCommand({ Bucket, Policy: text }))
  await s3.send(new PutBucketAclCommand({ Bucket, ACL: 'authenticated-read' }))
  await s3.send(new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: CORS_RULES } }))
  await s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: { IgnorePublicAcls: true } }))
  await s3.send(new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] } }))
  await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }))

  const state = async (): Promise<Record<string, unknown>> => {
    const read = async (f: () => Promise<unknown>): Promise<unknown> => await f().catch((err: Error) => err.name)
    return {
      policy: await read(async () => (await s3.send(new GetBucketPolicyCommand({ Bucket }))).Policy),
      acl: grants((await s3.send(new GetBucketAclCommand({ Bucket }))).Grants),
      cors: await read(async () => (await s3.send(new GetBucketCorsCommand({ Bucket }))).CORSRules?.length),
      pab: await read(async () => (await s3.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration?.IgnorePublicAcls),
      encryption: await read(async () => (await s3.send(new GetBucketEncryptionCommand({ Bucket }))).ServerSideEncryptionConfiguration?.Rules?.[0].ApplyServerSideEncryptionByDefault?.SSEAlgorithm),
    }
  }
  const acl = [[AUTHENTICATED_USERS, 'READ'], [OWNER, 'FULL_CONTROL']]
  t.deepEqual(await state(), { policy: text, acl, cors: 2, pab: true, encryption: 'AES256' })
  await s3.send(new DeleteBucketCorsCommand({ Bucket }))
  t.deepEqual(await state(), { policy: text, acl, cors: 'NoSuchCORSConfiguration', pab: true, encryption: 'AES256' })
  await s3.send(new DeleteBucketPolicyCommand({ Bucket }))
  t.deepEqual(await state(), { policy: 'NoSuchBucketPolicy', acl, cors: 'NoSuchCORSConfiguration', pab: true, encryption: 'AES256' })
  await s3.send(new DeletePublicAccessBlockCommand({ Bucket }))
  t.deepEqual(await state(), { policy: 'NoSuchBucketPolicy', acl, cors: 'NoSuchCORSConfiguration', pab: 'NoSuchPublicAccessBlockConfiguration', encryption: 'AES256' })
  await s3.send(new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: CORS_RULES.slice(1) } }))
  await s3.send(new DeleteBucketEncryptionCommand({ Bucket }))
  t.deepEqual(await state(), {
    policy: 'NoSuchBucketPolicy', acl, cors: 1, pab: 'NoSuchPublicAccessBlockConfiguration', encryption: 'ServerSideEncryptionConfigurationNotFoundError',
  })
})

test('unknown subresources stay NotImplemented next to the new routes', async t => {
  const { url } = targets[0]
  for (const [method, path] of [['GET', '/config-x?logging'], ['PUT', '/config-x?website'], ['DELETE', '/config-x?replication'], ['GET', '/config-x/k?retention'], ['PUT', '/config-x/k?legal-hold']]) {
    await expectCode(t, await signedFetch({ method, url: `${url}${path}` }), 501, 'NotImplemented')
  }
})
