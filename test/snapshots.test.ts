/**
 * Bucket snapshots as IPFS directories over loopback HTTP, on memory, SQLite and PostgreSQL
 * metadata: objects written with the AWS SDK, snapshots taken, listed and deleted through
 * /-/snapshots (SigV4-signed with @smithy/signature-v4, or unsigned), their directories read through
 * /ipfs/<cid> (path, presigned, CAR), kept by gc, and restored into buckets byte for byte; a second
 * Helia peer fetches a snapshot's file by path over bitswap, and a second gateway restores from it.
 */
import { randomBytes } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutBucketPolicyCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { S3RequestPresigner } from '@aws-sdk/s3-request-presigner'
import { HttpRequest } from '@smithy/protocol-http'
import { CarReader } from '@ipld/car'
import { importer } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import { createGateway } from '../src/gateway.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { PostgresMetadataStore } from '../src/metadata/postgres.js'
import { startIpfsNode } from '../src/helia/index.js'
import { installPromiseWithResolvers } from '../src/helia/polyfill.js'
import type { Gateway, GatewayInit } from '../src/types.js'
import { postgresProblem, whenServices, dropPostgresSchema } from './helpers/services.js'
import { nodeHost } from './helpers/hosts.js'
import { deterministicBytes } from './helpers/s3.js'
import { Sha256, signedFetch } from './helpers/sign.js'
import { CREDENTIALS, USERS, call, client, fill, type User } from './helpers/snapshot-users.js'

const PG_URL = process.env.S3IPFS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const pgProblem = await postgresProblem(PG_URL)
const LABELS = ['memory', 'sqlite', ...(pgProblem === undefined ? ['postgres'] : [])]
whenServices('snapshots on PostgreSQL', pgProblem, () => {})


/** The bucket's objects: plain keys, nested ones, the rule's special keys, and a file of several blocks. */
const OBJECTS: Record<string, Buffer> = {
  'readme.txt': Buffer.from('hello snapshot\n'),
  'docs/a.txt': Buffer.from('document a'),
  'docs/b/c.txt': Buffer.from('deep c'),
  'folder/': Buffer.alloc(0),
  'folder/inside.txt': Buffer.from('inside'),
  a: Buffer.from('file a'),
  'a/b': Buffer.from('file a/b'),
  '..': Buffer.from('dot dot'),
  'big.bin': deterministicBytes('snapshot-big', 3 * 1024 * 1024 + 5),
}

interface Snapshot { id: string, bucket: string, cid: string, path: string, prefix: string, created: string, owner: string, profile: string, keys: number, bytes: number, skipped: { encrypted: number, archived: number } }

async function ipfs (origin: string, user: User, path: string, accept?: string): Promise<{ status: number, bytes: Buffer }> {
  const url = `${origin}${path}`
  const headers: Record<string, string> = accept === undefined ? {} : { accept }
  const response = user === undefined ? await fetch(url, { headers }) : await signedFetch({ method: 'GET', url, headers, ...USERS[user] })
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) }
}

async function getAll (s3: S3Client, bucket: string, keys: string[]): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {}
  for (const key of keys) out[key] = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToByteArray() ?? [])
  return out
}

interface Env { origin: string, gateway: Gateway, blockstore: MemoryBlockstore }

async function start (t: import('ava').ExecutionContext, label: string, init: Partial<GatewayInit> = {}): Promise<Env> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-snapshots-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const schema = `s3ipfs_snap_${randomBytes(6).toString('hex')}`
  const metadata = label === 'memory' ? undefined : label === 'postgres'
    ? new PostgresMetadataStore({ connectionString: PG_URL, schema, max: 4 })
    : new SqliteMetadataStore({ path: join(dir, 'meta.db') })
  if (label === 'postgres') t.teardown(async () => { await dropPostgresSchema(PG_URL, schema) })
  const blockstore = new MemoryBlockstore()
  const gateway = createGateway({ blockstore, metadata, credentials: CREDENTIALS, ...init })
  const host = await nodeHost.start(gateway, '', { adminPath: '/-' })
  t.teardown(async () => { await host.close(); await gateway.close() })
  return { origin: host.origin, gateway, blockstore }
}

