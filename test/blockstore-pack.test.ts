import { randomInt } from 'node:crypto'
import { appendFile, mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import Database from 'better-sqlite3'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { PackBlockstore } from '../src/blockstores/pack.js'
import { SYNC_READ_MAX } from '../src/blockstores/pack-files.js'
import { bytesOf, makeBlock } from './compliance/blockstore.suite.js'
import { REPO_ROOT, spawnChild } from './helpers/child.js'

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-pack-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

function open (t: ExecutionContext, path: string, init: Partial<ConstructorParameters<typeof PackBlockstore>[0]> = {}): PackBlockstore {
  const store = new PackBlockstore({ path, ...init })
  t.teardown(async () => { await store.close() })
  return store
}

async function packFiles (path: string): Promise<string[]> {
  return (await readdir(join(path, 'packs'))).filter(n => n.endsWith('.pack')).sort()
}

/** Whether every listed block reads back and hashes to its CID. */
async function allVerify (store: PackBlockstore): Promise<boolean> {
  for await (const { cid } of store.listBlocks()) {
    const bytes = await bytesOf(store.get(cid))
    if (!(await sha256.digest(bytes)).bytes.every((b, i) => b === cid.multihash.bytes[i])) return false
  }
  return true
}

async function blocks (n: number, size: number): Promise<Array<{ cid: CID, bytes: Uint8Array }>> {
  return await Promise.all(Array.from({ length: n }, async () => await makeBlock(size)))
}

test('blocks go into one pack file, not a file each, and survive reopening', async t => {
  const path = await tempDir(t)
  const first = new PackBlockstore({ path })
  const some = await blocks(50, 10_000)
  for (const b of some) await first.put(b.cid, b.bytes)
  await first.flush(some.map(b => b.cid))
  await first.close()
  t.is((await packFiles(path)).length, 1)
  const second = open(t, path)
  for (const b of some) t.deepEqual(await bytesOf(second.get(b.cid)), Buffer.from(b.bytes))
})

// Blocks up to SYNC_READ_MAX are read on the calling thread, larger ones on the thread pool: both read
// whole blocks, into a caller's buffer too, and both refuse a pack cut short under an indexed block.
for (const size of [1, 4096, SYNC_READ_MAX, SYNC_READ_MAX + 1, 1024 * 1024]) {
  test(`a block of ${size} bytes reads back whole, and a pack cut short under it is an error, not short bytes`, async t => {
    const path = await tempDir(t)
    const first = new PackBlockstore({ path })
    const [a, b] = await blocks(2, size)
    await first.put(a.cid, a.bytes)
    await first.put(b.cid, b.bytes)
    await first.flush([a.cid, b.cid])
    t.deepEqual(await bytesOf(first.get(a.cid)), Buffer.from(a.bytes))
    const into = new Uint8Array(size + 10)
    t.deepEqual(Buffer.from(await first.readInto(b.cid, into)), Buffer.from(b.bytes))
    await first.close()
    const [pack] = await packFiles(path)
    const file = join(path, 'packs', pack)
    await truncate(file, (await stat(file)).size - 1)
    const second = open(t, path)
    t.deepEqual(await bytesOf(second.get(a.cid)), Buffer.from(a.bytes))
    await t.throwsAsync(bytesOf(second.get(b.cid)), { message: /shorter than its index says/ })
  })
}

test('a put of a present block appends nothing', async t => {
  const path = await tempDir(t)
  const store = open(t, path)
  const { cid, bytes } = await makeBlock(100_000)
  await store.put(cid, bytes)
  await store.flush([cid])
  const [pack] = await packFiles(path)
  const before = (await stat(join(path, 'packs', pack))).size
  await store.put(cid, bytes)
  await Promise.all([store.put(cid, bytes), store.put(cid, bytes)])
  t.is((await stat(join(path, 'packs', pack))).size, before)
})

test('flush rejects for a missing block and resolves for present ones, duplicates included', async t => {
  const store = open(t, await tempDir(t))
  const a = await makeBlock()
  const b = await makeBlock()
  await store.put(a.cid, a.bytes)
  await t.notThrowsAsync(store.flush([a.cid, a.cid]))
  await t.notThrowsAsync(store.flush([]))
  const err = await t.throwsAsync(store.flush([b.cid]))
  t.is(err?.name, 'NotFoundError')
})

test('concurrent flushes share fdatasyncs (group commit)', async t => {
  const store = open(t, await tempDir(t))
  const some = await blocks(64, 4096)
  await Promise.all(some.map(async b => {
    await store.put(b.cid, b.bytes)
    await store.flush([b.cid])
  }))
  t.true(store.syncs >= 1)
  t.true(store.syncs < 32, `${store.syncs} fdatasyncs for 64 concurrent flushes`)
  await store.flush(some.map(b => b.cid))
  const before = store.syncs
  await store.flush(some.map(b => b.cid))
  t.is(store.syncs, before, 'blocks already synced cost no fdatasync')
})

test('a pack is closed to new blocks at packSize and a new one started', async t => {
  const path = await tempDir(t)
  const store = open(t, path, { packSize: 1024 * 1024 })
  const some = await blocks(10, 300_000)
  for (const b of some) await store.put(b.cid, b.bytes)
  await store.flush(some.map(b => b.cid))
  t.true((await packFiles(path)).length >= 3)
  for (const b of some) t.deepEqual(await bytesOf(store.get(b.cid)), Buffer.from(b.bytes))
})

test('a put that took the pack before another found it full is written before the pack is sealed', async t => {
  const path = await tempDir(t)
  const store = open(t, path, { packSize: 1024 * 1024 })
  // 800 KB in the pack, every write finished: nothing for sealing to wait for.
  const filler = await makeBlock(800_000)
  await store.put(filler.cid, filler.bytes)
  // Started together, they take the pack in turn: the first fits, the second does not and seals
  // the pack while the first has not written yet.
  const fits = await makeBlock(100_000)
  const overflows = await makeBlock(300_000)
  await Promise.all([store.put(fits.cid, fits.bytes), store.put(overflows.cid, overflows.bytes)])
  await store.flush([filler.cid, fits.cid, overflows.cid])
  t.is((await packFiles(path)).length, 2)
  for (const b of [filler, fits, overflows]) t.deepEqual(await bytesOf(store.get(b.cid)), Buffer.from(b.bytes))
  await store.close()
  const again = open(t, path)
  for (const b of [filler, fits, overflows]) t.deepEqual(await bytesOf(again.get(b.cid)), Buffer.from(b.bytes))
  t.true(await allVerify(again))
})

test('a torn tail is ignored, never read as a block, and reclaimed by compaction', async t => {
  const path = await tempDir(t)
  const first = new PackBlockstore({ path })
  const kept = await makeBlock(1000)
  await first.put(kept.cid, kept.bytes)
  await first.flush([kept.cid])
  const [pack] = await packFiles(path)
  const file = join(path, 'packs', pack)
  // A crash in the middle of appending a 1 MiB record: a valid header, part of its data.
  const torn = await makeBlock(1024 * 1024)
  const goodSize = (await stat(file)).size
  const header = Buffer.alloc(12 + torn.cid.multihash.bytes.byteLength)
  header.writeUInt32BE(0x53335042, 0)
  header.writeUInt16BE(torn.cid.multihash.bytes.byteLength, 4)
  header.writeUInt32BE(torn.bytes.byteLength, 8)
  header.set(torn.cid.multihash.bytes, 12)
  await appendFile(file, Buffer.concat([header, torn.bytes.subarray(0, 600_000)]))
  // The store is not closed: the pack stays unsealed, as after a crash.
  const second = open(t, path)
  t.false(await second.has(torn.cid))
  t.deepEqual(await bytesOf(second.get(kept.cid)), Buffer.from(kept.bytes))
  await second.put(torn.cid, torn.bytes)
  await second.flush([torn.cid])
  t.deepEqual(await bytesOf(second.get(torn.cid)), Buffer.from(torn.bytes))
  t.true(await allVerify(second))
  // Compaction (the torn pack was another store's, so it counts as abandoned only when old: seal it by closing that store).
  await first.close()
  const report = await second.compact()
  t.is(report.rewritten, 1)
  t.true(report.freedBytes >= 600_000)
  t.false((await packFiles(path)).includes(pack))
  t.deepEqual(await bytesOf(second.get(kept.cid)), Buffer.from(kept.bytes))
  t.true(goodSize > 0)
})

/** A store (left open, as a crashed process leaves it) holding blocks a and b, of which `flushed` were flushed. */
async function twoBlocks (path: string, flushed: 'a' | 'both'): Promise<{ first: PackBlockstore, a: { cid: CID, bytes: Uint8Array }, b: { cid: CID, bytes: Uint8Array } }> {
  const first = new PackBlockstore({ path })
  const [a, b] = await blocks(2, 50_000)
  await first.put(a.cid, a.bytes)
  await first.put(b.cid, b.bytes)
  await first.flush(flushed === 'a' ? [a.cid] : [a.cid, b.cid])
  return { first, a, b }
}

test('rows lost with the index (power failure) come back from unsealed packs; corrupt records do not', async t => {
  const path = await tempDir(t)
  const { first, a, b } = await twoBlocks(path, 'both')
  // Drop the rows as a lost WAL tail would (with the later note that they were synced), and damage b's bytes in place.
  const db = new Database(join(path, 'index.db'))
  db.prepare('DELETE FROM blocks').run()
  db.prepare('UPDATE packs SET verified = 16').run()
  db.close()
  const [pack] = await packFiles(path)
  const file = join(path, 'packs', pack)
  const size = (await stat(file)).size
  await truncate(file, size - 10)
  await appendFile(file, Buffer.alloc(10, 0xff))
  const second = open(t, path)
  t.true(await second.has(a.cid))
  t.deepEqual(await bytesOf(second.get(a.cid)), Buffer.from(a.bytes))
  t.false(await second.has(b.cid), 'a record whose bytes do not hash to its CID is not indexed')
  await first.close().catch(() => {})
})

test('rows whose record never reached the disk are dropped on open', async t => {
  const path = await tempDir(t)
  const { first, a, b } = await twoBlocks(path, 'a')
  const [pack] = await packFiles(path)
  const file = join(path, 'packs', pack)
  // As if the power failed before b's bytes were on disk while its row was.
  await truncate(file, (await stat(file)).size - 1)
  const second = open(t, path)
  t.true(await second.has(a.cid))
  t.false(await second.has(b.cid))
  await second.put(b.cid, b.bytes)
  t.deepEqual(await bytesOf(second.get(b.cid)), Buffer.from(b.bytes), 'a put writes it again instead of trusting a dead row')
  await first.close().catch(() => {})
})

test('blocks deleted from the index stay deleted when another store opens the directory', async t => {
  const path = await tempDir(t)
  let clock = Date.now()
  const first = open(t, path, { now: () => clock })
  const [a, b] = await blocks(2, 10_000)
  await first.put(a.cid, a.bytes)
  await first.put(b.cid, b.bytes)
  await first.flush([a.cid, b.cid])
  clock += 3_600_000
  t.true(await first.deleteIfOlder(a.cid, clock - 1000))
  // first keeps its pack open (unsealed), as a running server does.
  const second = open(t, path)
  t.false(await second.has(a.cid), 'the recovery scan does not bring back what gc deleted')
  t.true(await second.has(b.cid))
})

test('compaction rewrites packs that are mostly garbage, deletes empty ones, and keeps every live block', async t => {
  const path = await tempDir(t)
  let clock = Date.now()
  const store = open(t, path, { packSize: 2 * 1024 * 1024, now: () => clock })
  const some = await blocks(40, 200_000)
  for (const b of some) await store.put(b.cid, b.bytes)
  await store.flush(some.map(b => b.cid))
  const packsBefore = await packFiles(path)
  clock += 3_600_000
  // Everything of the first pack's worth goes, and 3 of every 4 of the rest.
  const dead = some.filter((_, i) => i < 9 || i % 4 !== 0)
  for (const b of dead) t.true(await store.deleteIfOlder(b.cid, clock - 1000))
  const live = some.filter(b => !dead.includes(b))
  const report = await store.compact()
  t.true(report.deleted >= 1)
  t.true(report.rewritten >= 1)
  const packsAfter = await packFiles(path)
  t.true(packsAfter.length < packsBefore.length, `${packsBefore.length} → ${packsAfter.length} packs`)
  for (const b of live) t.deepEqual(await bytesOf(store.get(b.cid)), Buffer.from(b.bytes))
  for (const b of dead) t.false(await store.has(b.cid))
  const again = await store.compact()
  t.is(again.rewritten, 0, 'a compacted store has nothing left to rewrite')
  t.deepEqual(await collectNames(store), [])
})

async function collectNames (store: PackBlockstore): Promise<string[]> {
  const names: string[] = []
  for await (const s of store.listStrays()) names.push(s.name)
  return names
}

test('two stores on one directory (as two processes): each reads what the other flushed; deleteIfOlder in one is atomic against a put in the other', async t => {
  const path = await tempDir(t)
  let clock = Date.now()
  const a = open(t, path, { now: () => clock })
  const b = open(t, path, { now: () => clock })
  const x = await makeBlock(70_000)
  await a.put(x.cid, x.bytes)
  await a.flush([x.cid])
  t.deepEqual(await bytesOf(b.get(x.cid)), Buffer.from(x.bytes))
  await t.notThrowsAsync(b.flush([x.cid]))
  clock += 3_600_000
  // b puts it again (refreshing it) before a's sweep decides: the sweep must keep it.
  await b.put(x.cid, x.bytes)
  t.false(await a.deleteIfOlder(x.cid, clock - 1000))
  t.true(await b.has(x.cid))
  clock += 3_600_000
  t.true(await a.deleteIfOlder(x.cid, clock - 1000))
  // And a put after the delete writes it again.
  await b.put(x.cid, x.bytes)
  await b.flush([x.cid])
  t.deepEqual(await bytesOf(a.get(x.cid)), Buffer.from(x.bytes))
})

test('an FsBlockstore directory keeps working underneath (read both)', async t => {
  const dir = await tempDir(t)
  const legacy = new FsBlockstore({ path: join(dir, 'blocks') })
  const old = await makeBlock(5000)
  await legacy.put(old.cid, old.bytes)
  await legacy.flush([old.cid])
  let clock = Date.now()
  const store = open(t, join(dir, 'packs'), { legacy, now: () => clock })
  t.true(await store.has(old.cid))
  t.deepEqual(await bytesOf(store.get(old.cid)), Buffer.from(old.bytes))
  const into = await store.readInto(old.cid, new Uint8Array(6000))
  t.is(into.byteLength, 5000)
  await store.put(old.cid, old.bytes) // present underneath: nothing written to packs
  await store.flush([old.cid])
  t.deepEqual((await packFiles(join(dir, 'packs'))), [])
  const fresh = await makeBlock(5000)
  await store.put(fresh.cid, fresh.bytes)
  await store.flush([fresh.cid])
  const listed: string[] = []
  for await (const b of store.listBlocks()) listed.push(b.cid.toString())
  t.deepEqual(listed.sort(), [old.cid, fresh.cid].map(c => CID.createV1(0x55, c.multihash).toString()).sort())
  clock += 3_600_000
  // The legacy block's time is its file's mtime: age the cutoff far enough past both.
  t.true(await store.deleteIfOlder(old.cid, Date.now() + 1000))
  t.false(await legacy.has(old.cid))
})

const CRASH = join(REPO_ROOT, 'test', 'fixtures', 'pack-crash.ts')

test('SIGKILL at random points of a write stream: every acknowledged block reads back intact, nothing unverified is indexed', async t => {
  const path = await tempDir(t)
  const acked: string[] = []
  for (let round = 0; round < 3; round++) {
    const child = spawnChild(t, process.execPath, ['--import', 'tsx', CRASH, 'write', path], { cwd: REPO_ROOT, timeouts: { start: 60_000, exit: 10_000 } })
    await child.waitFor('stdout', /(ACK .*\n){8}/)
    await new Promise(resolve => setTimeout(resolve, randomInt(0, 400)))
    child.proc.kill('SIGKILL')
    await child.exited()
    for (const m of child.stdout().matchAll(/^ACK (\S+)$/gm)) acked.push(m[1])
    const store = new PackBlockstore({ path })
    try {
      for (const cid of acked) {
        const parsed = CID.parse(cid)
        const bytes = await bytesOf(store.get(parsed))
        t.deepEqual((await sha256.digest(bytes)).bytes, parsed.multihash.bytes, `round ${round}: ${cid}`)
      }
      t.true(await allVerify(store), `round ${round}: every indexed block verifies`)
    } finally {
      await store.close()
    }
  }
  t.true(acked.length >= 24)
})

test('SIGKILL at random points of a compaction: every live block reads back, and compaction finishes later', async t => {
  const path = await tempDir(t)
  let clock = Date.now()
  const setup = new PackBlockstore({ path, packSize: 4 * 1024 * 1024, now: () => clock })
  const some = await blocks(120, 250_000)
  for (const b of some) await setup.put(b.cid, b.bytes)
  await setup.flush(some.map(b => b.cid))
  clock += 3_600_000
  const live = some.filter((_, i) => i % 3 === 0)
  for (const b of some) if (!live.includes(b)) await setup.deleteIfOlder(b.cid, clock - 1000)
  await setup.close()
  for (let round = 0; round < 3; round++) {
    const child = spawnChild(t, process.execPath, ['--import', 'tsx', CRASH, 'compact', path], { cwd: REPO_ROOT, timeouts: { start: 60_000, exit: 10_000 } })
    await child.waitFor('stdout', /START/)
    await new Promise(resolve => setTimeout(resolve, randomInt(0, 150)))
    child.proc.kill('SIGKILL')
    await child.exited()
    const store = new PackBlockstore({ path })
    try {
      for (const b of live) t.deepEqual(await bytesOf(store.get(b.cid)), Buffer.from(b.bytes), `round ${round}`)
    } finally {
      await store.close()
    }
  }
  const store = open(t, path, { compactBelow: 0.99 })
  await store.compact()
  for await (const stray of store.listStrays()) await store.deleteStray(stray.name)
  for (const b of live) t.deepEqual(await bytesOf(store.get(b.cid)), Buffer.from(b.bytes))
  let bytes = 0
  for (const name of await packFiles(path)) bytes += (await stat(join(path, 'packs', name))).size
  t.true(bytes < 120 * 250_000 / 2, `${bytes} bytes of packs hold ${live.length} blocks of 250 kB`)
})
