import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { BucketRecord, ListedObject, MetadataStore, ObjectVersion } from '../../src/metadata/metadata-store.js'

export interface MetadataStoreFixture {
  store: MetadataStore
  teardown?: () => Promise<void>
}

export type MetadataStoreFactory = () => Promise<MetadataStoreFixture>

const T0 = new Date('2025-01-02T03:04:05.678Z')
const B = 'bucket'

function bucket (name: string, owner = 'alice', extra: Partial<BucketRecord> = {}): BucketRecord {
  return { name, owner, created: new Date(T0), region: 'us-east-1', versioning: 'Unversioned', ...extra }
}

function version (key: string, init: Partial<ObjectVersion> = {}): ObjectVersion {
  return {
    bucket: B,
    key,
    versionId: 'null',
    deleteMarker: false,
    cid: `cid-${key}`,
    size: 3,
    etag: 'acbd18db4cc2f85cedef654fccc4a4d8',
    lastModified: new Date(T0),
    owner: 'alice',
    headers: { 'content-type': 'text/plain' },
    metadata: {},
    tags: [],
    ...init,
  }
}

function marker (key: string, versionId: string): ObjectVersion {
  return version(key, { versionId, deleteMarker: true, cid: '', etag: '', size: 0, headers: {} })
}

/** Keys listed by `listObjects`, checked to be exactly what `listKeys` gives for the same options. */
async function listKeys (store: MetadataStore, options: { prefix?: string, after?: string, from?: string, limit?: number } = {}): Promise<string[]> {
  const page = (await store.listObjects(B, { limit: 1000, ...options })).map((v) => v.key)
  const keysOnly = await store.listKeys(B, { limit: 1000, ...options })
  if (JSON.stringify(keysOnly) !== JSON.stringify(page)) {
    throw new Error(`listKeys ${JSON.stringify(keysOnly)} differs from listObjects ${JSON.stringify(page)} for ${JSON.stringify(options)}`)
  }
  return page
}

/** The fields a listing shows of a version, as `listObjects` must return them. */
function listedOf (v: ObjectVersion): ListedObject {
  const listed: ListedObject = {
    key: v.key, versionId: v.versionId, isLatest: v.isLatest, deleteMarker: v.deleteMarker, size: v.size, etag: v.etag,
    lastModified: v.lastModified, owner: v.owner,
  }
  if (v.checksum !== undefined) listed.checksum = v.checksum
  if (v.storageClass !== undefined) listed.storageClass = v.storageClass
  return listed
}

function byteOrder (keys: string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
}

