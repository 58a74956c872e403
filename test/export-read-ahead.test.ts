import test from 'ava'
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Blockstore } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { ContentStore } from '../src/content/content-store.js'
import { blocksFetchedAhead, primeChunks, type ContentChunks } from '../src/content/export.js'
import { observeIteration } from '../src/observability/iteration.js'
import { deterministicBytes } from './helpers/s3.js'

// Its own file (its own process under ava): the read-ahead budget is shared by every export in a
// process, and other files' reads would count.

const BLOCK = 256 * 1024
const BYTES = deterministicBytes('export-read-ahead', 40 * BLOCK)
const MD5 = createHash('md5').update(BYTES).digest('hex')

/** Content in memory, and a reader of it whose every block read takes a few milliseconds. */
async function slowContent (): Promise<{ cid: CID, reader: ContentStore, most: () => number }> {
  const memory = new MemoryBlockstore()
  const { cid } = await new ContentStore({ blockstore: memory, profile: 'unixfs-v0-2015' }).add([BYTES])
  let reading = 0
  let most = 0
  const slow: Pick<Blockstore, 'get' | 'put'> = {
    put: memory.put.bind(memory),
    get: async function * (...args: Parameters<MemoryBlockstore['get']>) {
      reading++
      most = Math.max(most, reading)
      try {
        await sleep(3)
        yield * memory.get(...args)
      } finally {
        reading--
      }
    }
  }
  return { cid, reader: new ContentStore({ blockstore: slow, readAhead: 4 }), most: () => most }
}

async function md5Of (chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('md5')
  for await (const chunk of chunks) hash.update(chunk)
  return hash.digest('hex')
}

test.serial('many exports at once share the read-ahead: reads in flight stay bounded, and every export is whole', async t => {
  const { cid, reader, most } = await slowContent()
  const readers = 10
  const digests = await Promise.all(Array.from({ length: readers }, async () => await md5Of(reader.cat(cid))))
  for (const digest of digests) t.is(digest, MD5)
  // 16 ahead across all exports, plus the block each one is returning (and the root and node above)
  t.true(most() <= 16 + 2 * readers, `${most()} block reads were in flight at once (10 exports × 4 ahead would be 50)`)
  t.is(blocksFetchedAhead(), 0)
})

test.serial('one export alone still reads its full window ahead', async t => {
  const { cid, reader, most } = await slowContent()
  t.is(await md5Of(reader.cat(cid)), MD5)
  t.true(most() >= 4, `${most()} block reads in flight at most`)
})

test.serial('exports stopped early give their share back', async t => {
  const { cid, reader } = await slowContent()
  await Promise.all(Array.from({ length: 6 }, async () => {
    const chunks = reader.cat(cid)[Symbol.asyncIterator]()
    await chunks.next()
    await chunks.next()
    await chunks.return?.(undefined)
  }))
  t.is(blocksFetchedAhead(), 0)
  t.is(await md5Of(reader.cat(cid)), MD5)
})

test.serial('a primed export returned before it is read, as by an HTTP answer whose client left, gives its share back', async t => {
  const { cid, reader } = await slowContent()
  const primed = await primeChunks(reader.cat(cid) as ContentChunks)
  t.true(blocksFetchedAhead() > 0, 'the first block read, and the next ones being read ahead')
  await primed.return(undefined)
  t.is(blocksFetchedAhead(), 0)
  // The same through the request observer's wrapper, which is what an adapter holds.
  const observed = observeIteration(await primeChunks(reader.cat(cid) as ContentChunks), undefined, () => {})
  t.true(blocksFetchedAhead() > 0)
  await observed.return?.(undefined)
  t.is(blocksFetchedAhead(), 0)
  t.is(await md5Of(reader.cat(cid)), MD5)
})
