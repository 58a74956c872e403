import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { blockstoreSuite } from './compliance/blockstore.suite.js'

blockstoreSuite('MemoryBlockstore', () => ({ store: new MemoryBlockstore() }))

blockstoreSuite('FsBlockstore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-fs-'))
  return {
    store: new FsBlockstore({ path: join(dir, 'blocks') }),
    teardown: async () => { await rm(dir, { recursive: true, force: true }) }
  }
})
