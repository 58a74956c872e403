/**
 * s3-ipfs-gateway/helia fetching: one node (B) fetches blocks and whole UnixFS DAGs over bitswap
 * from another (A), each on its own blockstore, into its own store, verified against their CIDs.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { ContentStore } from '../src/content/content-store.js'
import type { CidProfileName } from '../src/content/profiles.js'
import { startIpfsNode, type IpfsNode, type WritableBlocks } from '../src/helia/index.js'
import { tempDir } from './helpers/child.js'
import { deterministicBytes } from './helpers/s3.js'

const MIB = 1024 * 1024
const LOOPBACK_ANY_PORT = '/ip4/127.0.0.1/tcp/0'

async function node (t: ExecutionContext, blockstore: WritableBlocks): Promise<IpfsNode> {
  const started = await startIpfsNode({ blockstore, listen: [LOOPBACK_ANY_PORT] })
  t.teardown(async () => { await started.stop() })
  return started
}

async function add (blockstore: MemoryBlockstore | FsBlockstore, bytes: Uint8Array, profile: CidProfileName): Promise<CID> {
  return (await new ContentStore({ blockstore, profile }).add([bytes])).cid
}

async function cat (blockstore: MemoryBlockstore | FsBlockstore, cid: CID): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of new ContentStore({ blockstore }).cat(cid)) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** Every block of a store: CID string (CIDv1 raw, as listBlocks gives) → size, in CID order. */
async function blocksOf (store: MemoryBlockstore | FsBlockstore): Promise<Map<string, number>> {
  const blocks: Array<[string, number]> = []
  for await (const { cid, size } of store.listBlocks()) blocks.push([cid.toString(), size])
  return new Map(blocks.sort(([x], [y]) => x < y ? -1 : 1))
}

const asRaw = (cid: CID): CID => CID.createV1(raw.code, cid.multihash)

test('fetchDag copies a 5 MiB UnixFS DAG (256 KiB dag-pb leaves) block for block; a second call fetches nothing', async (t) => {
  t.timeout(60_000)
  const storeA = new MemoryBlockstore()
  const storeB = new MemoryBlockstore()
  const [a, b] = await Promise.all([node(t, storeA), node(t, storeB)])
  const body = deterministicBytes('fetch-dag-v0', 5 * MIB)
  const root = await add(storeA, body, 'unixfs-v0-2015')
  const expected = await blocksOf(storeA)
  t.is(expected.size, 21, 'a root over 20 leaves')

  const seen: string[] = []
  const first = await b.fetchDag(root, { origins: a.multiaddrs, onBlock: ({ cid }) => { seen.push(asRaw(cid).toString()) } })
  t.deepEqual(first, { blocks: 21, bytes: [...expected.values()].reduce((n, s) => n + s, 0), present: 0 })
  t.deepEqual(await blocksOf(storeB), expected, 'B holds exactly the blocks of A')
  t.deepEqual(seen.sort(), [...expected.keys()], 'onBlock once per block')
  t.is(seen.length, 21)
  t.true((await cat(storeB, root)).equals(body), 'exported from B: the same bytes')

  t.deepEqual(await b.fetchDag(root, { origins: a.multiaddrs }), { blocks: 0, bytes: 0, present: 21 }, 'complete: nothing fetched')
})

test('fetchDag completes a partial DAG (raw leaves, into an FsBlockstore) and replaces a corrupt interior node', async (t) => {
  t.timeout(60_000)
  const storeA = new MemoryBlockstore()
  const storeB = new FsBlockstore({ path: await tempDir(t, 's3ipfs-fetch-') })
  const [a, b] = await Promise.all([node(t, storeA), node(t, storeB)])
  const body = deterministicBytes('fetch-dag-partial', 6 * MIB + 5)
  const root = await add(storeA, body, 'unixfs-v1-2025')
  const blocksA = await blocksOf(storeA)
  t.is(blocksA.size, 8, 'a root over 7 raw leaves')
  t.deepEqual(await b.fetchDag(root, { origins: a.multiaddrs }), { blocks: 8, bytes: [...blocksA.values()].reduce((n, s) => n + s, 0), present: 0 })

  // Drop three leaves, and put garbage where the root was: fetched again moments after the first
  // fetch, from the same peer (which must serve a block it just sent once more).
  const leaves = [...blocksA.keys()].filter(key => key !== asRaw(root).toString()).map(key => CID.parse(key))
  t.is(leaves.length, 7)
  for (const cid of leaves.slice(1, 4)) await storeB.delete(cid)
  await storeB.delete(root)
  await storeB.put(root, new TextEncoder().encode('not the root'))
  const second = await b.fetchDag(root)
  t.is(second.blocks, 4, 'the three leaves and the root')
  t.is(second.present, 4)
  t.true((await cat(storeB, root)).equals(body))
})

