import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CarWriter } from '@ipld/car'
import * as dagPb from '@ipld/dag-pb'
import test from 'ava'
import { UnixFS } from 'ipfs-unixfs'
import { importBytes } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { collectBytes } from '../src/content/bytes.js'
import { ContentStore } from '../src/content/content-store.js'
import { collectGarbage } from '../src/content/gc.js'
import { ageFiles, bytesOf } from './compliance/blockstore.suite.js'
import { deterministicBytes } from './helpers/s3.js'
import type { ExecutionContext } from 'ava'
import type { DagLayout } from '../src/content/compose.js'
import type { GcOptions, ListedBlock, SweepableBlockstore } from '../src/content/gc.js'
import type { Blockstore } from 'interface-blockstore'

const MINUTE = 60_000
const HOUR = 60 * MINUTE

type Store = Blockstore & SweepableBlockstore & { flush?: FsBlockstore['flush'] }

interface Fixture {
  store: Store
  /** The store's clock (what `written` is measured in). */
  now: () => number
  /** Let `ms` pass for every block stored so far. */
  advance: (ms: number) => Promise<void>
  /** Set on the fs fixture: the blockstore directory. */
  path?: string
}

const backends: Array<{ name: string, setup: (t: ExecutionContext) => Promise<Fixture> }> = [
  {
    name: 'memory',
    setup: async () => {
      let clock = 1_700_000_000_000
      return { store: new MemoryBlockstore({ now: () => clock }), now: () => clock, advance: async ms => { clock += ms } }
    }
  },
  {
    name: 'fs',
    setup: async t => {
      const dir = await mkdtemp(join(tmpdir(), 's3ipfs-gc-'))
      t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
      const path = join(dir, 'blocks')
      return { store: new FsBlockstore({ path }), now: Date.now, advance: async ms => { await ageFiles(path, ms) }, path }
    }
  }
]

const layouts: Array<{ title: string, layout: DagLayout }> = [
  { title: 'v1 raw leaves', layout: { cidVersion: 1, rawLeaves: true, chunkSize: 100, maxChildrenPerNode: 3 } },
  { title: 'v0 dag-pb leaves', layout: { cidVersion: 0, rawLeaves: false, chunkSize: 100, maxChildrenPerNode: 3 } }
]

async function importWith (layout: DagLayout, bytes: Uint8Array, blockstore: Store): Promise<CID> {
  const { cid } = await importBytes(bytes, blockstore, {
    cidVersion: layout.cidVersion,
    rawLeaves: layout.rawLeaves,
    chunker: fixedSize({ chunkSize: layout.chunkSize }),
    layout: balanced({ maxChildrenPerNode: layout.maxChildrenPerNode }),
    reduceSingleLeafToSelf: true
  })
  return cid
}

/** Store key (CIDv1 raw string) of a CID. */
function key (cid: CID): string {
  return CID.createV1(raw.code, cid.multihash).toString()
}

/** Keys of every block of the DAG at `root`, found independently of the collector. */
async function dagKeys (store: Store, root: CID, into = new Set<string>(), depth = { max: 0 }, level = 0): Promise<Set<string>> {
  into.add(key(root))
  depth.max = Math.max(depth.max, level)
  if (root.code !== dagPb.code) return into
  const node = dagPb.decode(await collectBytes(store.get(root)))
  for (const link of node.Links) await dagKeys(store, link.Hash, into, depth, level + 1)
  return into
}

async function listed (store: Store): Promise<Map<string, ListedBlock>> {
  const out = new Map<string, ListedBlock>()
  for await (const block of store.listBlocks()) out.set(block.cid.toString(), block)
  return out
}

function sorted (keys: Iterable<string>): string[] {
  return [...keys].sort()
}

async function * rootsOf (...cids: Array<CID | string>): AsyncGenerator<CID | string> {
  yield * cids
}

function gc (f: Fixture, options: Partial<GcOptions> = {}): ReturnType<typeof collectGarbage> {
  return collectGarbage(f.store, { roots: () => rootsOf(), now: f.now, batchSize: 7, ...options })
}

