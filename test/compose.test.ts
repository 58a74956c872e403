import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dagPb from '@ipld/dag-pb'
import test from 'ava'
import { importBytes } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import * as raw from 'multiformats/codecs/raw'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { collectBytes } from '../src/content/bytes.js'
import { buildBalanced, composeWithLayout } from '../src/content/compose.js'
import { ContentStore } from '../src/content/content-store.js'
import { exportContent } from '../src/content/export.js'
import { cidProfile } from '../src/content/profiles.js'
import { bytesOf } from './compliance/blockstore.suite.js'
import { deterministicBytes } from './helpers/s3.js'
import type { DagLayout } from '../src/content/compose.js'
import type { CidProfileName } from '../src/content/profiles.js'
import type { CID } from 'multiformats/cid'
import type { Blockstore } from 'interface-blockstore'

const MiB = 1 << 20
const PROFILES: CidProfileName[] = ['unixfs-v1-2025', 'unixfs-v0-2015']

/** A blockstore that records the CID of every `get`. */
function recording (inner: MemoryBlockstore): { store: MemoryBlockstore, reads: CID[] } {
  const reads: CID[] = []
  const store = Object.create(inner) as MemoryBlockstore
  store.get = (cid, options) => { reads.push(cid); return inner.get(cid, options) }
  return { store, reads }
}

/** Add `data` cut at `sizes` as separate parts, and the whole of it as one import. */
async function addParts (store: ContentStore, data: Uint8Array, sizes: number[], profile?: CidProfileName | CidProfileName[]): Promise<Array<{ cid: CID, size: number }>> {
  const parts = []
  let offset = 0
  for (const [i, size] of sizes.entries()) {
    const partProfile = Array.isArray(profile) ? profile[i] : profile
    parts.push(await store.add([data.subarray(offset, offset + size)], { profile: partProfile }))
    offset += size
  }
  if (offset !== data.length) throw new Error('sizes do not add up')
  return parts
}

/** Byte equality without ava's deep comparison, which takes seconds per MiB. */
function sameBytes (t: { true: (value: boolean, message?: string) => void }, actual: Uint8Array, expected: Uint8Array, message?: string): void {
  t.true(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected), message)
}

/** Whole content and ranges around every part boundary read back as the same bytes. */
async function assertReadsBack (t: { true: (value: boolean, message?: string) => void }, store: ContentStore, cid: CID, data: Buffer, sizes: number[]): Promise<void> {
  sameBytes(t, await bytesOf(store.cat(cid)), data, 'whole')
  let boundary = 0
  for (const size of sizes.slice(0, -1)) {
    boundary += size
    const offset = Math.max(0, boundary - 1000)
    const length = 2500
    sameBytes(t, await bytesOf(store.cat(cid, { offset, length })), data.subarray(offset, offset + length), `range across ${boundary}`)
  }
}

