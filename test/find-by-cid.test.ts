/**
 * Find by CID (`GET /-/cids/<cid>`) over loopback HTTP, on memory, SQLite and PostgreSQL: two users
 * write the same content into buckets of their own (private, public by policy, readable but not
 * listable) through the AWS SDK, then ask which objects hold its CID with requests signed by
 * @smithy/signature-v4 (header and presigned) or unsigned. Each sees only the buckets it may list.
 */
import test from 'ava'
import {
  CopyObjectCommand, CreateBucketCommand, DeleteObjectCommand, HeadObjectCommand, PutBucketPolicyCommand, PutBucketVersioningCommand,
  PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3'
import { HttpRequest } from '@smithy/protocol-http'
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner'
import { CID } from 'multiformats/cid'
import { base58btc } from 'multiformats/bases/base58'
import { createGateway } from '../src/gateway.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import type { Gateway } from '../src/types.js'
import { emptyMetadataStore, storeKinds } from './helpers/metadata-stores.js'
import { nodeHost } from './helpers/hosts.js'
import { ipfsAddCid } from './helpers/s3.js'
import { Sha256, signedFetch } from './helpers/sign.js'

const LABELS = await storeKinds('find by CID')

const USERS = { alice: { accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }, bob: { accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' } }
type User = keyof typeof USERS
const CONTENT = 'the same bytes, written by two users into four buckets'
const OTHER = 'other bytes'

interface Found { cid: string, objects: Array<{ bucket: string, key: string, versionId: string, isLatest: boolean }>, nextContinuationToken?: string }
interface Target {
  origin: string
  gateway: Gateway
  cid: string
  /** The version ids of alice's versioned bucket. */
  ids: { first: string, copy: string, deleted: string }
}

const targets = new Map<string, Target>()
const cleanup: Array<() => Promise<void>> = []

function client (origin: string, user: User): S3Client {
  return new S3Client({ endpoint: origin, region: 'us-east-1', forcePathStyle: true, credentials: USERS[user], maxAttempts: 1 })
}

function publicPolicy (bucket: string, actions: string[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: '*', Action: actions, Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] }],
  })
}

test.before(async () => {
  for (const name of LABELS) {
    const gateway = createGateway({
      blockstore: new MemoryBlockstore(),
      metadata: await emptyMetadataStore(name, cleanup),
      credentials: { [USERS.alice.accessKeyId]: USERS.alice.secretAccessKey, [USERS.bob.accessKeyId]: USERS.bob.secretAccessKey },
    })
    const host = await nodeHost.start(gateway, '', { adminPath: '/-' })
    cleanup.push(async () => { await host.close(); await gateway.close() })
    const alice = client(host.origin, 'alice')
    const bob = client(host.origin, 'bob')

    // alice-private (versioned): same.txt twice (CONTENT, then OTHER), a copy of its first version,
    // and deleted.txt under a delete marker. alice-public: listable by anyone.
    await alice.send(new CreateBucketCommand({ Bucket: 'alice-private' }))
    await alice.send(new PutBucketVersioningCommand({ Bucket: 'alice-private', VersioningConfiguration: { Status: 'Enabled' } }))
    const first = await alice.send(new PutObjectCommand({ Bucket: 'alice-private', Key: 'same.txt', Body: CONTENT }))
    await alice.send(new PutObjectCommand({ Bucket: 'alice-private', Key: 'same.txt', Body: OTHER }))
    const copy = await alice.send(new CopyObjectCommand({ Bucket: 'alice-private', Key: 'copy.txt', CopySource: `alice-private/same.txt?versionId=${first.VersionId ?? ''}` }))
    const deleted = await alice.send(new PutObjectCommand({ Bucket: 'alice-private', Key: 'deleted.txt', Body: CONTENT }))
    await alice.send(new DeleteObjectCommand({ Bucket: 'alice-private', Key: 'deleted.txt' }))
    await alice.send(new CreateBucketCommand({ Bucket: 'alice-public' }))
    await alice.send(new PutBucketPolicyCommand({ Bucket: 'alice-public', Policy: publicPolicy('alice-public', ['s3:GetObject', 's3:ListBucket']) }))
    await alice.send(new PutObjectCommand({ Bucket: 'alice-public', Key: 'pub.txt', Body: CONTENT }))
    // bob-private; bob-readable: its objects readable by anyone, the bucket listable by no one else.
    await bob.send(new CreateBucketCommand({ Bucket: 'bob-private' }))
    await bob.send(new PutObjectCommand({ Bucket: 'bob-private', Key: 'bob.txt', Body: CONTENT }))
    await bob.send(new PutObjectCommand({ Bucket: 'bob-private', Key: 'only-bob.txt', Body: 'only in a private bucket' }))
    await bob.send(new CreateBucketCommand({ Bucket: 'bob-readable' }))
    await bob.send(new PutBucketPolicyCommand({ Bucket: 'bob-readable', Policy: publicPolicy('bob-readable', ['s3:GetObject']) }))
    await bob.send(new PutObjectCommand({ Bucket: 'bob-readable', Key: 'readable.txt', Body: CONTENT }))

    const head = await alice.send(new HeadObjectCommand({ Bucket: 'alice-public', Key: 'pub.txt' }))
    const cid = head.Metadata?.cid ?? ''
    targets.set(name, { origin: host.origin, gateway, cid, ids: { first: first.VersionId ?? '', copy: copy.VersionId ?? '', deleted: deleted.VersionId ?? '' } })
  }
})