for (const { name, setup } of backends) {
  for (const { title, layout } of layouts) {
    test(`${name}, ${title}: keeps every block reachable from a root, deletes old unreachable ones, reports exactly`, async t => {
      const f = await setup(t)
      // A and B share their first 9 chunks: a whole subtree (3 × 3 leaves) and its leaves.
      const shared = deterministicBytes('gc shared', 9 * 100)
      const a = Buffer.concat([shared, deterministicBytes('gc a', 1150)])
      const b = Buffer.concat([shared, deterministicBytes('gc b', 777)])
      const rootA = await importWith(layout, a, f.store)
      const rootB = await importWith(layout, b, f.store)
      const rootC = await importWith(layout, deterministicBytes('gc c', 1234), f.store)
      const depth = { max: 0 }
      const keysA = await dagKeys(f.store, rootA, new Set(), depth)
      const keysB = await dagKeys(f.store, rootB)
      const keysC = await dagKeys(f.store, rootC)
      t.true(depth.max >= 3, 'A has more than one level of internal nodes')
      const sharedKeys = [...keysB].filter(k => keysA.has(k))
      t.true(sharedKeys.length >= 10, 'the shared subtree node and its leaves')
      await f.advance(HOUR)

      const before = await listed(f.store)
      const garbage = [...before.keys()].filter(k => !keysA.has(k))
      t.is(before.size, new Set([...keysA, ...keysB, ...keysC]).size)

      // Only A is referenced (B's object was deleted): B's own blocks go, the shared ones stay.
      const report = await gc(f, { roots: () => rootsOf(rootA.toString()) })
      t.like(report, {
        roots: 1,
        held: 0,
        marked: keysA.size,
        scanned: before.size,
        candidates: garbage.length,
        deleted: garbage.length,
        freedBytes: garbage.reduce((sum, k) => sum + before.get(k)!.size, 0),
        keptRecent: 0,
        missing: [],
        corrupt: [],
        swept: true
      })
      t.deepEqual(sorted((await listed(f.store)).keys()), sorted(keysA))
      const content = new ContentStore({ blockstore: f.store })
      t.deepEqual(await bytesOf(content.cat(rootA)), a)

      // A second run finds nothing more; with no roots, everything goes.
      t.like(await gc(f, { roots: () => rootsOf(rootA) }), { deleted: 0, scanned: keysA.size })
      t.like(await gc(f), { roots: 0, marked: 0, deleted: keysA.size })
      t.is((await listed(f.store)).size, 0)
    })
  }

  test(`${name}: unreachable blocks within the grace period are kept`, async t => {
    const f = await setup(t)
    const layout = layouts[0].layout
    const first = await dagKeys(f.store, await importWith(layout, deterministicBytes('grace 1', 500), f.store))
    await f.advance(10 * MINUTE)
    const second = await dagKeys(f.store, await importWith(layout, deterministicBytes('grace 2', 500), f.store))
    t.like(await gc(f, { gracePeriodMs: 15 * MINUTE }), { deleted: 0, keptRecent: first.size + second.size, candidates: 0 })
    await f.advance(10 * MINUTE) // first is 20 minutes old, second 10
    t.like(await gc(f), { deleted: first.size, keptRecent: second.size })
    t.deepEqual(sorted((await listed(f.store)).keys()), sorted(second))
    t.like(await gc(f, { gracePeriodMs: 5 * MINUTE }), { deleted: second.size, keptRecent: 0 })
  })

  test(`${name}: a write session open across a collection protects an import in flight`, async t => {
    for (const protect of [true, false]) {
      const f = await setup(t)
      const content = new ContentStore({ blockstore: f.store, profile: 'unixfs-v0-2015' })
      const data = deterministicBytes(`in flight ${name}`, 5 * 262144 + 99)
      let resume!: () => void
      const paused = new Promise<void>(resolve => { resume = resolve })
      const source = async function * (): AsyncGenerator<Uint8Array> {
        yield data.subarray(0, 3 * 262144)
        await paused
        yield data.subarray(3 * 262144)
      }
      const session = content.session()
      const adding = content.add(source(), { session })
      while ((await listed(f.store)).size < 2) await new Promise(resolve => setTimeout(resolve, 5))
      await f.advance(HOUR) // the blocks written so far are old, and no root references them yet

      const report = await gc(f, protect ? { protect: content } : {})
      if (protect) {
        t.like(report, { deleted: 0, candidates: 0 })
        t.true(report.held >= 2)
      } else {
        t.true(report.deleted >= 2, 'without the session the import\'s blocks are swept')
      }
      resume()
      const outcome = await adding.catch((err: Error) => err)
      if (outcome instanceof Error) {
        // Unprotected, on a store with flush: the import fails, as it should, rather than
        // returning a root whose blocks are gone.
        t.false(protect)
        t.is(outcome.name, 'NotFoundError')
        session.close()
        continue
      }
      // The operation commits the root, then closes its session.
      const committed = [outcome.cid]
      session.close()
      t.deepEqual(content.protectedRoots(), [])
      const after = await gc(f, { protect: content, roots: () => rootsOf(...committed) })
      if (protect) {
        t.like(after, { deleted: 0, missing: [] })
        t.deepEqual(await bytesOf(content.cat(outcome.cid)), data)
      } else {
        t.true(after.missing.length >= 2, 'the swept blocks are reported missing')
      }
    }
  })

  test(`${name}: a root held during the sweep is protected, whether listed before or after the hold`, async t => {
    for (const holdAt of ['first', 'last'] as const) {
      const f = await setup(t)
      const layout = layouts[1].layout
      const old = await importWith(layout, deterministicBytes('held old', 1000), f.store)
      const other = await importWith(layout, deterministicBytes('held other', 1000), f.store)
      const oldKeys = await dagKeys(f.store, old)
      const otherKeys = await dagKeys(f.store, other)
      await f.advance(HOUR)
      const content = new ContentStore({ blockstore: f.store })
      const session = content.session()
      const store = f.store
      // A store whose listing lets a CopyObject start holding `old` after marking is done.
      const hooked: SweepableBlockstore = {
        get: store.get.bind(store),
        deleteIfOlder: store.deleteIfOlder.bind(store),
        listBlocks: async function * (options) {
          let first = true
          for await (const block of store.listBlocks(options)) {
            if (first && holdAt === 'first') session.hold(old)
            first = false
            yield block
          }
          if (holdAt === 'last') session.hold(old)
        }
      }
      const report = await collectGarbage(hooked, {
        roots: () => rootsOf(),
        protect: content,
        now: f.now,
        batchSize: holdAt === 'first' ? 1 : 1000
      })
      t.is(report.deleted, otherKeys.size, holdAt)
      t.is(report.held, 1)
      t.deepEqual(sorted((await listed(f.store)).keys()), sorted(oldKeys), holdAt)
      session.close()
    }
  })

  test(`${name}: a block put again after it was listed is kept`, async t => {
    const f = await setup(t)
    const block = deterministicBytes('put again', 300)
    const cid = CID.createV1(raw.code, await sha256.digest(block))
    await f.store.put(cid, block)
    await f.advance(HOUR)
    const store = f.store
    const hooked: SweepableBlockstore = {
      get: store.get.bind(store),
      deleteIfOlder: store.deleteIfOlder.bind(store),
      listBlocks: async function * (options) {
        for await (const listedBlock of store.listBlocks(options)) {
          yield listedBlock
          await store.put(cid, block) // an upload of the same bytes dedupes onto the listed block
        }
      }
    }
    const report = await collectGarbage(hooked, { roots: () => rootsOf(), now: f.now })
    t.like(report, { candidates: 1, deleted: 0, keptRecent: 1 })
    t.true(await f.store.has(cid))
  })

  test(`${name}: missing and corrupt blocks of referenced DAGs are reported, and stop the sweep by default`, async t => {
    const f = await setup(t)
    const layout = layouts[0].layout
    const root = await importWith(layout, deterministicBytes('missing', 2000), f.store)
    const node = dagPb.decode(await collectBytes(f.store.get(root)))
    const inner = node.Links[0].Hash
    let leaf = node.Links[1].Hash
    let leafParent = root
    while (leaf.code === dagPb.code) {
      leafParent = leaf
      leaf = dagPb.decode(await collectBytes(f.store.get(leaf))).Links[0].Hash
    }
    t.is(inner.code, dagPb.code)
    t.is(leaf.code, raw.code)
    // Blocks under `inner` are still there, but nothing can know it once `inner` is gone.
    const orphans = (await dagKeys(f.store, inner)).size - 1
    t.true(orphans > 0)
    await f.store.delete(inner)
    await f.store.delete(leaf)
    const badBytes = new TextEncoder().encode('not dag-pb')
    const bad = CID.createV1(dagPb.code, await sha256.digest(badBytes))
    await f.store.put(bad, badBytes)
    const junk = await importWith(layout, deterministicBytes('junk', 500), f.store)
    const junkKeys = await dagKeys(f.store, junk)
    await f.advance(HOUR)

    const roots = (): AsyncGenerator<CID | string> => rootsOf(root, bad)
    const stopped = await gc(f, { roots })
    t.deepEqual(sorted(stopped.missing), sorted([inner.toString(), CID.createV1(raw.code, leaf.multihash).toString()]))
    t.deepEqual(stopped.corrupt, [bad.toString()])
    t.like(stopped, { swept: false, deleted: 0, candidates: junkKeys.size + orphans })

    // Forced, the sweep deletes the orphans with the junk: what the default guards against.
    const forced = await gc(f, { roots, sweepWhenIncomplete: true })
    t.like(forced, { swept: true, deleted: junkKeys.size + orphans })
    t.is(forced.missing.length, 2)

    // A missing raw leaf alone does not hide any block from marking: the sweep runs.
    const onlyLeaf = await gc(f, { roots: () => rootsOf(leafParent) })
    t.like(onlyLeaf, { swept: true, missing: [CID.createV1(raw.code, leaf.multihash).toString()] })
  })

  test(`${name}: identity CIDs, CID strings and duplicate roots are fine; dry runs delete nothing`, async t => {
    const f = await setup(t)
    const root = await importWith(layouts[1].layout, deterministicBytes('dup', 700), f.store)
    const junk = await importWith(layouts[1].layout, deterministicBytes('dry', 300), f.store)
    const id = CID.createV1(raw.code, identity.digest(new TextEncoder().encode('inline')))
    await f.advance(HOUR)
    const dry = await gc(f, { roots: () => rootsOf(root, root.toString(), id), dryRun: true })
    t.like(dry, { roots: 3, swept: false, deleted: 0, missing: [] })
    t.is(dry.candidates, (await dagKeys(f.store, junk)).size)
    const real = await gc(f, { roots: () => rootsOf(root, root.toString(), id) })
    t.like(real, { deleted: dry.candidates, missing: [] })
  })

  test(`${name}: an aborted signal rejects before anything is deleted`, async t => {
    const f = await setup(t)
    await importWith(layouts[0].layout, deterministicBytes('abort', 500), f.store)
    await f.advance(HOUR)
    const controller = new AbortController()
    controller.abort()
    const err = await t.throwsAsync(gc(f, { signal: controller.signal }), { any: true })
    t.is((err as Error | undefined)?.name, 'AbortError')
    t.true((await listed(f.store)).size > 0)
  })
}

