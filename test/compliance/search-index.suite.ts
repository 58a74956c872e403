import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { MetadataStore, ObjectVersion } from '../../src/metadata/metadata-store.js'
import type { SearchDriver } from '../../src/metadata/search.js'
import { cidTerm, mediaTypeTerm, metadataTerm, storageClassTerm, tagKeyTerm, tagTerm } from '../../src/metadata/search.js'
import type { MetadataStoreFactory } from './metadata-store.suite.js'

const T0 = new Date('2025-01-02T03:04:05.000Z')
const at = (ms: number): Date => new Date(T0.getTime() + ms)

function version (key: string, init: Partial<ObjectVersion> = {}): ObjectVersion {
  return {
    bucket: 'b', key, versionId: 'null', deleteMarker: false, cid: `cid-${key}`, size: 3, etag: 'e', lastModified: T0,
    owner: 'alice', headers: {}, metadata: {}, tags: [], ...init,
  }
}

/**
 * The metadata search index every MetadataStore keeps (src/metadata/search.ts): the current objects
 * of a bucket by term, size and time, always in key order, following every change that moves a
 * key's latest version, its tags or its storage class.
 */
export function searchIndexSuite (name: string, factory: MetadataStoreFactory): void {
  const it = (title: string, fn: (t: ExecutionContext, store: MetadataStore) => Promise<void>): void => {
    test(`${name}: search: ${title}`, async (t) => {
      const { store, teardown } = await factory()
      try {
        await store.createBucket({ name: 'b', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Enabled' })
        await store.createBucket({ name: 'other', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Enabled' })
        await fn(t, store)
      } finally {
        await store.close()
        await teardown?.()
      }
    })
  }
  const keys = async (store: MetadataStore, driver: SearchDriver, options: { prefix?: string, after?: string, limit?: number } = {}): Promise<string[]> =>
    (await store.searchObjects('b', driver, { limit: 100, ...options })).map((v) => v.key)

  it('each kind of term selects the current objects carrying it, in key order', async (t, store) => {
    await store.putObject(version('photos/b.png', { headers: { 'content-type': 'Image/PNG; charset=binary' }, tags: [['project', 'alpha'], ['team', 'x']], metadata: { owner: 'bob' } }))
    await store.putObject(version('photos/a.png', { headers: { 'content-type': 'image/png' }, tags: [['project', 'beta']], storageClass: 'GLACIER_IR', cid: 'shared' }))
    await store.putObject(version('docs/c.txt', { headers: { 'content-type': 'text/plain' }, tags: [['project', 'alpha']], metadata: { owner: 'carol' }, cid: 'shared' }))
    await store.putObject(version('x', { bucket: 'other', tags: [['project', 'alpha']] }))

    t.deepEqual(await keys(store, { term: tagTerm('project', 'alpha') }), ['docs/c.txt', 'photos/b.png'])
    t.deepEqual(await keys(store, { term: tagKeyTerm('project') }), ['docs/c.txt', 'photos/a.png', 'photos/b.png'])
    t.deepEqual(await keys(store, { term: tagKeyTerm('team') }), ['photos/b.png'])
    t.deepEqual(await keys(store, { term: metadataTerm('owner', 'bob') }), ['photos/b.png'])
    t.deepEqual(await keys(store, { term: mediaTypeTerm('image/png') }), ['photos/a.png', 'photos/b.png'], 'the media type, parameters and ASCII case aside')
    t.deepEqual(await keys(store, { term: storageClassTerm(undefined) }), ['docs/c.txt', 'photos/b.png'], 'no class is STANDARD')
    t.deepEqual(await keys(store, { term: storageClassTerm('GLACIER_IR') }), ['photos/a.png'])
    t.deepEqual(await keys(store, { term: cidTerm('shared') }), ['docs/c.txt', 'photos/a.png'])
    t.deepEqual(await keys(store, { term: tagTerm('project', 'gamma') }), [])
    t.deepEqual(await keys(store, { term: tagTerm('projec', 'talpha') }), [], 'a key and value never read as another pair')

    t.deepEqual(await keys(store, { term: tagKeyTerm('project') }, { prefix: 'photos/' }), ['photos/a.png', 'photos/b.png'])
    t.deepEqual(await keys(store, { term: tagKeyTerm('project') }, { after: 'docs/c.txt', limit: 1 }), ['photos/a.png'])
    t.deepEqual(await keys(store, { term: tagKeyTerm('project') }, { prefix: 'photos/', after: 'photos/a.png' }), ['photos/b.png'])
    t.deepEqual(await keys(store, { all: true }, { prefix: 'photos/' }), ['photos/a.png', 'photos/b.png'])
    t.deepEqual((await store.searchObjects('other', { term: tagTerm('project', 'alpha') }, { limit: 10 })).map((v) => v.key), ['x'])
    t.deepEqual(await store.searchObjects('missing', { term: tagTerm('project', 'alpha') }, { limit: 10 }), [])

    const [found] = await store.searchObjects('b', { term: metadataTerm('owner', 'bob') }, { limit: 10 })
    t.like(found, { key: 'photos/b.png', versionId: 'null', isLatest: true, cid: 'cid-photos/b.png', size: 3, metadata: { owner: 'bob' } })
    t.deepEqual(found.tags, [['project', 'alpha'], ['team', 'x']])
  })

  it('follows overwrites, delete markers, deleted versions, tag changes and storage class changes', async (t, store) => {
    const alpha = { term: tagTerm('project', 'alpha') }
    await store.putObject(version('k', { versionId: 'v1', tags: [['project', 'alpha']] }))
    await store.putObject(version('k', { versionId: 'v2', tags: [['project', 'beta']] }))
    t.deepEqual(await keys(store, alpha), [], 'only the latest version is current')
    t.deepEqual(await keys(store, { term: tagTerm('project', 'beta') }), ['k'])

    await store.setObjectTags('b', 'k', 'v1', [['project', 'gamma']])
    t.deepEqual(await keys(store, { term: tagTerm('project', 'gamma') }), [], 'a noncurrent version\'s tags are not searched')
    await store.setObjectTags('b', 'k', undefined, [['project', 'alpha']])
    t.deepEqual(await keys(store, alpha), ['k'])
    t.deepEqual(await keys(store, { term: tagTerm('project', 'beta') }), [])

    await store.putObject(version('k', { versionId: 'dm', deleteMarker: true, cid: '', size: 0, etag: '' }))
    t.deepEqual(await keys(store, alpha), [], 'a delete marker hides the key')
    t.deepEqual(await keys(store, { term: storageClassTerm(undefined) }), [])
    t.deepEqual(await keys(store, { size: {} }), [])
    await store.deleteObject('b', 'k', 'dm')
    t.deepEqual(await keys(store, alpha), ['k'], 'the version under the marker is current again')
    await store.deleteObject('b', 'k', 'v2')
    t.deepEqual(await keys(store, alpha), [])
    t.deepEqual(await keys(store, { term: tagTerm('project', 'gamma') }), ['k'], 'v1 is current, with its own tags')

    const changed = await store.setVersionArchive('b', 'k', 'v1', { cid: 'cid-k', storageClass: 'GLACIER', archive: { target: 't', location: {}, archived: T0 } })
    t.is(changed.status, 'changed')
    t.deepEqual(await keys(store, { term: storageClassTerm('GLACIER') }), ['k'])
    t.deepEqual(await keys(store, { term: storageClassTerm(undefined) }), [])

    await store.deleteObject('b', 'k', 'v1')
    for (const driver of [{ term: tagTerm('project', 'gamma') }, { term: storageClassTerm('GLACIER') }, { size: {} }, { modified: {} }, { all: true }] as SearchDriver[]) {
      t.deepEqual(await keys(store, driver), [], JSON.stringify(driver))
    }
  })

  it('size and time ranges select in key order, whatever order their values are in', async (t, store) => {
    const sizes: Record<string, number> = { a: 500, b: 10, c: 100, d: 100, e: 0 }
    for (const [key, size] of Object.entries(sizes)) await store.putObject(version(key, { size, lastModified: at(size * 1000) }))
    t.deepEqual(await keys(store, { size: { min: 10, max: 100 } }), ['b', 'c', 'd'], 'both ends inclusive')
    t.deepEqual(await keys(store, { size: { min: 100 } }), ['a', 'c', 'd'])
    t.deepEqual(await keys(store, { size: { max: 0 } }), ['e'])
    t.deepEqual(await keys(store, { size: { min: 10 } }, { after: 'b', limit: 2 }), ['c', 'd'])
    t.deepEqual(await keys(store, { modified: { from: at(10_000).getTime(), to: at(100_000).getTime() } }), ['b'], 'from inclusive, to exclusive')
    t.deepEqual(await keys(store, { modified: { from: at(100_000).getTime() } }), ['a', 'c', 'd'])
    t.is(await store.countSearch('b', { size: { min: 10 } }, { cap: 100 }), 4)
    t.is(await store.countSearch('b', { size: { min: 10 } }, { cap: 2 }), 2, 'counting stops at the cap')
    t.is(await store.countSearch('b', { size: { min: 10 } }, { cap: 100, after: 'c' }), 1)
  })

  it('counts a term\'s objects up to a cap, under a prefix and after a key', async (t, store) => {
    for (let i = 0; i < 30; i++) await store.putObject(version(`k${String(i).padStart(2, '0')}`, { tags: [['even', String(i % 2 === 0)]] }))
    const even = { term: tagTerm('even', 'true') }
    t.is(await store.countSearch('b', even, { cap: 1000 }), 15)
    t.is(await store.countSearch('b', even, { cap: 4 }), 4)
    t.is(await store.countSearch('b', even, { cap: 1000, prefix: 'k1' }), 5)
    t.is(await store.countSearch('b', even, { cap: 1000, after: 'k20' }), 4)
    t.is(await store.countSearch('b', { term: tagTerm('even', 'maybe') }, { cap: 1000 }), 0)
  })

  it('long values are cut to one term, which may select a few more objects than it names; keys sort in UTF-8 byte order', async (t, store) => {
    const long = 'v'.repeat(300)
    await store.putObject(version('one', { metadata: { note: `${long}1` } }))
    await store.putObject(version('two', { metadata: { note: `${long}2` } }))
    t.deepEqual(await keys(store, { term: metadataTerm('note', `${long}1`) }), ['one', 'two'], 'the caller checks each object it reads')
    const emoji = '\u{1F600}'
    await store.putObject(version('\uFFFD', { tags: [['t', emoji.repeat(300)]] }))
    await store.putObject(version(emoji, { tags: [['t', emoji.repeat(300)]] }))
    t.deepEqual(await keys(store, { term: tagTerm('t', emoji.repeat(300)) }), ['\uFFFD', emoji], 'cut at a code point, keys in UTF-8 order')
    t.deepEqual(await keys(store, { term: tagKeyTerm('t') }, { after: '\uFFFD' }), [emoji])
  })
}