// A small deterministic PRNG, so the scale test inserts in a shuffled but repeatable order.
function shuffled<T> (items: T[], seed = 42): T[] {
  const out = [...items]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

async function collect (iterable: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = []
  for await (const item of iterable) out.push(item)
  return out
}

/**
 * Registers the MetadataStore compliance tests. Every test gets a fresh store from `factory`
 * (with bucket 'bucket' not yet created) and closes it afterwards.
 */
export function metadataStoreSuite (name: string, factory: MetadataStoreFactory): void {
  const it = (title: string, fn: (t: ExecutionContext, store: MetadataStore) => Promise<void>): void => {
    test(`${name}: ${title}`, async (t) => {
      const { store, teardown } = await factory()
      t.teardown(async () => {
        await store.close()
        await teardown?.()
      })
      await fn(t, store)
    })
  }

  const withBucket = (title: string, fn: (t: ExecutionContext, store: MetadataStore) => Promise<void>): void => {
    it(title, async (t, store) => {
      t.true(await store.createBucket(bucket(B)))
      await fn(t, store)
    })
  }

  // ---- buckets ----

  it('createBucket creates once; repeats and name clashes change nothing', async (t, store) => {
    const record = bucket('photos', 'alice', { ownerDisplayName: 'Alice', versioning: 'Enabled', region: 'eu-west-1' })
    t.true(await store.createBucket(record))
    t.deepEqual(await store.getBucket('photos'), record)
    t.false(await store.createBucket(record))
    t.false(await store.createBucket(bucket('photos', 'bob')))
    t.deepEqual(await store.getBucket('photos'), record)
  })

  it('getBucket of a missing bucket is undefined; optional fields stay absent', async (t, store) => {
    t.is(await store.getBucket('nope'), undefined)
    await store.createBucket(bucket('plain'))
    const got = await store.getBucket('plain')
    t.deepEqual(got, bucket('plain'))
    t.false(Object.hasOwn(got ?? {}, 'ownerDisplayName'))
  })

  it('listBuckets is sorted by name and filters by owner', async (t, store) => {
    for (const [n, owner] of [['zeta', 'alice'], ['alpha', 'bob'], ['mid', 'alice'], ['beta', 'alice']]) {
      await store.createBucket(bucket(n, owner))
    }
    t.deepEqual((await store.listBuckets()).map((b) => b.name), ['alpha', 'beta', 'mid', 'zeta'])
    t.deepEqual((await store.listBuckets('alice')).map((b) => b.name), ['beta', 'mid', 'zeta'])
    t.deepEqual((await store.listBuckets('bob')), [bucket('alpha', 'bob')])
    t.deepEqual(await store.listBuckets('carol'), [])
  })

  it('deleteBucket: missing, not-empty (objects and delete markers), deleted, repeat', async (t, store) => {
    t.is(await store.deleteBucket(B), 'missing')
    await store.createBucket(bucket(B))
    await store.putObject(version('a'))
    t.is(await store.deleteBucket(B), 'not-empty')
    await store.deleteObject(B, 'a')
    await store.putObject(marker('m', 'v1'))
    t.is(await store.deleteBucket(B), 'not-empty', 'a lone delete marker keeps the bucket')
    await store.deleteObject(B, 'm', 'v1')
    t.is(await store.deleteBucket(B), 'deleted')
    t.is(await store.getBucket(B), undefined)
    t.is(await store.deleteBucket(B), 'missing')
    t.deepEqual(await store.listBuckets(), [])
    t.true(await store.createBucket(bucket(B, 'bob')), 'the name is free again')
    t.is((await store.getBucket(B))?.owner, 'bob')
  })

  // ---- objects ----

  withBucket('putObject then getObject returns every field', async (t, store) => {
    const v = version('dir/file.txt', {
      versionId: 'v-1',
      size: 1234567890123,
      etag: '9b2cf535f27731c974343645a3985328-3',
      lastModified: new Date('2024-06-30T23:59:59.999Z'),
      headers: { 'content-type': 'image/png', 'cache-control': 'no-cache', 'content-disposition': 'inline' },
      metadata: { cid: 'x', 'my-key': 'ünïcödé value' },
      tags: [['z', '1'], ['a', '2']],
      checksum: { algorithm: 'CRC32', value: 'AAAAAA==', type: 'COMPOSITE' },
      storageClass: 'STANDARD',
      partsCount: 3,
    })
    const result = await store.putObject(v)
    t.deepEqual(result, { released: [] })
    t.deepEqual(await store.getObject(B, v.key), { ...v, isLatest: true })
    t.deepEqual(await store.getObject(B, v.key, 'v-1'), { ...v, isLatest: true })
    t.is(await store.refCount(v.cid), 1)
  })

  withBucket('optional fields that were not given stay absent', async (t, store) => {
    await store.putObject(version('k'))
    const got = await store.getObject(B, 'k')
    t.truthy(got)
    for (const field of ['checksum', 'storageClass', 'partsCount']) t.false(Object.hasOwn(got ?? {}, field), field)
  })

  withBucket('getObject of missing key, version or bucket is undefined', async (t, store) => {
    await store.putObject(version('k'))
    t.is(await store.getObject(B, 'other'), undefined)
    t.is(await store.getObject(B, 'k', 'v-nope'), undefined)
    t.is(await store.getObject('no-bucket', 'k'), undefined)
    t.is(await store.getObject(B, 'K'), undefined, 'keys are case-sensitive')
  })

  it('putObject into a missing bucket rejects and changes nothing', async (t, store) => {
    await t.throwsAsync(store.putObject(version('k')))
    t.is(await store.refCount('cid-k'), 0)
    t.deepEqual(await collect(store.referencedCids()), [])
  })

  withBucket('putObject with the same versionId replaces it and moves the reference', async (t, store) => {
    await store.putObject(version('k', { cid: 'cid-old' }))
    const result = await store.putObject(version('k', { cid: 'cid-new', size: 9 }))
    t.deepEqual(result.released, ['cid-old'])
    t.is(result.replaced?.cid, 'cid-old')
    t.is(result.replaced?.size, 3)
    t.is(await store.refCount('cid-old'), 0)
    t.is(await store.refCount('cid-new'), 1)
    t.is((await store.getObject(B, 'k'))?.cid, 'cid-new')
    t.deepEqual(await listKeys(store), ['k'])
  })

  withBucket('replacing with the same CID keeps its count and releases nothing', async (t, store) => {
    await store.putObject(version('k', { cid: 'same' }))
    const result = await store.putObject(version('k', { cid: 'same', etag: 'other' }))
    t.deepEqual(result.released, [])
    t.is(result.replaced?.etag, 'acbd18db4cc2f85cedef654fccc4a4d8')
    t.is(await store.refCount('same'), 1)
    t.is((await store.getObject(B, 'k'))?.etag, 'other')
  })

  withBucket('two keys with the same content share one CID reference count', async (t, store) => {
    await store.putObject(version('a', { cid: 'shared' }))
    await store.putObject(version('b', { cid: 'shared' }))
    t.is(await store.refCount('shared'), 2)

    const first = await store.deleteObject(B, 'a')
    t.is(first.deleted?.key, 'a')
    t.deepEqual(first.released, [])
    t.is(await store.refCount('shared'), 1)
    t.deepEqual(await collect(store.referencedCids()), ['shared'])

    const second = await store.deleteObject(B, 'b')
    t.deepEqual(second.released, ['shared'])
    t.is(await store.refCount('shared'), 0)
    t.deepEqual(await collect(store.referencedCids()), [])
  })

  withBucket('overwriting releases the old CID only when nothing else references it', async (t, store) => {
    await store.putObject(version('a', { cid: 'X' }))
    await store.putObject(version('b', { cid: 'X' }))
    t.deepEqual((await store.putObject(version('a', { cid: 'Y' }))).released, [])
    t.is(await store.refCount('X'), 1)
    t.is(await store.refCount('Y'), 1)
    t.deepEqual((await store.putObject(version('b', { cid: 'Y' }))).released, ['X'])
    t.is(await store.refCount('X'), 0)
    t.is(await store.refCount('Y'), 2)
  })

  withBucket('deleting an absent object is not an error and changes nothing', async (t, store) => {
    await store.putObject(version('k'))
    t.deepEqual(await store.deleteObject(B, 'missing'), { released: [] })
    t.deepEqual(await store.deleteObject(B, 'k', 'v-nope'), { released: [] })
    t.deepEqual(await store.deleteObject('no-bucket', 'k'), { released: [] })
    const first = await store.deleteObject(B, 'k')
    t.deepEqual(first, { deleted: { ...version('k'), isLatest: true }, released: ['cid-k'] })
    t.deepEqual(await store.deleteObject(B, 'k'), { released: [] }, 'repeat')
    t.is(await store.getObject(B, 'k'), undefined)
  })

  // ---- listing ----

  const INTERNATIONAL = [
    'a', 'A', 'z', '~', '\u007F', '\u0080', 'é', 'e\u0301', '日本', '日本語', '\uD7FF', '\uE000', '\uFFFD', '\uFFFF',
    '😀', '😀x', '\u{10000}', '\u{10FFFF}', 'a/\uFFFD', 'a/😀', 'a/\uE000b', 'a/é', 'a b', 'a+b', 'a%2Fb',
  ]

  withBucket('listObjects returns keys in UTF-8 byte order, supplementary characters after U+E000..U+FFFF', async (t, store) => {
    for (const key of shuffled(INTERNATIONAL)) await store.putObject(version(key))
    const listed = await listKeys(store)
    t.deepEqual(listed, byteOrder(INTERNATIONAL))
    const emoji = listed.indexOf('😀')
    for (const bmp of ['\uE000', '\uFFFD', '\uFFFF']) t.true(emoji > listed.indexOf(bmp), `😀 after U+${bmp.codePointAt(0)?.toString(16)}`)
    t.true(listed.indexOf('a/😀') > listed.indexOf('a/\uFFFD'))
    t.true(listed.indexOf('a/😀') > listed.indexOf('a/\uE000b'))
  })

  withBucket('paging with after through non-ASCII keys visits every key once, in order', async (t, store) => {
    for (const key of shuffled(INTERNATIONAL, 7)) await store.putObject(version(key))
    const seen: string[] = []
    let after: string | undefined
    while (true) {
      const page = await listKeys(store, { after, limit: 3 })
      if (page.length === 0) break
      t.true(page.length <= 3)
      seen.push(...page)
      after = page[page.length - 1]
    }
    t.deepEqual(seen, byteOrder(INTERNATIONAL))
  })

  withBucket('listObjects with prefix, after and from on non-ASCII keys', async (t, store) => {
    for (const key of shuffled(INTERNATIONAL)) await store.putObject(version(key))
    t.deepEqual(await listKeys(store, { prefix: 'a/' }), byteOrder(['a/\uFFFD', 'a/😀', 'a/\uE000b', 'a/é']))
    t.deepEqual(await listKeys(store, { prefix: 'a/', after: 'a/\uFFFD' }), ['a/😀'])
    t.deepEqual(await listKeys(store, { prefix: '😀' }), ['😀', '😀x'])
    t.deepEqual(await listKeys(store, { prefix: '日本' }), ['日本', '日本語'])
    t.deepEqual(await listKeys(store, { after: '\uFFFF' }), ['\u{10000}', '😀', '😀x', '\u{10FFFF}'])
    t.deepEqual(await listKeys(store, { from: '\u{10000}' }), ['\u{10000}', '😀', '😀x', '\u{10FFFF}'])
    t.deepEqual(await listKeys(store, { after: '\u{10000}', limit: 2 }), ['😀', '😀x'])
  })

  withBucket('prefix ranges are exact at code point edges', async (t, store) => {
    const keys = ['p\uD7FF', 'p\uD7FFa', 'p\uD7FF\u{10000}', 'p\uE000', 'p\u{10FFFF}', 'p\u{10FFFF}\u{10FFFF}', 'p\u{10FFFF}z', 'q', 'p', 'o\u{10FFFF}']
    for (const key of keys) await store.putObject(version(key))
    t.deepEqual(await listKeys(store, { prefix: 'p\uD7FF' }), ['p\uD7FF', 'p\uD7FFa', 'p\uD7FF\u{10000}'])
    t.deepEqual(await listKeys(store, { prefix: 'p\u{10FFFF}' }), ['p\u{10FFFF}', 'p\u{10FFFF}z', 'p\u{10FFFF}\u{10FFFF}'])
    t.deepEqual(await listKeys(store, { prefix: 'p\u{10FFFF}\u{10FFFF}' }), ['p\u{10FFFF}\u{10FFFF}'])
    t.deepEqual(await listKeys(store, { prefix: 'o' }), ['o\u{10FFFF}'])
    t.deepEqual(await listKeys(store, { prefix: 'p' }), byteOrder(keys.filter((k) => k.startsWith('p'))))
    t.deepEqual(await listKeys(store, { prefix: '' }), byteOrder(keys))
  })

  withBucket('1024-byte keys round-trip and sort by their last byte', async (t, store) => {
    const base = 'k'.repeat(1019)
    const keys = [base + '\u{1F600}a', base + '\uFFFDab', base + 'zzzzz', base + '\u00E9zzz']
    for (const key of keys) {
      t.is(Buffer.byteLength(key), 1024)
      await store.putObject(version(key))
    }
    t.deepEqual(await listKeys(store), byteOrder(keys))
    t.deepEqual(await listKeys(store, { prefix: base + '\uFFFD' }), [base + '\uFFFDab'])
    for (const key of keys) t.is((await store.getObject(B, key))?.key, key)
  })

  withBucket('seeks that land between keys, limits and combined bounds', async (t, store) => {
    const keys = ['b1', 'b3', 'b5', 'b7', 'c1', 'a9']
    for (const key of keys) await store.putObject(version(key))
    t.deepEqual(await listKeys(store, { after: 'b4' }), ['b5', 'b7', 'c1'])
    t.deepEqual(await listKeys(store, { after: 'b3' }), ['b5', 'b7', 'c1'])
    t.deepEqual(await listKeys(store, { from: 'b3' }), ['b3', 'b5', 'b7', 'c1'])
    t.deepEqual(await listKeys(store, { from: 'b4' }), ['b5', 'b7', 'c1'])
    t.deepEqual(await listKeys(store, { after: 'b', limit: 2 }), ['b1', 'b3'])
    t.deepEqual(await listKeys(store, { after: '' }), byteOrder(keys))
    t.deepEqual(await listKeys(store, { after: 'c1' }), [])
    t.deepEqual(await listKeys(store, { after: 'zzz' }), [])
    t.deepEqual(await listKeys(store, { prefix: 'b', limit: 1 }), ['b1'])
    t.deepEqual(await listKeys(store, { prefix: 'b', after: 'a' }), ['b1', 'b3', 'b5', 'b7'], 'after before the prefix')
    t.deepEqual(await listKeys(store, { prefix: 'b', after: 'b7' }), [])
    t.deepEqual(await listKeys(store, { prefix: 'b', after: 'c' }), [], 'after beyond the prefix')
    t.deepEqual(await listKeys(store, { prefix: 'b', from: 'b5' }), ['b5', 'b7'])
    t.deepEqual(await listKeys(store, { after: 'b1', from: 'b5' }), ['b5', 'b7', 'c1'], 'the later bound wins')
    t.deepEqual(await listKeys(store, { after: 'b5', from: 'b1' }), ['b7', 'c1'], 'the later bound wins')
    t.deepEqual(await listKeys(store, { after: 'b5', from: 'b5' }), ['b7', 'c1'], 'after excludes, from includes')
    t.deepEqual(await listKeys(store, { prefix: 'b9' }), [])
    t.deepEqual(await listKeys(store, { prefix: 'b1' }), ['b1'])
    t.deepEqual(await store.listObjects('no-bucket', { limit: 10 }), [])
    t.is((await store.listObjects(B, { limit: Infinity })).length, keys.length)
  })

  withBucket('listObjects returns the listing fields of latest versions, delete markers excluded', async (t, store) => {
    await store.putObject(version('a', { versionId: 'v1' }))
    await store.putObject(version('b', { versionId: 'v1' }))
    await store.putObject(marker('b', 'v2'))
    await store.putObject(marker('c', 'v1'))
    await store.putObject(version('d', { versionId: 'v1', cid: 'old' }))
    await store.putObject(version('d', { versionId: 'v2', cid: 'new' }))
    const page = await store.listObjects(B, { limit: 10 })
    t.deepEqual(page, [
      listedOf({ ...version('a', { versionId: 'v1' }), isLatest: true }),
      listedOf({ ...version('d', { versionId: 'v2', cid: 'new' }), isLatest: true }),
    ])
    t.deepEqual(await listKeys(store, { limit: 1, after: 'a' }), ['d'], 'the limit counts listed keys only')
    t.true((await store.getObject(B, 'b'))?.deleteMarker)
    t.is(await store.refCount(''), 0, 'delete markers hold no reference')

    await store.deleteObject(B, 'b')
    t.deepEqual(await listKeys(store), ['a', 'b', 'd'], 'removing the marker brings the key back')
  })

  // ---- versions ----

  withBucket('a new versionId becomes latest; deleting the latest promotes the previous one', async (t, store) => {
    await store.putObject(version('k', { versionId: 'v1', cid: 'c1' }))
    await store.putObject(version('k', { versionId: 'v2', cid: 'c2' }))
    await store.putObject(version('k', { versionId: 'v3', cid: 'c3' }))
    t.is((await store.getObject(B, 'k'))?.versionId, 'v3')
    t.is((await store.getObject(B, 'k', 'v1'))?.isLatest, false)
    t.is((await store.getObject(B, 'k', 'v3'))?.isLatest, true)

    const removedMiddle = await store.deleteObject(B, 'k', 'v2')
    t.is(removedMiddle.deleted?.isLatest, false)
    t.deepEqual(removedMiddle.released, ['c2'])
    t.is((await store.getObject(B, 'k'))?.versionId, 'v3', 'deleting an older version keeps the latest')

    const removedLatest = await store.deleteObject(B, 'k')
    t.is(removedLatest.deleted?.versionId, 'v3')
    t.is(removedLatest.deleted?.isLatest, true)
    const promoted = await store.getObject(B, 'k')
    t.is(promoted?.versionId, 'v1')
    t.is(promoted?.isLatest, true)
    t.is((await store.getObject(B, 'k', 'v1'))?.isLatest, true)
    t.deepEqual((await store.listObjects(B, { limit: 5 })).map((v) => [v.key, v.versionId]), [['k', 'v1']])
  })

  withBucket('re-putting an older versionId replaces it and makes it latest', async (t, store) => {
    await store.putObject(version('k', { versionId: 'null', cid: 'n1' }))
    await store.putObject(version('k', { versionId: 'v2', cid: 'c2' }))
    const result = await store.putObject(version('k', { versionId: 'null', cid: 'n2' }))
    t.is(result.replaced?.isLatest, false)
    t.deepEqual(result.released, ['n1'])
    t.is((await store.getObject(B, 'k'))?.versionId, 'null')
    t.is((await store.getObject(B, 'k', 'v2'))?.isLatest, false)
    await store.deleteObject(B, 'k')
    t.is((await store.getObject(B, 'k'))?.versionId, 'v2', 'v2 is next newest')
  })

  withBucket('a delete marker on top hides the key; deleting it restores the previous version', async (t, store) => {
    await store.putObject(version('k', { versionId: 'v1' }))
    const result = await store.putObject(marker('k', 'v2'))
    t.deepEqual(result, { released: [] })
    t.is((await store.getObject(B, 'k'))?.deleteMarker, true)
    t.deepEqual(await listKeys(store), [])
    t.is(await store.refCount('cid-k'), 1)
    t.deepEqual(await store.deleteObject(B, 'k', 'v2'), { deleted: { ...marker('k', 'v2'), isLatest: true }, released: [] })
    t.deepEqual(await listKeys(store), ['k'])
  })

  // ---- tags ----

  withBucket('setObjectTags replaces the tag set of the latest or a given version', async (t, store) => {
    await store.putObject(version('k', { versionId: 'v1', tags: [['a', '1']] }))
    await store.putObject(version('k', { versionId: 'v2' }))
    t.true(await store.setObjectTags(B, 'k', undefined, [['z', '26'], ['b', '2']]))
    t.deepEqual((await store.getObject(B, 'k'))?.tags, [['z', '26'], ['b', '2']])
    t.true(await store.setObjectTags(B, 'k', 'v1', []))
    t.deepEqual((await store.getObject(B, 'k', 'v1'))?.tags, [])
    t.deepEqual((await store.getObject(B, 'k', 'v2')), { ...version('k', { versionId: 'v2', tags: [['z', '26'], ['b', '2']] }), isLatest: true })
    t.false(await store.setObjectTags(B, 'k', 'v9', []))
    t.false(await store.setObjectTags(B, 'missing', undefined, []))
    t.false(await store.setObjectTags('no-bucket', 'k', undefined, []))
  })

  // ---- isolation ----

  withBucket('values go in and come out as copies', async (t, store) => {
    const input = version('k', { metadata: { m: '1' }, tags: [['t', '1']], checksum: { algorithm: 'SHA256', value: 'x', type: 'FULL_OBJECT' } })
    await store.putObject(input)
    input.metadata.m = 'changed'
    input.headers['content-type'] = 'changed'
    input.tags[0][1] = 'changed'
    input.lastModified.setTime(0)
    if (input.checksum !== undefined) input.checksum.value = 'changed'
    input.cid = 'changed'

    const expected = { ...version('k', { metadata: { m: '1' }, tags: [['t', '1']], checksum: { algorithm: 'SHA256', value: 'x', type: 'FULL_OBJECT' } }), isLatest: true }
    const got = await store.getObject(B, 'k')
    t.deepEqual(got, expected)
    if (got === undefined) return
    got.metadata.m = 'mutated'
    got.headers.x = 'mutated'
    got.tags.push(['new', 'tag'])
    got.lastModified.setTime(1)
    got.isLatest = false
    t.deepEqual(await store.getObject(B, 'k'), expected)

    const [listed] = await store.listObjects(B, { limit: 1 })
    listed.lastModified.setTime(2)
    if (listed.checksum !== undefined) listed.checksum.value = 'mutated'
    t.deepEqual(await store.getObject(B, 'k'), expected)

    const tags: Array<[string, string]> = [['a', 'b']]
    await store.setObjectTags(B, 'k', undefined, tags)
    tags[0][0] = 'mutated'
    tags.push(['x', 'y'])
    t.deepEqual((await store.getObject(B, 'k'))?.tags, [['a', 'b']])

    const deleted = await store.deleteObject(B, 'k')
    t.is(deleted.deleted?.tags[0][0], 'a')
  })

  it('bucket records go in and come out as copies', async (t, store) => {
    const record = bucket('b1', 'alice', { created: new Date(T0) })
    await store.createBucket(record)
    record.owner = 'mallory'
    record.created.setTime(0)
    const got = await store.getBucket('b1')
    t.deepEqual(got, bucket('b1'))
    if (got === undefined) return
    got.owner = 'mallory'
    got.created.setTime(0)
    t.deepEqual(await store.getBucket('b1'), bucket('b1'))
    const [listed] = await store.listBuckets()
    listed.created.setTime(0)
    t.deepEqual(await store.getBucket('b1'), bucket('b1'))
  })

  // ---- abort ----

  withBucket('an already-aborted signal rejects every method with AbortError and changes nothing', async (t, store) => {
    await store.putObject(version('k'))
    const controller = new AbortController()
    controller.abort()
    const signal = controller.signal
    // signal.reason by default is a DOMException, which is not a native Error in Node 20.
    const abort = { any: true as const, name: 'AbortError' }
    await t.throwsAsync(store.createBucket(bucket('other'), { signal }), abort)
    await t.throwsAsync(store.getBucket(B, { signal }), abort)
    await t.throwsAsync(store.listBuckets(undefined, { signal }), abort)
    await t.throwsAsync(store.deleteBucket('other', { signal }), abort)
    await t.throwsAsync(store.putObject(version('k2'), { signal }), abort)
    await t.throwsAsync(store.getObject(B, 'k', undefined, { signal }), abort)
    await t.throwsAsync(store.deleteObject(B, 'k', undefined, { signal }), abort)
    await t.throwsAsync(store.setObjectTags(B, 'k', undefined, [['a', 'b']], { signal }), abort)
    await t.throwsAsync(store.listObjects(B, { limit: 10, signal }), abort)
    await t.throwsAsync(store.refCount('cid-k', { signal }), abort)
    await t.throwsAsync(collect(store.referencedCids({ signal })), abort)

    t.is(await store.getBucket('other'), undefined)
    t.deepEqual(await store.getObject(B, 'k'), { ...version('k'), isLatest: true })
    t.is(await store.getObject(B, 'k2'), undefined)
    t.is(await store.refCount('cid-k'), 1)
    t.is(await store.refCount('cid-k2'), 0)
  })

  withBucket('a signal that is not aborted does not get in the way', async (t, store) => {
    const { signal } = new AbortController()
    await store.putObject(version('k'), { signal })
    t.is((await store.getObject(B, 'k', undefined, { signal }))?.key, 'k')
    t.deepEqual(await listKeys(store, { limit: 5 }), ['k'])
    t.deepEqual(await collect(store.referencedCids({ signal })), ['cid-k'])
  })

  // ---- references ----

  withBucket('referencedCids lists each CID with a positive count once', async (t, store) => {
    await store.putObject(version('a', { cid: 'X' }))
    await store.putObject(version('b', { cid: 'X' }))
    await store.putObject(version('c', { cid: 'Y' }))
    await store.putObject(version('d', { cid: 'Z' }))
    await store.putObject(marker('e', 'v1'))
    await store.deleteObject(B, 'd')
    t.deepEqual((await collect(store.referencedCids())).sort(), ['X', 'Y'])
    t.is(await store.refCount('X'), 2)
    t.is(await store.refCount('never'), 0)
  })

  withBucket('interleaved async writes leave consistent state and reference counts', async (t, store) => {
    const ops: Array<Promise<unknown>> = []
    for (let i = 0; i < 300; i++) {
      const key = `k${i % 20}`
      const cid = `c${i % 7}`
      if (i % 5 === 4) ops.push(store.deleteObject(B, key))
      else ops.push(store.putObject(version(key, { versionId: `v${i % 3}`, cid })))
    }
    await Promise.all(ops)

    const counts = new Map<string, number>()
    for (let i = 0; i < 20; i++) {
      const key = `k${i}`
      for (const v of ['v0', 'v1', 'v2']) {
        const got = await store.getObject(B, key, v)
        if (got !== undefined) counts.set(got.cid, (counts.get(got.cid) ?? 0) + 1)
      }
    }
    for (let c = 0; c < 7; c++) t.is(await store.refCount(`c${c}`), counts.get(`c${c}`) ?? 0, `c${c}`)
    t.deepEqual((await collect(store.referencedCids())).sort(), [...counts.keys()].sort())

    const listed = await store.listObjects(B, { limit: 100 })
    for (const v of listed) {
      t.true(v.isLatest)
      t.deepEqual(listedOf(await store.getObject(B, v.key) as ObjectVersion), v)
    }
  })

  // ---- scale ----

  withBucket('20k keys: a page from the middle is exactly the right keys', async (t, store) => {
    const n = 20000
    const keyOf = (i: number): string => `data/${String(i).padStart(6, '0')}`
    const order = shuffled(Array.from({ length: n }, (_, i) => i))
    for (const i of order) await store.putObject(version(keyOf(i), { cid: `cid-${i}` }))

    const expectRange = (from: number, count: number): string[] => Array.from({ length: count }, (_, j) => keyOf(from + j))
    t.deepEqual(await listKeys(store, { after: keyOf(10000), limit: 50 }), expectRange(10001, 50))
    t.deepEqual(await listKeys(store, { from: keyOf(12345), limit: 3 }), expectRange(12345, 3))
    t.deepEqual(await listKeys(store, { prefix: 'data/0123', limit: 100 }), expectRange(12300, 100))
    t.deepEqual(await listKeys(store, { prefix: 'data/01234', after: keyOf(12345), limit: 100 }), expectRange(12346, 4))
    t.deepEqual(await listKeys(store, { after: keyOf(n - 3), limit: 10 }), expectRange(n - 2, 2))
    t.deepEqual(await listKeys(store, { limit: 2 }), expectRange(0, 2))

    t.is((await collect(store.referencedCids())).length, n)
    for (let i = 9000; i < 11000; i++) await store.deleteObject(B, keyOf(i))
    t.deepEqual(await listKeys(store, { after: keyOf(8998), limit: 3 }), [keyOf(8999), keyOf(11000), keyOf(11001)])
    t.is((await collect(store.referencedCids())).length, n - 2000)
  })
}