test('fs: stray temp files older than the grace period are swept', async t => {
  const f = await backends[1].setup(t)
  const root = await importWith(layouts[0].layout, deterministicBytes('strays', 500), f.store)
  const name = base32.baseEncode(root.multihash.bytes)
  const shard = join(f.path!, name.slice(-3, -1))
  const oldStray = join(shard, `${name}.data.0123456789ab.tmp`)
  const newStray = join(shard, `${name}.data.ba9876543210.tmp`)
  await writeFile(oldStray, 'torn write')
  await writeFile(newStray, 'write in progress')
  // ctime cannot be set back: an injected clock an hour ahead makes both the block and the old stray old.
  const later = (): number => Date.now() + HOUR
  await utimes(newStray, new Date(later()), new Date(later()))
  const report = await collectGarbage(f.store, { roots: () => rootsOf(root), now: later })
  t.like(report, { straysDeleted: 1, strayBytes: 'torn write'.length, deleted: 0 })
  await t.throwsAsync(stat(oldStray))
  await t.notThrowsAsync(stat(newStray))
})

test('write sessions: holds are counted across sessions and released on close', async t => {
  const content = new ContentStore({ blockstore: new MemoryBlockstore() })
  const a = CID.createV1(raw.code, await sha256.digest(new Uint8Array([1])))
  const b = CID.createV1(raw.code, await sha256.digest(new Uint8Array([2])))
  const one = content.session()
  const two = content.session()
  one.hold(a)
  one.hold(a.toString())
  two.hold(a)
  two.hold(b)
  t.deepEqual(sorted(content.protectedRoots().map(String)), sorted([a.toString(), b.toString()]))
  one.close()
  t.deepEqual(sorted(content.protectedRoots().map(String)), sorted([a.toString(), b.toString()]), 'still held by two')
  one.close()
  t.true(one.closed)
  t.throws(() => { one.hold(b) }, { message: /closed/ })
  two.close()
  t.deepEqual(content.protectedRoots(), [])
  t.throws(() => { content.session().hold('not a cid') })
})

