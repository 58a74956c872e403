/**
 * Snapshots published under their bucket's IPNS name, over loopback: a gateway with an embedded
 * IPFS node (its key kept in a file), objects written with the AWS SDK, `POST
 * /-/snapshots/<bucket>?publish=ipns` SigV4-signed; a second Helia peer (no DHT) resolves the name
 * with @helia/ipns through the gateway's Delegated Routing V1 endpoint and fetches files by path
 * from the resolved root over bitswap. On memory and SQLite metadata; the standalone server is
 * restarted on its data directory and keeps the name. PostgreSQL too when it is reachable.
 */
import { randomBytes } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test, { type ExecutionContext } from 'ava'
import { PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { CID } from 'multiformats/cid'
import { createGateway } from '../src/gateway.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { PostgresMetadataStore } from '../src/metadata/postgres.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import type { SnapshotRecord } from '../src/metadata/snapshots.js'
import { publishSnapshot, SnapshotNames } from '../src/snapshots/ipns.js'
import { loadOrCreateIpfsKey, startIpfsNode, type IpfsNode } from '../src/helia/index.js'
import { installPromiseWithResolvers } from '../src/helia/polyfill.js'
import { deriveIpnsKey, IpnsKeyring, parseIpnsName } from '../src/ipns/index.js'
import { startServer } from '../bin/server.js'
import { nodeHost } from './helpers/hosts.js'
import { dropPostgresSchema, postgresProblem, whenServices } from './helpers/services.js'
import { deterministicBytes } from './helpers/s3.js'
import { CREDENTIALS, USERS, call, client, fill } from './helpers/snapshot-users.js'

installPromiseWithResolvers() // helia needs it on Node 20; helia packages are imported dynamically below

const PG_URL = process.env.S3IPFS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const pgProblem = await postgresProblem(PG_URL)
const LABELS = ['memory', 'sqlite', ...(pgProblem === undefined ? ['postgres'] : [])]
whenServices('published snapshots on PostgreSQL', pgProblem, () => {})

const RECORD_TYPE = 'application/vnd.ipfs.ipns-record'

const FILES: Record<string, Buffer> = {
  'index.html': Buffer.from('<h1>hello</h1>\n'),
  'docs/guide.txt': Buffer.from('a guide'),
  'media/big.bin': deterministicBytes('ipns-big', 2 * 1024 * 1024 + 3),
}

interface Published { id: string, cid: string, created: string, ipns?: { name: string, sequence?: string } }

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-snap-ipns-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** The routing endpoint's status for `name`, as the delegated routing client asks. */
async function routingStatus (origin: string, name: string): Promise<number> {
  const response = await fetch(`${origin}/-/routing/v1/ipns/${name}`, { headers: { accept: RECORD_TYPE } })
  await response.arrayBuffer()
  return response.status
}

/**
 * A fresh Helia peer on loopback TCP (no DHT, no bootstrap) whose only router is the delegated
 * routing client at `${origin}/-/`, connected to `dial` (the gateway's node) for blocks.
 */
async function startPeer (t: ExecutionContext, origin: string, dial: string) {
  const [{ createHeliaLight }, { withLibp2pLight }, { withBitswap }, { tcp }, { identify }, { noise }, { yamux }, { ipns }, { delegatedHTTPRouter }, { unixfs }, { MemoryBlockstore: HeliaMemoryBlockstore }, { multiaddr }] = await Promise.all([
    import('helia'), import('@helia/libp2p'), import('@helia/bitswap'), import('@libp2p/tcp'), import('@libp2p/identify'),
    import('@chainsafe/libp2p-noise'), import('@chainsafe/libp2p-yamux'), import('@helia/ipns'), import('@helia/delegated-routing-client'),
    import('@helia/unixfs'), import('blockstore-core/memory'), import('@multiformats/multiaddr'),
  ])
  // The client appends `routing/v1/...` to the URL as text: the admin prefix needs its trailing slash.
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: new HeliaMemoryBlockstore(), routers: [delegatedHTTPRouter({ url: `${origin}/-/` })] }), {
    addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], services: { identify: identify() },
  }))
  await helia.start()
  t.teardown(async () => { await helia.stop() })
  await helia.libp2p.dial(multiaddr(dial))
  const names = ipns(helia)
  const signal = (): AbortSignal => {
    const s = AbortSignal.timeout(30_000)
    setMaxListeners(Infinity, s)
    return s
  }
  return {
    /** The root CID the name resolves to now (asking the router again: @helia/ipns caches otherwise). */
    async resolve (name: string): Promise<string> {
      let value = ''
      for await (const result of names.resolve(name, { signal: signal(), nocache: true })) value = result.value
      const root = /^\/ipfs\/([^/]+)$/.exec(value)?.[1]
      if (root === undefined) throw new Error(`${name} resolved to ${value}`)
      return root
    },
    /** A file's bytes under `root`, fetched over bitswap. */
    async cat (root: string, path: string): Promise<Buffer> {
      const chunks: Uint8Array[] = []
      for await (const chunk of unixfs(helia).cat(CID.parse(root), { path, signal: signal() })) chunks.push(chunk)
      return Buffer.concat(chunks)
    },
  }
}

