/**
 * The IPFS HTTP gateway on the S3 port (`GET/HEAD /ipfs/<cid>[/<path>]`) over loopback HTTP (node
 * adapter, memory metadata): conformance checks written from the trustless and path gateway specs
 * (status codes, Content-Type, ETag, cache headers, X-Ipfs-Path / X-Ipfs-Roots, Range, CARs of
 * paths and HAMT-sharded directories), and @helia/verified-fetch as an independent client that
 * verifies every block. Who may read what, on every metadata store, is test/ipfs-gateway-access.test.ts.
 */
import test from 'ava'
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { CarReader } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import { startServer } from '../bin/server.js'
import { installPromiseWithResolvers } from '../src/helia/polyfill.js'
import { tempDir } from './helpers/child.js'
import {
  ABSENT, BIG, PRIVATE, SMALL, USERS, addDirectory, blockOf, cidOf, client, get, startIpfsGateway, stopIpfsGateway, verifyBlock, type Running,
} from './helpers/ipfs-gateway.js'

let authorized: Running
let open: Running
/** Directories put straight into the open gateway's blockstore. */
const dirs = { dir: '', sharded: '' }
let cids: Running['cids']

test.before(async () => {
  [authorized, open] = await Promise.all([startIpfsGateway('authorized'), startIpfsGateway('open')])
  cids = authorized.cids
  dirs.dir = await addDirectory(open.blockstore, [{ path: 'a.txt', content: 'file a' }, { path: 'sub/b.txt', content: 'file b' }])
  dirs.sharded = await addDirectory(open.blockstore, Array.from({ length: 40 }, (_, i) => ({ path: `f${i}.txt`, content: `file ${i}` })), { shardSplitThresholdBytes: 1 })
})

test.after.always(async () => {
  await stopIpfsGateway(authorized)
  await stopIpfsGateway(open)
})

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
  const absent = ABSENT
  const missing = await get(authorized, `/ipfs/${absent}`)
  t.is(missing.status, 404)
  t.regex(missing.headers.get('content-type') ?? '', /^text\/plain/)
  const head = await get(authorized, `/ipfs/${absent}`, { method: 'HEAD' })
  t.is(head.status, 404)
  // The bucket `ipfs` stays reserved for S3 writes.
  t.is((await get(authorized, '/ipfs/x', { user: 'alice', method: 'PUT' })).status >= 400, true)
})

test('open mode: a directory\'s CAR, a CAR of a path through it; HAMT-sharded directories traversed and listed', async (t) => {
  const { dir } = dirs
  // The directory's own CAR, as for any CID.
  const car = await get(open, `/ipfs/${dir}?format=car`)
  t.is(car.status, 200)
  let count = 0
  for await (const block of (await CarReader.fromBytes(new Uint8Array(await car.arrayBuffer()))).blocks()) { count++; verifyBlock(t, block.cid, block.bytes) }
  t.is(count, 4)
  // A CAR of a path: the directories on the way, then the DAG at its end.
  const pathCar = await get(open, `/ipfs/${dir}/sub/b.txt?format=car`)
  t.is(pathCar.status, 200)
  const pathRoots = (pathCar.headers.get('x-ipfs-roots') ?? '').split(',')
  t.is(pathRoots.length, 3)
  t.not(pathCar.headers.get('etag'), (await get(open, `/ipfs/${dir}?format=car`)).headers.get('etag'))
  const pathReader = await CarReader.fromBytes(new Uint8Array(await pathCar.arrayBuffer()))
  t.deepEqual((await pathReader.getRoots()).map(String), [dir])
  const pathBlocks: string[] = []
  for await (const block of pathReader.blocks()) { verifyBlock(t, block.cid, block.bytes); pathBlocks.push(block.cid.toString()) }
  t.deepEqual(pathBlocks, pathRoots)
  t.is((await get(open, `/ipfs/${dir}/nothing?format=car`)).status, 404)
  // A HAMT-sharded directory (as Kubo shards large ones): traversed and listed alike.
  const shardRoot = dagPb.decode(await blockOf(open.blockstore, dirs.sharded))
  t.is(UnixFS.unmarshal(shardRoot.Data ?? new Uint8Array()).type, 'hamt-sharded-directory')
  t.is(await (await get(open, `/ipfs/${dirs.sharded}/f37.txt`)).text(), 'file 37')
  const shardList = await (await get(open, `/ipfs/${dirs.sharded}/`)).text()
  t.is(shardList.match(/<li>/g)?.length, 40)
  t.is((await get(open, `/ipfs/${dirs.sharded}?format=car&dag-scope=entity`)).status, 501)
  t.is((await get(open, `/ipfs/${dirs.sharded}/f37.txt?format=car`)).status, 501)
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