test('write sessions: a watcher records CIDs that become held, until taken or closed', async t => {
  const content = new ContentStore({ blockstore: new MemoryBlockstore() })
  const cids = await Promise.all([1, 2, 3].map(async i => CID.createV1(raw.code, await sha256.digest(new Uint8Array([i])))))
  const early = content.session()
  early.hold(cids[0])
  const watcher = content.watchHolds()
  const late = content.session()
  late.hold(cids[0]) // held already: nothing new to mark
  late.hold(cids[1])
  t.is(watcher.size, 1)
  t.deepEqual(watcher.take().map(String), [cids[1].toString()])
  t.is(watcher.size, 0)
  late.close()
  late.close()
  const again = content.session()
  again.hold(cids[1]) // released and held again: new
  t.deepEqual(watcher.take().map(String), [cids[1].toString()])
  watcher.close()
  again.hold(cids[2])
  t.is(watcher.size, 0)
  t.deepEqual(watcher.take(), [])
  early.close()
  again.close()
})

/** Keys of every block under the held CIDs whose blocks are in the store (what a collection marks from them). */
async function protectedKeys (store: Pick<Blockstore, 'get' | 'has'>, content: ContentStore): Promise<Set<string>> {
  const out = new Set<string>()
  for (const cid of content.protectedRoots()) {
    if (await store.has(cid)) await dagKeys(store as Store, cid, out)
  }
  return out
}