for (const label of LABELS) {
  test(`${label}: a snapshot is the importer's directory of the bucket's files; its paths are served to the owner (signed, presigned, CAR) and to no one else`, async (t) => {
    t.timeout(120_000)
    const env = await start(t, label)
    const alice = client(env.origin, 'alice')
    await fill(alice, 'photos', OBJECTS)
    await alice.send(new PutObjectCommand({ Bucket: 'photos', Key: 'secret.txt', Body: 'encrypted', ServerSideEncryption: 'AES256' })).catch(() => undefined)

    t.is((await call(env.origin, undefined, 'POST', '/-/snapshots/photos')).status, 403, 'anonymous')
    t.is((await call(env.origin, 'bob', 'POST', '/-/snapshots/photos')).status, 403, 'another user')
    t.is((await call(env.origin, 'alice', 'POST', '/-/snapshots/nope')).status, 404)
    const created = await call(env.origin, 'alice', 'POST', '/-/snapshots/photos')
    t.is(created.status, 201)
    const snap = created.body as Snapshot
    t.like(snap, { bucket: 'photos', prefix: '', owner: 'ALICEKEY', profile: 'unixfs-v1-2025', keys: Object.keys(OBJECTS).length, path: `/ipfs/${snap.cid}` })
    t.is(snap.bytes, Object.values(OBJECTS).reduce((n, b) => n + b.length, 0))

    // The importer, given the same files at the key rule's paths, gives the same root.
    const paths: Record<string, string> = { 'folder/': 'folder%2F', 'a/b': 'a%2Fb', '..': '%2E%2E' }
    let root: CID | undefined
    for await (const entry of importer(Object.entries(OBJECTS).map(([key, content]) => ({ path: paths[key] ?? key, content })), new MemoryBlockstore(), { profile: 'unixfs-v1-2025', wrapWithDirectory: true })) {
      if (entry.path === '') root = entry.cid
    }
    t.is(snap.cid, String(root))

    t.deepEqual((await call(env.origin, 'alice', 'GET', `/-/snapshots/photos/${snap.id}`)).body, snap)
    t.deepEqual((await call(env.origin, 'alice', 'GET', '/-/snapshots/photos')).body, { bucket: 'photos', snapshots: [snap] })
    t.is((await call(env.origin, 'bob', 'GET', '/-/snapshots/photos')).status, 403)
    t.is((await call(env.origin, 'bob', 'GET', `/-/snapshots/photos/${snap.id}`)).status, 404)
    t.is((await call(env.origin, undefined, 'GET', `/-/snapshots/photos/${snap.id}`)).status, 404)

    const file = await ipfs(env.origin, 'alice', `/ipfs/${snap.cid}/docs/b/c.txt`)
    t.is(file.status, 200)
    t.true(file.bytes.equals(OBJECTS['docs/b/c.txt']))
    t.true((await ipfs(env.origin, 'alice', `/ipfs/${snap.cid}/a%252Fb`)).bytes.equals(OBJECTS['a/b']), 'the escaped name, percent-encoded in the URL')
    t.true((await ipfs(env.origin, 'alice', `/ipfs/${snap.cid}/big.bin`)).bytes.equals(OBJECTS['big.bin']))
    t.is((await ipfs(env.origin, 'bob', `/ipfs/${snap.cid}/docs/a.txt`)).status, 404)
    t.is((await ipfs(env.origin, undefined, `/ipfs/${snap.cid}/docs/a.txt`)).status, 404)

    const presigner = new S3RequestPresigner({ credentials: USERS.alice, region: 'us-east-1', sha256: Sha256 })
    const url = new URL(`${env.origin}/ipfs/${snap.cid}/readme.txt`)
    const presigned = await presigner.presign(new HttpRequest({ method: 'GET', protocol: url.protocol, hostname: url.hostname, port: Number(url.port), path: url.pathname, headers: { host: url.host } }), { expiresIn: 300 })
    const query = new URLSearchParams(presigned.query as Record<string, string>).toString()
    const viaPresigned = await fetch(`${url.origin}${url.pathname}?${query}`)
    t.is(viaPresigned.status, 200)
    t.is(await viaPresigned.text(), 'hello snapshot\n')

    const car = await ipfs(env.origin, 'alice', `/ipfs/${snap.cid}`, 'application/vnd.ipld.car')
    t.is(car.status, 200)
    const reader = await CarReader.fromBytes(car.bytes)
    t.deepEqual((await reader.getRoots()).map(String), [snap.cid])
    t.true(await reader.has(CID.parse(snap.cid)))
    let blocks = 0
    for await (const _ of reader.blocks()) blocks++
    t.true(blocks >= Object.keys(OBJECTS).length + 4, 'the directories and every file block')

    t.is((await call(env.origin, 'bob', 'DELETE', `/-/snapshots/photos/${snap.id}`)).status, 404)
    t.is((await call(env.origin, 'alice', 'DELETE', `/-/snapshots/photos/${snap.id}`)).status, 204)
    t.is((await call(env.origin, 'alice', 'GET', `/-/snapshots/photos/${snap.id}`)).status, 404)
    t.is((await ipfs(env.origin, 'alice', `/ipfs/${snap.cid}/readme.txt`)).status, 404, 'no longer a snapshot')
    alice.destroy()
  })

  test(`${label}: a public bucket's snapshot is read anonymously; a Deny on some keys keeps its snapshot from others; a prefix snapshot holds only that prefix`, async (t) => {
    t.timeout(60_000)
    const env = await start(t, label)
    const alice = client(env.origin, 'alice')
    await fill(alice, 'pub', { 'p/one.txt': Buffer.from('one'), 'p/two.txt': Buffer.from('two'), 'q/secret.txt': Buffer.from('secret') })
    await alice.send(new PutBucketPolicyCommand({
      Bucket: 'pub',
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: '*', Action: ['s3:GetObject', 's3:ListBucket'], Resource: ['arn:aws:s3:::pub', 'arn:aws:s3:::pub/*'] },
          { Effect: 'Deny', NotPrincipal: { AWS: 'ALICEKEY' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::pub/q/*' },
        ],
      }),
    }))
    const whole = (await call(env.origin, 'alice', 'POST', '/-/snapshots/pub')).body as Snapshot
    const part = (await call(env.origin, 'alice', 'POST', '/-/snapshots/pub?prefix=p/')).body as Snapshot
    t.is(part.keys, 2)
    t.is((await ipfs(env.origin, undefined, `/ipfs/${part.cid}/one.txt`)).bytes.toString(), 'one', 'the prefix is not in the paths')
    t.is((await ipfs(env.origin, 'bob', `/ipfs/${part.cid}/two.txt`)).status, 200)
    t.is((await ipfs(env.origin, undefined, `/ipfs/${whole.cid}/p/one.txt`)).status, 404, 'the whole bucket holds keys others are denied')
    t.is((await ipfs(env.origin, 'alice', `/ipfs/${whole.cid}/q/secret.txt`)).status, 200)
    t.deepEqual(((await call(env.origin, undefined, 'GET', '/-/snapshots/pub')).body as { snapshots: Snapshot[] }).snapshots.map((s) => s.id), [part.id])
    t.is((await call(env.origin, 'bob', 'POST', '/-/snapshots/pub?prefix=p/')).status, 201, 'who may read the keys may take a snapshot of them')
    t.is((await call(env.origin, 'bob', 'POST', '/-/snapshots/pub')).status, 403)
    t.is((await call(env.origin, 'bob', 'DELETE', `/-/snapshots/pub/${part.id}`)).status, 403, 'readable, but neither the bucket\'s owner nor its taker')
    alice.destroy()
  })

  test(`${label}: gc keeps a snapshot's blocks after its objects are deleted, and frees them once it is deleted`, async (t) => {
    t.timeout(60_000)
    const env = await start(t, label)
    const alice = client(env.origin, 'alice')
    await fill(alice, 'gcb', { 'x/one.txt': Buffer.from('only in the snapshot'), 'big.bin': deterministicBytes('gc-big', 2 * 1024 * 1024 + 1) })
    const snap = (await call(env.origin, 'alice', 'POST', '/-/snapshots/gcb')).body as Snapshot
    for (const key of ['x/one.txt', 'big.bin']) await alice.send(new DeleteObjectCommand({ Bucket: 'gcb', Key: key }))
    await env.gateway.gc({ gracePeriodMs: 0 })
    t.is((await ipfs(env.origin, 'alice', `/ipfs/${snap.cid}/x/one.txt`)).bytes.toString(), 'only in the snapshot')
    t.true((await ipfs(env.origin, 'alice', `/ipfs/${snap.cid}/big.bin`)).bytes.equals(deterministicBytes('gc-big', 2 * 1024 * 1024 + 1)))
    t.is((await call(env.origin, 'alice', 'DELETE', `/-/snapshots/gcb/${snap.id}`)).status, 204)
    const report = await env.gateway.gc({ gracePeriodMs: 0 })
    t.true((report.blocks?.deleted ?? 0) >= 5, 'the directories, the file and the big file\'s blocks')
    t.false(await env.blockstore.has(CID.parse(snap.cid)))
    alice.destroy()
  })

  test(`${label}: restore makes a bucket of a snapshot and of an importer-made directory, byte for byte through GetObject; a re-run changes nothing`, async (t) => {
    t.timeout(120_000)
    const env = await start(t, label)
    const alice = client(env.origin, 'alice')
    await fill(alice, 'src', OBJECTS)
    const snap = (await call(env.origin, 'alice', 'POST', '/-/snapshots/src')).body as Snapshot
    await alice.send(new CreateBucketCommand({ Bucket: 'copy' }))
    t.is((await call(env.origin, 'bob', 'POST', `/-/snapshots/copy/restore?cid=${snap.cid}`)).status, 403)
    const restored = await call(env.origin, 'alice', 'POST', `/-/snapshots/copy/restore?cid=${snap.cid}&prefix=r/`)
    t.is(restored.status, 200)
    t.like(restored.body, { bucket: 'copy', cid: snap.cid, prefix: 'r/', restored: Object.keys(OBJECTS).length, unchanged: 0, skipped: 0 })
    const keys = Object.keys(OBJECTS)
    const read = await getAll(alice, 'copy', keys.map((k) => `r/${k}`))
    for (const key of keys) t.true(read[`r/${key}`].equals(OBJECTS[key]), key)
    const again = await call(env.origin, 'alice', 'POST', `/-/snapshots/copy/restore?cid=${snap.cid}&prefix=r/`)
    t.like(again.body, { restored: 0, unchanged: keys.length })

    // A directory `ipfs add -r` would make (the importer, unixfs-v0-2015), in this gateway's blockstore.
    const files = [{ path: 'site/index.html', content: Buffer.from('<h1>hi</h1>') }, { path: 'site/css/a.css', content: Buffer.from('a{}') },
      { path: 'site/50%/x', content: Buffer.from('a directory ending in %') }]
    let dir: CID | undefined
    for await (const entry of importer(files, env.blockstore, { profile: 'unixfs-v0-2015' })) if (entry.path === 'site') dir = entry.cid
    const fromImporter = await call(env.origin, 'alice', 'POST', `/-/snapshots/copy/restore?cid=${dir?.toString() ?? ''}`)
    t.like(fromImporter.body, { restored: 3, skipped: 0 })
    const web = await getAll(alice, 'copy', ['index.html', 'css/a.css', '50x'])
    t.is(web['index.html'].toString(), '<h1>hi</h1>')
    t.is(web['css/a.css'].toString(), 'a{}')
    t.is(web['50x'].toString(), 'a directory ending in %', 'the documented reading of a directory name ending in a bare %')
    t.is((await call(env.origin, 'alice', 'POST', `/-/snapshots/copy/restore?cid=${files.length}`)).status, 400)
    t.is((await call(env.origin, 'alice', 'POST', '/-/snapshots/copy/restore?cid=bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')).status, 404, 'content not held')
    alice.destroy()
  })
}

test('a second Helia peer fetches a snapshot\'s file by path over bitswap; a second gateway restores the snapshot from the first over bitswap', async (t) => {
  t.timeout(120_000)
  installPromiseWithResolvers()
  const a = await start(t, 'memory')
  const nodeA = await startIpfsNode({ blockstore: a.blockstore, listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.teardown(async () => { await nodeA.stop() })
  const alice = client(a.origin, 'alice')
  await fill(alice, 'origin', OBJECTS)
  const snap = (await call(a.origin, 'alice', 'POST', '/-/snapshots/origin')).body as Snapshot

  const [{ createHeliaLight }, { withLibp2pLight }, { withBitswap }, { tcp }, { identify }, { noise }, { yamux }, { unixfs }, { multiaddr }, { MemoryBlockstore: HeliaMemoryBlockstore }] = await Promise.all([
    import('helia'), import('@helia/libp2p'), import('@helia/bitswap'), import('@libp2p/tcp'), import('@libp2p/identify'),
    import('@chainsafe/libp2p-noise'), import('@chainsafe/libp2p-yamux'), import('@helia/unixfs'), import('@multiformats/multiaddr'), import('blockstore-core/memory'),
  ])
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: new HeliaMemoryBlockstore() }), {
    addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() },
  }))
  await helia.start()
  t.teardown(async () => { await helia.stop() })
  await helia.libp2p.dial(multiaddr(nodeA.multiaddrs[0]))
  const signal = AbortSignal.timeout(30_000)
  setMaxListeners(Infinity, signal)
  const chunks: Uint8Array[] = []
  for await (const chunk of unixfs(helia).cat(CID.parse(snap.cid), { path: 'docs/b/c.txt', signal })) chunks.push(chunk)
  t.true(Buffer.concat(chunks).equals(OBJECTS['docs/b/c.txt']))

  const blocksB = new MemoryBlockstore()
  const nodeB = await startIpfsNode({ blockstore: blocksB, listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.teardown(async () => { await nodeB.stop() })
  await nodeB.connect(nodeA.multiaddrs)
  const gatewayB = createGateway({ blockstore: blocksB, credentials: CREDENTIALS, ipfs: nodeB })
  const hostB = await nodeHost.start(gatewayB, '', { adminPath: '/-' })
  t.teardown(async () => { await hostB.close(); await gatewayB.close() })
  const aliceB = client(hostB.origin, 'alice')
  await aliceB.send(new CreateBucketCommand({ Bucket: 'mirror' }))
  const restored = await call(hostB.origin, 'alice', 'POST', `/-/snapshots/mirror/restore?cid=${snap.cid}`)
  t.like(restored.body, { restored: Object.keys(OBJECTS).length, skipped: 0 })
  const read = await getAll(aliceB, 'mirror', Object.keys(OBJECTS))
  for (const [key, body] of Object.entries(OBJECTS)) t.true(read[key].equals(body), key)
  await nodeA.stop()
  await a.gateway.close()
  t.true((await getAll(aliceB, 'mirror', ['big.bin']))['big.bin'].equals(OBJECTS['big.bin']), 'every block is held by B now')
  alice.destroy()
  aliceB.destroy()
})
