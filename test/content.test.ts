import { createCipheriv, createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { importer } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { ContentStore } from '../src/content/content-store.js'
import { bytesOf } from './compliance/blockstore.suite.js'
import type { CidProfileName } from '../src/content/profiles.js'
import type { Blockstore } from 'interface-blockstore'

/** Kubo's deterministic test data (test/cli/testutils/random_deterministic.go): ChaCha20 keystream. */
function deterministic (seed: string, n: number): Buffer {
  const key = createHash('sha256').update(seed).digest()
  return createCipheriv('chacha20', key, Buffer.alloc(16)).update(Buffer.alloc(n))
}

async function * slices (bytes: Uint8Array, sizes: number | number[]): AsyncGenerator<Uint8Array> {
  const pattern = Array.isArray(sizes) ? sizes : [sizes]
  for (let offset = 0, i = 0; offset < bytes.length; i++) {
    const size = pattern[i % pattern.length]
    yield bytes.subarray(offset, offset + size)
    offset += size
  }
}

const MiB = 1 << 20
const hello = new TextEncoder().encode('hello world')

// Expected CIDs: Kubo's own tests (IPFS-NOTES.md, test/cli/cid_profiles_test.go) unless noted.
// "ipfs_cid" marks CIDs computed once with Debian's ipfs-cid package (`ipfs_cid FILE`), an
// independent implementation of Kubo's default `ipfs add` (CIDv0).
const vectors: Array<{ title: string, profile: CidProfileName, bytes: () => Uint8Array, cid: string }> = [
  { title: 'empty', profile: 'unixfs-v0-2015', bytes: () => new Uint8Array(0), cid: 'QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH' },
  { title: 'empty', profile: 'unixfs-v1-2025', bytes: () => new Uint8Array(0), cid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' },
  { title: 'hello world', profile: 'unixfs-v0-2015', bytes: () => hello, cid: 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD' },
  { title: 'hello world', profile: 'unixfs-v1-2025', bytes: () => hello, cid: 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e' },
  { title: 'chunk-v1-seed 1 MiB', profile: 'unixfs-v1-2025', bytes: () => deterministic('chunk-v1-seed', MiB), cid: 'bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta' },
  { title: 'chunk-v1-seed 1 MiB + 1', profile: 'unixfs-v1-2025', bytes: () => deterministic('chunk-v1-seed', MiB + 1), cid: 'bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64' },
  { title: 'chunk-v0-seed 256 KiB', profile: 'unixfs-v0-2015', bytes: () => deterministic('chunk-v0-seed', 262144), cid: 'QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE' },
  // ipfs_cid
  { title: 'chunk-v0-seed 256 KiB + 1 (ipfs_cid)', profile: 'unixfs-v0-2015', bytes: () => deterministic('chunk-v0-seed', 262145), cid: 'QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ' },
  { title: 'chunk-v0-seed 5 MiB (ipfs_cid)', profile: 'unixfs-v0-2015', bytes: () => deterministic('chunk-v0-seed', 5 * MiB), cid: 'QmTrWreHaMk626cXCHtNPH1M9iua6kfPm6hhgGJ85LcA8M' },
  // 174 chunks + 1 byte: the first size that needs a second level of links under Kubo's balanced layout
  { title: 'chunk-v0-seed 174 × 256 KiB + 1 (ipfs_cid)', profile: 'unixfs-v0-2015', bytes: () => deterministic('chunk-v0-seed', 174 * 262144 + 1), cid: 'QmcWMns523LYdBgD5nf3STX2Nku6y5jPYBPzdAmva8GsSP' },
]

for (const v of vectors) {
  test(`CID of ${v.title} under ${v.profile} equals ipfs add`, async t => {
    const bytes = v.bytes()
    const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile: v.profile })
    const added = await store.add(slices(bytes, 65536))
    t.is(added.cid.toString(), v.cid)
    t.is(added.size, bytes.length)
    t.is((await store.stat(added.cid)).size, bytes.length)
    const back = await bytesOf(store.cat(v.cid))
    t.true(back.equals(bytes))
  })
}

test('the CID does not depend on how the source is sliced', async t => {
  const bytes = deterministic('slicing', 3 * MiB + 12345)
  for (const profile of ['unixfs-v1-2025', 'unixfs-v0-2015'] as const) {
    const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile })
    const whole = (await store.add([bytes])).cid.toString()
    for (const sizes of [[bytes.length], [MiB], [262144 - 1], [7, 65536, 1, 300_000, 13], [2 * MiB + 3]]) {
      t.is((await store.add(slices(bytes, sizes))).cid.toString(), whole, `${profile} ${sizes.join(',')}`)
    }
    // one byte at a time, over a size that crosses a chunk boundary
    const small = bytes.subarray(0, 262144 + 100)
    t.is((await store.add(slices(small, 1))).cid.toString(), (await store.add([small])).cid.toString(), `${profile} 1-byte`)
    // empty slices in the stream change nothing
    t.is((await store.add(slices(bytes, [0, 1000, 0, MiB]))).cid.toString(), whole, `${profile} with empty slices`)
  }
})

