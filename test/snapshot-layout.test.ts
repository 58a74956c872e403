import test from 'ava'
import fc from 'fast-check'
import { exporter } from 'ipfs-unixfs-exporter'
import { importer } from 'ipfs-unixfs-importer'
import type { CID } from 'multiformats/cid'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { ContentStore } from '../src/content/content-store.js'
import type { CidProfileName } from '../src/content/profiles.js'
import { compareKeys } from '../src/metadata/key-order.js'
import { directoryLayout } from '../src/snapshots/directory.js'
import { MAX_SEGMENT_BYTES, pathToKey } from '../src/snapshots/key-path.js'
import { TreeBuilder } from '../src/snapshots/tree.js'
import { fileTsize } from '../src/snapshots/tsize.js'

const PROFILES: CidProfileName[] = ['unixfs-v1-2025', 'unixfs-v0-2015']
const noHolder = () => ({ hold: () => {}, close: () => {} })

/** Content of a key's file: a few bytes, or (every 50th) a file of several chunks. */
function contentOf (key: string, i: number): Uint8Array {
  const text = Buffer.from(`content of ${JSON.stringify(key)}\n`)
  return i % 50 === 7 ? Buffer.concat(Array.from({ length: 6000 }, () => text)).subarray(0, 1_200_000) : text
}

/** Our snapshot of `keys` (stored as files under `profile`), and the files as the directory lays them out. */
async function snapshotOf (keys: string[], profile: CidProfileName, threshold?: number): Promise<{ root: CID, files: Array<{ path: string[], cid: CID }>, blocks: MemoryBlockstore }> {
  const blocks = new MemoryBlockstore()
  const content = new ContentStore({ blockstore: blocks, profile })
  const layout = directoryLayout(profile, threshold === undefined ? {} : { shardSplitThresholdBytes: threshold })
  const tree = new TreeBuilder({ layout, put: async (cid, bytes) => { await blocks.put(cid, bytes) }, holder: noHolder })
  const sorted = [...keys].sort(compareKeys)
  for (const [i, key] of sorted.entries()) {
    const bytes = contentOf(key, i)
    const { cid } = await content.add([bytes])
    await tree.add(key, cid, await fileTsize(blocks, cid, bytes.byteLength))
  }
  const { cid: root } = await tree.finish()
  const files: Array<{ path: string[], cid: CID }> = []
  const walk = async (cid: CID, path: string[]): Promise<void> => {
    const entry = await exporter(cid, blocks)
    if (entry.type !== 'directory') {
      files.push({ path, cid })
      return
    }
    for await (const child of entry.entries()) await walk(child.cid, [...path, child.name])
  }
  await walk(root, [])
  return { root, files, blocks }
}

/** What ipfs-unixfs-importer gives for the same files at the same paths, under the profile (and its sharding options). */
async function importerRoot (files: Array<{ path: string[], content: Uint8Array }>, profile: CidProfileName, threshold?: number): Promise<CID> {
  let root: CID | undefined
  const options = { profile, wrapWithDirectory: true, ...(threshold === undefined ? {} : { shardSplitThresholdBytes: threshold }) }
  for await (const entry of importer(files.map((f) => ({ path: f.path.join('/'), content: f.content })), new MemoryBlockstore(), options)) {
    if (entry.path === '') root = entry.cid
  }
  return root as CID
}

async function assertSameAsImporter (t: import('ava').ExecutionContext, keys: string[], profile: CidProfileName, threshold?: number): Promise<CID> {
  const ours = await snapshotOf(keys, profile, threshold)
  const sorted = [...keys].sort(compareKeys)
  const contents = new Map(sorted.map((key, i) => [key, contentOf(key, i)]))
  t.is(ours.files.length, keys.length)
  t.deepEqual(ours.files.map((f) => pathToKey(f.path)).sort(compareKeys), sorted, 'every path reads back as its key')
  for (const f of ours.files) t.true(f.path.every((segment) => segment !== '' && segment !== '.' && segment !== '..' && Buffer.byteLength(segment) <= MAX_SEGMENT_BYTES && !segment.includes('/')))
  const theirs = await importerRoot(ours.files.map((f) => ({ path: f.path, content: contents.get(pathToKey(f.path)) as Uint8Array })), profile, threshold)
  t.is(ours.root.toString(), theirs.toString(), `${profile}: the importer's CID for the same layout`)
  return ours.root
}

const long = (i: number, length = 220): string => `${String(i).padStart(5, '0')}-${'x'.repeat(length)}`