for (const profile of PROFILES) {
  const C = cidProfile(profile).chunkSize
  const aligned: Array<{ title: string, sizes: number[] }> = [
    { title: 'two parts and a short last part', sizes: [8 * C, 4 * C, C / 2 + 3] },
    { title: 'an exactly aligned last part', sizes: [4 * C, 3 * C] },
    { title: 'a last part of exactly one chunk', sizes: [4 * C, C] },
    { title: 'a last part of one short leaf', sizes: [4 * C, 4 * C, 100] },
    { title: 'an empty last part', sizes: [4 * C, 2 * C + 5, 0] },
    { title: 'parts that leave one leaf', sizes: [0, C, 0] }
  ]
  for (const { title, sizes } of aligned) {
    test(`${profile}: aligned parts, ${title}, compose to the CID of ipfs add`, async t => {
      const data = deterministicBytes(`aligned ${title}`, sizes.reduce((a, b) => a + b, 0))
      const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile })
      const parts = await addParts(store, data, sizes)
      const composed = await store.compose(parts)
      const whole = await store.add([data])
      t.is(composed.cid.toString(), whole.cid.toString())
      t.is(composed.size, data.length)
      t.true(composed.standard)
      await assertReadsBack(t, store, composed.cid, data, sizes)
    })
  }

  test(`${profile}: the aligned path reads internal nodes only, one per part here`, async t => {
    const memory = new MemoryBlockstore()
    // Each part has fewer leaves than a node's fan-out, so its root is its only internal node.
    const sizes = [16 * C, 16 * C, 3 * C + 1]
    const data = deterministicBytes('no leaf reads', sizes.reduce((a, b) => a + b, 0))
    const parts = await addParts(new ContentStore({ blockstore: memory, profile }), data, sizes)
    const { store, reads } = recording(memory)
    const composed = await new ContentStore({ blockstore: store, profile }).compose(parts)
    t.true(composed.standard)
    t.is(reads.length, parts.length)
    for (const cid of reads) {
      t.not(cid.code, raw.code)
      t.true(dagPb.decode(await collectBytes(memory.get(cid))).Links.length > 0, `${cid} is an internal node`)
    }
  })

  test(`${profile}: unaligned parts compose to another CID that reads back as the same bytes`, async t => {
    const sizes = [5 * MiB + 1, 3 * MiB + 7, 2 * MiB]
    const data = deterministicBytes('unaligned', sizes.reduce((a, b) => a + b, 0))
    const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile })
    const parts = await addParts(store, data, sizes)
    const composed = await store.compose(parts)
    t.false(composed.standard)
    t.is(composed.size, data.length)
    t.not(composed.cid.toString(), (await store.add([data])).cid.toString())
    t.is(composed.cid.version, cidProfile(profile).cidVersion)
    t.is((await store.stat(composed.cid)).size, data.length)
    await assertReadsBack(t, store, composed.cid, data, sizes)
  })

  test(`${profile}: one part is returned unchanged`, async t => {
    const data = deterministicBytes('one part', 3 * C + 11)
    const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile })
    const [part] = await addParts(store, data, [data.length])
    t.deepEqual(await store.compose([part]), { cid: part.cid, size: part.size, standard: true })
    t.deepEqual(await store.compose([{ cid: part.cid.toString(), size: part.size }]), { cid: part.cid, size: part.size, standard: true })
    // Imported under the other profile: same CID back, but it is not this profile's import.
    const other = PROFILES.find(p => p !== profile)!
    const [foreign] = await addParts(store, data, [data.length], other)
    t.deepEqual(await store.compose([foreign]), { cid: foreign.cid, size: foreign.size, standard: false })
    // Only one part with content: that part.
    t.deepEqual(await store.compose([part, { ...part, cid: (await store.add([])).cid, size: 0 }]), { cid: part.cid, size: part.size, standard: true })
  })

  test(`${profile}: empty parts compose to the empty file`, async t => {
    const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile: PROFILES.find(p => p !== profile) })
    const empty = await store.add([], { profile })
    const composed = await store.compose([empty, empty], { profile })
    t.deepEqual(composed, { cid: empty.cid, size: 0, standard: true })
    t.deepEqual(await store.compose([empty], { profile }), { cid: empty.cid, size: 0, standard: true })
  })

  test(`${profile}: a part imported under the other profile falls back and reads back`, async t => {
    const sizes = [4 * C, 4 * C, 2 * C + 9]
    const data = deterministicBytes('mixed', sizes.reduce((a, b) => a + b, 0))
    const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile })
    const other = PROFILES.find(p => p !== profile)!
    const parts = await addParts(store, data, sizes, [profile, other, profile])
    const composed = await store.compose(parts)
    t.false(composed.standard)
    t.not(composed.cid.toString(), (await store.add([data])).cid.toString())
    await assertReadsBack(t, store, composed.cid, data, sizes)
  })
}

test('unixfs-v0-2015: aligned parts past one node\'s fan-out (200 leaves > 174) compose to ipfs add', async t => {
  const sizes = [10 * MiB, 10 * MiB, 10 * MiB, 10 * MiB, 10 * MiB]
  const data = deterministicBytes('past fan-out', 50 * MiB)
  const memory = new MemoryBlockstore()
  const parts = await addParts(new ContentStore({ blockstore: memory, profile: 'unixfs-v0-2015' }), data, sizes)
  const { store, reads } = recording(memory)
  const content = new ContentStore({ blockstore: store, profile: 'unixfs-v0-2015' })
  const composed = await content.compose(parts)
  t.true(composed.standard)
  t.is(reads.length, 5)
  t.is(composed.cid.toString(), (await content.add([data])).cid.toString())
})

test('the parts\' root blocks are read several at once, and each once', async t => {
  const sizes = Array.from({ length: 20 }, () => 2 * MiB)
  const data = deterministicBytes('roots ahead', 40 * MiB)
  const memory = new MemoryBlockstore()
  const parts = await addParts(new ContentStore({ blockstore: memory }), data, sizes)
  let reading = 0
  let most = 0
  const { store, reads } = recording(memory)
  const slow: Pick<Blockstore, 'get' | 'put'> = {
    put: store.put.bind(store),
    get: async function * (cid, options) {
      reading++
      most = Math.max(most, reading)
      try {
        await new Promise(resolve => setTimeout(resolve, 5))
        yield * store.get(cid, options)
      } finally {
        reading--
      }
    }
  }
  const content = new ContentStore({ blockstore: slow })
  const composed = await content.compose(parts)
  t.true(composed.standard)
  t.is(reads.length, 20, 'each part\'s root read once')
  t.true(most > 1, `${most} reads in flight at most`)
  t.is(composed.cid.toString(), (await new ContentStore({ blockstore: memory }).add([data])).cid.toString())
})