test('ranged cat is byte-equal to the slice, across block boundaries', async t => {
  const bytes = deterministic('ranges', 3 * MiB + 777)
  for (const profile of ['unixfs-v1-2025', 'unixfs-v0-2015'] as const) {
    const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile })
    const { cid } = await store.add(slices(bytes, 100_000))
    const chunk = profile === 'unixfs-v1-2025' ? MiB : 262144
    const points = [0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk - 3, 3 * MiB, bytes.length - 1, bytes.length]
    const lengths = [0, 1, 2, chunk - 1, chunk, chunk + 1, 2 * chunk + 5, bytes.length]
    for (const offset of points) {
      for (const length of lengths) {
        const got = await bytesOf(store.cat(cid, { offset, length }))
        t.true(got.equals(bytes.subarray(offset, offset + length)), `${profile} offset ${offset} length ${length}`)
      }
      const rest = await bytesOf(store.cat(cid, { offset }))
      t.true(rest.equals(bytes.subarray(offset)), `${profile} offset ${offset} to end`)
    }
  }
})

test('ranges of a single raw block and of a single dag-pb leaf', async t => {
  for (const profile of ['unixfs-v1-2025', 'unixfs-v0-2015'] as const) {
    const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile })
    const { cid } = await store.add([hello])
    t.is((await bytesOf(store.cat(cid, { offset: 6 }))).toString(), 'world')
    t.is((await bytesOf(store.cat(cid, { offset: 2, length: 3 }))).toString(), 'llo')
    t.is((await bytesOf(store.cat(cid.toString(), { offset: 11 }))).length, 0)
  }
})

test('cat of empty content yields nothing', async t => {
  for (const profile of ['unixfs-v1-2025', 'unixfs-v0-2015'] as const) {
    const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile })
    const { cid, size } = await store.add([])
    t.is(size, 0)
    const chunks = []
    for await (const chunk of store.cat(cid)) chunks.push(chunk)
    t.deepEqual(chunks, [])
  }
})

test('cat rejects offsets beyond the end and negative ranges', async t => {
  const store = new ContentStore({ blockstore: new MemoryBlockstore() })
  const { cid } = await store.add([hello])
  for (const options of [{ offset: 12 }, { offset: -1 }, { offset: 0, length: -1 }, { offset: 1.5 }]) {
    const err = await t.throwsAsync(async () => bytesOf(store.cat(cid, options)))
    t.is(err?.name, 'ContentRangeError', JSON.stringify(options))
  }
})

test('cat and stat refuse content that is not a file', async t => {
  const blockstore = new MemoryBlockstore()
  const store = new ContentStore({ blockstore })
  let dir: CID | undefined
  for await (const entry of importer([{ path: 'd/a.txt', content: hello }], blockstore, { wrapWithDirectory: false })) {
    if (entry.path === 'd') dir = entry.cid
  }
  t.truthy(dir)
  const err = await t.throwsAsync(async () => bytesOf(store.cat(dir!)))
  t.is(err?.name, 'UnsupportedContentError')
  const statErr = await t.throwsAsync(store.stat(dir!))
  t.is(statErr?.name, 'UnsupportedContentError')

  const dagCbor = CID.createV1(0x71, await sha256.digest(hello))
  await blockstore.put(dagCbor, hello)
  const cborErr = await t.throwsAsync(async () => bytesOf(store.cat(dagCbor)))
  t.is(cborErr?.name, 'UnsupportedContentError')
})

test('cat of a CID with a missing block throws NotFoundError', async t => {
  const blockstore = new MemoryBlockstore()
  const store = new ContentStore({ blockstore })
  const missingRoot = CID.createV1(0x55, await sha256.digest(hello))
  const err = await t.throwsAsync(async () => bytesOf(store.cat(missingRoot)))
  t.is(err?.name, 'NotFoundError')

  const { cid } = await store.add([deterministic('missing', 3 * MiB)])
  const leaves = []
  for await (const pair of blockstore.getAll()) if (!pair.cid.multihash.bytes.every((b, i) => b === cid.multihash.bytes[i])) leaves.push(pair.cid)
  blockstore.delete(leaves[1])
  const leafErr = await t.throwsAsync(async () => bytesOf(store.cat(cid)))
  t.is(leafErr?.name, 'NotFoundError')
})

test('a source that throws makes add reject with the same error', async t => {
  const store = new ContentStore({ blockstore: new MemoryBlockstore() })
  const checksumError = Object.assign(new Error('checksum mismatch'), { name: 'BadDigest' })
  const bytes = deterministic('throws', 3 * MiB)
  async function * failing (): AsyncGenerator<Uint8Array> {
    yield * slices(bytes, 100_000)
    throw checksumError
  }
  const err = await t.throwsAsync(store.add(failing()))
  t.is(err, checksumError)

  async function * failingEarly (): AsyncGenerator<Uint8Array> {
    yield bytes.subarray(0, 10)
    throw checksumError
  }
  t.is(await t.throwsAsync(store.add(failingEarly())), checksumError)
})

