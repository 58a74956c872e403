import { randomBytes } from 'node:crypto'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { Blockstore } from 'interface-blockstore'

/**
 * The contract every Blockstore of ours keeps (interface-blockstore 7 plus our choices):
 * - get/getMany of a missing block throws an error named NotFoundError; has says false; delete is a no-op.
 * - put of a block already present is a no-op that resolves with the CID.
 * - blocks are keyed by multihash (as Kubo): getAll yields CIDv1 raw CIDs.
 * - an already-aborted signal makes every method throw an error named AbortError before any I/O.
 */
export interface BlockstoreFixture {
  store: Blockstore
  teardown?: () => Promise<void>
}

export type BlockstoreFactory = () => BlockstoreFixture | Promise<BlockstoreFixture>

const DAG_PB = 0x70

export async function makeBlock (size = 1024): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = randomBytes(size)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes: new Uint8Array(bytes) }
}

export async function bytesOf (chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const chunk of chunks) parts.push(chunk)
  return Buffer.concat(parts)
}

async function collect<T> (source: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

function aborted (): AbortSignal {
  const controller = new AbortController()
  controller.abort()
  return controller.signal
}

export function blockstoreSuite (name: string, factory: BlockstoreFactory): void {
  const withStore = (title: string, fn: (t: ExecutionContext, store: Blockstore) => Promise<void>): void => {
    test(`${name}: ${title}`, async t => {
      const fixture = await factory()
      try {
        await fn(t, fixture.store)
      } finally {
        await fixture.teardown?.()
      }
    })
  }

  withStore('put then get and has', async (t, store) => {
    const { cid, bytes } = await makeBlock()
    t.false(await store.has(cid))
    t.true((await store.put(cid, bytes)).equals(cid))
    t.true(await store.has(cid))
    t.deepEqual(await bytesOf(store.get(cid)), Buffer.from(bytes))
  })

  withStore('put accepts iterables and async iterables of chunks', async (t, store) => {
    const a = await makeBlock(3000)
    const b = await makeBlock(3000)
    await store.put(a.cid, [a.bytes.subarray(0, 1000), a.bytes.subarray(1000)])
    await store.put(b.cid, (async function * () { yield b.bytes.subarray(0, 7); yield b.bytes.subarray(7) })())
    t.deepEqual(await bytesOf(store.get(a.cid)), Buffer.from(a.bytes))
    t.deepEqual(await bytesOf(store.get(b.cid)), Buffer.from(b.bytes))
  })

  withStore('an empty block round-trips', async (t, store) => {
    const { cid, bytes } = await makeBlock(0)
    await store.put(cid, bytes)
    t.true(await store.has(cid))
    t.is((await bytesOf(store.get(cid))).length, 0)
  })

  withStore('get of a missing block throws NotFoundError', async (t, store) => {
    const { cid } = await makeBlock()
    const err = await t.throwsAsync(async () => bytesOf(store.get(cid)))
    t.is(err?.name, 'NotFoundError')
  })

  withStore('put of an existing block is an idempotent no-op', async (t, store) => {
    const { cid, bytes } = await makeBlock()
    await store.put(cid, bytes)
    t.true((await store.put(cid, bytes)).equals(cid))
    await Promise.all([store.put(cid, bytes), store.put(cid, bytes)])
    t.deepEqual(await bytesOf(store.get(cid)), Buffer.from(bytes))
    t.is((await collect(store.getAll())).length, 1)
  })

  withStore('concurrent puts of a new block all succeed', async (t, store) => {
    const { cid, bytes } = await makeBlock(100_000)
    await Promise.all(Array.from({ length: 8 }, async () => store.put(cid, bytes)))
    t.deepEqual(await bytesOf(store.get(cid)), Buffer.from(bytes))
  })

  withStore('blocks are keyed by multihash', async (t, store) => {
    const { cid, bytes } = await makeBlock()
    await store.put(cid, bytes)
    const asDagPb = CID.createV1(DAG_PB, cid.multihash)
    t.true(await store.has(asDagPb))
    t.deepEqual(await bytesOf(store.get(asDagPb)), Buffer.from(bytes))
  })

  withStore('delete removes a block; deleting a missing block is a no-op', async (t, store) => {
    const { cid, bytes } = await makeBlock()
    await store.put(cid, bytes)
    await store.delete(cid)
    t.false(await store.has(cid))
    const err = await t.throwsAsync(async () => bytesOf(store.get(cid)))
    t.is(err?.name, 'NotFoundError')
    await t.notThrowsAsync(async () => { await store.delete(cid) })
  })

  withStore('putMany, getMany, deleteMany keep order', async (t, store) => {
    const blocks = await Promise.all(Array.from({ length: 10 }, async (_, i) => makeBlock(100 + i)))
    const put = await collect(store.putMany((async function * () { yield * blocks })()))
    t.deepEqual(put.map(String), blocks.map(b => String(b.cid)))
    const got = await collect(store.getMany(blocks.map(b => b.cid)))
    t.deepEqual(got.map(p => String(p.cid)), blocks.map(b => String(b.cid)))
    for (let i = 0; i < blocks.length; i++) t.deepEqual(await bytesOf(got[i].bytes), Buffer.from(blocks[i].bytes))
    const deleted = await collect(store.deleteMany(blocks.slice(0, 5).map(b => b.cid)))
    t.is(deleted.length, 5)
    for (const [i, b] of blocks.entries()) t.is(await store.has(b.cid), i >= 5)
  })

  withStore('getMany of a missing block throws NotFoundError', async (t, store) => {
    const present = await makeBlock()
    const missing = await makeBlock()
    await store.put(present.cid, present.bytes)
    const err = await t.throwsAsync(async () => {
      for await (const pair of store.getMany([present.cid, missing.cid])) await bytesOf(pair.bytes)
    })
    t.is(err?.name, 'NotFoundError')
  })

  withStore('getAll yields every block once, as CIDv1 raw', async (t, store) => {
    const blocks = await Promise.all(Array.from({ length: 20 }, async () => makeBlock(64)))
    for (const b of blocks) await store.put(b.cid, b.bytes)
    await store.put(CID.createV1(DAG_PB, blocks[0].cid.multihash), blocks[0].bytes)
    const all = await collect(store.getAll())
    t.is(all.length, blocks.length)
    const byKey = new Map(blocks.map(b => [b.cid.toString(), b.bytes]))
    for (const pair of all) {
      t.is(pair.cid.version, 1)
      t.is(pair.cid.code, raw.code)
      t.deepEqual(await bytesOf(pair.bytes), Buffer.from(byKey.get(pair.cid.toString()) ?? []))
    }
  })

  withStore('an aborted signal stops every method before it acts', async (t, store) => {
    const { cid, bytes } = await makeBlock()
    const other = await makeBlock()
    await store.put(other.cid, other.bytes)
    const signal = aborted()
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['put', async () => store.put(cid, bytes, { signal })],
      ['get', async () => bytesOf(store.get(other.cid, { signal }))],
      ['has', async () => store.has(other.cid, { signal })],
      ['delete', async () => store.delete(other.cid, { signal })],
      ['putMany', async () => collect(store.putMany([{ cid, bytes }], { signal }))],
      ['getMany', async () => collect(store.getMany([other.cid], { signal }))],
      ['deleteMany', async () => collect(store.deleteMany([other.cid], { signal }))],
      ['getAll', async () => collect(store.getAll({ signal }))],
    ]
    for (const [method, call] of calls) {
      const err = await t.throwsAsync(call, { any: true }, method)
      t.is((err as Error | undefined)?.name, 'AbortError', method)
    }
    t.false(await store.has(cid), 'aborted put stored nothing')
    t.true(await store.has(other.cid), 'aborted delete removed nothing')
  })
}
