import test from 'ava'
import type { Pinner } from '../src/content/pins.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'
import type { MetadataStore } from '../src/metadata/metadata-store.js'
import { PinnedMetadataStore } from '../src/metadata/pinned.js'
import { compareKeys, lowerBound, prefixSuccessor, seekStart } from '../src/metadata/key-order.js'
import { jobQueueSuite } from './compliance/job-queue.suite.js'
import { metadataStoreSuite } from './compliance/metadata-store.suite.js'
import { pinStoreSuite } from './compliance/pin-store.suite.js'
import { archiveStoreSuite } from './compliance/archive-store.suite.js'
import { searchIndexSuite } from './compliance/search-index.suite.js'
import { snapshotStoreSuite } from './compliance/snapshot-store.suite.js'

metadataStoreSuite('MemoryMetadataStore', async () => ({ store: new MemoryMetadataStore() }))
jobQueueSuite('MemoryMetadataStore', async () => ({ store: new MemoryMetadataStore() }))
pinStoreSuite('MemoryMetadataStore', async () => ({ store: new MemoryMetadataStore() }))
archiveStoreSuite('MemoryMetadataStore', async () => ({ store: new MemoryMetadataStore() }))
searchIndexSuite('MemoryMetadataStore', async () => ({ store: new MemoryMetadataStore() }))
snapshotStoreSuite('MemoryMetadataStore', async () => ({ store: new MemoryMetadataStore() }))

const byteCompare = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))

test('compareKeys agrees with UTF-8 byte comparison', (t) => {
  const samples = ['', 'a', 'ab', 'b', '\u007F', '\u0080', '\u07FF', '\u0800', '\uD7FF', '\uE000', '\uFFFD', '\uFFFF',
    '\u{10000}', '😀', '😀a', '\u{10FFFF}', 'a\u{10000}', 'a\uFFFF', 'a\0', '日本', 'é']
  for (const a of samples) {
    for (const b of samples) t.is(Math.sign(compareKeys(a, b)), Math.sign(byteCompare(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`)
  }
})

test('prefixSuccessor bounds exactly the strings with that prefix', (t) => {
  t.is(prefixSuccessor(''), undefined)
  t.is(prefixSuccessor('ab'), 'ac')
  t.is(prefixSuccessor('a\uD7FF'), 'a\uE000')
  t.is(prefixSuccessor('a\uFFFF'), 'a\u{10000}')
  t.is(prefixSuccessor('a\u{1F600}'), 'a\u{1F601}')
  t.is(prefixSuccessor('a\u{10FFFF}\u{10FFFF}'), 'b')
  t.is(prefixSuccessor('\u{10FFFF}'), undefined)
})

test('seekStart takes the latest of prefix, from and just-after', (t) => {
  t.is(seekStart({}), undefined)
  t.is(seekStart({ after: 'b' }), 'b\0')
  t.is(seekStart({ prefix: 'c', after: 'b' }), 'c')
  t.is(seekStart({ prefix: 'c', after: 'c' }), 'c\0')
  t.is(seekStart({ from: '\u{10000}', after: '\uFFFF' }), '\u{10000}')
})

test('lowerBound finds the first key not below the probe', (t) => {
  const keys = ['a', 'c', '\uE000', '😀']
  t.is(lowerBound(keys, ''), 0)
  t.is(lowerBound(keys, 'b'), 1)
  t.is(lowerBound(keys, 'c'), 1)
  t.is(lowerBound(keys, '\uFFFD'), 3)
  t.is(lowerBound(keys, '😁'), 4)
})

test('PinnedMetadataStore forwards stats and ping when the store it wraps has them, and has none when it has not', async (t) => {
  const pinner: Pinner = { pin: async () => {}, unpin: async () => {}, pinned: async function * () {} }
  const inner = new MemoryMetadataStore()
  const pinned = new PinnedMetadataStore(inner, pinner)
  await pinned.createBucket({ name: 'b', owner: 'o', created: new Date(0), region: 'us-east-1', versioning: 'Unversioned' })
  t.deepEqual(await pinned.stats?.(), { buckets: 1, objects: 0, bytes: 0, uploads: 0 })
  t.deepEqual(await pinned.stats?.({ bucket: 'b' }), { buckets: 1, objects: 0, bytes: 0, uploads: 0 })
  t.is(await pinned.stats?.({ bucket: 'nope' }), undefined)
  await t.notThrowsAsync(async () => { await pinned.ping?.() })
  await pinned.close()
  await t.throwsAsync(async () => { await pinned.ping?.() }, { code: 'ERR_STORE_CLOSED' } as never)

  const bare = Object.create(new MemoryMetadataStore(), { stats: { value: undefined }, ping: { value: undefined } }) as MetadataStore
  const without = new PinnedMetadataStore(bare, pinner)
  t.is(without.stats, undefined)
  t.is(without.ping, undefined)
})

test('PinnedMetadataStore: a pin becoming pinned is pinned on the node first; its last release unpins it', async (t) => {
  const calls: string[] = []
  const pinner: Pinner = { pin: async (cid) => { calls.push(`pin ${cid}`) }, unpin: async (cid) => { calls.push(`unpin ${cid}`) }, pinned: async function * () {} }
  const store = new PinnedMetadataStore(new MemoryMetadataStore(), pinner)
  const cid = 'bafkqaaa'
  const record = { requestId: 'r1', owner: 'o', cid, origins: [], meta: {}, status: 'queued' as const, created: new Date(0), updated: new Date(0) }
  await store.createPin(record)
  t.deepEqual(calls, [], 'a queued pin references nothing')
  t.true(await store.setPinStatus('r1', 'pinned'))
  t.deepEqual(calls, [`pin ${cid}`])
  t.like(await store.replacePin('r1', { ...record, requestId: 'r2' }), { status: 'pinned' })
  t.deepEqual(calls, [`pin ${cid}`], 'the reference carried over: no unpin')
  t.deepEqual((await store.deletePin('r2')).released, [cid])
  t.deepEqual(calls, [`pin ${cid}`, `unpin ${cid}`])
  await store.createPin({ ...record, requestId: 'r3', status: 'pinned' })
  t.true(await store.setPinStatus('r3', 'failed'))
  t.deepEqual(calls.slice(2), [`pin ${cid}`, `unpin ${cid}`], 'leaving pinned releases, and unpins')
  t.false(await store.setPinStatus('absent', 'pinned'))
})