test('a blockstore write failure makes add reject', async t => {
  const memory = new MemoryBlockstore()
  let puts = 0
  const failing = {
    get: memory.get.bind(memory),
    put: async (...args: Parameters<MemoryBlockstore['put']>) => {
      if (++puts === 2) throw new Error('disk full')
      return memory.put(...args)
    }
  }
  const store = new ContentStore({ blockstore: failing })
  const err = await t.throwsAsync(store.add(slices(deterministic('full', 5 * MiB), MiB)))
  t.is(err?.message, 'disk full')
})

test('an aborted signal stops add and cat', async t => {
  const store = new ContentStore({ blockstore: new MemoryBlockstore() })
  const { cid } = await store.add([deterministic('abort', 2 * MiB)])
  const controller = new AbortController()
  async function * endless (): AsyncGenerator<Uint8Array> {
    for (let i = 0; ; i++) {
      if (i === 5) controller.abort()
      yield new Uint8Array(65536)
    }
  }
  const err = await t.throwsAsync(store.add(endless(), { signal: controller.signal }), { any: true })
  t.is((err as Error | undefined)?.name, 'AbortError')

  const reader = new AbortController()
  const catErr = await t.throwsAsync(async () => {
    for await (const _ of store.cat(cid, { signal: reader.signal })) reader.abort()
  }, { any: true })
  t.is((catErr as Error | undefined)?.name, 'AbortError')
})

test('add flushes every block it wrote, once, before resolving', async t => {
  const memory = new MemoryBlockstore()
  const written: string[] = []
  const flushed: string[][] = []
  const blockstore = {
    get: memory.get.bind(memory),
    put: async (...args: Parameters<MemoryBlockstore['put']>) => { written.push(args[0].toString()); return memory.put(...args) },
    flush: async (cids: CID[]) => { flushed.push(cids.map(String)) }
  }
  const store = new ContentStore({ blockstore })
  const { cid } = await store.add(slices(deterministic('flush', 3 * MiB + 5), 100_000))
  t.is(flushed.length, 1)
  t.deepEqual([...flushed[0]].sort(), [...written].sort())
  t.true(flushed[0].includes(cid.toString()))
  t.is(written.length, 5) // four leaves and the root
})

test('add keeps a bounded number of writes in flight', async t => {
  const memory = new MemoryBlockstore()
  let inFlight = 0
  let most = 0
  const blockstore = {
    get: memory.get.bind(memory),
    put: async (...args: Parameters<MemoryBlockstore['put']>) => {
      most = Math.max(most, ++inFlight)
      await new Promise(resolve => setImmediate(resolve))
      await new Promise(resolve => setImmediate(resolve))
      inFlight--
      return memory.put(...args)
    }
  }
  const store = new ContentStore({ blockstore, writeConcurrency: 3, profile: 'unixfs-v0-2015' })
  await store.add(slices(deterministic('bounded', 40 * 262144), MiB))
  t.true(most <= 3, `at most 3 writes in flight, saw ${most}`)
  t.true(most >= 2, 'writes overlapped')
})

test('cat reads a bounded number of blocks ahead of its consumer', async t => {
  const memory = new MemoryBlockstore()
  const store = new ContentStore({ blockstore: memory, readAhead: 4, profile: 'unixfs-v0-2015' })
  const { cid } = await store.add([deterministic('readahead', 300 * 262144)])
  let gets = 0
  const counting: Pick<Blockstore, 'get' | 'put'> = {
    put: memory.put.bind(memory),
    get: (...args: Parameters<MemoryBlockstore['get']>) => { gets++; return memory.get(...args) }
  }
  const reader = new ContentStore({ blockstore: counting, readAhead: 4 })
  const iterator = reader.cat(cid)[Symbol.asyncIterator]()
  await iterator.next()
  for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve))
  // root + first internal node + a window of leaves (and of internal siblings), not 300 leaves
  t.true(gets <= 12, `blocks fetched before the consumer pulled more: ${gets}`)
  await iterator.return?.(undefined)
})

test('content survives reopening an FsBlockstore', async t => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-content-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const bytes = deterministic('chunk-v1-seed', MiB + 1)
  const first = new ContentStore({ blockstore: new FsBlockstore({ path: dir }) })
  const { cid } = await first.add(slices(bytes, 65536))
  t.is(cid.toString(), 'bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64')

  const second = new ContentStore({ blockstore: new FsBlockstore({ path: dir }) })
  t.true((await bytesOf(second.cat(cid))).equals(bytes))
  t.true((await bytesOf(second.cat(cid, { offset: MiB - 2, length: 3 }))).equals(bytes.subarray(MiB - 2, MiB + 1)))
  t.is((await second.stat(cid)).size, bytes.length)
})

test('a per-call profile overrides the store default', async t => {
  const store = new ContentStore({ blockstore: new MemoryBlockstore(), profile: 'unixfs-v1-2025' })
  t.is((await store.add([hello], { profile: 'unixfs-v0-2015' })).cid.toString(), 'Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD')
  t.is((await store.add([hello])).cid.toString(), 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
  t.throws(() => new ContentStore({ blockstore: new MemoryBlockstore(), profile: 'nope' as CidProfileName }))
})
