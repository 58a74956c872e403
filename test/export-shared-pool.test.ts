import { createCipheriv, createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { ContentStore } from '../src/content/content-store.js'
import { pooledBlockBuffers, primeChunks, RELEASE_CHUNKS, type ContentChunks } from '../src/content/export.js'

// One file of its own, every test serial: the pool is the process's, and counts of its free
// buffers mean something only while no other export runs.

const MiB = 1024 * 1024

function deterministic (seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest()
  return createCipheriv('chacha20', key, Buffer.alloc(16)).update(Buffer.alloc(n))
}

async function withStore (t: ExecutionContext): Promise<ContentStore> {
  const dir = await mkdtemp(join(tmpdir(), 's3-ipfs-shared-pool-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return new ContentStore({ blockstore: new FsBlockstore({ path: dir }) })
}

/** Reads the whole content, releasing each chunk once it has been checked; the buffers it came in. */
async function readReleasing (t: ExecutionContext, store: ContentStore, cid: Parameters<ContentStore['cat']>[0], bytes: Buffer, primed = false): Promise<Set<ArrayBufferLike>> {
  // Primed, as a GET is: the first block (and those read ahead with it) read before the opt-in.
  const chunks = primed ? await primeChunks(store.cat(cid) as ContentChunks) : store.cat(cid) as ContentChunks
  const release = chunks[RELEASE_CHUNKS]()
  const buffers = new Set<ArrayBufferLike>()
  let at = 0
  for await (const chunk of chunks) {
    t.true(Buffer.from(chunk).equals(bytes.subarray(at, at + chunk.byteLength)), `bytes at ${at}`)
    at += chunk.byteLength
    buffers.add(chunk.buffer)
    release(chunk)
  }
  t.is(at, bytes.byteLength)
  return buffers
}

/** An export started (its first blocks read) and left running, as a slow GET is. */
async function running (t: ExecutionContext, store: ContentStore): Promise<ContentChunks> {
  const { cid } = await store.add([deterministic('shared-holder', 6 * MiB)])
  const holder = await primeChunks(store.cat(cid) as ContentChunks)
  t.teardown(async () => { await holder.return(undefined) })
  return holder
}

test.serial('an export reads into buffers another export released', async t => {
  const store = await withStore(t)
  const first = deterministic('shared-first', 12 * MiB)
  const second = deterministic('shared-second', 6 * MiB + 5)
  const a = await store.add([first])
  const b = await store.add([second])
  const holder = await running(t, store)
  const used = await readReleasing(t, store, a.cid, first)
  const reused = await readReleasing(t, store, b.cid, second)
  t.true([...reused].every(buffer => used.has(buffer)), 'the second export allocated no buffer of its own')
  await holder.return(undefined)
})

test.serial('blocks read before the consumer takes the release function come from the pool too', async t => {
  const store = await withStore(t)
  const first = deterministic('shared-primed-1', 9 * MiB)
  const second = deterministic('shared-primed-2', 7 * MiB)
  const a = await store.add([first])
  const b = await store.add([second])
  const holder = await running(t, store)
  const used = await readReleasing(t, store, a.cid, first, true)
  const reused = await readReleasing(t, store, b.cid, second, true)
  t.true([...reused].every(buffer => used.has(buffer)), 'the second export allocated no buffer of its own')
  await holder.return(undefined)
})

test.serial('while exports run the pool keeps at most its limit, and once none runs, nothing', async t => {
  const store = await withStore(t)
  const contents = Array.from({ length: 8 }, (_, i) => deterministic(`shared-many-${i}`, 5 * MiB + i))
  const cids = await Promise.all(contents.map(async c => (await store.add([c])).cid))
  const holder = await running(t, store)
  const buffers = await Promise.all(cids.map(async (cid, i) => await readReleasing(t, store, cid, contents[i])))
  const { free, max } = pooledBlockBuffers()
  t.is(free, max, 'full, and no fuller')
  t.true(new Set(buffers.flatMap(b => [...b])).size > max, 'more buffers were in use at once than the pool keeps')
  await holder.return(undefined)
  t.is(pooledBlockBuffers().free, 0, 'let go with the last export')
})

test.serial('buffers read ahead for a consumer that stops early go back to the pool', async t => {
  const store = await withStore(t)
  const bytes = deterministic('shared-early', 10 * MiB)
  const { cid } = await store.add([bytes])
  const holder = await running(t, store)
  t.is(pooledBlockBuffers().free, 0)
  const chunks = store.cat(cid) as ContentChunks
  const release = chunks[RELEASE_CHUNKS]()
  for await (const chunk of chunks) {
    release(chunk)
    break // four blocks were being read ahead
  }
  for (let i = 0; i < 100 && pooledBlockBuffers().free < 5; i++) await new Promise(resolve => setTimeout(resolve, 10))
  t.is(pooledBlockBuffers().free, 5, 'the chunk released and the four read ahead')
  await holder.return(undefined)
})