for (const profile of PROFILES) {
  test(`${profile}: a flat bucket's snapshot is the importer's directory`, async (t) => {
    await assertSameAsImporter(t, ['a.txt', 'b.txt', 'ünïcode 😀.txt', 'with space', 'z'], profile)
  })

  test(`${profile}: nested directories`, async (t) => {
    await assertSameAsImporter(t, ['a/b/c.txt', 'a/b/d.txt', 'a/e.txt', 'a.txt', 'f/g/h/i/j.txt', 'top', 'x/y'], profile)
  })

  test(`${profile}: past the shard threshold the directory is a HAMT (the importer's default 256 KiB), nested and beside flat ones`, async (t) => {
    const keys = [...Array.from({ length: 1200 }, (_, i) => `big/${long(i)}`), 'big/sub/one', 'small/a', 'small/b', 'root.txt']
    const root = await assertSameAsImporter(t, keys, profile)
    const blocks = (await snapshotOf(keys, profile)).blocks
    const big = await exporter(`${root.toString()}/big`, blocks)
    t.is(big.type, 'directory')
    t.is((big as { unixfs: { type: string } }).unixfs.type, 'hamt-sharded-directory')
  })

  test(`${profile}: a root HAMT several levels deep (a low threshold), and the keys of the rule's special cases`, async (t) => {
    const keys = [...Array.from({ length: 600 }, (_, i) => `k${i}`), 'a', 'a/b', 'a/b/c', 'a/', 'a//x', '/lead', '.', '..', 'd/./e', 'd/../e', `${'L'.repeat(700)}/x`, 'L'.repeat(300), '%41%25%2F']
    await assertSameAsImporter(t, keys, profile, 1000)
  })
}

test('the key rule: special keys take the documented paths', async (t) => {
  const { files } = await snapshotOf(['a', 'a/b', 'a/b/c', 'a/', 'a//x', '/lead', '.', '..', 'd/./e', '50%', 'p/q'], 'unixfs-v1-2025')
  const paths = files.map((f) => f.path.join('/')).sort()
  t.deepEqual(paths, ['%2E', '%2E%2E', '%2Flead', '50%25', 'a', 'a%2F', 'a%2F%2Fx', 'a%2Fb', 'a%2Fb%2Fc', 'd/%2E/e', 'p/q'])
  const { files: long } = await snapshotOf([`${'é'.repeat(300)}.txt`], 'unixfs-v1-2025')
  t.is(long[0].path.length, 3, '600+ bytes become three segments of at most 255')
  t.true(long[0].path.slice(0, -1).every((s) => s.endsWith('%')))
})

test('the key rule round-trips any set of keys (property)', async (t) => {
  const segment = fc.oneof(fc.constantFrom('', '.', '..', '%', '%2F', '%25', 'a', 'b', '%2E'), fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 100 }))
  const key = fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/')).filter((k) => Buffer.byteLength(k) <= 1024)
  await fc.assert(fc.asyncProperty(fc.uniqueArray(key, { minLength: 1, maxLength: 25 }), async (keys) => {
    const blocks = new MemoryBlockstore()
    const tree = new TreeBuilder({ layout: directoryLayout('unixfs-v1-2025'), put: async (cid, bytes) => { await blocks.put(cid, bytes) }, holder: noHolder })
    const content = new ContentStore({ blockstore: blocks })
    const byCid = new Map<string, string>()
    for (const k of [...keys].sort(compareKeys)) {
      const { cid } = await content.add([Buffer.from(k)])
      byCid.set(cid.toString(), k)
      await tree.add(k, cid, Buffer.byteLength(k))
    }
    const { cid: root } = await tree.finish()
    const found: string[] = []
    const walk = async (cid: CID, path: string[]): Promise<void> => {
      const entry = await exporter(cid, blocks)
      if (entry.type !== 'directory') {
        found.push(pathToKey(path))
        return
      }
      const names = new Set<string>()
      for await (const child of entry.entries()) {
        if (names.has(child.name) || child.name === '' || child.name === '.' || child.name === '..' || Buffer.byteLength(child.name) > MAX_SEGMENT_BYTES) throw new Error(`bad name ${JSON.stringify(child.name)}`)
        names.add(child.name)
        await walk(child.cid, [...path, child.name])
      }
    }
    await walk(root, [])
    if (JSON.stringify(found.sort(compareKeys)) !== JSON.stringify([...keys].sort(compareKeys))) throw new Error(`${JSON.stringify(found)} != ${JSON.stringify(keys)}`)
  }), { numRuns: 300 })
  t.pass()
})

for (const profile of PROFILES) {
  test(`${profile}: at the edge of the threshold the decision to shard is the importer's (each count of entries around it)`, async (t) => {
    // 40-byte names: each entry adds 74-76 estimated bytes (links-bytes) or ~86 (block-bytes); a 2000-byte threshold is crossed near 23-27 entries.
    const shapes = new Set<string>()
    for (let n = 20; n <= 30; n++) {
      const keys = Array.from({ length: n }, (_, i) => `${String(i).padStart(4, '0')}${'n'.repeat(36)}`)
      const root = await assertSameAsImporter(t, keys, profile, 2000)
      const { blocks } = await snapshotOf(keys, profile, 2000)
      shapes.add((await exporter(root, blocks) as { unixfs: { type: string } }).unixfs.type)
    }
    t.deepEqual([...shapes].sort(), ['directory', 'hamt-sharded-directory'], 'both sides of the threshold were compared')
  })
}
