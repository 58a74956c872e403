import test from 'ava'
import type { CID } from 'multiformats/cid'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { importContent } from '../src/content/import.js'

import { deterministicBytes } from './helpers/s3.js'

const MiB = 1 << 20


async function * slices (data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size)
}

test('a large import flushes in batches while it runs: every written block once, each after its put', async t => {
  const memory = new MemoryBlockstore()
  const written = new Set<string>()
  const flushed: string[] = []
  let calls = 0
  const target = {
    put: async (cid: CID, block: Uint8Array) => { await memory.put(cid, block); written.add(cid.toString()); return cid },
    flush: async (cids: CID[]) => {
      calls++
      for (const cid of cids) {
        t.true(written.has(cid.toString()), 'flushed only after its put resolved')
        flushed.push(cid.toString())
      }
    }
  }
  const data = deterministicBytes('batches', 40 * MiB + 3)
  const { cid, size } = await importContent(slices(data, 65_536), target, { profile: 'unixfs-v1-2025' })
  t.is(size, data.length)
  t.true(calls > 1)
  t.is(flushed.length, written.size)
  t.deepEqual([...flushed].sort(), [...written].sort())
  t.true(flushed.includes(cid.toString()))
})

test('a background flush failure fails the import', async t => {
  const memory = new MemoryBlockstore()
  const target = {
    put: async (cid: CID, block: Uint8Array) => { await memory.put(cid, block); return cid },
    flush: async () => { throw new Error('disk on fire') }
  }
  await t.throwsAsync(importContent(slices(deterministicBytes('fail', 40 * MiB), 65_536), target, { profile: 'unixfs-v1-2025' }), { message: 'disk on fire' })
})