test('unixfs-v0-2015: 200 unaligned parts (past the fan-out of 174) read back, ranges included', async t => {
  const sizes = Array.from({ length: 200 }, (_, i) => 1000 + 37 * i)
  const data = deterministicBytes('many parts', sizes.reduce((a, b) => a + b, 0))
  const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile: 'unixfs-v0-2015' })
  const parts = await addParts(store, data, sizes)
  const composed = await store.compose(parts)
  t.false(composed.standard)
  t.is((await store.stat(composed.cid)).size, data.length)
  await assertReadsBack(t, store, composed.cid, data, sizes.filter((_, i) => i % 25 === 0 || i > 170))
  sameBytes(t, await bytesOf(store.cat(composed.cid, { offset: 123_456, length: 50_000 })), data.subarray(123_456, 173_456))
})

test('FsBlockstore: aligned and unaligned compositions are written, flushed and read back', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'compose-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const blockstore = new FsBlockstore({ path: dir })
  const flushed: CID[] = []
  const flush = blockstore.flush.bind(blockstore)
  blockstore.flush = async (cids, options) => { flushed.push(...cids); await flush(cids, options) }
  for (const profile of PROFILES) {
    const C = cidProfile(profile).chunkSize
    const store = new ContentStore({ blockstore, profile })
    for (const sizes of [[5 * C, 5 * C, C + 3], [5 * C + 1, 3 * C + 7]]) {
      const data = deterministicBytes(`fs ${profile} ${sizes.join()}`, sizes.reduce((a, b) => a + b, 0))
      const parts = await addParts(store, data, sizes)
      flushed.length = 0
      const composed = await store.compose(parts)
      t.true(flushed.some(cid => cid.equals(composed.cid)), 'the new root was flushed')
      t.is(composed.standard, sizes[0] % C === 0)
      if (composed.standard) t.is(composed.cid.toString(), (await store.add([data])).cid.toString())
      await assertReadsBack(t, store, composed.cid, data, sizes)
    }
  }
})

test('an aborted signal rejects', async t => {
  const store = new ContentStore({ blockstore: new MemoryBlockstore() })
  const data = deterministicBytes('abort', 6 * MiB)
  const parts = await addParts(store, data, [4 * MiB, 2 * MiB])
  const controller = new AbortController()
  controller.abort(new Error('stop'))
  await t.throwsAsync(store.compose(parts, { signal: controller.signal }), { message: 'stop' })
})

// Small chunks and fan-outs give multi-level trees (in the parts and in the result) cheaply; the
// reference is ipfs-unixfs-importer itself with the same options.
const layouts: Array<{ title: string, layout: DagLayout }> = [
  { title: 'raw leaves, CIDv1, 1 KiB chunks, 4 links', layout: { cidVersion: 1, rawLeaves: true, chunkSize: 1024, maxChildrenPerNode: 4 } },
  { title: 'dag-pb leaves, CIDv0, 1000 B chunks, 3 links', layout: { cidVersion: 0, rawLeaves: false, chunkSize: 1000, maxChildrenPerNode: 3 } }
]

async function importWith (layout: DagLayout, bytes: Uint8Array, blockstore: MemoryBlockstore): Promise<{ cid: CID, size: number }> {
  const { cid } = await importBytes(bytes, blockstore, {
    cidVersion: layout.cidVersion,
    rawLeaves: layout.rawLeaves,
    chunker: fixedSize({ chunkSize: layout.chunkSize }),
    layout: balanced({ maxChildrenPerNode: layout.maxChildrenPerNode }),
    reduceSingleLeafToSelf: true
  })
  return { cid, size: bytes.length }
}

