/**
 * Who may read what through the IPFS HTTP gateway (`GET/HEAD /ipfs/<cid>[/<path>]`), on memory,
 * SQLite and PostgreSQL metadata: the owner, another user and anonymous callers against private
 * objects, objects public by bucket policy or by object ACL, older versions and versions under a
 * delete marker (s3:GetObjectVersion), encrypted versions (trustless responses only) and open mode;
 * and one raw block, CAR, Range and directory traversal served from each store. Format conformance
 * in depth is test/ipfs-gateway.test.ts (memory only: the store plays no part in it).
 */
import test from 'ava'
import { DeleteObjectCommand, CreateBucketCommand, PutBucketPolicyCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { HttpRequest } from '@smithy/protocol-http'
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner'
import { CarReader } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import { Sha256 } from './helpers/sign.js'
import { emptyMetadataStore, storeKinds } from './helpers/metadata-stores.js'
import {
  ABSENT, BIG, PRIVATE, SECRET, SMALL, USERS, addDirectory, cidOf, client, get, startIpfsGateway, statusOf, stopIpfsGateway, verifyBlock,
  type Cids, type Running, type User,
} from './helpers/ipfs-gateway.js'

const KINDS = await storeKinds('the /ipfs gateway\'s access rule')

const ACL_PUBLIC = 'public by its own ACL'
const ACL_OLD = 'an older version, public by its ACL'
const ACL_NEW = 'its latest version, private'
const OLD = 'the first version of doc.txt'
const NEW = 'the second version of doc.txt'
const GONE = 'under a delete marker'

/** The authorized gateway's further objects: a CID each. */
interface AccessCids extends Cids { aclPublic: string, aclOld: string, aclNew: string, old: string, new: string, gone: string }
interface Store { authorized: Running, open: Running, cids: AccessCids, dir: string, site: string }

const stores = new Map<string, Store>()
const cleanup: Array<() => Promise<void>> = []

/**
 * alice-acl (versioned, private bucket): public.txt public-read by ACL; acl.txt public-read by ACL,
 * then overwritten private. alice-history (versioned): s3:GetObject to anyone, s3:GetObjectVersion
 * to bob; doc.txt written twice, gone.txt deleted (a delete marker over it).
 */
async function populateVersions (running: Running): Promise<AccessCids> {
  const alice = client(running.host.origin, 'alice')
  await alice.send(new CreateBucketCommand({ Bucket: 'alice-acl' }))
  await alice.send(new PutBucketVersioningCommand({ Bucket: 'alice-acl', VersioningConfiguration: { Status: 'Enabled' } }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-acl', Key: 'public.txt', Body: ACL_PUBLIC, ACL: 'public-read' }))
  const aclOld = await alice.send(new PutObjectCommand({ Bucket: 'alice-acl', Key: 'acl.txt', Body: ACL_OLD, ACL: 'public-read' }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-acl', Key: 'acl.txt', Body: ACL_NEW }))
  await alice.send(new CreateBucketCommand({ Bucket: 'alice-history' }))
  await alice.send(new PutBucketVersioningCommand({ Bucket: 'alice-history', VersioningConfiguration: { Status: 'Enabled' } }))
  await alice.send(new PutBucketPolicyCommand({
    Bucket: 'alice-history',
    Policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::alice-history/*' },
        { Effect: 'Allow', Principal: { AWS: USERS.bob.accessKeyId }, Action: 's3:GetObjectVersion', Resource: 'arn:aws:s3:::alice-history/*' },
      ],
    }),
  }))
  const old = await alice.send(new PutObjectCommand({ Bucket: 'alice-history', Key: 'doc.txt', Body: OLD }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-history', Key: 'doc.txt', Body: NEW }))
  const gone = await alice.send(new PutObjectCommand({ Bucket: 'alice-history', Key: 'gone.txt', Body: GONE }))
  await alice.send(new DeleteObjectCommand({ Bucket: 'alice-history', Key: 'gone.txt' }))
  return {
    ...running.cids,
    aclPublic: await cidOf(alice, 'alice-acl', 'public.txt'),
    aclOld: await cidOf(alice, 'alice-acl', 'acl.txt', aclOld.VersionId),
    aclNew: await cidOf(alice, 'alice-acl', 'acl.txt'),
    old: await cidOf(alice, 'alice-history', 'doc.txt', old.VersionId),
    new: await cidOf(alice, 'alice-history', 'doc.txt'),
    gone: await cidOf(alice, 'alice-history', 'gone.txt', gone.VersionId),
  }
}

test.before(async () => {
  await Promise.all(KINDS.map(async (kind) => {
    const [authorized, open] = await Promise.all([
      startIpfsGateway('authorized', await emptyMetadataStore(kind, cleanup)),
      startIpfsGateway('open', await emptyMetadataStore(kind, cleanup)),
    ])
    cleanup.push(async () => { await stopIpfsGateway(authorized) }, async () => { await stopIpfsGateway(open) })
    const cids = await populateVersions(authorized)
    const files = [{ path: 'a.txt', content: 'file a' }, { path: 'sub/b.txt', content: 'file b' }]
    const dir = await addDirectory(open.blockstore, files)
    await addDirectory(authorized.blockstore, files)
    const site = await addDirectory(open.blockstore, [{ path: 'index.html', content: '<p>home</p>' }, { path: 'x.txt', content: 'x' }])
    stores.set(kind, { authorized, open, cids, dir, site })
  }))
})

test.after.always(async () => {
  for (const step of cleanup.reverse()) await step()
})

type Expected = Record<User | 'anonymous', number>
const OWNER_ONLY: Expected = { alice: 200, bob: 404, anonymous: 404 }
const EVERYONE: Expected = { alice: 200, bob: 200, anonymous: 200 }
const NO_ONE: Expected = { alice: 404, bob: 404, anonymous: 404 }

/** Rows of [what, path on the authorized gateway, status per caller], a test per group. */
const MATRIX: Record<string, Array<[string, (c: AccessCids) => string, Expected]>> = {
  'a private CID is its owner\'s alone; absent content and inner blocks are no one\'s': [
    ['alice\'s private object', (c) => `/ipfs/${c.private}`, OWNER_ONLY],
    ['as a raw block', (c) => `/ipfs/${c.private}?format=raw`, OWNER_ONLY],
    ['as a CAR', (c) => `/ipfs/${c.private}?format=car`, OWNER_ONLY],
    ['bob\'s private object', (c) => `/ipfs/${c.bob}`, { alice: 404, bob: 200, anonymous: 404 }],
    ['absent content', () => `/ipfs/${ABSENT}`, NO_ONE],
    ['an inner block of a public object', (c) => `/ipfs/${c.leaf}?format=raw`, NO_ONE],
  ],
  'public by bucket policy or by the object\'s ACL': [
    ['public by policy', (c) => `/ipfs/${c.small}`, EVERYONE],
    ['public by policy, as a CAR', (c) => `/ipfs/${c.big}?format=car&dag-scope=block`, EVERYONE],
    ['public-read ACL in a private bucket', (c) => `/ipfs/${c.aclPublic}`, EVERYONE],
  ],
  'older versions and versions under a delete marker need s3:GetObjectVersion': [
    ['latest, s3:GetObject to anyone', (c) => `/ipfs/${c.new}`, EVERYONE],
    ['older, s3:GetObjectVersion to bob only', (c) => `/ipfs/${c.old}`, { alice: 200, bob: 200, anonymous: 404 }],
    ['under a delete marker, s3:GetObjectVersion to bob only', (c) => `/ipfs/${c.gone}?format=raw`, { alice: 200, bob: 200, anonymous: 404 }],
    ['older, public-read by its own ACL', (c) => `/ipfs/${c.aclOld}`, EVERYONE],
    ['latest, private, over a public older version', (c) => `/ipfs/${c.aclNew}`, OWNER_ONLY],
  ],
  'encrypted versions: raw and CAR to who may read them, never a path response': [
    ['path', (c) => `/ipfs/${c.encrypted}`, NO_ONE],
    ['raw', (c) => `/ipfs/${c.encrypted}?format=raw`, OWNER_ONLY],
    ['CAR', (c) => `/ipfs/${c.encrypted}?format=car`, OWNER_ONLY],
  ],
}

for (const kind of KINDS) {
  const store = (): Store => stores.get(kind) as Store

  for (const [title, rows] of Object.entries(MATRIX)) {
    test(`${kind}: ${title}`, async (t) => {
      const { authorized, cids } = store()
      for (const [what, path, expected] of rows) {
        for (const user of ['alice', 'bob', 'anonymous'] as const) {
          t.is(await statusOf(authorized, path(cids), user === 'anonymous' ? undefined : user), expected[user], `${what}, as ${user}`)
        }
      }
    })
  }

  test(`${kind}: what is readable has the bytes written; a refusal reads as absence; presigned URLs authenticate as their signer`, async (t) => {
    const { authorized, cids } = store()
    for (const [cid, user, expected] of [
      [cids.private, 'alice', PRIVATE], [cids.aclPublic, undefined, ACL_PUBLIC], [cids.old, 'bob', OLD], [cids.gone, 'alice', GONE], [cids.aclOld, undefined, ACL_OLD],
    ] as const) {
      t.is(await (await get(authorized, `/ipfs/${cid}`, { user })).text(), expected)
    }
    const refused = await get(authorized, `/ipfs/${cids.private}`, { user: 'bob' })
    const absent = await get(authorized, `/ipfs/${ABSENT}`, { user: 'bob' })
    t.is(await refused.text(), (await absent.text()).replace(ABSENT, cids.private))

    const url = new URL(`${authorized.host.origin}/ipfs/${cids.old}`)
    const signer = new S3RequestPresigner({ region: 'us-east-1', credentials: USERS.bob, sha256: Sha256 })
    const presigned = await signer.presign(new HttpRequest({
      method: 'GET', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: { format: 'raw' }, headers: { host: url.host },
    }), { expiresIn: 300 })
    const query = new URLSearchParams(presigned.query as Record<string, string>)
    const viaPresigned = await fetch(`${url.origin}${url.pathname}?${query.toString()}`)
    t.is(viaPresigned.status, 200)
    t.is(Buffer.from(await viaPresigned.arrayBuffer()).toString(), OLD)
    // A bad signature is an S3 authentication error, not content.
    query.set('X-Amz-Signature', '0'.repeat(64))
    t.is((await fetch(`${url.origin}${url.pathname}?${query.toString()}`)).status, 403)
  })

  test(`${kind}: a readable object as a raw block, a CAR and a Range; an encrypted one's CAR holds no plaintext`, async (t) => {
    const { authorized, cids } = store()
    const raw = await get(authorized, `/ipfs/${cids.big}?format=raw`, { user: 'bob' })
    t.is(raw.status, 200)
    t.is(raw.headers.get('content-type'), 'application/vnd.ipld.raw')
    const root = new Uint8Array(await raw.arrayBuffer())
    verifyBlock(t, CID.parse(cids.big), root)
    const leaves = dagPb.decode(root).Links.map((l) => l.Hash.toString())
    t.is(leaves.length, 4)

    const car = await get(authorized, `/ipfs/${cids.big}?format=car`)
    t.is(car.status, 200)
    const blocks: string[] = []
    for await (const block of (await CarReader.fromBytes(new Uint8Array(await car.arrayBuffer()))).blocks()) {
      verifyBlock(t, block.cid, block.bytes)
      blocks.push(block.cid.toString())
    }
    t.deepEqual(blocks, [cids.big, ...leaves])

    const MiB = 1024 * 1024
    const range = await get(authorized, `/ipfs/${cids.big}`, { headers: { range: `bytes=${MiB - 2}-${MiB + 3}` } })
    t.is(range.status, 206)
    t.is(range.headers.get('content-range'), `bytes ${MiB - 2}-${MiB + 3}/${BIG.length}`)
    t.is(await range.text(), BIG.slice(MiB - 2, MiB + 4))
    const head = await get(authorized, `/ipfs/${cids.small}`, { method: 'HEAD' })
    t.is(head.headers.get('content-length'), String(SMALL.length))

    const encrypted = await get(authorized, `/ipfs/${cids.encrypted}?format=car`, { user: 'alice' })
    t.is(encrypted.status, 200)
    for await (const block of (await CarReader.fromBytes(new Uint8Array(await encrypted.arrayBuffer()))).blocks()) {
      verifyBlock(t, block.cid, block.bytes)
      t.false(Buffer.from(block.bytes).includes(Buffer.from(SECRET)))
    }
  })

  test(`${kind}: open mode: any held content to anyone, encrypted only as blocks; UnixFS directories traversed and listed`, async (t) => {
    const { open, authorized, dir, site } = store()
    const cids = open.cids
    t.not(cids.encrypted, authorized.cids.encrypted, 'a fresh data key per gateway')
    t.is(await (await get(open, `/ipfs/${cids.private}`)).text(), PRIVATE)
    t.is(await statusOf(open, `/ipfs/${cids.bob}`, 'alice'), 200)
    const inner = await get(open, `/ipfs/${cids.leaf}?format=raw`)
    t.is(inner.status, 200)
    verifyBlock(t, CID.parse(cids.leaf), new Uint8Array(await inner.arrayBuffer()))
    t.is(await statusOf(open, `/ipfs/${cids.encrypted}`), 404, 'open mode still never deserializes ciphertext')
    t.is(await statusOf(open, `/ipfs/${cids.encrypted}?format=car`), 200)

    const redirect = await get(open, `/ipfs/${dir}`)
    t.is(redirect.status, 301)
    t.is(redirect.headers.get('location'), `/ipfs/${dir}/`)
    const listing = await get(open, `/ipfs/${dir}/`)
    t.is(listing.status, 200)
    t.regex(listing.headers.get('content-type') ?? '', /^text\/html/)
    const html = await listing.text()
    t.regex(html, new RegExp(`href="/ipfs/${dir}/a.txt"`))
    t.regex(html, /href="[^"]*\/sub"/)
    const file = await get(open, `/ipfs/${dir}/sub/b.txt`)
    t.is(await file.text(), 'file b')
    const roots = (file.headers.get('x-ipfs-roots') ?? '').split(',')
    t.is(roots.length, 3)
    t.is(roots[0], dir)
    t.is(file.headers.get('x-ipfs-path'), `/ipfs/${dir}/sub/b.txt`)
    t.is(file.headers.get('etag'), `"${roots[2]}"`)
    t.is(await statusOf(open, `/ipfs/${dir}/nothing-here`), 404)
    t.is(await statusOf(open, `/ipfs/${dir}/a.txt/deeper`), 404)
    const index = await get(open, `/ipfs/${site}/`)
    t.is(index.headers.get('content-type'), 'text/html; charset=utf-8')
    t.is(await index.text(), '<p>home</p>')
    // The authorized gateway holds the same directory, but no version names it.
    t.is(await statusOf(authorized, `/ipfs/${dir}/`, 'alice'), 404)
  })
}