for (const profile of ['unixfs-v1-2025', 'unixfs-v0-2015'] as const) {
  test(`write sessions: add and compose protect every block they put, holding a node's blocks until it is stored (${profile})`, async t => {
    const blockstore = new MemoryBlockstore()
    const content = new ContentStore({ blockstore, profile })
    const chunk = profile === 'unixfs-v1-2025' ? 1 << 20 : 262144
    const session = content.session()
    const one = await content.add([deterministicBytes('session a', 2 * chunk + 5)], { session })
    const small = await content.add([deterministicBytes('session b', 10)], { session })
    // The leaves are released once the root linking them is stored: the roots protect them.
    t.deepEqual(sorted(content.protectedRoots().map(key)), sorted([key(one.cid), key(small.cid)]))
    const expected = new Set([...await dagKeys(blockstore, one.cid), ...await dagKeys(blockstore, small.cid)])
    t.is(expected.size, 5, 'three leaves, their node and the small block')
    t.deepEqual(sorted(await protectedKeys(blockstore, content)), sorted(expected))
    session.close()
    t.deepEqual(content.protectedRoots(), [])

    const parts = [
      await content.add([deterministicBytes('part 1', chunk)]),
      await content.add([deterministicBytes('part 2', chunk + 3)])
    ]
    const composing = content.session()
    const composed = await content.compose(parts, { session: composing })
    t.true(content.protectedRoots().map(key).includes(key(composed.cid)))
    const under = await protectedKeys(blockstore, content)
    for (const k of content.protectedRoots().map(key)) under.add(k)
    for (const part of parts) for (const k of await dagKeys(blockstore, part.cid)) t.true(under.has(k), 'the parts are protected')
    for (const k of await dagKeys(blockstore, composed.cid)) t.true(under.has(k), 'the composed DAG is protected')
    composing.close()
    const single = content.session()
    const same = await content.compose([parts[0]], { session: single })
    t.deepEqual(content.protectedRoots().map(String), [same.cid.toString()])
    single.close()
  })
}

