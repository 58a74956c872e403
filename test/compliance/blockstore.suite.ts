import { randomBytes } from 'node:crypto'
import { readdir, stat, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { SweepableBlockstore } from '../../src/content/gc.js'
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

/**
 * The sweep contract collectGarbage relies on (SweepableBlockstore):
 * - listBlocks yields every block once (CIDv1 raw) with its size and the time of its last put;
 *   a put of a present block refreshes that time.
 * - deleteIfOlder deletes only blocks last put before the cutoff, says whether it deleted, and is a
 *   no-op for a missing block.
 * - both honour an aborted signal before any I/O.
 * The fixture's `now()` is the store's clock; `advance(ms)` lets `ms` pass on it (moving the
 * memory store's injected clock, or moving the fs store's file times back).
 */
export interface SweepFixture {
  store: Blockstore & SweepableBlockstore
  now: () => number
  advance: (ms: number) => Promise<void>
  teardown?: () => Promise<void>
}

export function sweepSuite (name: string, factory: () => SweepFixture | Promise<SweepFixture>): void {
  const withStore = (title: string, fn: (t: ExecutionContext, fixture: SweepFixture) => Promise<void>): void => {
    test(`${name}: ${title}`, async t => {
      const fixture = await factory()
      try {
        await fn(t, fixture)
      } finally {
        await fixture.teardown?.()
      }
    })
  }
  const HOUR = 3_600_000

  withStore('listBlocks yields every block once with its size and written time', async (t, { store, now }) => {
    const before = now()
    const blocks = await Promise.all(Array.from({ length: 40 }, async (_, i) => makeBlock(i * 10)))
    for (const b of blocks) await store.put(b.cid, b.bytes)
    const listed = await collect(store.listBlocks())
    t.is(listed.length, blocks.length)
    const sizes = new Map(blocks.map(b => [b.cid.toString(), b.bytes.byteLength]))
    for (const block of listed) {
      t.is(block.cid.version, 1)
      t.is(block.cid.code, raw.code)
      t.is(block.size, sizes.get(block.cid.toString()) ?? -1)
      t.true(block.written >= before - 1000 && block.written <= now() + 1000, `written ${block.written} is about now`)
      sizes.delete(block.cid.toString())
    }
    t.is(sizes.size, 0)
  })

  withStore('listBlocks of an empty store yields nothing', async (t, { store }) => {
    t.deepEqual(await collect(store.listBlocks()), [])
  })

  withStore('a put of a present block refreshes its written time', async (t, { store, now, advance }) => {
    const { cid, bytes } = await makeBlock()
    await store.put(cid, bytes)
    await advance(HOUR)
    const [old] = await collect(store.listBlocks())
    t.true(old.written < now() - HOUR + 60_000)
    await store.put(cid, bytes)
    const [fresh] = await collect(store.listBlocks())
    t.true(fresh.written > now() - 60_000, 'written is now again')
  })

  withStore('deleteIfOlder deletes only blocks written before the cutoff, once', async (t, { store, now, advance }) => {
    const old = await makeBlock()
    await store.put(old.cid, old.bytes)
    await advance(HOUR)
    const recent = await makeBlock()
    await store.put(recent.cid, recent.bytes)
    const cutoff = now() - 600_000
    t.false(await store.deleteIfOlder(recent.cid, cutoff))
    t.true(await store.has(recent.cid))
    t.true(await store.deleteIfOlder(old.cid, cutoff))
    t.false(await store.has(old.cid))
    t.false(await store.deleteIfOlder(old.cid, cutoff), 'a missing block is a no-op')
    t.deepEqual((await collect(store.listBlocks())).map(b => b.cid.toString()), [recent.cid.toString()])
  })

  withStore('a block put again after aging is not deleted', async (t, { store, now, advance }) => {
    const { cid, bytes } = await makeBlock()
    await store.put(cid, bytes)
    await advance(HOUR)
    await store.put(cid, bytes)
    t.false(await store.deleteIfOlder(cid, now() - 600_000))
    t.deepEqual(await bytesOf(store.get(cid)), Buffer.from(bytes))
  })

  withStore('deleting blocks while listing them is safe', async (t, { store, now, advance }) => {
    const blocks = await Promise.all(Array.from({ length: 50 }, async () => makeBlock(16)))
    for (const b of blocks) await store.put(b.cid, b.bytes)
    await advance(HOUR)
    let listed = 0
    for await (const block of store.listBlocks()) {
      listed++
      await store.deleteIfOlder(block.cid, now() - 600_000)
      if (listed === 1) for (const b of blocks) await store.delete(b.cid)
    }
    t.true(listed >= 1 && listed <= 50)
    t.deepEqual(await collect(store.listBlocks()), [])
  })

  withStore('listBlocks and deleteIfOlder honour an aborted signal', async (t, { store, now }) => {
    const { cid, bytes } = await makeBlock()
    await store.put(cid, bytes)
    const signal = aborted()
    const listErr = await t.throwsAsync(async () => collect(store.listBlocks({ signal })), { any: true })
    t.is((listErr as Error | undefined)?.name, 'AbortError')
    const delErr = await t.throwsAsync(async () => store.deleteIfOlder(cid, now() + 1000, { signal }), { any: true })
    t.is((delErr as Error | undefined)?.name, 'AbortError')
    t.true(await store.has(cid))
  })
}

/** For fixtures of file-backed stores: move the times of every file under `root` back by `ms`. */
export async function ageFiles (root: string, ms: number): Promise<void> {
  let dirs: string[]
  try {
    dirs = await readdir(root)
  } catch {
    return
  }
  for (const dir of dirs) {
    let names: string[]
    try {
      names = await readdir(join(root, dir))
    } catch {
      continue
    }
    for (const name of names) {
      const file = join(root, dir, name)
      const s = await stat(file)
      await utimes(file, new Date(s.atimeMs - ms), new Date(s.mtimeMs - ms))
    }
  }
}