for (const { title, layout } of layouts) {
  const C = layout.chunkSize
  for (const sizes of [[13 * C, 4 * C, 9 * C, 2 * C + 17, 0], [C, C, C, C, C, C, C, 5], [27 * C, 28 * C, C]]) {
    test(`${title}: aligned parts ${sizes.map(s => s % C === 0 ? `${s / C}C` : `${Math.floor(s / C)}C+${s % C}`).join(', ')} compose to the importer's CID`, async t => {
      const data = deterministicBytes(`layout ${sizes.join()}`, sizes.reduce((a, b) => a + b, 0))
      const memory = new MemoryBlockstore()
      const parts = []
      let offset = 0
      for (const size of sizes) {
        parts.push(await importWith(layout, data.subarray(offset, offset + size), memory))
        offset += size
      }
      const { store, reads } = recording(memory)
      const composed = await composeWithLayout(parts, store, layout)
      t.true(composed.standard)
      t.is(composed.cid.toString(), (await importWith(layout, data, new MemoryBlockstore())).cid.toString())
      for (const cid of reads) {
        const block = await collectBytes(memory.get(cid))
        // A one-chunk part under dag-pb leaves is the only leaf read (its root is its leaf).
        const oneChunkPart = parts.some(p => p.cid.equals(cid) && p.size <= C)
        t.true(cid.code === dagPb.code && (dagPb.decode(block).Links.length > 0 || oneChunkPart), `${cid} read`)
      }
      sameBytes(t, await bytesOf(exportContent(composed.cid, memory)), data)
    })
  }

  test(`${title}: unaligned parts build a multi-level DAG that reads back`, async t => {
    const sizes = [5 * C + 1, 17 * C + 3, 7, 2 * C, 30 * C + 999, 1, 1, 1, 4 * C]
    const data = deterministicBytes(`layout unaligned ${title}`, sizes.reduce((a, b) => a + b, 0))
    const memory = new MemoryBlockstore()
    const parts = []
    let offset = 0
    for (const size of sizes) {
      parts.push(await importWith(layout, data.subarray(offset, offset + size), memory))
      offset += size
    }
    const composed = await composeWithLayout(parts, memory, layout)
    t.false(composed.standard)
    sameBytes(t, await bytesOf(exportContent(composed.cid, memory)), data)
    sameBytes(t, await bytesOf(exportContent(composed.cid, memory, { offset: 5 * C - 10, length: 20 * C })), data.subarray(5 * C - 10, 25 * C - 10))
  })
}

test('dag-pb leaves: a part whose leaf positions hold nodes (other chunk size) is found by Tsize and falls back', async t => {
  // Under chunks of 500 and fan-out 2, 2000 bytes are a root over two nodes of 1000 bytes each:
  // the same link count, blockSizes and CID kind as two 1000-byte leaves, only a larger Tsize.
  const layout = layouts[1].layout
  const memory = new MemoryBlockstore()
  const data = deterministicBytes('nodes for leaves', 3500)
  const odd = await importWith({ ...layout, chunkSize: 500, maxChildrenPerNode: 2 }, data.subarray(0, 2000), memory)
  const last = await importWith(layout, data.subarray(2000), memory)
  t.false((await composeWithLayout([odd], memory, layout)).standard)
  const composed = await composeWithLayout([odd, last], memory, layout)
  t.false(composed.standard)
  t.not(composed.cid.toString(), (await importWith(layout, data, new MemoryBlockstore())).cid.toString())
  sameBytes(t, await bytesOf(exportContent(composed.cid, memory)), data)
})

test('buildBalanced lays children out as the importer does: one child is itself, none is undefined', async t => {
  const put = async (): Promise<void> => {}
  t.is(await buildBalanced([], { cidVersion: 1, maxChildrenPerNode: 4 }, put), undefined)
  const memory = new MemoryBlockstore()
  const leaf = await importWith(layouts[0].layout, deterministicBytes('leaf', 100), memory)
  const only = { cid: leaf.cid, contentSize: 100, dagSize: 100 }
  t.is(await buildBalanced([only, { ...only, contentSize: 0, dagSize: 0 }], { cidVersion: 1, maxChildrenPerNode: 4 }, put), only)
  // Five leaves under fan-out 2: nodes of 3, 2 and 1 on three levels, as the importer builds them.
  const data = deterministicBytes('five', 5 * 1024)
  const reference = await importWith({ ...layouts[0].layout, maxChildrenPerNode: 2 }, data, memory)
  const leaves = []
  for (let i = 0; i < 5; i++) {
    const { cid } = await importWith(layouts[0].layout, data.subarray(i * 1024, (i + 1) * 1024), memory)
    leaves.push({ cid, contentSize: 1024, dagSize: 1024 })
  }
  const written: CID[] = []
  const root = await buildBalanced(leaves, { cidVersion: 1, maxChildrenPerNode: 2 }, async cid => { written.push(cid) })
  t.is(root?.cid.toString(), reference.cid.toString())
  t.is(root?.contentSize, 5 * 1024)
  t.is(written.length, 3 + 2 + 1)
})