interface Env { origin: string, node: IpfsNode, keyPath: string }

/** A gateway publishing with the key kept in a temporary file, its node serving its blocks over bitswap. */
async function start (t: ExecutionContext, label: string): Promise<Env> {
  const dir = await tempDir(t)
  const keyPath = join(dir, 'ipfs.key')
  const key = await loadOrCreateIpfsKey(keyPath)
  const blockstore = new MemoryBlockstore()
  const node = await startIpfsNode({ blockstore, listen: ['/ip4/127.0.0.1/tcp/0'], privateKey: key })
  t.teardown(async () => { await node.stop() })
  const schema = `s3ipfs_snap_ipns_${randomBytes(6).toString('hex')}`
  const metadata = label === 'memory' ? undefined : label === 'postgres'
    ? new PostgresMetadataStore({ connectionString: PG_URL, schema, max: 4 })
    : new SqliteMetadataStore({ path: join(dir, 'meta.db') })
  if (label === 'postgres') t.teardown(async () => { await dropPostgresSchema(PG_URL, schema) })
  const gateway = createGateway({ blockstore, metadata, credentials: CREDENTIALS, ipfs: node, ipnsKey: key })
  const host = await nodeHost.start(gateway, '', { adminPath: '/-' })
  t.teardown(async () => { await host.close(); await gateway.close() })
  return { origin: host.origin, node, keyPath }
}

