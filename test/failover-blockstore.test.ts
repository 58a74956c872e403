/**
 * FailoverBlockstore: read repair of an FsBlockstore from a replica reached over bitswap (a real
 * second IpfsNode), and the blockstore contract of the wrapper itself.
 */
import { once } from 'node:events'
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { createServer } from '../adapters/node.js'
import { blockMatches, FailoverBlockstore, type MissEvent, type RepairEvent } from '../src/blockstores/failover.js'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { collectBytes } from '../src/content/bytes.js'
import { ContentStore } from '../src/content/content-store.js'
import { RELEASE_CHUNKS } from '../src/content/export.js'
import { isSweepable } from '../src/content/gc.js'
import { isPinner } from '../src/content/pins.js'
import type { CidProfileName } from '../src/content/profiles.js'
import { createGateway } from '../src/gateway.js'
import { startIpfsNode } from '../src/helia/index.js'
import { tempDir } from './helpers/child.js'
import { deterministicBytes, s3Client } from './helpers/s3.js'
import { ageFiles, blockstoreSuite, sweepSuite } from './compliance/blockstore.suite.js'

const MIB = 1024 * 1024
const LOOPBACK_ANY_PORT = '/ip4/127.0.0.1/tcp/0'

/** fetchBlock for a store with no replica at all. */
const nowhere = async (cid: CID): Promise<Uint8Array> => {
  throw Object.assign(new Error(`no replica has ${cid}`), { code: 'ERR_BLOCK_UNAVAILABLE' })
}

const tmpStore = async (): Promise<{ path: string, teardown: () => Promise<void> }> => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-failover-'))
  return { path: join(dir, 'blocks'), teardown: async () => { await rm(dir, { recursive: true, force: true }) } }
}

blockstoreSuite('FailoverBlockstore over MemoryBlockstore', () => ({ store: new FailoverBlockstore(new MemoryBlockstore(), { fetchBlock: nowhere }) }))
blockstoreSuite('FailoverBlockstore over FsBlockstore', async () => {
  const { path, teardown } = await tmpStore()
  return { store: new FailoverBlockstore(new FsBlockstore({ path }), { fetchBlock: nowhere }), teardown }
})
sweepSuite('FailoverBlockstore over FsBlockstore', async () => {
  const { path, teardown } = await tmpStore()
  const store = new FailoverBlockstore(new FsBlockstore({ path }), { fetchBlock: nowhere })
  if (!isSweepable(store)) throw new Error('listBlocks / deleteIfOlder not passed through')
  return { store, now: Date.now, advance: async ms => { await ageFiles(path, ms) }, teardown }
})

interface Replicated {
  /** The replica's blocks (another node's store). */
  origin: MemoryBlockstore
  /** The local store, under `store`. */
  fs: FsBlockstore
  store: FailoverBlockstore
  repairs: RepairEvent[]
  misses: MissEvent[]
  /** How many times `fetchBlock` was called. */
  fetches: () => number
}

/** A local FsBlockstore behind a FailoverBlockstore whose fetchBlock asks a node connected to a replica node. */
async function replicated (t: ExecutionContext, options: { verify?: boolean, timeoutMs?: number } = {}): Promise<Replicated> {
  const origin = new MemoryBlockstore()
  const fs = new FsBlockstore({ path: await tempDir(t, 's3ipfs-failover-') })
  const replica = await startIpfsNode({ blockstore: origin, listen: [LOOPBACK_ANY_PORT] })
  const local = await startIpfsNode({ blockstore: fs, listen: [LOOPBACK_ANY_PORT] })
  t.teardown(async () => { await Promise.all([replica.stop(), local.stop()]) })
  t.deepEqual((await local.connect(replica.multiaddrs)).failed, [])
  const repairs: RepairEvent[] = []
  const misses: MissEvent[] = []
  let fetches = 0
  const store = new FailoverBlockstore(fs, {
    fetchBlock: async (cid) => { fetches++; return await local.fetchBlock(cid, { timeoutMs: options.timeoutMs ?? 15_000 }) },
    verify: options.verify,
    onRepair: event => { repairs.push(event) },
    onMiss: event => { misses.push(event) },
  })
  return { origin, fs, store, repairs, misses, fetches: () => fetches }
}

async function block (seed: string, size = 100_000): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = new Uint8Array(deterministicBytes(seed, size))
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

/** Where FsBlockstore keeps a block (its documented layout). */
function blockFile (fs: FsBlockstore, cid: CID): string {
  const name = base32.baseEncode(cid.multihash.bytes)
  return join(fs.path, name.slice(-3, -1), `${name}.data`)
}

async function flipByte (file: string, at = 100): Promise<void> {
  const bytes = await readFile(file)
  bytes[at] ^= 0xff
  await writeFile(file, bytes)
}

const read = async (store: FailoverBlockstore, cid: CID): Promise<Buffer> => Buffer.from(await collectBytes(store.get(cid)))