test.after.always(async () => {
  for (const step of cleanup.reverse()) await step()
})

async function find (target: Target, user: User | undefined, cid: string, query = ''): Promise<{ status: number, body: Found & { error?: string } }> {
  const url = `${target.origin}/-/cids/${cid}${query === '' ? '' : `?${query}`}`
  const response = user === undefined ? await fetch(url) : await signedFetch({ method: 'GET', url, ...USERS[user] })
  const type = response.headers.get('content-type') ?? ''
  if (!type.startsWith('application/json')) throw new Error(`not JSON: ${type}`)
  return { status: response.status, body: await response.json() as Found & { error?: string } }
}

/** Every object a user sees, page by page with the continuation token. */
async function findAll (target: Target, user: User | undefined, cid: string, pageSize: number): Promise<{ objects: Found['objects'], pages: number }> {
  const objects: Found['objects'] = []
  let token: string | undefined
  let pages = 0
  do {
    const query = `max-results=${pageSize}${token === undefined ? '' : `&continuation-token=${encodeURIComponent(token)}`}`
    const { status, body } = await find(target, user, cid, query)
    if (status !== 200) throw new Error(`status ${status}: ${JSON.stringify(body)}`)
    if (body.objects.length > pageSize) throw new Error(`a page of ${body.objects.length}`)
    objects.push(...body.objects)
    token = body.nextContinuationToken
    pages++
  } while (token !== undefined && pages < 50)
  return { objects, pages }
}