for (const label of LABELS) {
  test(`${label}: a published snapshot resolves at the bucket's name for a second Helia peer, which fetches its files over bitswap; a newer one replaces it; unpublished or deleted, the name resolves to nothing`, async (t) => {
    t.timeout(180_000)
    const env = await start(t, label)
    const alice = client(env.origin, 'alice')
    await fill(alice, 'site', FILES)
    // Bob may read the whole bucket, so he may take snapshots; publishing is still the owner's.
    await alice.send(new PutBucketPolicyCommand({
      Bucket: 'site',
      Policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Principal: { AWS: 'BOBKEY' }, Action: 's3:ListBucket', Resource: 'arn:aws:s3:::site' },
          { Effect: 'Allow', Principal: { AWS: 'BOBKEY' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::site/*' },
        ],
      }),
    }))
    t.is((await call(env.origin, 'bob', 'POST', '/-/snapshots/site?publish=ipns')).status, 403)
    t.is((await call(env.origin, undefined, 'POST', '/-/snapshots/site?publish=ipns')).status, 403)
    t.is((await call(env.origin, 'alice', 'POST', '/-/snapshots/site?publish=dnslink')).status, 400)
    t.deepEqual((await call(env.origin, 'alice', 'GET', '/-/snapshots/site')).body.snapshots, [], 'nothing was created')

    const first = await call(env.origin, 'alice', 'POST', '/-/snapshots/site?publish=ipns')
    t.is(first.status, 201)
    const one = first.body as Published
    const name = deriveIpnsKey(await loadOrCreateIpfsKey(env.keyPath), 'site').name
    t.deepEqual(one.ipns, { name, sequence: String(Date.parse(one.created)) })
    t.regex(name, /^k51/)
    t.deepEqual((await call(env.origin, 'alice', 'GET', `/-/snapshots/site/${one.id}`)).body.ipns, { name })

    const peer = await startPeer(t, env.origin, env.node.multiaddrs[0])
    t.is(await peer.resolve(name), one.cid)
    t.true((await peer.cat(await peer.resolve(name), 'docs/guide.txt')).equals(FILES['docs/guide.txt']))
    t.true((await peer.cat(one.cid, 'media/big.bin')).equals(FILES['media/big.bin']))

    // Bob's snapshot (not published) leaves the name as it is.
    const bobs = await call(env.origin, 'bob', 'POST', '/-/snapshots/site')
    t.is(bobs.status, 201)
    t.is(bobs.body.ipns, undefined)

    // A new write, a second published snapshot: a higher sequence, the new root.
    const added = Buffer.from('news\n')
    await alice.send(new PutObjectCommand({ Bucket: 'site', Key: 'news.txt', Body: added }))
    const two = (await call(env.origin, 'alice', 'POST', '/-/snapshots/site?publish=ipns')).body as Published
    t.not(two.cid, one.cid)
    t.is(two.ipns?.name, name)
    t.true(BigInt(two.ipns?.sequence ?? 0) > BigInt(one.ipns?.sequence ?? 0))
    t.is(await peer.resolve(name), two.cid)
    t.true((await peer.cat(two.cid, 'news.txt')).equals(added))
    const listed = (await call(env.origin, 'alice', 'GET', '/-/snapshots/site')).body.snapshots as Published[]
    t.deepEqual(listed.map(s => s.ipns), [undefined, undefined, { name }], 'only the published one shows the name')

    // The record from the S3 port's /ipns/<name>, as the trustless gateway serves it, validates.
    const [{ ipnsValidator }, { createHeliaLight }, { MemoryBlockstore: HeliaMemoryBlockstore }] = await Promise.all([
      import('@helia/ipns'), import('helia'), import('blockstore-core/memory'),
    ])
    const record = await fetch(`${env.origin}/ipns/${name}?format=ipns-record`)
    t.is(record.status, 200)
    t.is(record.headers.get('content-type'), RECORD_TYPE)
    const routingKey = new Uint8Array([...new TextEncoder().encode('/ipns/'), ...(parseIpnsName(name)?.multihash ?? [])])
    const entry = await ipnsValidator(routingKey, new Uint8Array(await record.arrayBuffer()), createHeliaLight({ blockstore: new HeliaMemoryBlockstore() }).keychain)
    t.is(new TextDecoder().decode(entry.value), `/ipfs/${two.cid}`)
    t.is(entry.sequence, BigInt(two.ipns?.sequence ?? 0))
    const plain = await fetch(`${env.origin}/ipns/${name}`)
    t.regex(await plain.text(), /<Code>NoSuchBucket<\/Code>/, 'without asking for the record, /ipns/ is the bucket `ipns`, as before')

    // Deleting a snapshot that is not the published one leaves the name; the node's own name publishes nothing.
    t.is((await call(env.origin, 'alice', 'DELETE', `/-/snapshots/site/${one.id}`)).status, 204)
    t.is(await peer.resolve(name), two.cid)
    t.is(await routingStatus(env.origin, new IpnsKeyring(await loadOrCreateIpfsKey(env.keyPath)).self.name), 404)

    // Unpublishing: the owner only; the snapshot stays.
    t.is((await call(env.origin, 'bob', 'DELETE', '/-/snapshots/site/ipns')).status, 403)
    t.is(await routingStatus(env.origin, name), 200)
    t.is((await call(env.origin, 'alice', 'DELETE', '/-/snapshots/site/ipns')).status, 204)
    t.is(await routingStatus(env.origin, name), 404)
    t.is((await fetch(`${env.origin}/ipns/${name}?format=ipns-record`)).status, 404)
    const kept = await call(env.origin, 'alice', 'GET', `/-/snapshots/site/${two.id}`)
    t.is(kept.status, 200)
    t.is(kept.body.ipns, undefined)

    // Deleting the published snapshot unpublishes it.
    const three = (await call(env.origin, 'alice', 'POST', '/-/snapshots/site?publish=ipns')).body as Published
    t.is(await peer.resolve(name), three.cid)
    t.is((await call(env.origin, 'alice', 'DELETE', `/-/snapshots/site/${three.id}`)).status, 204)
    t.is(await routingStatus(env.origin, name), 404)
    // Republishing after: the name is back.
    const four = (await call(env.origin, 'alice', 'POST', '/-/snapshots/site?publish=ipns')).body as Published
    t.is(await peer.resolve(name), four.cid)
    alice.destroy()
  })
}

test('the standalone server keeps the name across a restart: the same key file, the published snapshot read back from SQLite', async (t) => {
  t.timeout(180_000)
  const dataDir = await tempDir(t)
  const options = { dataDir, port: 0, ipfsListen: ['/ip4/127.0.0.1/tcp/0'], ...USERS.alice }
  const first = await startServer(options)
  let closeFirst: Promise<void> | undefined
  t.teardown(async () => { await (closeFirst ??= first.close()) })
  const origin = `http://127.0.0.1:${first.port}`
  const alice = client(origin, 'alice')
  await fill(alice, 'blog', FILES)
  alice.destroy()
  const published = (await call(origin, 'alice', 'POST', '/-/snapshots/blog?publish=ipns')).body as Published
  const name = published.ipns?.name ?? ''
  t.regex(name, /^k51/)
  const peer = await startPeer(t, origin, first.ipfs?.multiaddrs[0] ?? '')
  t.is(await peer.resolve(name), published.cid)
  const peerId = first.ipfs?.peerId
  await (closeFirst = first.close())

  const second = await startServer(options)
  t.teardown(async () => { await second.close() })
  t.is(second.ipfs?.peerId, peerId, 'the same node identity')
  const origin2 = `http://127.0.0.1:${second.port}`
  // A fresh peer that knows only the name; this process has derived no bucket's key before its request.
  const again = await startPeer(t, origin2, second.ipfs?.multiaddrs[0] ?? '')
  t.is(await again.resolve(name), published.cid)
  t.true((await again.cat(published.cid, 'index.html')).equals(FILES['index.html']))
  t.deepEqual((await call(origin2, 'alice', 'GET', `/-/snapshots/blog/${published.id}`)).body.ipns, { name })
})

test('a gateway without ipnsKey answers publishing with 501 and creates nothing; it serves no IPNS records', async (t) => {
  const gateway = createGateway({ blockstore: new MemoryBlockstore(), credentials: CREDENTIALS })
  const host = await nodeHost.start(gateway, '', { adminPath: '/-' })
  t.teardown(async () => { await host.close(); await gateway.close() })
  const alice = client(host.origin, 'alice')
  await fill(alice, 'site', { 'a.txt': Buffer.from('a') })
  alice.destroy()
  const refused = await call(host.origin, 'alice', 'POST', '/-/snapshots/site?publish=ipns')
  t.is(refused.status, 501)
  t.is(refused.body.error, 'NotImplemented')
  t.deepEqual((await call(host.origin, 'alice', 'GET', '/-/snapshots/site')).body.snapshots, [])
  const taken = await call(host.origin, 'alice', 'POST', '/-/snapshots/site')
  t.is(taken.status, 201)
  t.is(taken.body.ipns, undefined)
  const name = deriveIpnsKey(await loadOrCreateIpfsKey(join(await tempDir(t), 'ipfs.key')), 'site').name
  t.is(await routingStatus(host.origin, name), 404)
  t.not((await fetch(`${host.origin}/ipns/${name}?format=ipns-record`)).status, 200)
})

test('a name published by another process is found by listing the buckets, at most once per rescanMs; the node\'s own name and unknown names resolve to nothing', async (t) => {
  const store = new MemoryMetadataStore()
  let listings = 0
  const metadata = {
    getBucket: store.getBucket.bind(store),
    getSnapshot: store.getSnapshot.bind(store),
    listBuckets: async (...args: Parameters<MemoryMetadataStore['listBuckets']>) => { listings++; return await store.listBuckets(...args) },
  }
  let now = 1_000_000
  const nodeKey = await loadOrCreateIpfsKey(join(await tempDir(t), 'ipfs.key'))
  const names = new SnapshotNames({ nodeKey, metadata, rescanMs: 10_000, now: () => now })
  const cid = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'
  const snapshot = (bucket: string, id: string, created: number): SnapshotRecord => ({
    bucket, id, cid, prefix: '', created: new Date(created), owner: 'o', profile: 'unixfs-v1-2025', keys: 1, bytes: 11, skipped: { encrypted: 0, archived: 0 },
  })
  const name = deriveIpnsKey(nodeKey, 'b').name

  t.is(await names.resolve(name), undefined)
  t.is(listings, 1)
  // Published meanwhile by another process sharing the metadata: not listed again before rescanMs.
  await store.createBucket({ name: 'b', owner: 'o', created: new Date(0), region: 'us-east-1', versioning: 'Unversioned' })
  await store.createSnapshot(snapshot('b', 's1', 5_000))
  t.deepEqual(await publishSnapshot(store, (await store.getBucket('b'))!, snapshot('b', 's1', 5_000)), { id: 's1', cid, created: 5_000, sequence: 5_000 })
  t.is(await names.resolve(name), undefined)
  t.is(await names.resolve(names.name('unknown-bucket')), undefined)
  t.is(await names.resolve(deriveIpnsKey(nodeKey, 'never').name), undefined)
  t.is(listings, 1)
  now += 10_000
  t.like(await names.resolve(name), { sequence: 5_000n })
  t.is(listings, 2)
  t.like(await names.resolve(name), { sequence: 5_000n })
  t.is(listings, 2, 'a known name is not searched for')
  t.is(await names.resolve(new IpnsKeyring(nodeKey).self.name), undefined)

  // A snapshot created in the same ms as (or before) the published one still gets a higher sequence.
  await store.createSnapshot(snapshot('b', 's2', 4_000))
  t.like(await publishSnapshot(store, (await store.getBucket('b'))!, snapshot('b', 's2', 4_000)), { id: 's2', sequence: 5_001 })
  t.like(await names.resolve(name), { sequence: 5_001n })
  // The published snapshot gone (however it went): the name resolves to nothing.
  await store.deleteSnapshot('b', 's2')
  t.is(await names.resolve(name), undefined)
})
