/**
 * CachedBlockstore: the in-memory LRU by default, and Redis (through @keyv/redis) shared by several
 * gateway processes; Redis going away never breaks reads.
 */
import { createConnection } from 'node:net'
import { whenServices } from './helpers/services.js'
import test from 'ava'
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { CachedBlockstore, KeyvBlockCache, MemoryBlockCache, redisBlockCache } from '../src/blockstores/cached.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { collectBytes } from '../src/content/bytes.js'
import { createGateway } from '../src/gateway.js'
import { nodeHost } from './helpers/hosts.js'
import { deterministicBytes, s3Client } from './helpers/s3.js'

const REDIS_URL = 'redis://127.0.0.1:6379'

async function redisReachable (): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = createConnection({ host: '127.0.0.1', port: 6379 })
    socket.setTimeout(1000)
    socket.once('connect', () => { socket.write('PING\r\n') })
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')) })
    socket.once('error', () => { resolve(false) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
  })
}
const redis = await redisReachable()

async function block (seed: string, size = 1000): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = new Uint8Array(deterministicBytes(seed, size))
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

const read = async (store: CachedBlockstore, cid: CID): Promise<Uint8Array> => await collectBytes(store.get(cid))

test('memory cache: misses then hits, metrics count them, the byte budget evicts least recently used', async t => {
  const inner = new MemoryBlockstore()
  const cache = new MemoryBlockCache({ maxBytes: 2500 })
  const store = new CachedBlockstore(inner, { cache })
  const blocks = await Promise.all(['a', 'b', 'c'].map(async s => await block(s)))
  for (const b of blocks) await store.put(b.cid, b.bytes)
  t.deepEqual(await read(store, blocks[0].cid), blocks[0].bytes)
  t.deepEqual(await read(store, blocks[0].cid), blocks[0].bytes)
  t.like(store.metrics, { hits: 1, misses: 1, hitBytes: 1000, missBytes: 1000 })
  await read(store, blocks[1].cid)
  await read(store, blocks[0].cid) // a is now the most recent
  await read(store, blocks[2].cid) // 3,000 bytes > 2,500: b goes
  t.deepEqual(cache.size, { entries: 2, bytes: 2000 })
  const before = store.metrics.misses
  await read(store, blocks[0].cid)
  t.is(store.metrics.misses, before)
  await read(store, blocks[1].cid)
  t.is(store.metrics.misses, before + 1)
  await store.delete(blocks[1].cid)
  t.false(await store.has(blocks[1].cid))
  t.is(await cache.get(blocks[1].cid.toString()), undefined)
})

test('a gateway over a CachedBlockstore serves byte-identical objects and passes GC capabilities through', async t => {
  const store = new CachedBlockstore(new MemoryBlockstore())
  const gateway = createGateway({ blockstore: store })
  const host = await nodeHost.start(gateway, '')
  const s3 = s3Client(host.url)
  t.teardown(async () => { s3.destroy(); await host.close(); await gateway.close() })
  await s3.send(new CreateBucketCommand({ Bucket: 'cached' }))
  const body = deterministicBytes('cached-object', 3 * 1024 * 1024 + 1)
  await s3.send(new PutObjectCommand({ Bucket: 'cached', Key: 'k', Body: body }))
  for (let i = 0; i < 2; i++) {
    const got = await s3.send(new GetObjectCommand({ Bucket: 'cached', Key: 'k' }))
    t.true(Buffer.from(await got.Body!.transformToByteArray()).equals(body))
  }
  t.true(store.metrics.hits >= 4) // the second read is served from the cache
  t.is(typeof (store as unknown as { listBlocks?: unknown }).listBlocks, 'function')
  const report = await gateway.gc({ gracePeriodMs: 0 })
  t.is(report.blocks?.deleted, 0)
})

whenServices('Redis block cache', redis ? undefined : `Redis is not reachable at ${REDIS_URL}`, () => {
  test('Redis cache: shared by two gateway processes\' stores, hits verified against the CID', async t => {
    const namespace = `s3ipfs-test-${process.pid}-${Date.now()}`
    const cacheA = await redisBlockCache(REDIS_URL, { namespace })
    const cacheB = await redisBlockCache(REDIS_URL, { namespace })
    t.teardown(async () => { await cacheA.close(); await cacheB.close() })
    const inner = new MemoryBlockstore()
    const a = new CachedBlockstore(inner, { cache: cacheA })
    const b = new CachedBlockstore(inner, { cache: cacheB })
    const one = await block('redis-one', 300_000)
    await a.put(one.cid, one.bytes)
    t.deepEqual(await read(a, one.cid), one.bytes) // miss, stored in Redis
    // The read does not wait for the cache's write: wait for it here (on a loaded machine it takes a while).
    for (let i = 0; i < 200 && await cacheB.get(one.cid.toString()) === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 25))
    t.deepEqual(await read(b, one.cid), one.bytes) // another process: a hit
    t.like(b.metrics, { hits: 1, misses: 0 })

    // A corrupted entry is detected, dropped and read from the blockstore.
    const two = await block('redis-two')
    await a.put(two.cid, two.bytes)
    await cacheA.set(two.cid.toString(), new Uint8Array(1000))
    t.deepEqual(await read(b, two.cid), two.bytes)
    t.like(b.metrics, { corrupt: 1 })
    t.deepEqual(await read(b, two.cid), two.bytes)
    t.is(b.metrics.hits, 2)
  })
})

test('Redis down: reads are served from the blockstore, and the outage is logged once', async t => {
  const warnings: string[] = []
  // Nothing listens on port 1: every cache call fails (or times out) and counts as a miss.
  const cache = await redisBlockCache('redis://127.0.0.1:1', { timeoutMs: 100, logger: { warn: (_details, m) => { warnings.push(m ?? '') } } })
  t.teardown(async () => { await cache.close() })
  t.true(cache instanceof KeyvBlockCache)
  const store = new CachedBlockstore(new MemoryBlockstore(), { cache })
  const blocks = await Promise.all(['x', 'y', 'z'].map(async s => await block(`down-${s}`)))
  for (const b of blocks) {
    await store.put(b.cid, b.bytes)
    t.deepEqual(await read(store, b.cid), b.bytes)
    t.deepEqual(await read(store, b.cid), b.bytes)
  }
  t.is(store.metrics.hits, 0)
  t.is(warnings.filter(w => w.includes('unavailable')).length, 1)
})