test('fetchBlock fetches without storing, verifies, and reports an absent block as ERR_BLOCK_UNAVAILABLE after its timeout', async (t) => {
  t.timeout(60_000)
  const storeA = new MemoryBlockstore()
  const storeB = new MemoryBlockstore()
  const [a, b] = await Promise.all([node(t, storeA), node(t, storeB)])
  const bytes = deterministicBytes('fetch-block', 300_000)
  const cid = CID.createV1(raw.code, await sha256.digest(bytes))
  await storeA.put(cid, bytes)
  t.deepEqual((await b.connect(a.multiaddrs)).connected, a.multiaddrs)

  t.true(Buffer.from(await b.fetchBlock(cid)).equals(bytes))
  t.false(await storeB.has(cid), 'fetchBlock stores nothing')

  const inline = CID.createV1(raw.code, identity.digest(new TextEncoder().encode('inline')))
  t.is(new TextDecoder().decode(await b.fetchBlock(inline, { timeoutMs: 1 })), 'inline', 'identity CIDs need no peer')

  const absent = CID.createV1(raw.code, await sha256.digest(deterministicBytes('fetch-nobody-has', 1000)))
  const error = await t.throwsAsync(b.fetchBlock(absent, { timeoutMs: 1_500 }), { code: 'ERR_BLOCK_UNAVAILABLE' })
  t.regex(error?.message ?? '', /1500 ms/, 'it gave up at its timeout')

  const controller = new AbortController()
  const aborted = b.fetchBlock(absent, { signal: controller.signal })
  controller.abort(new Error('caller gave up'))
  await t.throwsAsync(aborted, { message: 'caller gave up' })
})

test('connect reports bad addresses and remembers replicas: a dropped replica is dialled again for the next fetch', async (t) => {
  t.timeout(60_000)
  const storeA = new MemoryBlockstore()
  const [a, b] = await Promise.all([node(t, storeA), node(t, new MemoryBlockstore())])
  const gone = await startIpfsNode({ blockstore: new MemoryBlockstore(), listen: [LOOPBACK_ANY_PORT] })
  const unreachable = gone.multiaddrs[0]
  await gone.stop()
  const result = await b.connect([a.multiaddrs[0], a.multiaddrs[0].replace(/\/p2p\/.*$/, ''), b.multiaddrs[0], unreachable])
  t.deepEqual(result.connected, [a.multiaddrs[0]])
  t.deepEqual(result.failed.map(f => f.address).sort(), [a.multiaddrs[0].replace(/\/p2p\/.*$/, ''), b.multiaddrs[0], unreachable].sort())
  t.regex(result.failed.find(f => !f.address.includes('/p2p/'))?.error.message ?? '', /does not end in \/p2p\//)
  t.deepEqual(b.peers, [a.peerId])

  // A drops B: B still counts A as a replica and dials it again to fetch.
  for (let i = 0; i < 50 && a.peers.length === 0; i++) await sleep(20) // A's side of the connection is up
  await a.disconnect([b.peerId])
  for (let i = 0; i < 50 && b.peers.length > 0; i++) await sleep(20)
  t.deepEqual(b.peers, [], 'the connection is gone')
  const bytes = deterministicBytes('fetch-redial', 5000)
  const cid = CID.createV1(raw.code, await sha256.digest(bytes))
  await storeA.put(cid, bytes)
  t.true(Buffer.from(await b.fetchBlock(cid, { timeoutMs: 10_000 })).equals(bytes))
  t.deepEqual(b.peers, [a.peerId])

  // Forgotten: not dialled again.
  await b.disconnect([a.multiaddrs[0]])
  const other = deterministicBytes('fetch-forgotten', 5000)
  const otherCid = CID.createV1(raw.code, await sha256.digest(other))
  await storeA.put(otherCid, other)
  await t.throwsAsync(b.fetchBlock(otherCid, { timeoutMs: 1_000 }), { code: 'ERR_BLOCK_UNAVAILABLE' })
})

test('fetchDag needs a blockstore with put, refuses codecs it cannot walk, and honours its signal', async (t) => {
  t.timeout(30_000)
  const full = new MemoryBlockstore()
  const readOnly = await node(t, { get: full.get.bind(full), has: full.has.bind(full) })
  const root = CID.createV1(raw.code, await sha256.digest(new Uint8Array(10)))
  await t.throwsAsync(readOnly.fetchDag(root), { code: 'ERR_BLOCKSTORE_READ_ONLY' })

  const writable = await node(t, full)
  const cbor = CID.createV1(0x71, root.multihash)
  await t.throwsAsync(writable.fetchDag(cbor), { code: 'ERR_UNSUPPORTED_CODEC' })
  const controller = new AbortController()
  controller.abort(new Error('stopped'))
  await t.throwsAsync(writable.fetchDag(root, { signal: controller.signal }), { message: 'stopped' })
  const late = new AbortController()
  const fetching = writable.fetchDag(root, { signal: late.signal })
  setTimeout(() => { late.abort(new Error('stopped later')) }, 200)
  await t.throwsAsync(fetching, { message: 'stopped later' })
  t.is([...full.getAll()].length, 0, 'nothing stored')
})