test('write sessions: a CAR node the dag-pb codec refuses releases none of the blocks it appears to link', async t => {
  // A client's CAR may hold a dag-pb block that hashes to its CID but does not decode: here its
  // links are interleaved with its Data. Garbage collection cannot follow such a node, so the leaf
  // it seems to link must stay held until a node that decodes links it.
  const blockstore = new MemoryBlockstore()
  const leafBytes = deterministicBytes('car leaf', 1000)
  const leaf = CID.createV1(raw.code, await sha256.digest(leafBytes))
  const link = Buffer.concat([Buffer.from([0x0a, leaf.bytes.byteLength]), leaf.bytes])
  const linksField = Buffer.concat([Buffer.from([0x12, link.byteLength]), link])
  const malformedBytes = Buffer.concat([linksField, Buffer.from([0x0a, 0x02, 0x08, 0x02]), linksField])
  t.throws(() => dagPb.decode(malformedBytes), undefined, 'the codec refuses it')
  const malformed = CID.createV1(dagPb.code, await sha256.digest(malformedBytes))
  const rootBytes = dagPb.encode(dagPb.prepare({ Data: new UnixFS({ type: 'file', blockSizes: [1000n] }).marshal(), Links: [{ Hash: leaf, Tsize: 1000 }] }))
  const root = CID.createV1(dagPb.code, await sha256.digest(rootBytes))
  let leafHeldWhenRootWritten: boolean | undefined
  let content: ContentStore | undefined
  const watched = Object.assign(Object.create(blockstore) as MemoryBlockstore, {
    put: async (cid: CID, bytes: Uint8Array) => {
      if (cid.equals(root)) leafHeldWhenRootWritten = (content as ContentStore).protectedRoots().some(held => held.equals(leaf))
      return await blockstore.put(cid, bytes)
    }
  })
  content = new ContentStore({ blockstore: watched })
  const { writer, out } = CarWriter.create([root])
  const car = (async () => { const parts: Uint8Array[] = []; for await (const part of out) parts.push(part); return parts })()
  for (const [cid, bytes] of [[leaf, leafBytes], [malformed, malformedBytes], [root, rootBytes]] as const) await writer.put({ cid, bytes })
  await writer.close()
  const session = content.session()
  const imported = await content.importCar((async function * () { yield * await car })(), { session })
  t.true(imported.cid.equals(root))
  t.true(leafHeldWhenRootWritten, 'the leaf was still held when the root that links it was written')
  session.close()
})

test('write sessions: an import of two levels holds what is not under a stored node yet, not every block, and leaves nothing unprotected', async t => {
  // unixfs-v0-2015: 174 links per node, 256 KiB leaves; 176 leaves make two nodes under a root.
  const blockstore = new MemoryBlockstore()
  const put: string[] = []
  let checks = 0
  let content: ContentStore | undefined
  // Before each write: every block written so far is held, or under a held node already stored
  // (what a collection running then would mark).
  const watched = Object.assign(Object.create(blockstore) as MemoryBlockstore, {
    put: async (cid: CID, bytes: Uint8Array) => {
      if (put.length % 20 === 0 || cid.code === dagPb.code) {
        checks++
        const under = await protectedKeys(blockstore, content as ContentStore)
        for (const k of (content as ContentStore).protectedRoots().map(key)) under.add(k)
        const unprotected = put.filter(k => !under.has(k))
        if (unprotected.length > 0) t.fail(`${unprotected.length} blocks written and not protected before write ${put.length + 1}`)
      }
      await blockstore.put(cid, bytes)
      put.push(key(cid))
      return cid
    },
  })
  content = new ContentStore({ blockstore: watched, profile: 'unixfs-v0-2015' })
  const session = content.session()
  const result = await content.add([deterministicBytes('two levels', 176 * 262144)], { session })
  const all = await dagKeys(blockstore, result.cid)
  t.is(all.size, 176 + 2 + 1)
  t.true(checks > 10)
  // Once the root is stored it alone is held, and everything is under it.
  t.deepEqual(content.protectedRoots().map(key), [key(result.cid)])
  t.deepEqual(sorted(await protectedKeys(blockstore, content)), sorted(all))
  session.close()
})