test('a deleted block file is fetched from a replica, served, written back and reported', async (t) => {
  t.timeout(30_000)
  const { origin, fs, store, repairs, misses } = await replicated(t)
  const { cid, bytes } = await block('failover-missing')
  await origin.put(cid, bytes)
  await fs.put(cid, bytes)
  await unlink(blockFile(fs, cid))

  t.true((await read(store, cid)).equals(bytes))
  t.true((await readFile(blockFile(fs, cid))).equals(bytes), 'the file is back')
  t.deepEqual(repairs, [{ cid, reason: 'missing', bytes: bytes.byteLength }])
  t.deepEqual(misses, [])
  t.true((await read(store, cid)).equals(bytes))
  t.is(repairs.length, 1, 'a repaired block is read locally')
})

test('a block file with one flipped byte is detected, replaced and reported; verify: false serves it as is', async (t) => {
  t.timeout(30_000)
  const { origin, fs, store, repairs } = await replicated(t)
  const { cid, bytes } = await block('failover-corrupt')
  await origin.put(cid, bytes)
  await fs.put(cid, bytes)
  await flipByte(blockFile(fs, cid))

  const trusting = new FailoverBlockstore(fs, { fetchBlock: nowhere, verify: false })
  t.false((await read(trusting, cid)).equals(bytes), 'not verified: the corrupt bytes')
  t.true((await read(store, cid)).equals(bytes))
  t.true((await readFile(blockFile(fs, cid))).equals(bytes), 'the file is replaced')
  t.deepEqual(repairs, [{ cid, reason: 'corrupt', bytes: bytes.byteLength }])
})

test('with no replica holding the block: the store\'s NotFoundError, or a BlockMismatchError with code ERR_BLOCK_CORRUPT', async (t) => {
  t.timeout(30_000)
  // Nobody has these blocks: a short fetch timeout (elsewhere a long one, for a loaded machine).
  const { fs, store, repairs, misses } = await replicated(t, { timeoutMs: 1_500 })
  const missing = await block('failover-only-here-1')
  await fs.put(missing.cid, missing.bytes)
  await unlink(blockFile(fs, missing.cid))
  const notFound = await t.throwsAsync(read(store, missing.cid))
  t.is(notFound?.name, 'NotFoundError')

  const corrupt = await block('failover-only-here-2')
  await fs.put(corrupt.cid, corrupt.bytes)
  await flipByte(blockFile(fs, corrupt.cid))
  const mismatch = await t.throwsAsync(read(store, corrupt.cid), { name: 'BlockMismatchError', code: 'ERR_BLOCK_CORRUPT' } as never)
  t.is((mismatch?.cause as { code?: string } | undefined)?.code, 'ERR_BLOCK_UNAVAILABLE')
  t.false((await readFile(blockFile(fs, corrupt.cid))).equals(corrupt.bytes), 'left as it was')

  t.deepEqual(repairs, [])
  t.deepEqual(misses.map(m => [m.cid.toString(), m.reason, (m.error as { code?: string }).code]), [
    [missing.cid.toString(), 'missing', 'ERR_BLOCK_UNAVAILABLE'],
    [corrupt.cid.toString(), 'corrupt', 'ERR_BLOCK_UNAVAILABLE'],
  ])
})

test('concurrent reads of one missing block share one fetch and one write', async (t) => {
  t.timeout(30_000)
  const { origin, fs, store, repairs, fetches } = await replicated(t)
  const { cid, bytes } = await block('failover-shared')
  await origin.put(cid, bytes)
  const reads = await Promise.all(Array.from({ length: 8 }, async () => await read(store, cid)))
  for (const got of reads) t.true(got.equals(bytes))
  t.is(fetches(), 1)
  t.is(repairs.length, 1)
  t.true(await fs.has(cid))
})

/** `bytes` imported on the replica and locally; `blocks`: the object's blocks, as listBlocks names them. */
async function addBoth (t: ExecutionContext, r: Replicated, bytes: Uint8Array, profile: CidProfileName): Promise<{ cid: CID, blocks: CID[] }> {
  const before = new Set((await collect(r.fs.listBlocks())).map(b => b.cid.toString()))
  const { cid } = await new ContentStore({ blockstore: r.origin, profile }).add([bytes])
  t.true(cid.equals((await new ContentStore({ blockstore: r.fs, profile }).add([bytes])).cid))
  const blocks = (await collect(r.fs.listBlocks())).map(b => b.cid).filter(c => !before.has(c.toString()))
  return { cid, blocks }
}

async function collect<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

