import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FsBlockstore } from '../src/blockstores/fs.js'
import { MemoryBlockstore } from '../src/blockstores/memory.js'
import { PackBlockstore } from '../src/blockstores/pack.js'
import { ageFiles, blockstoreSuite, sweepSuite } from './compliance/blockstore.suite.js'

blockstoreSuite('MemoryBlockstore', () => ({ store: new MemoryBlockstore() }))

blockstoreSuite('FsBlockstore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-fs-'))
  return {
    store: new FsBlockstore({ path: join(dir, 'blocks') }),
    teardown: async () => { await rm(dir, { recursive: true, force: true }) }
  }
})

sweepSuite('MemoryBlockstore', () => {
  let clock = Date.now()
  return {
    store: new MemoryBlockstore({ now: () => clock }),
    now: () => clock,
    advance: async ms => { clock += ms }
  }
})

sweepSuite('FsBlockstore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-fs-'))
  const path = join(dir, 'blocks')
  return {
    store: new FsBlockstore({ path }),
    now: Date.now,
    advance: async ms => { await ageFiles(path, ms) },
    teardown: async () => { await rm(dir, { recursive: true, force: true }) }
  }
})

blockstoreSuite('PackBlockstore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-pack-'))
  const store = new PackBlockstore({ path: join(dir, 'blocks') })
  return {
    store,
    teardown: async () => {
      await store.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
})

sweepSuite('PackBlockstore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-pack-'))
  let clock = Date.now()
  const store = new PackBlockstore({ path: join(dir, 'blocks'), now: () => clock })
  return {
    store,
    now: () => clock,
    advance: async ms => { clock += ms },
    teardown: async () => {
      await store.close()
      await rm(dir, { recursive: true, force: true })
    }
  }
})