for (const name of LABELS) {
  const target = (): Target => targets.get(name) as Target

  test(`${name}: the content's CID is the one ipfs add gives, and each user sees its own buckets and the public one`, async (t) => {
    const { cid, ids } = target()
    t.is(cid, await ipfsAddCid(Buffer.from(CONTENT)))
    const alice = await find(target(), 'alice', cid)
    t.is(alice.status, 200)
    t.deepEqual(alice.body, {
      cid,
      objects: [
        { bucket: 'alice-private', key: 'copy.txt', versionId: ids.copy, isLatest: true },
        { bucket: 'alice-private', key: 'deleted.txt', versionId: ids.deleted, isLatest: false },
        { bucket: 'alice-private', key: 'same.txt', versionId: ids.first, isLatest: false },
        { bucket: 'alice-public', key: 'pub.txt', versionId: 'null', isLatest: true },
      ],
    }, 'a copy shares the CID; the noncurrent version and the one under a delete marker are found; no delete marker, nothing of bob\'s')
    const bob = await find(target(), 'bob', cid)
    t.deepEqual(bob.body.objects.map((o) => [o.bucket, o.key, o.versionId, o.isLatest]), [
      ['alice-public', 'pub.txt', 'null', true],
      ['bob-private', 'bob.txt', 'null', true],
      ['bob-readable', 'readable.txt', 'null', true],
    ], 'alice\'s private bucket is invisible to bob')
    t.is(bob.body.nextContinuationToken, undefined)
  })

  test(`${name}: anonymous callers see only what anonymous may list; objects readable but not listable stay hidden`, async (t) => {
    const { cid } = target()
    const anonymous = await find(target(), undefined, cid)
    t.is(anonymous.status, 200)
    t.deepEqual(anonymous.body, { cid, objects: [{ bucket: 'alice-public', key: 'pub.txt', versionId: 'null', isLatest: true }] })
    // Content only in bob's private bucket: an unsigned request learns nothing, not even that it exists.
    const onlyBob = await ipfsAddCid(Buffer.from('only in a private bucket'))
    t.deepEqual((await find(target(), undefined, onlyBob)).body, { cid: onlyBob, objects: [] })
    t.deepEqual((await find(target(), 'alice', onlyBob)).body, { cid: onlyBob, objects: [] })
    t.deepEqual((await find(target(), 'bob', onlyBob)).body.objects.map((o) => o.key), ['only-bob.txt'])
  })

  test(`${name}: a presigned URL authenticates as its signer`, async (t) => {
    const { origin, cid } = target()
    const url = new URL(`${origin}/-/cids/${cid}`)
    const signer = new S3RequestPresigner({ region: 'us-east-1', credentials: USERS.bob, sha256: Sha256 })
    const presigned = await signer.presign(new HttpRequest({
      method: 'GET', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: {}, headers: { host: url.host },
    }), { expiresIn: 300 })
    const query = new URLSearchParams(presigned.query as Record<string, string>)
    const response = await fetch(`${origin}${url.pathname}?${query.toString()}`)
    const body = await response.json() as Found
    t.is(response.status, 200, JSON.stringify(body))
    t.deepEqual(body.objects.map((o) => o.bucket), ['alice-public', 'bob-private', 'bob-readable'])
  })

  test(`${name}: pages follow the continuation token; every page size gives the same objects`, async (t) => {
    const { cid } = target()
    const all = (await find(target(), 'alice', cid)).body.objects
    for (const size of [1, 2, 3]) {
      const { objects, pages } = await findAll(target(), 'alice', cid, size)
      t.deepEqual(objects, all, `pages of ${size}`)
      t.is(pages, Math.ceil(all.length / size), `pages of ${size}: a last page says so, also when hidden matches follow it`)
    }
    // Bob's pages skip alice's private bucket without showing anything of it.
    const { objects } = await findAll(target(), 'bob', cid, 1)
    t.deepEqual(objects.map((o) => o.bucket), ['alice-public', 'bob-private', 'bob-readable'])
    const first = await find(target(), 'bob', cid, 'max-results=1')
    t.truthy(first.body.nextContinuationToken)
    t.false(Buffer.from(first.body.nextContinuationToken ?? '', 'base64url').toString().includes('alice-private'))
  })

  test(`${name}: the CID is normalized; a bad CID, page size or token is a 400 JSON error; other methods 405; a bad signature 403`, async (t) => {
    const { cid, origin } = target()
    const v1 = CID.parse(cid)
    const asBase58 = v1.toString(base58btc)
    const found = await find(target(), 'alice', asBase58)
    t.is(found.body.cid, cid)
    t.is(found.body.objects.length, 4)
    t.deepEqual((await find(target(), 'alice', cid.toUpperCase())).body.cid, cid, 'base32 upper case')

    const bad = await find(target(), 'alice', 'not-a-cid')
    t.is(bad.status, 400)
    t.is(bad.body.error, 'InvalidArgument')
    t.is((await find(target(), undefined, 'bafy')).status, 400, 'anonymous callers too')
    for (const query of ['max-results=0', 'max-results=x', 'continuation-token=%21%21', `continuation-token=${Buffer.from('{}').toString('base64url')}`]) {
      const answer = await find(target(), 'alice', cid, query)
      t.is(answer.status, 400, query)
      t.is(answer.body.error, 'InvalidArgument', query)
    }
    t.is((await find(target(), 'alice', cid, 'max-results=5000')).body.objects.length, 4, 'more than 1000 is 1000')

    const head = await signedFetch({ method: 'HEAD', url: `${origin}/-/cids/${cid}`, ...USERS.alice })
    t.is(head.status, 200)
    t.is(await head.text(), '')
    const posted = await signedFetch({ method: 'POST', url: `${origin}/-/cids/${cid}`, ...USERS.alice })
    t.is(posted.status, 405)
    const forged = await signedFetch({ method: 'GET', url: `${origin}/-/cids/${cid}`, accessKeyId: USERS.alice.accessKeyId, secretAccessKey: 'wrong' })
    t.is(forged.status, 403)
    t.is(((await forged.json()) as { error: string }).error, 'SignatureDoesNotMatch')
    const unknown = await signedFetch({ method: 'GET', url: `${origin}/-/cids/${cid}`, accessKeyId: 'NOBODY', secretAccessKey: 'x' })
    t.is(unknown.status, 403)
    t.is(((await unknown.json()) as { error: string }).error, 'InvalidAccessKeyId')
  })
}
