/**
 * The IPFS HTTP gateway on the S3 port (`GET/HEAD /ipfs/<cid>[/<path>]`) over loopback HTTP (node
 * adapter): conformance checks written from the trustless and path gateway specs (status codes,
 * Content-Type, ETag, cache headers, X-Ipfs-Path / X-Ipfs-Roots, Range), the access rule (SigV4
 * header and presigned, public by policy, another user's private object, encrypted objects, open
 * mode), and @helia/verified-fetch as an independent client that verifies every block.
 */
import { createHash, randomBytes } from 'node:crypto'
import test from 'ava'
import { CreateBucketCommand, HeadObjectCommand, PutBucketPolicyCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { HttpRequest } from '@smithy/protocol-http'
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner'
import { CarReader } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { importer } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import { startServer } from '../bin/server.js'
import { createGateway } from '../src/gateway.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { installPromiseWithResolvers } from '../src/helia/polyfill.js'
import type { Gateway } from '../src/types.js'
import { tempDir } from './helpers/child.js'
import { nodeHost, type RunningHost } from './helpers/hosts.js'
import { Sha256, signedFetch } from './helpers/sign.js'

const USERS = { alice: { accessKeyId: 'ALICEKEY', secretAccessKey: 'alice-secret' }, bob: { accessKeyId: 'BOBKEY', secretAccessKey: 'bob-secret' } }
type User = keyof typeof USERS
const CREDENTIALS = { [USERS.alice.accessKeyId]: USERS.alice.secretAccessKey, [USERS.bob.accessKeyId]: USERS.bob.secretAccessKey }
const MASTER_KEY = Buffer.alloc(32, 7)
const SMALL = 'hello from a public bucket'
/** Three 1 MiB leaves and a bit, all different: a root and four leaves. */
const BIG = randomBytes(2 * 1024 * 1024).toString('hex').slice(0, 3 * 1024 * 1024 + 5)
const PRIVATE = 'alice keeps this to herself'
const SECRET = 'encrypted at rest'

interface Running { host: RunningHost, gateway: Gateway, blockstore: MemoryBlockstore }
const cids = { small: '', big: '', private: '', bob: '', dir: '', site: '', sharded: '', leaf: '' }
/** An encrypted version's CID differs per gateway (a fresh data key each time). */
const encrypted = new Map<Running, string>()
let authorized: Running
let open: Running

function client (origin: string, user: User): S3Client {
  return new S3Client({ endpoint: origin, region: 'us-east-1', forcePathStyle: true, credentials: USERS[user], maxAttempts: 1 })
}

async function start (mode: 'open' | 'authorized'): Promise<Running> {
  const blockstore = new MemoryBlockstore()
  const gateway = createGateway({ blockstore, credentials: CREDENTIALS, masterKey: MASTER_KEY, ipfsGateway: mode })
  return { host: await nodeHost.start(gateway, ''), gateway, blockstore }
}

async function cidOf (s3: S3Client, Bucket: string, Key: string): Promise<string> {
  const head = await s3.send(new HeadObjectCommand({ Bucket, Key }))
  return head.Metadata?.cid ?? ''
}

/** Both gateways hold the same objects; the open one also holds directories put straight into its blockstore. */
async function populate (running: Running): Promise<void> {
  const alice = client(running.host.origin, 'alice')
  const bob = client(running.host.origin, 'bob')
  await alice.send(new CreateBucketCommand({ Bucket: 'alice-public' }))
  await alice.send(new PutBucketPolicyCommand({
    Bucket: 'alice-public',
    Policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::alice-public/*'] }] }),
  }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-public', Key: 'small.txt', Body: SMALL }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-public', Key: 'big.txt', Body: BIG }))
  await alice.send(new CreateBucketCommand({ Bucket: 'alice-private' }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-private', Key: 'private.txt', Body: PRIVATE }))
  await alice.send(new PutObjectCommand({ Bucket: 'alice-private', Key: 'encrypted.txt', Body: SECRET, ServerSideEncryption: 'AES256' }))
  await bob.send(new CreateBucketCommand({ Bucket: 'bob-private' }))
  await bob.send(new PutObjectCommand({ Bucket: 'bob-private', Key: 'bob.txt', Body: 'bob only' }))
  cids.small = await cidOf(alice, 'alice-public', 'small.txt')
  cids.big = await cidOf(alice, 'alice-public', 'big.txt')
  cids.private = await cidOf(alice, 'alice-private', 'private.txt')
  encrypted.set(running, await cidOf(alice, 'alice-private', 'encrypted.txt'))
  cids.bob = await cidOf(bob, 'bob-private', 'bob.txt')
}

/** `ipfs add -r --cid-version=1` of a directory, written straight into the blockstore; returns the root. */
async function addDirectory (blockstore: MemoryBlockstore, files: Array<{ path: string, content: string }>, options: { shardSplitThresholdBytes?: number } = {}): Promise<string> {
  let root: CID | undefined
  for await (const entry of importer(files.map((f) => ({ path: f.path, content: Buffer.from(f.content) })), blockstore, { cidVersion: 1, rawLeaves: true, wrapWithDirectory: true, ...options })) {
    if (entry.path === '') root = entry.cid
  }
  return String(root)
}

test.before(async () => {
  authorized = await start('authorized')
  open = await start('open')
  await populate(open)
  await populate(authorized)
  cids.dir = await addDirectory(open.blockstore, [{ path: 'a.txt', content: 'file a' }, { path: 'sub/b.txt', content: 'file b' }])
  cids.site = await addDirectory(open.blockstore, [{ path: 'index.html', content: '<p>home</p>' }, { path: 'x.txt', content: 'x' }])
  cids.sharded = await addDirectory(open.blockstore, Array.from({ length: 40 }, (_, i) => ({ path: `f${i}.txt`, content: `file ${i}` })), { shardSplitThresholdBytes: 1 })
  const root = dagPb.decode(await blockOf(authorized.blockstore, cids.big))
  cids.leaf = root.Links[1].Hash.toString()
})

test.after.always(async () => {
  for (const r of [authorized, open]) {
    await r?.host.close()
    await r?.gateway.close()
  }
})

async function blockOf (blockstore: MemoryBlockstore, cid: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of blockstore.get(CID.parse(cid))) chunks.push(chunk)
  return Buffer.concat(chunks)
}

async function get (running: Running, path: string, init: { user?: User, headers?: Record<string, string>, method?: string } = {}): Promise<Response> {
  const url = `${running.host.origin}${path}`
  const method = init.method ?? 'GET'
  if (init.user !== undefined) return await signedFetch({ method, url, headers: init.headers, ...USERS[init.user] })
  return await fetch(url, { method, headers: init.headers, redirect: 'manual' })
}

function sha256 (bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}

function verifyBlock (t: { true: (v: boolean, m?: string) => void }, cid: CID, bytes: Uint8Array): void {
  t.true(Buffer.from(cid.multihash.digest).equals(sha256(bytes)), `block ${cid} matches its CID`)
}

test('raw block (?format=raw and Accept): the one block, with the trustless headers', async (t) => {
  const res = await get(authorized, `/ipfs/${cids.big}?format=raw`)
  t.is(res.status, 200)
  t.is(res.headers.get('content-type'), 'application/vnd.ipld.raw')
  t.is(res.headers.get('x-content-type-options'), 'nosniff')
  t.is(res.headers.get('cache-control'), 'public, max-age=29030400, immutable')
  t.is(res.headers.get('etag'), `"${cids.big}.raw"`)
  t.is(res.headers.get('content-disposition'), `attachment; filename="${cids.big}.bin"`)
  t.is(res.headers.get('x-ipfs-path'), `/ipfs/${cids.big}`)
  t.is(res.headers.get('x-ipfs-roots'), cids.big)
  t.regex(res.headers.get('vary') ?? '', /Accept/)
  const bytes = new Uint8Array(await res.arrayBuffer())
  verifyBlock(t, CID.parse(cids.big), bytes)
  t.is(dagPb.decode(bytes).Links.length, 4)

  const byAccept = await get(authorized, `/ipfs/${cids.small}`, { headers: { accept: 'application/vnd.ipld.raw' } })
  t.is(byAccept.status, 200)
  t.is(byAccept.headers.get('content-type'), 'application/vnd.ipld.raw')
  t.is(byAccept.headers.get('content-location'), `/ipfs/${cids.small}?format=raw`)
  t.is(Buffer.from(await byAccept.arrayBuffer()).toString(), SMALL)

  const cached = await get(authorized, `/ipfs/${cids.big}?format=raw`, { headers: { 'if-none-match': `"${cids.big}.raw"` } })
  t.is(cached.status, 304)
  const head = await get(authorized, `/ipfs/${cids.big}?format=raw`, { method: 'HEAD' })
  t.is(head.status, 200)
  t.is(head.headers.get('content-length'), String(bytes.byteLength))
  t.is((await head.arrayBuffer()).byteLength, 0)
})

test('CAR (?format=car and Accept): CAR v1, dfs, every block verifiable; dag-scope and bad parameters', async (t) => {
  const res = await get(authorized, `/ipfs/${cids.big}`, { headers: { accept: 'application/vnd.ipld.car' } })
  t.is(res.status, 200)
  t.is(res.headers.get('content-type'), 'application/vnd.ipld.car; version=1; order=dfs; dups=n')
  t.is(res.headers.get('x-content-type-options'), 'nosniff')
  t.is(res.headers.get('content-disposition'), `attachment; filename="${cids.big}.car"`)
  t.is(res.headers.get('cache-control'), 'public, max-age=29030400, immutable')
  t.regex(res.headers.get('etag') ?? '', new RegExp(`^"${cids.big}\\.car\\.`))
  t.is(res.headers.get('content-location'), `/ipfs/${cids.big}?format=car`)
  const reader = await CarReader.fromBytes(new Uint8Array(await res.arrayBuffer()))
  t.deepEqual((await reader.getRoots()).map(String), [cids.big])
  const blocks = []
  for await (const block of reader.blocks()) {
    verifyBlock(t, block.cid, block.bytes)
    blocks.push(block.cid.toString())
  }
  t.is(blocks.length, 5)
  t.is(blocks[0], cids.big)
  t.is(blocks[2], cids.leaf)

  const block = await get(authorized, `/ipfs/${cids.big}?format=car&dag-scope=block`)
  t.is(block.status, 200)
  const one = await CarReader.fromBytes(new Uint8Array(await block.arrayBuffer()))
  t.is((await one.getRoots())[0].toString(), cids.big)
  let count = 0
  for await (const b of one.blocks()) { count++; verifyBlock(t, b.cid, b.bytes) }
  t.is(count, 1)
  t.not(block.headers.get('etag'), res.headers.get('etag'))

  const entity = await get(authorized, `/ipfs/${cids.big}?format=car&dag-scope=entity`)
  t.is(entity.status, 200)
  t.is((await entity.arrayBuffer()).byteLength, (await (await get(authorized, `/ipfs/${cids.big}?format=car`)).arrayBuffer()).byteLength)
  const dups = await get(authorized, `/ipfs/${cids.big}`, { headers: { accept: 'application/vnd.ipld.car; version=1; order=dfs; dups=y' } })
  t.is(dups.headers.get('content-type'), 'application/vnd.ipld.car; version=1; order=dfs; dups=y')
  await dups.arrayBuffer()

  // entity-bytes: the root and only the leaves that hold the range (1 MiB leaves; the last holds 5 bytes).
  const leaves = dagPb.decode(await blockOf(authorized.blockstore, cids.big)).Links.map((l) => l.Hash.toString())
  const MiB = 1024 * 1024
  for (const [range, expected] of [
    ['0:10', [0]], [`${MiB - 6}:${MiB + 3}`, [0, 1]], ['-3:*', [3]], [`${2 * MiB}:-1`, [2, 3]], ['0:*', [0, 1, 2, 3]], ['99999999:*', []], [`${MiB}:${MiB}`, [1]],
  ] as const) {
    const res = await get(authorized, `/ipfs/${cids.big}?format=car&entity-bytes=${range}`)
    t.is(res.status, 200, range)
    t.regex(res.headers.get('etag') ?? '', /bytes-/)
    const got: string[] = []
    for await (const b of (await CarReader.fromBytes(new Uint8Array(await res.arrayBuffer()))).blocks()) { verifyBlock(t, b.cid, b.bytes); got.push(b.cid.toString()) }
    t.deepEqual(got, [cids.big, ...expected.map((i) => leaves[i])], range)
  }
  t.is((await get(authorized, `/ipfs/${cids.big}?format=car&entity-bytes=5:2`)).status, 400)
  t.is((await get(authorized, `/ipfs/${cids.big}?format=car&entity-bytes=nonsense`)).status, 400)
  t.is((await get(authorized, `/ipfs/${cids.big}?format=car&dag-scope=everything`)).status, 400)
  t.is((await get(authorized, `/ipfs/${cids.big}`, { headers: { accept: 'application/vnd.ipld.car; version=2' } })).status, 400)
})

test('path: the file\'s bytes, ETag "<cid>", immutable, sniffed type, Range 206 and 416, HEAD', async (t) => {
  const res = await get(authorized, `/ipfs/${cids.big}`)
  t.is(res.status, 200)
  t.is(res.headers.get('etag'), `"${cids.big}"`)
  t.is(res.headers.get('cache-control'), 'public, max-age=29030400, immutable')
  t.is(res.headers.get('content-type'), 'text/plain; charset=utf-8')
  t.is(res.headers.get('x-ipfs-path'), `/ipfs/${cids.big}`)
  t.is(res.headers.get('x-ipfs-roots'), cids.big)
  t.is(res.headers.get('content-length'), String(BIG.length))
  t.is(Buffer.from(await res.arrayBuffer()).toString(), BIG)

  const range = await get(authorized, `/ipfs/${cids.big}`, { headers: { range: `bytes=${1024 * 1024 - 2}-${1024 * 1024 + 3}` } })
  t.is(range.status, 206)
  t.is(range.headers.get('content-range'), `bytes ${1024 * 1024 - 2}-${1024 * 1024 + 3}/${BIG.length}`)
  t.is(Buffer.from(await range.arrayBuffer()).toString(), BIG.slice(1024 * 1024 - 2, 1024 * 1024 + 4))
  const suffix = await get(authorized, `/ipfs/${cids.small}`, { headers: { range: 'bytes=-5' } })
  t.is(suffix.status, 206)
  t.is(await suffix.text(), SMALL.slice(-5))
  const outside = await get(authorized, `/ipfs/${cids.small}`, { headers: { range: 'bytes=1000-' } })
  t.is(outside.status, 416)
  t.is(outside.headers.get('content-range'), `bytes */${SMALL.length}`)
  await outside.arrayBuffer()

  const head = await get(authorized, `/ipfs/${cids.small}`, { method: 'HEAD' })
  t.is(head.status, 200)
  t.is(head.headers.get('content-length'), String(SMALL.length))
  t.is(head.headers.get('etag'), `"${cids.small}"`)
  t.is((await head.arrayBuffer()).byteLength, 0)
  t.is((await get(authorized, `/ipfs/${cids.small}`, { headers: { 'if-none-match': `"${cids.small}"` } })).status, 304)

  // The same CID in another multibase (base32 upper case) addresses the same content.
  t.is(await (await get(authorized, `/ipfs/${cids.small.toUpperCase()}`)).text(), SMALL)
})

test('errors: bad CID 400, unsupported format 406, raw with a path 400, absent 404, as short text', async (t) => {
  const bad = await get(authorized, '/ipfs/not-a-cid')
  t.is(bad.status, 400)
  t.regex(bad.headers.get('content-type') ?? '', /^text\/plain/)
  t.regex(await bad.text(), /invalid CID/)
  t.is((await get(authorized, `/ipfs/${cids.small}?format=tar`)).status, 406)
  t.is((await get(authorized, `/ipfs/${cids.small}/x?format=raw`)).status, 400)
  const absent = CID.parse('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku').toString()
  const missing = await get(authorized, `/ipfs/${absent}`)
  t.is(missing.status, 404)
  t.regex(missing.headers.get('content-type') ?? '', /^text\/plain/)
  const head = await get(authorized, `/ipfs/${absent}`, { method: 'HEAD' })
  t.is(head.status, 404)
  // The bucket `ipfs` stays reserved for S3 writes.
  t.is((await get(authorized, '/ipfs/x', { user: 'alice', method: 'PUT' })).status >= 400, true)
})

test('access: a private CID is 404 like an absent one, except to its owner (SigV4 header and presigned)', async (t) => {
  const anonymous = await get(authorized, `/ipfs/${cids.private}`)
  t.is(anonymous.status, 404)
  const absent = await get(authorized, '/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
  t.is(await anonymous.text(), (await absent.text()).replace('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', cids.private))
  t.is((await get(authorized, `/ipfs/${cids.private}?format=raw`)).status, 404)
  t.is((await get(authorized, `/ipfs/${cids.private}?format=car`)).status, 404)
  t.is((await get(authorized, `/ipfs/${cids.private}`, { user: 'bob' })).status, 404, 'another user\'s private object')
  t.is((await get(authorized, `/ipfs/${cids.bob}`, { user: 'alice' })).status, 404)
  const owner = await get(authorized, `/ipfs/${cids.private}`, { user: 'alice' })
  t.is(owner.status, 200)
  t.is(await owner.text(), PRIVATE)
  t.is(await (await get(authorized, `/ipfs/${cids.bob}`, { user: 'bob' })).text(), 'bob only')

  const url = new URL(`${authorized.host.origin}/ipfs/${cids.private}`)
  const signer = new S3RequestPresigner({ region: 'us-east-1', credentials: USERS.alice, sha256: Sha256 })
  const presigned = await signer.presign(new HttpRequest({
    method: 'GET', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: { format: 'raw' }, headers: { host: url.host },
  }), { expiresIn: 300 })
  const query = new URLSearchParams(presigned.query as Record<string, string>)
  const viaPresigned = await fetch(`${url.origin}${url.pathname}?${query.toString()}`)
  t.is(viaPresigned.status, 200)
  t.is(Buffer.from(await viaPresigned.arrayBuffer()).toString(), PRIVATE)
  // A bad signature is an S3 authentication error, not content.
  const forged = new URLSearchParams(query)
  forged.set('X-Amz-Signature', '0'.repeat(64))
  t.is((await fetch(`${url.origin}${url.pathname}?${forged.toString()}`)).status, 403)
})

test('access: public by bucket policy, anonymously; an inner block only in open mode', async (t) => {
  t.is(await (await get(authorized, `/ipfs/${cids.small}`)).text(), SMALL)
  t.is((await get(authorized, `/ipfs/${cids.leaf}?format=raw`)).status, 404, 'an inner block asked for directly')
  const inner = await get(open, `/ipfs/${cids.leaf}?format=raw`)
  t.is(inner.status, 200)
  verifyBlock(t, CID.parse(cids.leaf), new Uint8Array(await inner.arrayBuffer()))
})

test('encrypted versions: ciphertext over raw and CAR to who may read them, never as a path response', async (t) => {
  const cid = encrypted.get(authorized) ?? ''
  const inOpen = encrypted.get(open) ?? ''
  t.not(cid, '')
  t.not(cid, inOpen)
  t.is((await get(authorized, `/ipfs/${cid}`, { user: 'alice' })).status, 404)
  const car = await get(authorized, `/ipfs/${cid}?format=car`, { user: 'alice' })
  t.is(car.status, 200)
  const reader = await CarReader.fromBytes(new Uint8Array(await car.arrayBuffer()))
  for await (const block of reader.blocks()) {
    verifyBlock(t, block.cid, block.bytes)
    t.false(Buffer.from(block.bytes).includes(Buffer.from(SECRET)))
  }
  t.is((await get(authorized, `/ipfs/${cid}?format=raw`, { user: 'alice' })).status, 200)
  t.is((await get(authorized, `/ipfs/${cid}?format=car`)).status, 404, 'anonymous')
  t.is((await get(authorized, `/ipfs/${cid}?format=car`, { user: 'bob' })).status, 404, 'another user')
  t.is((await get(open, `/ipfs/${inOpen}`)).status, 404, 'open mode still never deserializes ciphertext')
  t.is((await get(open, `/ipfs/${inOpen}?format=car`)).status, 200)
})

test('open mode: any held content to anyone; UnixFS directories traversed, listed, index.html', async (t) => {
  t.is(await (await get(open, `/ipfs/${cids.private}`)).text(), PRIVATE)
  const redirect = await get(open, `/ipfs/${cids.dir}`)
  t.is(redirect.status, 301)
  t.is(redirect.headers.get('location'), `/ipfs/${cids.dir}/`)
  const listing = await get(open, `/ipfs/${cids.dir}/`)
  t.is(listing.status, 200)
  t.regex(listing.headers.get('content-type') ?? '', /^text\/html/)
  const html = await listing.text()
  t.regex(html, new RegExp(`href="/ipfs/${cids.dir}/a.txt"`))
  t.regex(html, /href="[^"]*\/sub"/)
  const file = await get(open, `/ipfs/${cids.dir}/sub/b.txt`)
  t.is(file.status, 200)
  t.is(await file.text(), 'file b')
  const roots = (file.headers.get('x-ipfs-roots') ?? '').split(',')
  t.is(roots.length, 3)
  t.is(roots[0], cids.dir)
  t.is(file.headers.get('x-ipfs-path'), `/ipfs/${cids.dir}/sub/b.txt`)
  t.is(file.headers.get('etag'), `"${roots[2]}"`)
  t.is((await get(open, `/ipfs/${cids.dir}/nothing-here`)).status, 404)
  t.is((await get(open, `/ipfs/${cids.dir}/a.txt/deeper`)).status, 404)
  const site = await get(open, `/ipfs/${cids.site}/`)
  t.is(site.status, 200)
  t.is(site.headers.get('content-type'), 'text/html; charset=utf-8')
  t.is(await site.text(), '<p>home</p>')
  // The directory's own CAR, as for any CID.
  const car = await get(open, `/ipfs/${cids.dir}?format=car`)
  t.is(car.status, 200)
  let count = 0
  for await (const block of (await CarReader.fromBytes(new Uint8Array(await car.arrayBuffer()))).blocks()) { count++; verifyBlock(t, block.cid, block.bytes) }
  t.is(count, 4)
  // A CAR of a path: the directories on the way, then the DAG at its end.
  const pathCar = await get(open, `/ipfs/${cids.dir}/sub/b.txt?format=car`)
  t.is(pathCar.status, 200)
  const pathRoots = (pathCar.headers.get('x-ipfs-roots') ?? '').split(',')
  t.is(pathRoots.length, 3)
  t.not(pathCar.headers.get('etag'), (await get(open, `/ipfs/${cids.dir}?format=car`)).headers.get('etag'))
  const pathReader = await CarReader.fromBytes(new Uint8Array(await pathCar.arrayBuffer()))
  t.deepEqual((await pathReader.getRoots()).map(String), [cids.dir])
  const pathBlocks: string[] = []
  for await (const block of pathReader.blocks()) { verifyBlock(t, block.cid, block.bytes); pathBlocks.push(block.cid.toString()) }
  t.deepEqual(pathBlocks, pathRoots)
  t.is((await get(open, `/ipfs/${cids.dir}/nothing?format=car`)).status, 404)
  // A HAMT-sharded directory (as Kubo shards large ones): traversed and listed alike.
  const shardRoot = dagPb.decode(await blockOf(open.blockstore, cids.sharded))
  t.is(UnixFS.unmarshal(shardRoot.Data ?? new Uint8Array()).type, 'hamt-sharded-directory')
  t.is(await (await get(open, `/ipfs/${cids.sharded}/f37.txt`)).text(), 'file 37')
  const shardList = await (await get(open, `/ipfs/${cids.sharded}/`)).text()
  t.is(shardList.match(/<li>/g)?.length, 40)
  t.is((await get(open, `/ipfs/${cids.sharded}?format=car&dag-scope=entity`)).status, 501)
  t.is((await get(open, `/ipfs/${cids.sharded}/f37.txt?format=car`)).status, 501)
  // The same directory on the authorized gateway is no one's object.
  t.is((await get(authorized, `/ipfs/${cids.dir}/`)).status, 404)
})

/**
 * verified-fetch on an HTTP-only Helia whose one trustless gateway is ours. (`createVerifiedFetch({
 * gateways, routers: [] })` also starts libp2p, whose router holds a fetch until its signal aborts
 * before the gateways are tried: the same client, minus that wait.)
 */
async function verifiedFetchFrom (origin: string): Promise<{ vf: (url: string, init?: RequestInit) => Promise<Response>, stop: () => Promise<void> }> {
  installPromiseWithResolvers()
  const [{ createVerifiedFetchWithHelia }, { createHeliaLight }, { withHTTP }] = await Promise.all([
    import('@helia/verified-fetch'), import('helia'), import('@helia/http'),
  ])
  const helia = await withHTTP(createHeliaLight({}), { recursiveGateways: [origin], allowLocal: true, allowInsecure: true }).start()
  const vf = await createVerifiedFetchWithHelia(helia)
  return { vf, stop: async () => { await vf.stop(); await helia.stop() } }
}

/*
 * verified-fetch asks a trustless gateway for each block by its own CID (?format=raw). In authorized
 * mode only a readable version's root CID is served, so it gets single-block objects there (up to
 * one chunk, 1 MiB under unixfs-v1-2025); a DAG of several blocks needs open mode.
 */
test('@helia/verified-fetch, pointed at the gateway, verifies every block and gets identical bytes', async (t) => {
  for (const [running, cid, expected] of [[authorized, cids.small, SMALL], [open, cids.big, BIG], [open, cids.private, PRIVATE]] as const) {
    const { vf, stop } = await verifiedFetchFrom(running.host.origin)
    try {
      const res = await vf(`ipfs://${cid}`, { signal: AbortSignal.timeout(20_000) })
      t.is(res.status, 200, cid)
      t.is(Buffer.from(await res.arrayBuffer()).toString(), expected)
    } finally {
      await stop()
    }
  }
})

test('the standalone server passes ipfsGateway through (serve --ipfs-gateway open)', async (t) => {
  for (const mode of ['open', undefined] as const) {
    const running = await startServer({ port: 0, dataDir: await tempDir(t), ...USERS.alice, ipfsGateway: mode, gateway: { logger: { error: () => {}, warn: () => {}, info: () => {} } } })
    try {
      const alice = client(running.url, 'alice')
      await alice.send(new CreateBucketCommand({ Bucket: 'private' }))
      await alice.send(new PutObjectCommand({ Bucket: 'private', Key: 'k', Body: PRIVATE }))
      const cid = await cidOf(alice, 'private', 'k')
      const res = await fetch(`${running.url}/ipfs/${cid}`)
      t.is(res.status, mode === 'open' ? 200 : 404, String(mode))
      await res.arrayBuffer()
    } finally {
      await running.close()
    }
  }
})