test('ContentStore reads whole objects through a FailoverBlockstore with blocks deleted and corrupted: identical bytes', async (t) => {
  t.timeout(60_000)
  const r = await replicated(t)
  const v0 = deterministicBytes('failover-object-v0', 5 * MIB)
  const object = await addBoth(t, r, v0, 'unixfs-v0-2015')
  t.is(object.blocks.length, 21)
  for (const cid of object.blocks.slice(0, 5)) await unlink(blockFile(r.fs, cid))
  await flipByte(blockFile(r.fs, object.blocks[5]), 5000)

  const content = new ContentStore({ blockstore: r.store })
  t.true(Buffer.concat(await collect(content.cat(object.cid))).equals(v0))
  t.is(r.repairs.length, 6)
  t.deepEqual(r.repairs.map(e => e.reason).sort(), ['corrupt', 'missing', 'missing', 'missing', 'missing', 'missing'])
  for (const cid of object.blocks) t.true(blockMatches(cid, await readFile(blockFile(r.fs, cid))), `${cid} is whole again`)

  // Raw leaves read into pooled buffers (FsBlockstore.readInto, passed through with the same repair).
  const v1 = deterministicBytes('failover-object-v1', 4 * MIB + 3)
  const pooled = await addBoth(t, r, v1, 'unixfs-v1-2025')
  const leaves = pooled.blocks.filter(cid => !cid.multihash.bytes.every((byte, i) => byte === pooled.cid.multihash.bytes[i]))
  await unlink(blockFile(r.fs, leaves[0]))
  await flipByte(blockFile(r.fs, leaves[1]))
  t.is(typeof r.store.readInto, 'function')
  const chunks = content.cat(pooled.cid)
  const release = chunks[RELEASE_CHUNKS]()
  const parts: Buffer[] = []
  for await (const chunk of chunks) {
    parts.push(Buffer.from(chunk)) // a copy: the chunk's buffer goes back to the pool
    release(chunk)
  }
  t.true(Buffer.concat(parts).equals(v1))
  t.is(r.repairs.length, 8)
})

test('a gateway over a FailoverBlockstore answers GetObject with the uploaded bytes after its block files were deleted', async (t) => {
  t.timeout(60_000)
  const r = await replicated(t)
  const gateway = createGateway({ blockstore: r.store })
  const server = createServer(gateway)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const s3 = s3Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  t.teardown(async () => {
    s3.destroy()
    server.closeAllConnections()
    await new Promise(resolve => { server.close(resolve) })
    await gateway.close()
  })
  const body = deterministicBytes('failover-gateway', 3 * MIB + 11)
  await s3.send(new CreateBucketCommand({ Bucket: 'replicated' }))
  await s3.send(new PutObjectCommand({ Bucket: 'replicated', Key: 'k', Body: body }))
  const cid = CID.parse((await s3.send(new HeadObjectCommand({ Bucket: 'replicated', Key: 'k' }))).Metadata?.cid ?? '')
  t.true(cid.equals((await new ContentStore({ blockstore: r.origin }).add([body])).cid), 'the replica holds the same DAG')
  const blocks = await collect(r.fs.listBlocks())
  for (const { cid: lost } of blocks) await unlink(blockFile(r.fs, lost))

  const got = await s3.send(new GetObjectCommand({ Bucket: 'replicated', Key: 'k' }))
  t.true(Buffer.from(await got.Body?.transformToByteArray() ?? []).equals(body))
  t.is(r.repairs.length, blocks.length, 'every block repaired')
})

test('the optional capabilities of the store underneath pass through, and only those', async (t) => {
  const { path, teardown } = await tmpStore()
  t.teardown(teardown)
  const fs = new FsBlockstore({ path })
  const overFs = new FailoverBlockstore(fs, { fetchBlock: nowhere })
  t.is(overFs.inner, fs)
  t.is(overFs.metricsBackend, 'fs')
  t.true(isSweepable(overFs))
  t.false(isPinner(overFs))
  for (const name of ['flush', 'listBlocks', 'deleteIfOlder', 'listStrays', 'deleteStray', 'ping', 'capacity', 'readInto'] as const) {
    t.is(typeof overFs[name], 'function', name)
  }
  await overFs.ping?.()
  t.true(((await overFs.capacity?.())?.totalBytes ?? 0) > 0)
  const { cid, bytes } = await block('failover-flush', 1000)
  await overFs.put(cid, bytes)
  await overFs.flush?.([cid])
  t.true((await stat(blockFile(fs, cid))).isFile())

  const overMemory = new FailoverBlockstore(new MemoryBlockstore(), { fetchBlock: nowhere })
  t.is(overMemory.metricsBackend, 'memory')
  t.is(overMemory.readInto, undefined)
  t.is(overMemory.flush, undefined)
  t.true(isSweepable(overMemory))

  const pins = new Set<string>()
  const pinning = Object.assign(new MemoryBlockstore(), {
    async pin (c: CID) { pins.add(c.toString()) },
    async unpin (c: CID) { pins.delete(c.toString()) },
    async * pinned () { for (const c of pins) yield CID.parse(c) },
  })
  const overPinner = new FailoverBlockstore(pinning, { fetchBlock: nowhere })
  t.true(isPinner(overPinner))
  await overPinner.pin?.(cid)
  t.deepEqual(await collect(overPinner.pinned?.() ?? (async function * () {})()), [cid])
})
