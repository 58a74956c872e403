import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { base32 } from 'multiformats/bases/base32'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { bytesOf, makeBlock } from './compliance/blockstore.suite.js'
import type { CID } from 'multiformats/cid'

async function tempDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-fsbs-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

function expectedPath (root: string, cid: CID): string {
  const name = base32.baseEncode(cid.multihash.bytes)
  return join(root, name.slice(-3, -1), `${name}.data`)
}

test('a block is one file in a shard directory named by the next-to-last characters', async t => {
  const root = join(await tempDir(t), 'blocks')
  const store = new FsBlockstore({ path: root })
  const { cid, bytes } = await makeBlock()
  await store.put(cid, bytes)
  t.is((await stat(expectedPath(root, cid))).size, bytes.byteLength)
  const [shard] = await readdir(root)
  t.deepEqual(await readdir(join(root, shard)), [`${base32.baseEncode(cid.multihash.bytes)}.data`], 'no temp file left behind')
})

test('blocks survive reopening the store', async t => {
  const root = await tempDir(t)
  const { cid, bytes } = await makeBlock(300_000)
  const first = new FsBlockstore({ path: root })
  await first.put(cid, bytes)
  await first.flush([cid])
  const second = new FsBlockstore({ path: root })
  t.true(await second.has(cid))
  t.deepEqual(await bytesOf(second.get(cid)), Buffer.from(bytes))
})

test('put of a present block does not rewrite its file', async t => {
  const root = await tempDir(t)
  const store = new FsBlockstore({ path: root })
  const { cid, bytes } = await makeBlock()
  await store.put(cid, bytes)
  const before = await stat(expectedPath(root, cid))
  await store.put(cid, bytes)
  const after = await stat(expectedPath(root, cid))
  t.is(after.ino, before.ino)
})

test('flush fsyncs listed blocks, tolerates duplicates, and rejects for a missing one', async t => {
  const store = new FsBlockstore({ path: await tempDir(t) })
  const a = await makeBlock()
  const b = await makeBlock()
  await store.put(a.cid, a.bytes)
  await store.put(b.cid, b.bytes)
  await t.notThrowsAsync(store.flush([a.cid, b.cid, a.cid]))
  await t.notThrowsAsync(store.flush([]))
  const missing = await makeBlock()
  const err = await t.throwsAsync(store.flush([a.cid, missing.cid]))
  t.is(err?.name, 'NotFoundError')
})

test('createIfMissing: false refuses to create the directory', async t => {
  const root = join(await tempDir(t), 'absent')
  const store = new FsBlockstore({ path: root, createIfMissing: false })
  const { cid, bytes } = await makeBlock()
  const err = await t.throwsAsync(store.put(cid, bytes))
  t.is(err?.name, 'OpenFailedError')
  t.false(await store.has(cid))
  const missing = await t.throwsAsync(async () => bytesOf(store.get(cid)))
  t.is(missing?.name, 'NotFoundError')
})

test('createIfMissing (default) creates nested directories', async t => {
  const root = join(await tempDir(t), 'a', 'b', 'c')
  const store = new FsBlockstore({ path: root })
  const { cid, bytes } = await makeBlock()
  await store.put(cid, bytes)
  await store.flush([cid])
  t.true(await store.has(cid))
})

test('getAll skips temp files and foreign files', async t => {
  const root = await tempDir(t)
  const store = new FsBlockstore({ path: root })
  const { cid, bytes } = await makeBlock()
  await store.put(cid, bytes)
  const file = expectedPath(root, cid)
  await writeFile(`${file}.abc123.tmp`, 'torn')
  await writeFile(join(root, 'README'), 'not a shard')
  await writeFile(join(root, file.split('/').at(-2)!, 'notes.data'), 'not base32 of a multihash!')
  const all = []
  for await (const pair of store.getAll()) all.push(pair.cid.toString())
  t.deepEqual(all, [cid.toString()])
})

test('a shard directory removed behind the store is recreated on the next put', async t => {
  const root = await tempDir(t)
  const store = new FsBlockstore({ path: root })
  const { cid, bytes } = await makeBlock()
  await store.put(cid, bytes)
  await rm(root, { recursive: true })
  await store.put(cid, bytes)
  t.deepEqual(await bytesOf(store.get(cid)), Buffer.from(bytes))
})

