import { createCipheriv, createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { NotFoundError } from 'interface-store'
import { writeS3Response } from '../adapters/node-io.js'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { ContentStore } from '../src/content/content-store.js'
import { RELEASE_CHUNKS, type ContentChunks, type ReleaseChunk } from '../src/content/export.js'
import { RequestObserver } from '../src/observability/request-observer.js'
import type { AddressInfo } from 'node:net'

const MiB = 1024 * 1024

function deterministic (seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest()
  return createCipheriv('chacha20', key, Buffer.alloc(16)).update(Buffer.alloc(n))
}

async function withStore (t: { teardown: (fn: () => Promise<void>) => void }, readAhead = 4): Promise<{ store: ContentStore, blockstore: FsBlockstore }> {
  const dir = await mkdtemp(join(tmpdir(), 's3-ipfs-pool-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const blockstore = new FsBlockstore({ path: dir })
  return { store: new ContentStore({ blockstore, readAhead }), blockstore }
}

function leased (chunks: AsyncGenerator<Uint8Array>): { chunks: ContentChunks, release: ReleaseChunk } {
  const c = chunks as ContentChunks
  return { chunks: c, release: c[RELEASE_CHUNKS]() }
}

test('cat with released chunks: a slow consumer sees every byte as written, and buffers are reused', async t => {
  const { store } = await withStore(t)
  const bytes = deterministic('pool-slow', 12 * MiB + 12345)
  const { cid } = await store.add([bytes])
  const { chunks, release } = leased(store.cat(cid))
  const buffers = new Set<ArrayBufferLike>()
  const held: Array<{ chunk: Uint8Array, at: number }> = []
  let position = 0
  let count = 0
  for await (const chunk of chunks) {
    buffers.add(chunk.buffer)
    count++
    held.push({ chunk, at: position })
    position += chunk.byteLength
    // Hold two chunks while later blocks are read ahead; check each just before releasing it.
    while (held.length > 2) {
      await sleep(5)
      const { chunk: old, at } = held.shift()!
      t.true(Buffer.from(old).equals(bytes.subarray(at, at + old.byteLength)), `chunk at ${at} changed before release`)
      release(old)
    }
  }
  for (const { chunk, at } of held) t.true(Buffer.from(chunk).equals(bytes.subarray(at, at + chunk.byteLength)))
  t.is(position, bytes.byteLength)
  t.true(buffers.size < count, 'released buffers were reused')
})

test('cat with released chunks: chunks held and never released never change', async t => {
  const { store } = await withStore(t)
  const bytes = deterministic('pool-hold', 9 * MiB + 7)
  const { cid } = await store.add([bytes])
  const { chunks, release } = leased(store.cat(cid))
  const all: Uint8Array[] = []
  let n = 0
  for await (const chunk of chunks) {
    all.push(chunk)
    // Releasing an unknown view, or the same chunk twice, must not return a buffer that is in use.
    release(chunk.subarray(0, 1))
    if (n++ % 2 === 0) {
      release(new Uint8Array(4))
    }
  }
  t.true(Buffer.concat(all).equals(bytes))
  t.is(new Set(all.map(c => c.buffer)).size, all.length)
})

test('cat with released chunks: double release does not free a buffer twice', async t => {
  const { store } = await withStore(t, 1)
  const bytes = deterministic('pool-double', 8 * MiB + 99)
  const { cid } = await store.add([bytes])
  const { chunks, release } = leased(store.cat(cid))
  const held: Array<{ chunk: Uint8Array, at: number }> = []
  let position = 0
  for await (const chunk of chunks) {
    if (position === 0) {
      release(chunk)
      release(chunk) // a no-op: the buffer is free once, so at most one later chunk may reuse it
    } else {
      held.push({ chunk, at: position })
    }
    position += chunk.byteLength
  }
  t.is(position, bytes.byteLength)
  t.is(new Set(held.map(h => h.chunk.buffer)).size, held.length)
  for (const { chunk, at } of held) t.true(Buffer.from(chunk).equals(bytes.subarray(at, at + chunk.byteLength)), `chunk at ${at}`)
})

test('cat with released chunks: ranged reads across blocks, released late', async t => {
  const { store } = await withStore(t, 2)
  const bytes = deterministic('pool-range', 10 * MiB + 500)
  const { cid } = await store.add([bytes])
  for (const [offset, length] of [[0, 1], [MiB - 3, 7], [MiB + 17, 5 * MiB + 3], [3 * MiB, 2 * MiB], [10 * MiB, 500], [123, 10 * MiB + 377]]) {
    const { chunks, release } = leased(store.cat(cid, { offset, length }))
    const held: Array<{ chunk: Uint8Array, at: number }> = []
    let position = offset
    for await (const chunk of chunks) {
      held.push({ chunk, at: position })
      position += chunk.byteLength
      if (held.length > 1) {
        const { chunk: old, at } = held.shift()!
        await sleep(1)
        t.true(Buffer.from(old).equals(bytes.subarray(at, at + old.byteLength)), `range ${offset}+${length} at ${at}`)
        release(old)
      }
    }
    for (const { chunk, at } of held) t.true(Buffer.from(chunk).equals(bytes.subarray(at, at + chunk.byteLength)))
    t.is(position, offset + length)
  }
})

test('cat with released chunks: a block file longer than its link still fails as corrupt', async t => {
  const { store, blockstore } = await withStore(t)
  const bytes = deterministic('pool-corrupt', 3 * MiB)
  const { cid } = await store.add([bytes])
  // Append a byte to the second leaf's file (leaves are 1 MiB raw blocks).
  const leaf = CID.createV1(raw.code, await sha256.digest(bytes.subarray(MiB, 2 * MiB)))
  const name = base32.baseEncode(leaf.multihash.bytes)
  await writeFile(join(blockstore.path, name.slice(-3, -1), name + '.data'), Buffer.concat([bytes.subarray(MiB, 2 * MiB), Buffer.from([1])]))
  const { chunks, release } = leased(store.cat(cid))
  await t.throwsAsync(async () => {
    for await (const chunk of chunks) release(chunk)
  }, { name: 'CorruptContentError' })
})

test('cat with released chunks: blockstores without readInto work unchanged', async t => {
  const store = new ContentStore({ blockstore: new MemoryBlockstore() })
  const bytes = deterministic('pool-memory', 3 * MiB + 1)
  const { cid } = await store.add([bytes])
  const { chunks, release } = leased(store.cat(cid))
  const all: Uint8Array[] = []
  for await (const chunk of chunks) {
    all.push(chunk)
    release(chunk)
  }
  t.true(Buffer.concat(all).equals(bytes))
})

test('FsBlockstore.readInto reads a block into the given buffer', async t => {
  const { blockstore } = await withStore(t)
  const block = deterministic('read-into', 5000)
  const cid = CID.createV1(raw.code, await sha256.digest(block))
  await blockstore.put(cid, block)
  const buffer = new Uint8Array(8000)
  const got = await blockstore.readInto(cid, buffer, 5000)
  t.is(got.buffer, buffer.buffer)
  t.true(Buffer.from(got).equals(block))
  t.is((await blockstore.readInto(cid, new Uint8Array(100))).byteLength, 100)
  const missing = CID.createV1(raw.code, await sha256.digest(new Uint8Array([1])))
  await t.throwsAsync(blockstore.readInto(missing, buffer), { instanceOf: NotFoundError })
})

test('HTTP GET through writeS3Response with pooled buffers: a slow client gets the exact bytes', async t => {
  const { store } = await withStore(t)
  const bytes = deterministic('pool-http', 16 * MiB + 4321)
  const { cid } = await store.add([bytes])
  const server = createServer((req, res) => {
    const range = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '')
    const offset = range === null ? 0 : Number(range[1])
    const length = range === null ? bytes.byteLength : Number(range[2]) - offset + 1
    void writeS3Response(res, { status: 200, headers: { 'content-length': String(length) }, body: store.cat(cid, { offset, length }) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const { port } = server.address() as AddressInfo
  const get = async (range?: string): Promise<Buffer> => await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/', headers: range === undefined ? {} : { range } }, res => {
      const parts: Buffer[] = []
      let n = 0
      res.on('data', (d: Buffer) => {
        parts.push(d)
        // Stall now and then so the server fills the socket and waits for 'drain'.
        if (++n % 8 === 0) {
          res.pause()
          setTimeout(() => res.resume(), 2)
        }
      })
      res.on('end', () => { resolve(Buffer.concat(parts)) })
      res.on('error', reject)
    }).on('error', reject).end()
  })
  t.true((await get()).equals(bytes))
  t.true((await get(`bytes=${MiB + 5}-${9 * MiB + 2}`)).equals(bytes.subarray(MiB + 5, 9 * MiB + 3)))
})

test('a response body observed by the request observer keeps its opt-in to pooled buffers', async t => {
  const { store } = await withStore(t)
  const bytes = deterministic('pool-observed', 20 * MiB + 7)
  const { cid } = await store.add([bytes])
  const lines: unknown[] = []
  const logger = { info: (o: unknown) => { lines.push(o) }, warn: () => {}, error: () => {}, isLevelEnabled: () => true }
  const observer = new RequestObserver({ logger: logger as never, now: () => new Date() })
  const exchange = observer.begin({ method: 'GET', path: '/b/k', basePath: '', query: '', headers: {}, body: (async function * () {})() }, 'id')
  const answer = observer.answered(exchange, { status: 200, headers: {}, body: store.cat(cid) })
  const { chunks, release } = leased(answer.body as AsyncGenerator<Uint8Array>)
  const buffers = new Set<ArrayBufferLike>()
  const all: Buffer[] = []
  for await (const chunk of chunks) {
    buffers.add(chunk.buffer)
    all.push(Buffer.from(chunk))
    release(chunk)
  }
  t.true(Buffer.concat(all).equals(bytes))
  t.true(buffers.size <= 9, `blocks were read into reused buffers (${buffers.size} buffers for 21 blocks)`)
  t.is(lines.length, 1, 'the request ended once, after its last chunk')
})
