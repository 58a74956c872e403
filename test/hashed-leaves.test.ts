/**
 * The one-pass import: a request body's digest batches, hashed by the digest worker, become the raw
 * leaves of the object's DAG as they are. Same CIDs as the importer's path, buffers handed back.
 */
import { randomBytes } from 'node:crypto'
import test from 'ava'
import type { CID } from 'multiformats/cid'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { ContentStore } from '../src/content/content-store.js'
import { importContent } from '../src/content/import.js'
import { leafSource } from './helpers/hashed-leaves.js'

const MiB = 1 << 20

/** A blockstore that keeps nothing but the CIDs put (imports of a GiB stay small). */
function sink (): { put: (cid: CID) => Promise<CID>, puts: number } {
  const target = { puts: 0, put: async (cid: CID) => { target.puts++; return cid } }
  return target
}

function * slices (bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size)
}

for (const size of [1, MiB - 1, MiB, MiB + 1, 3 * MiB + 17]) {
  for (const inThread of [false, true]) {
    test(`${size} bytes${inThread ? ' (hashed in-thread)' : ''}: the CID of the hashed leaves is the importer's`, async t => {
      const bytes = randomBytes(size)
      const plain = await importContent(slices(bytes, 65536), sink(), { profile: 'unixfs-v1-2025' })
      const released = { count: 0, leaves: 0 }
      const target = sink()
      const fast = await importContent(leafSource(() => slices(bytes, 65536), { inThread, released }), target, { profile: 'unixfs-v1-2025' })
      t.is(fast.cid.toString(), plain.cid.toString())
      t.is(fast.size, size)
      t.is(released.count, released.leaves, 'every leaf buffer was handed back')
      t.is(released.leaves, Math.ceil(size / MiB))
    })
  }
}

test('an empty body gives the empty raw block, as the importer does', async t => {
  const plain = await importContent([], sink(), { profile: 'unixfs-v1-2025' })
  const fast = await importContent(leafSource(() => []), sink(), { profile: 'unixfs-v1-2025' })
  t.is(fast.cid.toString(), plain.cid.toString())
  t.is(fast.size, 0)
})

test('1,025 chunks + 1 byte (a second level of links) give the importer\'s CID', async t => {
  t.timeout(120_000)
  const chunk = randomBytes(MiB)
  const pieces = function * (): Generator<Uint8Array> {
    for (let i = 0; i < 1025; i++) {
      const copy = Buffer.from(chunk)
      copy.writeUInt32BE(i, 0) // every leaf distinct
      yield copy
    }
    yield Buffer.from([7])
  }
  const plain = await importContent(pieces(), sink(), { profile: 'unixfs-v1-2025' })
  const fast = await importContent(leafSource(pieces), sink(), { profile: 'unixfs-v1-2025' })
  t.is(fast.cid.toString(), plain.cid.toString())
  t.is(fast.size, 1025 * MiB + 1)
})

test('profiles that are not 1 MiB raw leaves ignore the leaves and import the bytes', async t => {
  const bytes = randomBytes(2 * MiB + 5)
  const plain = await importContent(slices(bytes, 65536), sink(), { profile: 'unixfs-v0-2015' })
  const source = leafSource(() => slices(bytes, 65536))
  t.is((await importContent(source, sink(), { profile: 'unixfs-v0-2015' })).cid.toString(), plain.cid.toString())
})

test('a failing store stops the import, and every leaf buffer is handed back', async t => {
  const bytes = randomBytes(6 * MiB)
  const released = { count: 0, leaves: 0 }
  let puts = 0
  const failing = { put: async (cid: CID) => { if (++puts === 3) throw new Error('disk full'); return cid } }
  await t.throwsAsync(importContent(leafSource(() => slices(bytes, 65536), { released }), failing, { profile: 'unixfs-v1-2025' }), { message: 'disk full' })
  t.is(released.count, released.leaves)
})

test('an import aborted mid-body hands back every leaf buffer, the one taken when it stopped too', async t => {
  const bytes = randomBytes(6 * MiB)
  const released = { count: 0, leaves: 0 }
  const controller = new AbortController()
  let puts = 0
  const aborting = { put: async (cid: CID) => { if (++puts === 2) controller.abort(new Error('client gone')); return cid } }
  await t.throwsAsync(importContent(leafSource(() => slices(bytes, 65536), { released }), aborting, { profile: 'unixfs-v1-2025', signal: controller.signal }), { message: 'client gone' })
  t.true(released.leaves > 2)
  t.is(released.count, released.leaves)
})

test('a store that keeps the bytes it is given (memory) never sees a leaf buffer reused', async t => {
  const store = new ContentStore({ blockstore: new MemoryBlockstore() })
  const first = randomBytes(3 * MiB + 5)
  const a = await store.add(leafSource(() => slices(first, 65536)))
  for (let i = 0; i < 3; i++) await store.add(leafSource(() => slices(randomBytes(3 * MiB), 65536)))
  const chunks: Uint8Array[] = []
  for await (const chunk of store.cat(a.cid)) chunks.push(chunk)
  t.true(Buffer.concat(chunks).equals(first))
})