test('a block written from chunks equals their concatenation', async t => {
  const store = new FsBlockstore({ path: await tempDir(t) })
  const { cid, bytes } = await makeBlock(1 << 20)
  const chunks = []
  for (let i = 0; i < bytes.length; i += 100_000) chunks.push(bytes.subarray(i, i + 100_000))
  await store.put(cid, chunks)
  t.deepEqual(await bytesOf(store.get(cid)), Buffer.from(bytes))
})

test('put of a present block refreshes its mtime in place', async t => {
  const root = await tempDir(t)
  const store = new FsBlockstore({ path: root })
  const { cid, bytes } = await makeBlock()
  await store.put(cid, bytes)
  const file = expectedPath(root, cid)
  const old = new Date(Date.now() - 3_600_000)
  await utimes(file, old, old)
  const before = await stat(file)
  await store.put(cid, bytes)
  const after = await stat(file)
  t.is(after.ino, before.ino, 'not rewritten')
  t.true(after.mtimeMs > Date.now() - 60_000)
  const [listed] = await collect(store.listBlocks())
  t.is(listed.written, after.mtimeMs)
})

test('deleteIfOlder racing puts of the same block never loses a put', async t => {
  const store = new FsBlockstore({ path: await tempDir(t) })
  const { cid, bytes } = await makeBlock(4096)
  const file = (root: string): string => expectedPath(root, cid)
  const ticks = async (n: number): Promise<void> => { for (let i = 0; i < n; i++) await new Promise(resolve => setImmediate(resolve)) }
  let deleted = 0
  for (let i = 0; i < 60; i++) {
    await store.put(cid, bytes)
    const old = new Date(Date.now() - 3_600_000)
    await utimes(file(store.path), old, old)
    const [removed] = await Promise.all([
      (async () => { await ticks(i % 4); return await store.deleteIfOlder(cid, Date.now() - 60_000) })(),
      (async () => {
        await ticks((i >> 2) % 4)
        await store.put(cid, bytes)
        await store.flush([cid])
      })()
    ])
    if (removed) deleted++
    t.deepEqual(await bytesOf(store.get(cid)), Buffer.from(bytes), `round ${i}`)
  }
  t.log(`${deleted} of 60 rounds deleted the old file before the put wrote it again`)
  const names = await readdir(join(store.path, expectedPath(store.path, cid).split('/').at(-2)!))
  t.deepEqual(names, [`${base32.baseEncode(cid.multihash.bytes)}.data`], 'nothing left aside')
})

test('listStrays reports temp files in shard directories; deleteStray removes only those', async t => {
  const root = await tempDir(t)
  const store = new FsBlockstore({ path: root })
  const { cid, bytes } = await makeBlock()
  await store.put(cid, bytes)
  const file = expectedPath(root, cid)
  const shard = file.split('/').at(-2)!
  await writeFile(`${file}.abc123.tmp`, 'torn')
  await mkdir(join(root, 'not-a-shard'))
  await writeFile(join(root, 'not-a-shard', 'x.tmp'), 'foreign')
  const strays = await collect(store.listStrays())
  t.is(strays.length, 1)
  t.is(strays[0].name, `${shard}/${file.split('/').at(-1)!}.abc123.tmp`)
  t.is(strays[0].size, 4)
  t.true(strays[0].written > Date.now() - 60_000)
  t.deepEqual((await collect(store.listBlocks())).map(b => b.cid.toString()), [cid.toString()])
  for (const bad of ['not-a-shard/x.tmp', `${shard}/../../x.tmp`, `${shard}/notes.data`, '../x.tmp', `${shard}`]) {
    await t.throwsAsync(store.deleteStray(bad), { instanceOf: TypeError }, bad)
  }
  await store.deleteStray(strays[0].name)
  await store.deleteStray(strays[0].name)
  t.deepEqual(await collect(store.listStrays()), [])
  t.true(await store.has(cid))
})

async function collect<T> (source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}
