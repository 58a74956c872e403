import test from 'ava'
import type { ExecutionContext } from 'ava'
import type {
  BucketRecord, CidMatch, CompletedUpload, ListedObject, MetadataStore, MultipartUpload, ObjectVersion, StoreStats, UploadedPart, UploadListOptions,
  VersionListOptions,
} from '../../src/metadata/metadata-store.js'

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

function upload (key: string, uploadId: string, init: Partial<MultipartUpload> = {}): MultipartUpload {
  return {
    bucket: B, key, uploadId, initiated: new Date(T0), owner: 'alice', headers: {}, metadata: {}, tags: [], profile: 'unixfs-v1', ...init,
  }
}

function part (partNumber: number, cid = `part-${partNumber}`, init: Partial<UploadedPart> = {}): UploadedPart {
  return { partNumber, cid, size: 5 * 1024 * 1024, etag: '5d41402abc4b2a76b9719d911017c592', lastModified: new Date(T0), ...init }
}

/** The version a completed upload becomes, and the record kept for its retries. */
function completion (key: string, uploadId: string, cid: string, init: { partSizes?: number[], completed?: Date, versionId?: string } = {}): [ObjectVersion, CompletedUpload] {
  const partSizes = init.partSizes ?? [5 * 1024 * 1024, 7]
  const etag = `9b2cf535f27731c974343645a3985328-${partSizes.length}`
  const versionId = init.versionId ?? 'null'
  const v = version(key, { versionId, cid, etag, size: partSizes.reduce((a, b) => a + b, 0), partsCount: partSizes.length, partSizes })
  const record: CompletedUpload = {
    bucket: B, key, uploadId, versionId, etag, cid, partsDigest: `digest-${uploadId}`, completed: init.completed ?? new Date(T0),
  }
  return [v, record]
}

/** A store's totals, or one bucket's. */
type StatsOf = (bucket?: string) => Promise<StoreStats | undefined>

/** [key, uploadId] of each upload `listUploads` gives. */
async function listUploadIds (store: MetadataStore, options: Partial<UploadListOptions> = {}): Promise<Array<[string, string]>> {
  return (await store.listUploads(B, { limit: 1000, ...options })).map((u) => [u.key, u.uploadId])
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

/** [key, versionId] of each version `listVersions` gives. */
async function listVersionIds (store: MetadataStore, options: Partial<VersionListOptions> = {}): Promise<Array<[string, string]>> {
  return (await store.listVersions(B, { limit: 1000, ...options })).map((v) => [v.key, v.versionId])
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

function byteCompare (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

function byteOrder (keys: string[]): string[] {
  return [...keys].sort(byteCompare)
}

/**
 * Writes versions of several keys round by round, delete markers among them, and re-puts the 'null'
 * version of 'b' from under two newer ones. Returns every [key, versionId] in listing order: keys
 * in UTF-8 byte order, each key's versions newest (most recently written) first.
 */
async function writeInterleaved (store: MetadataStore): Promise<Array<[string, string]>> {
  const keys = ['b', 'a/😀', '😀', 'a', '\uFFFF', 'a/\uFFFD', '日本', 'a/é', 'm']
  const chains = new Map<string, string[]>()
  const put = async (v: ObjectVersion): Promise<void> => {
    await store.putObject(v)
    chains.set(v.key, [v.versionId, ...(chains.get(v.key) ?? []).filter((id) => id !== v.versionId)])
  }
  for (let round = 0; round < 4; round++) {
    for (const [i, key] of keys.entries()) {
      if (key === 'm') {
        if (round === 1) await put(marker(key, 'dm'))
      } else if ((i + round) % 3 === 2) {
        await put(marker(key, `dm${round}`))
      } else {
        const versionId = round === 0 || (key === 'b' && round === 3) ? 'null' : `v${round}`
        await put(version(key, { versionId, cid: `cid-${key}-${round}`, size: round, lastModified: new Date(T0.getTime() + round) }))
      }
    }
  }
  return byteOrder([...chains.keys()]).flatMap((key) => (chains.get(key) ?? []).map((id): [string, string] => [key, id]))
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

  it('a bucket\'s CID profile round-trips through getBucket and listBuckets; a bucket without one has none', async (t, store) => {
    await store.createBucket(bucket('legacy', 'alice', { cidProfile: 'unixfs-v0-2015' }))
    await store.createBucket(bucket('modern', 'alice', { cidProfile: 'unixfs-v1-2025' }))
    await store.createBucket(bucket('unset'))
    t.deepEqual(await store.getBucket('legacy'), bucket('legacy', 'alice', { cidProfile: 'unixfs-v0-2015' }))
    t.is((await store.getBucket('modern'))?.cidProfile, 'unixfs-v1-2025')
    t.false(Object.hasOwn(await store.getBucket('unset') ?? {}, 'cidProfile'), 'absent, not undefined or null')
    t.deepEqual((await store.listBuckets('alice')).map((b) => [b.name, b.cidProfile]),
      [['legacy', 'unixfs-v0-2015'], ['modern', 'unixfs-v1-2025'], ['unset', undefined]])
    t.false(await store.createBucket(bucket('legacy', 'alice', { cidProfile: 'unixfs-v1-2025' })))
    t.is((await store.getBucket('legacy'))?.cidProfile, 'unixfs-v0-2015', 'a repeated create does not change it')
    t.true(await store.setBucketVersioning('legacy', 'Enabled'))
    t.is((await store.getBucket('legacy'))?.cidProfile, 'unixfs-v0-2015', 'nor does a versioning change')
  })

  it('setBucketVersioning sets the state getBucket and listBuckets show; false for a missing bucket', async (t, store) => {
    t.false(await store.setBucketVersioning('nope', 'Enabled'))
    t.is(await store.getBucket('nope'), undefined, 'it creates nothing')
    await store.createBucket(bucket('photos', 'alice', { ownerDisplayName: 'Alice' }))
    await store.createBucket(bucket('other'))
    t.true(await store.setBucketVersioning('photos', 'Enabled'))
    t.deepEqual(await store.getBucket('photos'), bucket('photos', 'alice', { ownerDisplayName: 'Alice', versioning: 'Enabled' }))
    t.true(await store.setBucketVersioning('photos', 'Suspended'))
    t.is((await store.getBucket('photos'))?.versioning, 'Suspended')
    t.true(await store.setBucketVersioning('photos', 'Suspended'), 'repeating it is fine')
    t.true(await store.setBucketVersioning('photos', 'Enabled'))
    t.deepEqual((await store.listBuckets()).map((b) => [b.name, b.versioning]), [['other', 'Unversioned'], ['photos', 'Enabled']])
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
      partSizes: [5242880, 5242880, 17],
      partChecksums: ['AAAAAQ==', 'AAAAAg==', 'AAAAAw=='],
    })
    const result = await store.putObject(v)
    t.deepEqual(result, { released: [] })
    t.deepEqual(await store.getObject(B, v.key), { ...v, isLatest: true })
    t.deepEqual(await store.getObject(B, v.key, 'v-1'), { ...v, isLatest: true })
    t.is(await store.refCount(v.cid), 1)
  })

  withBucket('a write with sourceCid commits only while that content is referenced (copies never resurrect released content)', async (t, store) => {
    await store.putObject(version('src', { cid: 'cid-shared' }))
    await store.putObject(version('copy-1', { cid: 'cid-shared' }), { sourceCid: 'cid-shared' })
    t.is(await store.refCount('cid-shared'), 2)
    await store.deleteObject(B, 'src', 'null')
    await store.deleteObject(B, 'copy-1', 'null')
    t.is(await store.refCount('cid-shared'), 0)
    const rejected = await t.throwsAsync(store.putObject(version('copy-2', { cid: 'cid-shared' }), { sourceCid: 'cid-shared' }))
    t.is((rejected as Error & { code?: string }).code, 'ERR_SOURCE_RELEASED')
    t.is(await store.getObject(B, 'copy-2'), undefined)
    t.is(await store.refCount('cid-shared'), 0)

    await store.createUpload(upload('mp', 'u-1'))
    const partRejected = await t.throwsAsync(store.putPart(B, 'mp', 'u-1', part(1, 'cid-shared'), { sourceCid: 'cid-shared' }))
    t.is((partRejected as Error & { code?: string }).code, 'ERR_SOURCE_RELEASED')
    t.deepEqual(await store.listParts(B, 'mp', 'u-1', { limit: 10 }), [])
    await store.putObject(version('again', { cid: 'cid-shared' }))
    t.truthy(await store.putPart(B, 'mp', 'u-1', part(1, 'cid-shared'), { sourceCid: 'cid-shared' }))
    t.is(await store.refCount('cid-shared'), 2)
  })

  withBucket('optional fields that were not given stay absent', async (t, store) => {
    await store.putObject(version('k'))
    const got = await store.getObject(B, 'k')
    t.truthy(got)
    for (const field of ['checksum', 'storageClass', 'partsCount', 'partSizes', 'partChecksums']) t.false(Object.hasOwn(got ?? {}, field), field)
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
    t.deepEqual((await store.listVersions(B, { limit: 10 })).map((v) => [v.versionId, v.isLatest]), [['v3', true], ['v2', false], ['v1', false]])

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
    t.deepEqual((await store.listVersions(B, { limit: 10 })).map((v) => [v.versionId, v.isLatest]), [['v1', true]])
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
    t.deepEqual(await store.getObject(B, 'k'), { ...marker('k', 'v2'), isLatest: true }, 'the latest is the marker')
    t.is((await store.getObject(B, 'k', 'v1'))?.isLatest, false)
    t.deepEqual(await listKeys(store), [])
    t.deepEqual(await store.listVersions(B, { limit: 10 }), [
      listedOf({ ...marker('k', 'v2'), isLatest: true }),
      listedOf({ ...version('k', { versionId: 'v1' }), isLatest: false }),
    ], 'listVersions still shows the key, marker first')
    t.is(await store.refCount('cid-k'), 1)
    t.deepEqual(await store.deleteObject(B, 'k', 'v2'), { deleted: { ...marker('k', 'v2'), isLatest: true }, released: [] })
    t.deepEqual(await listKeys(store), ['k'])
    t.deepEqual(await store.listObjects(B, { limit: 10 }), [listedOf({ ...version('k', { versionId: 'v1' }), isLatest: true })])
    t.deepEqual(await store.getObject(B, 'k'), { ...version('k', { versionId: 'v1' }), isLatest: true })
  })

  withBucket('a marker on a key with no other version: listed in listVersions only; a version over it brings the key back', async (t, store) => {
    await store.putObject(marker('k', 'dm1'))
    t.deepEqual(await listKeys(store), [])
    t.deepEqual(await listVersionIds(store), [['k', 'dm1']])
    t.is((await store.getObject(B, 'k'))?.deleteMarker, true)
    await store.putObject(version('k', { versionId: 'v2' }))
    t.deepEqual(await listKeys(store), ['k'])
    t.deepEqual((await store.listVersions(B, { limit: 10 })).map((v) => [v.versionId, v.isLatest, v.deleteMarker]), [['v2', true, false], ['dm1', false, true]])
    await store.putObject(marker('k', 'dm3'))
    t.deepEqual(await listKeys(store), [])
    t.deepEqual(await store.deleteObject(B, 'k', 'dm1'), { deleted: { ...marker('k', 'dm1'), isLatest: false }, released: [] })
    t.deepEqual(await listKeys(store), [], 'removing an older marker changes nothing listed')
    await store.deleteObject(B, 'k')
    t.deepEqual(await listKeys(store), ['k'], 'removing the latest marker (no id) does')
  })

  withBucket('re-putting the null version from deep in the chain replaces only it and makes it latest', async (t, store) => {
    await store.putObject(version('k', { versionId: 'null', cid: 'n1' }))
    await store.putObject(version('k', { versionId: 'v2', cid: 'c2' }))
    await store.putObject(marker('k', 'dm3'))
    await store.putObject(version('k', { versionId: 'v4', cid: 'c4' }))
    const result = await store.putObject(version('k', { versionId: 'null', cid: 'n5', size: 5 }))
    t.deepEqual(result, { replaced: { ...version('k', { versionId: 'null', cid: 'n1' }), isLatest: false }, released: ['n1'] })
    t.deepEqual((await store.listVersions(B, { limit: 10 })).map((v) => [v.versionId, v.isLatest]),
      [['null', true], ['v4', false], ['dm3', false], ['v2', false]])
    t.deepEqual(await store.getObject(B, 'k'), { ...version('k', { versionId: 'null', cid: 'n5', size: 5 }), isLatest: true })
    t.deepEqual(await listKeys(store), ['k'])
    for (const [cid, count] of [['n1', 0], ['n5', 1], ['c2', 1], ['c4', 1]] as const) t.is(await store.refCount(cid), count, cid)

    // A null marker replaces the null version the same way, and hides the key.
    t.deepEqual((await store.putObject(marker('k', 'null'))).released, ['n5'])
    t.deepEqual((await store.listVersions(B, { limit: 10 })).map((v) => [v.versionId, v.isLatest, v.deleteMarker]),
      [['null', true, true], ['v4', false, false], ['dm3', false, true], ['v2', false, false]])
    t.deepEqual(await listKeys(store), [])
    await store.deleteObject(B, 'k', 'null')
    t.is((await store.getObject(B, 'k'))?.versionId, 'v4', 'the next newest is latest again')
    t.deepEqual(await listKeys(store), ['k'])
  })

  withBucket('a CID shared by versions of one key and of others counts once per version', async (t, store) => {
    await store.putObject(version('k', { versionId: 'v1', cid: 'X' }))
    await store.putObject(version('k', { versionId: 'v2', cid: 'X' }))
    await store.putObject(marker('k', 'v3'))
    await store.putObject(version('k', { versionId: 'v4', cid: 'X' }))
    await store.putObject(version('other', { cid: 'X' }))
    t.is(await store.refCount('X'), 4)
    t.deepEqual((await store.deleteObject(B, 'k', 'v4')).released, [])
    t.deepEqual((await store.deleteObject(B, 'k', 'v1')).released, [])
    t.deepEqual((await store.putObject(version('k', { versionId: 'v2', cid: 'Y' }))).released, [], 'replacing one of them')
    t.is(await store.refCount('X'), 1)
    t.deepEqual((await store.deleteObject(B, 'other')).released, ['X'])
    t.is(await store.refCount('X'), 0)
    t.deepEqual(await collect(store.referencedCids()), ['Y'])
  })

  // ---- version listings ----

  withBucket('listVersions: keys in UTF-8 byte order, each newest first, markers included, isLatest on the newest', async (t, store) => {
    const all = await writeInterleaved(store)
    const listed = await store.listVersions(B, { limit: 1000 })
    t.deepEqual(listed.map((v) => [v.key, v.versionId]), all)
    t.deepEqual(all.filter(([key]) => key === 'b').map(([, id]) => id), ['null', 'dm2', 'v1'], 'the re-put null version is newest')
    t.deepEqual(all.filter(([key]) => key === 'a/😀').map(([, id]) => id), ['v3', 'v2', 'dm1', 'null'])
    t.true(listed.some((v) => v.deleteMarker) && listed.some((v) => !v.deleteMarker))
    for (const [i, v] of listed.entries()) {
      t.is(v.isLatest, i === 0 || listed[i - 1].key !== v.key, `${v.key} ${v.versionId}`)
      t.deepEqual(v, listedOf(await store.getObject(B, v.key, v.versionId) as ObjectVersion), `${v.key} ${v.versionId}`)
    }
    t.deepEqual(await listKeys(store), byteOrder([...new Set(listed.filter((v) => v.isLatest && !v.deleteMarker).map((v) => v.key))]),
      'listObjects lists the keys whose newest version is not a marker')
    t.deepEqual(await store.listVersions('no-bucket', { limit: 10 }), [])
    t.is((await store.listVersions(B, { limit: Infinity })).length, all.length)
  })

  withBucket('listVersions with prefix, from, after {key}, after {key, versionId} and limit', async (t, store) => {
    const all = await writeInterleaved(store)
    // Everything after the first version of a key greater than `key`, or after [key, versionId].
    const keysAfter = (key: string): Array<[string, string]> => all.filter(([k]) => byteCompare(k, key) > 0)
    const keysFrom = (key: string): Array<[string, string]> => all.filter(([k]) => byteCompare(k, key) >= 0)
    const versionsAfter = (key: string, versionId: string): Array<[string, string]> => {
      const i = all.findIndex(([k, id]) => k === key && id === versionId)
      if (i === -1) throw new Error(`no ${key} ${versionId}`)
      return all.slice(i + 1)
    }
    const ofKey = (key: string): string[] => all.filter(([k]) => k === key).map(([, id]) => id)

    t.deepEqual(await listVersionIds(store, { prefix: 'a/' }), all.filter(([k]) => k.startsWith('a/')))
    t.deepEqual(await listVersionIds(store, { prefix: '😀' }), all.filter(([k]) => k === '😀'))
    t.deepEqual(await listVersionIds(store, { prefix: 'zz' }), [])
    t.deepEqual(await listVersionIds(store, { from: 'a/' }), keysFrom('a/'))
    t.deepEqual(await listVersionIds(store, { from: '\uFFFF' }), keysFrom('\uFFFF'))
    t.deepEqual(await listVersionIds(store, { after: { key: 'a/\uFFFD' } }), keysAfter('a/\uFFFD'), 'after a key skips all its versions')
    t.deepEqual(await listVersionIds(store, { after: { key: '\uFFFF' } }), keysAfter('\uFFFF'), 'astral keys after U+FFFF')
    t.deepEqual(await listVersionIds(store, { after: { key: 'a/x' } }), keysAfter('a/x'), 'a key between keys')

    const ids = ofKey('a/😀')
    const [newest, middle] = ids
    const oldest = ids[ids.length - 1]
    t.deepEqual(await listVersionIds(store, { after: { key: 'a/😀', versionId: middle } }), versionsAfter('a/😀', middle), 'from the middle of a key')
    t.deepEqual(await listVersionIds(store, { after: { key: 'a/😀', versionId: newest } }), versionsAfter('a/😀', newest))
    t.deepEqual(await listVersionIds(store, { after: { key: 'a/😀', versionId: oldest } }), keysAfter('a/😀'), 'after its oldest: the next key')
    t.deepEqual(await listVersionIds(store, { after: { key: 'a/😀', versionId: 'v-unknown' } }), keysAfter('a/😀'), 'an unknown version id: keys after')
    t.deepEqual(await listVersionIds(store, { after: { key: 'a/😀', versionId: 'dm' } }), keysAfter('a/😀'), "another key's version id")
    t.deepEqual(await listVersionIds(store, { after: { key: 'a/x', versionId: 'v1' } }), keysAfter('a/x'), 'a key with no versions')
    t.deepEqual(await listVersionIds(store, { after: { key: 'b', versionId: 'dm2' } }), versionsAfter('b', 'dm2'), 'a marker as the marker')
    t.deepEqual(await listVersionIds(store, { after: { key: 'a/😀', versionId: middle }, limit: 1 }), versionsAfter('a/😀', middle).slice(0, 1))

    t.deepEqual(await listVersionIds(store, { prefix: 'a/', after: { key: 'a/😀', versionId: middle } }),
      versionsAfter('a/😀', middle).filter(([k]) => k.startsWith('a/')), 'prefix and a marker inside it')
    t.deepEqual(await listVersionIds(store, { prefix: 'a/', after: { key: 'a', versionId: 'v1' } }),
      all.filter(([k]) => k.startsWith('a/')), 'a marker before the prefix')
    t.deepEqual(await listVersionIds(store, { prefix: 'a/', after: { key: 'b', versionId: 'v1' } }), [], 'a marker beyond the prefix')
    t.deepEqual(await listVersionIds(store, { from: 'a/😀', after: { key: 'a/😀', versionId: middle } }), versionsAfter('a/😀', middle), 'from at the marker key')
    t.deepEqual(await listVersionIds(store, { from: 'a/😁', after: { key: 'a/😀', versionId: middle } }), keysFrom('a/😁'), 'the later bound wins')
    t.deepEqual(await listVersionIds(store, { from: 'a', after: { key: 'a/😀', versionId: middle } }), versionsAfter('a/😀', middle), 'the later bound wins')

    t.deepEqual(await listVersionIds(store, { limit: 1 }), all.slice(0, 1))
    t.deepEqual(await listVersionIds(store, { limit: 5 }), all.slice(0, 5))
    t.deepEqual(await listVersionIds(store, { prefix: 'a/', limit: 2 }), all.filter(([k]) => k.startsWith('a/')).slice(0, 2))
  })

  withBucket('paging listVersions with both markers visits every version once, whatever the page size', async (t, store) => {
    const all = await writeInterleaved(store)
    for (const limit of [1, 2, 3, 4, 7]) {
      for (const prefix of [undefined, 'a']) {
        const seen: Array<[string, string]> = []
        let after: { key: string, versionId: string } | undefined
        while (true) {
          const page = await listVersionIds(store, { prefix, after, limit })
          if (page.length === 0) break
          t.true(page.length <= limit)
          seen.push(...page)
          const [key, versionId] = page[page.length - 1]
          after = { key, versionId }
        }
        t.deepEqual(seen, prefix === undefined ? all : all.filter(([k]) => k.startsWith(prefix)), `limit ${limit}, prefix ${prefix}`)
      }
    }
  })

  withBucket('listVersions pages through a key with 2,000 versions among other keys', async (t, store) => {
    const n = 2000
    const idOf = (i: number): string => `v${String(i).padStart(4, '0')}`
    await store.putObject(version('a', { versionId: 'a1' }))
    for (let i = 0; i < n; i++) {
      await store.putObject(i % 97 === 50 ? marker('big', idOf(i)) : version('big', { versionId: idOf(i), cid: `cid-${i % 10}` }))
      if (i === n / 2) await store.putObject(version('c', { versionId: 'c1' }))
    }
    await store.putObject(marker('c', 'c2'))
    await store.putObject(version('d', { versionId: 'd1' }))
    const big = Array.from({ length: n }, (_, i): [string, string] => ['big', idOf(n - 1 - i)])
    const all: Array<[string, string]> = [['a', 'a1'], ...big, ['c', 'c2'], ['c', 'c1'], ['d', 'd1']]

    const seen: Array<[string, string]> = []
    let after: { key: string, versionId: string } | undefined
    for (let pages = 0; pages < 1000; pages++) {
      const page = await listVersionIds(store, { after, limit: 13 })
      if (page.length === 0) break
      seen.push(...page)
      const [key, versionId] = page[page.length - 1]
      after = { key, versionId }
    }
    t.deepEqual(seen, all)

    t.deepEqual(await listVersionIds(store, { after: { key: 'big', versionId: idOf(1000) }, limit: 3 }), [['big', idOf(999)], ['big', idOf(998)], ['big', idOf(997)]])
    t.deepEqual(await listVersionIds(store, { after: { key: 'big', versionId: idOf(1) }, limit: 3 }), [['big', idOf(0)], ['c', 'c2'], ['c', 'c1']])
    t.deepEqual(await listVersionIds(store, { after: { key: 'a' }, limit: 2 }), [['big', idOf(n - 1)], ['big', idOf(n - 2)]])
    t.deepEqual(await listVersionIds(store, { after: { key: 'big' }, limit: 2 }), [['c', 'c2'], ['c', 'c1']])
    t.deepEqual(await listVersionIds(store, { prefix: 'big', after: { key: 'big', versionId: idOf(2) } }), [['big', idOf(1)], ['big', idOf(0)]])
    const flags = await store.listVersions(B, { from: 'big', limit: 2 })
    t.deepEqual(flags.map((v) => [v.versionId, v.isLatest]), [[idOf(n - 1), true], [idOf(n - 2), false]])
    const cid3 = Array.from({ length: n }, (_, i) => i).filter((i) => i % 97 !== 50 && i % 10 === 3).length
    t.is(await store.refCount('cid-3'), cid3, 'every version holding it counts')
  })

  // ---- versions by CID ----

  /** Buckets 'a-bucket', B and 'zed' holding CID X in several keys and versions, among other CIDs and delete markers. */
  const withCidSpread = (title: string, fn: (t: ExecutionContext, store: MetadataStore, all: CidMatch[]) => Promise<void>): void => {
    it(title, async (t, store) => {
      for (const name of ['a-bucket', B, 'zed']) await store.createBucket(bucket(name, 'alice', { versioning: 'Enabled' }))
      await store.putObject(version('k', { versionId: 'v1', cid: 'X' }))
      await store.putObject(version('k', { versionId: 'v2', cid: 'Y' }))
      await store.putObject(version('k', { versionId: 'v3', cid: 'X' }))
      await store.putObject(version('😀', { versionId: 'v1', cid: 'X' }))
      await store.putObject(version('é', { versionId: 'v1', cid: 'X' }))
      await store.putObject(marker('é', 'dm'))
      await store.putObject(version('a', { cid: 'X' }))
      await store.putObject(version('other', { cid: 'Y' }))
      await store.putObject(version('k', { bucket: 'a-bucket', cid: 'X' }))
      await store.putObject(version('\uFFFF', { bucket: 'zed', versionId: 'v\uFFFF', cid: 'X' }))
      await store.putObject(version('\uFFFF', { bucket: 'zed', versionId: 'v\u{1F600}', cid: 'X' }))
      const all: CidMatch[] = [
        { bucket: 'a-bucket', key: 'k', versionId: 'null', isLatest: true },
        { bucket: B, key: 'a', versionId: 'null', isLatest: true },
        { bucket: B, key: 'k', versionId: 'v1', isLatest: false },
        { bucket: B, key: 'k', versionId: 'v3', isLatest: true },
        { bucket: B, key: 'é', versionId: 'v1', isLatest: false },
        { bucket: B, key: '😀', versionId: 'v1', isLatest: true },
        { bucket: 'zed', key: '\uFFFF', versionId: 'v\uFFFF', isLatest: false },
        { bucket: 'zed', key: '\uFFFF', versionId: 'v\u{1F600}', isLatest: true },
      ]
      await fn(t, store, all)
    })
  }

  withCidSpread('listVersionsByCid: every version holding the CID, across buckets, in (bucket, key, versionId) byte order, with isLatest', async (t, store, all) => {
    t.deepEqual(await store.listVersionsByCid('X', { limit: 100 }), all, 'no delete marker, no version of another CID')
    t.deepEqual(await store.listVersionsByCid('Y', { limit: 100 }), [
      { bucket: B, key: 'k', versionId: 'v2', isLatest: false },
      { bucket: B, key: 'other', versionId: 'null', isLatest: true },
    ])
    t.deepEqual(await store.listVersionsByCid('unknown', { limit: 100 }), [])
    t.deepEqual(await store.listVersionsByCid('', { limit: 100 }), [], 'delete markers have no CID to find')
    t.deepEqual(await store.listVersionsByCid('X', { limit: 0 }), [])
  })

  withCidSpread('listVersionsByCid pages with `after`: each page continues where the last ended; a position between matches, or past a bucket', async (t, store, all) => {
    const seen: CidMatch[] = []
    let after: { bucket: string, key: string, versionId: string } | undefined
    for (let pages = 0; pages < 20; pages++) {
      const page = await store.listVersionsByCid('X', { after, limit: 3 })
      t.true(page.length <= 3)
      if (page.length === 0) break
      seen.push(...page)
      const { bucket, key, versionId } = page[page.length - 1]
      after = { bucket, key, versionId }
    }
    t.deepEqual(seen, all)
    t.deepEqual(await store.listVersionsByCid('X', { after: { bucket: B, key: 'b', versionId: '' }, limit: 2 }), all.slice(2, 4), 'a position that is no match')
    t.deepEqual(await store.listVersionsByCid('X', { after: { bucket: B, key: 'k', versionId: 'v2' }, limit: 10 }), all.slice(3))
    t.deepEqual(await store.listVersionsByCid('X', { after: { bucket: `${B}\0`, key: '', versionId: '' }, limit: 10 }), all.slice(6), 'past every match of a bucket')
    t.deepEqual(await store.listVersionsByCid('X', { after: { bucket: B, key: 'k\0', versionId: '' }, limit: 10 }), all.slice(4), 'past every version of a key')
    t.deepEqual(await store.listVersionsByCid('X', { after: { bucket: 'zed', key: '\uFFFF', versionId: 'v\u{1F600}' }, limit: 10 }), [])
  })

  withCidSpread('listVersionsByCid follows changes: replaced and deleted versions go, a new latest is seen, a re-put is listed once', async (t, store, all) => {
    // Replaced with other content under the same id: gone from X, listed under Z.
    await store.putObject(version('a', { cid: 'Z' }))
    t.deepEqual(await store.listVersionsByCid('X', { limit: 100 }), all.filter((m) => !(m.bucket === B && m.key === 'a')))
    t.deepEqual(await store.listVersionsByCid('Z', { limit: 100 }), [{ bucket: B, key: 'a', versionId: 'null', isLatest: true }])
    // The latest deleted: the version before it becomes the latest.
    await store.deleteObject(B, 'k', 'v3')
    t.deepEqual((await store.listVersionsByCid('X', { after: { bucket: B, key: 'a', versionId: '' }, limit: 2 })),
      [{ bucket: B, key: 'k', versionId: 'v1', isLatest: false }, { bucket: B, key: 'é', versionId: 'v1', isLatest: false }])
    await store.deleteObject(B, 'k', 'v2')
    t.deepEqual((await store.listVersionsByCid('X', { after: { bucket: B, key: 'a', versionId: '' }, limit: 1 })),
      [{ bucket: B, key: 'k', versionId: 'v1', isLatest: true }])
    // The delete marker over 'é' removed: its version is the latest again.
    await store.deleteObject(B, 'é', 'dm')
    t.true((await store.listVersionsByCid('X', { limit: 100 })).some((m) => m.key === 'é' && m.isLatest))
    // A version written again with the same id and CID: one match.
    await store.putObject(version('k', { bucket: 'a-bucket', cid: 'X' }))
    t.is((await store.listVersionsByCid('X', { limit: 100 })).filter((m) => m.bucket === 'a-bucket').length, 1)
    // Everything of a bucket deleted, then the bucket: nothing of it is found.
    await store.deleteObject('zed', '\uFFFF', 'v\uFFFF')
    await store.deleteObject('zed', '\uFFFF', 'v\u{1F600}')
    t.is(await store.deleteBucket('zed'), 'deleted')
    t.false((await store.listVersionsByCid('X', { limit: 100 })).some((m) => m.bucket === 'zed'))
    await t.throwsAsync(store.listVersionsByCid('X', { limit: 1, signal: AbortSignal.abort() }), { any: true, name: 'AbortError' })
  })

  withBucket('listVersionsByCid finds what a completed multipart upload and a copy hold, not the parts', async (t, store) => {
    await store.createUpload(upload('big', 'u1'))
    await store.putPart(B, 'big', 'u1', part(1, 'P1'))
    await store.putPart(B, 'big', 'u1', part(2, 'P2'))
    t.deepEqual(await store.listVersionsByCid('P1', { limit: 10 }), [], 'a part is no version')
    const [v, record] = completion('big', 'u1', 'M')
    t.is((await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'P1' }, { partNumber: 2, cid: 'P2' }], record)).status, 'completed')
    await store.putObject(version('copy', { cid: 'M' }), { sourceCid: 'M' })
    t.deepEqual(await store.listVersionsByCid('M', { limit: 10 }), [
      { bucket: B, key: 'big', versionId: 'null', isLatest: true },
      { bucket: B, key: 'copy', versionId: 'null', isLatest: true },
    ])
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

  // ---- access control and encryption ----

  it('setBucketConfig sets, replaces and removes one kind, keeping the others; gone with the bucket', async (t, store) => {
    t.true(await store.createBucket(bucket(B)))
    t.is((await store.getBucket(B))?.config, undefined, 'a new bucket has no configuration')
    const policy = '{"Version":"2012-10-17","Statement":[]}'
    t.true(await store.setBucketConfig(B, 'policy', policy))
    t.true(await store.setBucketConfig(B, 'cors', '[{"allowedOrigins":["*"]}]'))
    t.deepEqual((await store.getBucket(B))?.config, { policy, cors: '[{"allowedOrigins":["*"]}]' })
    t.true(await store.setBucketConfig(B, 'cors', '[]'))
    t.true(await store.setBucketConfig(B, 'policy', undefined))
    t.deepEqual((await store.getBucket(B))?.config, { cors: '[]' })
    t.deepEqual((await store.listBuckets('alice'))[0].config, { cors: '[]' }, 'listings carry it too')
    t.true(await store.setBucketConfig(B, 'policy', undefined), 'removing an absent kind is harmless')
    t.true(await store.setBucketConfig(B, 'cors', undefined))
    t.is((await store.getBucket(B))?.config, undefined, 'no kinds left: no configuration')
    t.false(await store.setBucketConfig('no-bucket', 'acl', '{}'))
    t.true(await store.setBucketConfig(B, 'acl', '{"grants":[]}'))
    t.is(await store.deleteBucket(B), 'deleted')
    t.true(await store.createBucket(bucket(B)))
    t.is((await store.getBucket(B))?.config, undefined, 'a recreated bucket starts without the old one\'s configuration')
  })

  it('concurrent setBucketConfig calls of different kinds all take effect', async (t, store) => {
    t.true(await store.createBucket(bucket(B)))
    const kinds = ['policy', 'acl', 'cors', 'publicAccessBlock', 'encryption'] as const
    await Promise.all(kinds.map(async (kind) => store.setBucketConfig(B, kind, `value of ${kind}`)))
    t.deepEqual((await store.getBucket(B))?.config, Object.fromEntries(kinds.map((kind) => [kind, `value of ${kind}`])))
  })

  withBucket('versions and uploads keep their ACL and encryption; setObjectAcl changes only the ACL', async (t, store) => {
    const encryption = { algorithm: 'AES256' as const, customerKey: true, keyMd5: 'bWQ1', wrappedKey: 'd3JhcHBlZA==' }
    await store.putObject(version('k', { versionId: 'v1', acl: '{"a":1}', encryption }))
    await store.putObject(version('k', { versionId: 'v2' }))
    t.deepEqual(await store.getObject(B, 'k', 'v1'), { ...version('k', { versionId: 'v1', acl: '{"a":1}', encryption }), isLatest: false })
    t.deepEqual(await store.getObject(B, 'k'), { ...version('k', { versionId: 'v2' }), isLatest: true }, 'absent fields stay absent')
    t.true(await store.setObjectAcl(B, 'k', 'v1', '{"b":2}'))
    t.deepEqual(await store.getObject(B, 'k', 'v1'), { ...version('k', { versionId: 'v1', acl: '{"b":2}', encryption }), isLatest: false })
    t.true(await store.setObjectAcl(B, 'k', undefined, '{"c":3}'))
    t.is((await store.getObject(B, 'k'))?.acl, '{"c":3}', 'the latest when no version is named')
    t.is((await store.getObject(B, 'k', 'v1'))?.acl, '{"b":2}')
    t.false(await store.setObjectAcl(B, 'k', 'v9', '{}'))
    t.false(await store.setObjectAcl(B, 'missing', undefined, '{}'))
    t.false(await store.setObjectAcl('no-bucket', 'k', undefined, '{}'))

    const sseS3 = { algorithm: 'AES256' as const, customerKey: false, wrappedKey: 'AAAA' }
    const up = upload('m', '0001-x', { acl: '{"u":1}', encryption: sseS3 })
    await store.createUpload(up)
    t.deepEqual(await store.getUpload(B, 'm', '0001-x'), up)
    t.deepEqual((await store.listUploads(B, { limit: 10 }))[0], up)
  })

  // ---- multipart uploads ----

  withBucket('createUpload then getUpload returns every field; absent optional fields stay absent', async (t, store) => {
    const full = upload('dir/big.bin', '0001-a', {
      initiated: new Date('2024-06-30T23:59:59.999Z'),
      owner: 'bob',
      ownerDisplayName: 'Bob',
      headers: { 'content-type': 'application/octet-stream', 'cache-control': 'no-cache' },
      metadata: { 'my-key': 'ünïcödé value' },
      tags: [['z', '1'], ['a', '2']],
      storageClass: 'STANDARD',
      checksumAlgorithm: 'CRC32C',
      checksumType: 'COMPOSITE',
      profile: 'unixfs-v0',
    })
    await store.createUpload(full)
    t.deepEqual(await store.getUpload(B, full.key, full.uploadId), full)

    await store.createUpload(upload('plain', '0002-b'))
    const plain = await store.getUpload(B, 'plain', '0002-b')
    t.deepEqual(plain, upload('plain', '0002-b'))
    for (const field of ['ownerDisplayName', 'storageClass', 'checksumAlgorithm', 'checksumType']) t.false(Object.hasOwn(plain ?? {}, field), field)
    t.deepEqual(await store.listParts(B, 'plain', '0002-b', { limit: 10 }), [], 'a new upload has no parts')
  })

  withBucket('getUpload with another key, upload id or bucket is undefined', async (t, store) => {
    await store.createUpload(upload('k', 'u1'))
    t.is(await store.getUpload(B, 'other', 'u1'), undefined)
    t.is(await store.getUpload(B, 'K', 'u1'), undefined)
    t.is(await store.getUpload(B, 'k', 'u2'), undefined)
    t.is(await store.getUpload('no-bucket', 'k', 'u1'), undefined)
    t.is(await store.listParts(B, 'other', 'u1', { limit: 10 }), undefined)
    t.is(await store.getObject(B, 'k'), undefined, 'an upload is not an object')
    t.deepEqual(await listKeys(store), [])
  })

  it('createUpload into a missing bucket rejects; an upload id in progress is not created twice', async (t, store) => {
    await t.throwsAsync(store.createUpload(upload('k', 'u1')))
    await store.createBucket(bucket(B))
    t.is(await store.getUpload(B, 'k', 'u1'), undefined)
    await store.createUpload(upload('k', 'u1', { owner: 'alice' }))
    await store.putPart(B, 'k', 'u1', part(1))
    await t.throwsAsync(store.createUpload(upload('k', 'u1', { owner: 'mallory' })))
    t.is((await store.getUpload(B, 'k', 'u1'))?.owner, 'alice')
    t.deepEqual(await store.listParts(B, 'k', 'u1', { limit: 10 }), [part(1)])
    t.deepEqual(await listUploadIds(store), [['k', 'u1']])
  })

  withBucket('listUploads orders by key in UTF-8 byte order, then by upload id', async (t, store) => {
    const ids = ['0001', '0002', '0010', '0100', 'A', 'a']
    const entries: Array<[string, string]> = []
    for (const key of INTERNATIONAL) for (const id of ids) entries.push([key, id])
    for (const [key, id] of shuffled(entries, 3)) await store.createUpload(upload(key, id))
    const expected = byteOrder(INTERNATIONAL).flatMap((key) => ids.map((id): [string, string] => [key, id]))
    t.deepEqual(await listUploadIds(store), expected)
    t.deepEqual((await store.listUploads(B, { limit: 1000 })).map((u) => u.bucket), expected.map(() => B))

    // paging with both markers visits every upload once
    const seen: Array<[string, string]> = []
    let after: { key: string, uploadId: string } | undefined
    while (true) {
      const page = await listUploadIds(store, { after, limit: 4 })
      if (page.length === 0) break
      t.true(page.length <= 4)
      seen.push(...page)
      const [key, uploadId] = page[page.length - 1]
      after = { key, uploadId }
    }
    t.deepEqual(seen, expected)
  })

  withBucket('listUploads with prefix, after {key}, after {key, uploadId}, from and limit', async (t, store) => {
    const entries: Array<[string, string]> = [
      ['a', 'u1'], ['b', 'u1'], ['b', 'u2'], ['b', 'u3'], ['b/x', 'u1'], ['b/😀', 'u1'], ['b/\uFFFD', 'u1'], ['c', 'u5'], ['c', 'u6'],
      ['\uFFFF', 'u1'], ['😀', 'u1'], ['😀', 'u2'],
    ]
    for (const [key, id] of shuffled(entries)) await store.createUpload(upload(key, id))
    const all = byteOrder([...new Set(entries.map(([k]) => k))]).flatMap((k) => entries.filter(([key]) => key === k))
    t.deepEqual(await listUploadIds(store), all)
    const from = (key: string, uploadId?: string): Array<[string, string]> =>
      all.slice(all.findIndex(([k, u]) => k === key && (uploadId === undefined || u === uploadId)))

    t.deepEqual(await listUploadIds(store, { prefix: 'b' }), [['b', 'u1'], ['b', 'u2'], ['b', 'u3'], ['b/x', 'u1'], ['b/\uFFFD', 'u1'], ['b/😀', 'u1']])
    t.deepEqual(await listUploadIds(store, { prefix: 'b/' }), [['b/x', 'u1'], ['b/\uFFFD', 'u1'], ['b/😀', 'u1']])
    t.deepEqual(await listUploadIds(store, { prefix: '😀' }), [['😀', 'u1'], ['😀', 'u2']])
    t.deepEqual(await listUploadIds(store, { prefix: 'd' }), [])
    t.deepEqual(await listUploadIds(store, { after: { key: 'b' } }), from('b/x'), 'after a key skips all its uploads')
    t.deepEqual(await listUploadIds(store, { after: { key: 'b', uploadId: 'u1' } }), from('b', 'u2'))
    t.deepEqual(await listUploadIds(store, { after: { key: 'b', uploadId: 'u3' } }), from('b/x'))
    t.deepEqual(await listUploadIds(store, { after: { key: 'b', uploadId: 'u0' } }), from('b', 'u1'), 'an upload id between ids')
    t.deepEqual(await listUploadIds(store, { after: { key: 'b', uploadId: 'u9' } }), from('b/x'))
    t.deepEqual(await listUploadIds(store, { after: { key: 'bb', uploadId: 'u1' } }), from('c'), 'a key between keys')
    t.deepEqual(await listUploadIds(store, { after: { key: '\uFFFF' } }), [['😀', 'u1'], ['😀', 'u2']], 'astral keys after U+FFFF')
    t.deepEqual(await listUploadIds(store, { after: { key: '😀', uploadId: 'u1' } }), [['😀', 'u2']])
    t.deepEqual(await listUploadIds(store, { after: { key: '😀' } }), [])
    t.deepEqual(await listUploadIds(store, { from: 'b/' }), from('b/x'))
    t.deepEqual(await listUploadIds(store, { from: 'c' }), from('c'))
    t.deepEqual(await listUploadIds(store, { from: 'b', after: { key: 'b', uploadId: 'u2' } }), from('b', 'u3'), 'the later bound wins')
    t.deepEqual(await listUploadIds(store, { from: 'c', after: { key: 'b', uploadId: 'u2' } }), from('c'), 'the later bound wins')
    t.deepEqual(await listUploadIds(store, { prefix: 'b', after: { key: 'b', uploadId: 'u2' } }), [['b', 'u3'], ['b/x', 'u1'], ['b/\uFFFD', 'u1'], ['b/😀', 'u1']])
    t.deepEqual(await listUploadIds(store, { prefix: 'c', after: { key: 'a', uploadId: 'u1' } }), [['c', 'u5'], ['c', 'u6']], 'after before the prefix')
    t.deepEqual(await listUploadIds(store, { prefix: 'b', after: { key: 'c', uploadId: 'u1' } }), [], 'after beyond the prefix')
    t.deepEqual(await listUploadIds(store, { limit: 2 }), all.slice(0, 2))
    t.deepEqual(await listUploadIds(store, { prefix: 'b', after: { key: 'b', uploadId: 'u1' }, limit: 3 }), [['b', 'u2'], ['b', 'u3'], ['b/x', 'u1']])
    t.deepEqual(await store.listUploads('no-bucket', { limit: 10 }), [])
    t.is((await store.listUploads(B, { limit: Infinity })).length, entries.length)
  })

  withBucket('putPart stores parts in part-number order; replacing one returns it and moves its reference', async (t, store) => {
    await store.createUpload(upload('k', 'u1'))
    for (const n of [3, 1, 10000, 2]) t.deepEqual(await store.putPart(B, 'k', 'u1', part(n)), { released: [] })
    const withChecksum = part(5, 'part-5', { size: 7, checksum: { algorithm: 'SHA256', value: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=' } })
    await store.putPart(B, 'k', 'u1', withChecksum)
    t.deepEqual(await store.listParts(B, 'k', 'u1', { limit: 100 }), [part(1), part(2), part(3), withChecksum, part(10000)])
    t.false(Object.hasOwn((await store.listParts(B, 'k', 'u1', { limit: 1 }))?.[0] ?? {}, 'checksum'))

    const replacement = part(2, 'part-2b', { size: 11, etag: 'other', lastModified: new Date('2025-02-01T00:00:00Z') })
    const result = await store.putPart(B, 'k', 'u1', replacement)
    t.deepEqual(result, { replaced: part(2), released: ['part-2'] })
    t.is(await store.refCount('part-2'), 0)
    t.is(await store.refCount('part-2b'), 1)
    t.deepEqual(await store.putPart(B, 'k', 'u1', { ...replacement, etag: 'again' }), { replaced: replacement, released: [] }, 'same CID: kept')
    t.is(await store.refCount('part-2b'), 1)

    t.deepEqual((await store.listParts(B, 'k', 'u1', { limit: 2 }))?.map((p) => p.partNumber), [1, 2])
    t.deepEqual((await store.listParts(B, 'k', 'u1', { after: 2, limit: 2 }))?.map((p) => p.partNumber), [3, 5])
    t.deepEqual((await store.listParts(B, 'k', 'u1', { after: 4, limit: 10 }))?.map((p) => p.partNumber), [5, 10000])
    t.deepEqual((await store.listParts(B, 'k', 'u1', { after: 10000, limit: 10 })), [])
    t.deepEqual((await store.listParts(B, 'k', 'u1', { after: 0, limit: Infinity }))?.length, 5)
    t.deepEqual((await store.listParts(B, 'k', 'u1', { limit: 10 }))?.[1], { ...replacement, etag: 'again' })
  })

  withBucket('parts hold references: shared CIDs count once per part, alongside versions', async (t, store) => {
    await store.createUpload(upload('k', 'u1'))
    await store.createUpload(upload('k', 'u2'))
    await store.putPart(B, 'k', 'u1', part(1, 'shared'))
    await store.putPart(B, 'k', 'u1', part(2, 'shared'))
    t.is(await store.refCount('shared'), 2)
    await store.putPart(B, 'k', 'u2', part(1, 'shared'))
    await store.putObject(version('other', { cid: 'shared' }))
    t.is(await store.refCount('shared'), 4)
    t.deepEqual(await collect(store.referencedCids()), ['shared'])

    t.deepEqual((await store.putPart(B, 'k', 'u1', part(1, 'own')))?.released, [])
    t.is(await store.refCount('shared'), 3)
    t.deepEqual(await store.abortUpload(B, 'k', 'u1'), { released: ['own'] })
    t.is(await store.refCount('shared'), 2)
    t.deepEqual(await store.deleteObject(B, 'other'), { deleted: { ...version('other', { cid: 'shared' }), isLatest: true }, released: [] })
    t.deepEqual(await store.abortUpload(B, 'k', 'u2'), { released: ['shared'] })
    t.is(await store.refCount('shared'), 0)
    t.deepEqual(await collect(store.referencedCids()), [])
  })

  withBucket('putPart and listParts of an upload not in progress are undefined and change nothing', async (t, store) => {
    t.is(await store.putPart(B, 'k', 'never', part(1)), undefined)
    t.is(await store.putPart('no-bucket', 'k', 'never', part(1)), undefined)
    await store.createUpload(upload('k', 'u1'))
    t.is(await store.putPart(B, 'other', 'u1', part(1)), undefined, 'another key')
    t.is(await store.refCount('part-1'), 0)
    t.is(await store.listParts(B, 'k', 'never', { limit: 10 }), undefined)
    t.deepEqual(await collect(store.referencedCids()), [])
  })

  withBucket('completeUpload stores the version, removes the upload with all its parts, and keeps a record', async (t, store) => {
    await store.createUpload(upload('k', 'u1'))
    await store.createUpload(upload('k', 'u2'))
    await store.putPart(B, 'k', 'u2', part(1, 'other-upload'))
    await store.putPart(B, 'k', 'u1', part(1))
    await store.putPart(B, 'k', 'u1', part(2, 'part-2', { size: 7 }))
    await store.putPart(B, 'k', 'u1', part(3), {})
    const [v, record] = completion('k', 'u1', 'obj', { partSizes: [5 * 1024 * 1024, 7] })
    const result = await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'part-1' }, { partNumber: 2, cid: 'part-2' }], record)
    t.is(result.status, 'completed')
    if (result.status !== 'completed') return
    t.false(Object.hasOwn(result, 'replaced'))
    t.deepEqual([...result.released].sort(), ['part-1', 'part-2', 'part-3'], 'unlisted parts go too')

    t.deepEqual(await store.getObject(B, 'k'), { ...v, isLatest: true })
    t.deepEqual((await store.getObject(B, 'k'))?.partSizes, [5 * 1024 * 1024, 7])
    t.deepEqual(await listKeys(store), ['k'])
    t.is(await store.getUpload(B, 'k', 'u1'), undefined)
    t.is(await store.listParts(B, 'k', 'u1', { limit: 10 }), undefined)
    t.deepEqual(await listUploadIds(store), [['k', 'u2']], 'other uploads of the key stay')
    for (const cid of ['part-1', 'part-2', 'part-3']) t.is(await store.refCount(cid), 0, cid)
    t.is(await store.refCount('obj'), 1)
    t.is(await store.refCount('other-upload'), 1)
    t.deepEqual((await collect(store.referencedCids())).sort(), ['obj', 'other-upload'])

    t.deepEqual(await store.getCompletedUpload(B, 'k', 'u1'), record)
    t.is(await store.getCompletedUpload(B, 'k', 'u2'), undefined)
    t.is(await store.getCompletedUpload(B, 'other', 'u1'), undefined)
    t.is(await store.getCompletedUpload('no-bucket', 'k', 'u1'), undefined)

    t.deepEqual(await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'part-1' }], record), { status: 'no-upload' }, 'a repeat')
    t.is(await store.putPart(B, 'k', 'u1', part(4)), undefined)
    t.is(await store.refCount('obj'), 1)
    t.deepEqual(await store.getCompletedUpload(B, 'k', 'u1'), record)
  })

  withBucket('completeUpload replaces a version as putObject does and never releases a CID the object keeps', async (t, store) => {
    await store.putObject(version('k', { cid: 'old' }))
    await store.putObject(version('keeper', { cid: 'kept-part' }))
    await store.createUpload(upload('k', 'u1'))
    await store.putPart(B, 'k', 'u1', part(1, 'same'))
    await store.putPart(B, 'k', 'u1', part(2, 'kept-part'))
    await store.putPart(B, 'k', 'u1', part(3, 'gone'))
    // A single-part object's CID can be its part's CID.
    const [v, record] = completion('k', 'u1', 'same', { partSizes: [5] })
    const result = await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'same' }], record)
    t.is(result.status, 'completed')
    if (result.status !== 'completed') return
    t.is(result.replaced?.cid, 'old')
    t.is(result.replaced?.isLatest, true)
    t.deepEqual([...result.released].sort(), ['gone', 'old'])
    t.is(await store.refCount('same'), 1)
    t.is(await store.refCount('kept-part'), 1)
    t.is(await store.refCount('old'), 0)
    t.deepEqual(await store.getObject(B, 'k'), { ...v, isLatest: true })
  })

  withBucket('completeUpload of a new version keeps older versions of the key', async (t, store) => {
    await store.putObject(version('k', { versionId: 'v1', cid: 'c1' }))
    await store.createUpload(upload('k', 'u1'))
    await store.putPart(B, 'k', 'u1', part(1))
    const [v, record] = completion('k', 'u1', 'obj', { versionId: 'v2' })
    const result = await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'part-1' }], record)
    t.deepEqual(result, { status: 'completed', released: ['part-1'] })
    t.is((await store.getObject(B, 'k'))?.versionId, 'v2')
    t.is((await store.getObject(B, 'k', 'v1'))?.isLatest, false)
    t.is(await store.refCount('c1'), 1)
    t.is((await store.getCompletedUpload(B, 'k', 'u1'))?.versionId, 'v2')
  })

  withBucket('completeUpload with a changed or missing part, or no upload, changes nothing', async (t, store) => {
    await store.createUpload(upload('k', 'u1'))
    await store.putPart(B, 'k', 'u1', part(1))
    await store.putPart(B, 'k', 'u1', part(2))
    const [v, record] = completion('k', 'u1', 'obj')
    const check = async (): Promise<void> => {
      t.is(await store.getObject(B, 'k'), undefined)
      t.deepEqual(await listKeys(store), [])
      t.deepEqual(await store.getUpload(B, 'k', 'u1'), upload('k', 'u1'))
      t.deepEqual(await store.listParts(B, 'k', 'u1', { limit: 10 }), [part(1), part(2)])
      t.is(await store.getCompletedUpload(B, 'k', 'u1'), undefined)
      t.is(await store.refCount('obj'), 0)
      t.is(await store.refCount('part-1'), 1)
      t.is(await store.refCount('part-2'), 1)
    }
    t.deepEqual(await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'part-1' }, { partNumber: 2, cid: 'part-2-old' }], record), { status: 'parts-changed' })
    await check()
    t.deepEqual(await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'part-1' }, { partNumber: 3, cid: 'part-3' }], record), { status: 'parts-changed' })
    await check()
    t.deepEqual(await store.completeUpload(v, 'u9', [{ partNumber: 1, cid: 'part-1' }], record), { status: 'no-upload' })
    t.deepEqual(await store.completeUpload(version('other', { cid: 'obj' }), 'u1', [{ partNumber: 1, cid: 'part-1' }], record), { status: 'no-upload' }, 'another key')
    t.deepEqual(await store.completeUpload({ ...v, bucket: 'no-bucket' }, 'u1', [{ partNumber: 1, cid: 'part-1' }], record), { status: 'no-upload' })
    await check()
    t.is(await store.getObject(B, 'other'), undefined)
    t.deepEqual(await collect(store.referencedCids()).then((c) => c.sort()), ['part-1', 'part-2'])
  })

  // ---- conditional writes ----

  /** What a refused conditional write rejects with. */
  const refused = (wanted: 'none' | 'object', current: 'none' | 'object'): { code: string, wanted: string, current: string } =>
    ({ code: 'ERR_CONDITION_FAILED', wanted, current })

  withBucket('putObject with a condition commits only when the key\'s current version meets it, and otherwise changes nothing', async (t, store) => {
    const e1 = '11111111111111111111111111111111'
    const e2 = '22222222222222222222222222222222'
    // { current: 'none' }: only while the key has no current version.
    await store.putObject(version('k', { cid: 'c1', etag: e1 }), { condition: { current: 'none' } })
    t.like(await t.throwsAsync(store.putObject(version('k', { cid: 'c2', etag: e2 }), { condition: { current: 'none' } })), refused('none', 'object'))
    // { current: 'object' }: only while it has one, with one of the ETags when they are given.
    t.like(await t.throwsAsync(store.putObject(version('k', { cid: 'c2', etag: e2 }), { condition: { current: 'object', etags: [e2] } })), refused('object', 'object'))
    t.like(await t.throwsAsync(store.putObject(version('absent', { cid: 'c2' }), { condition: { current: 'object' } })), refused('object', 'none'))
    t.deepEqual(await store.getObject(B, 'k'), { ...version('k', { cid: 'c1', etag: e1 }), isLatest: true }, 'refused writes changed nothing')
    t.is(await store.getObject(B, 'absent'), undefined)
    t.is(await store.refCount('c2'), 0)
    t.deepEqual(await collect(store.referencedCids()), ['c1'])

    const replaced = await store.putObject(version('k', { cid: 'c2', etag: e2 }), { condition: { current: 'object', etags: ['other', e1] } })
    t.deepEqual(replaced.released, ['c1'])
    await store.putObject(version('k', { cid: 'c3', etag: e1 }), { condition: { current: 'object' } })
    t.is((await store.getObject(B, 'k'))?.cid, 'c3')
  })

  withBucket('a delete marker is no current version for a condition, and noncurrent versions do not count', async (t, store) => {
    await store.putObject(version('k', { versionId: 'v1', cid: 'c1' }))
    await store.putObject(marker('k', 'dm1'))
    t.like(await t.throwsAsync(store.putObject(version('k', { versionId: 'v2', cid: 'c2' }), { condition: { current: 'object' } })), refused('object', 'none'))
    await store.putObject(version('k', { versionId: 'v2', cid: 'c2' }), { condition: { current: 'none' } })
    t.deepEqual(await listVersionIds(store), [['k', 'v2'], ['k', 'dm1'], ['k', 'v1']])
    await store.putObject(version('k', { versionId: 'v3', cid: 'c3', etag: 'e3' }), { condition: { current: 'object', etags: [version('k').etag] } })
    t.is((await store.getObject(B, 'k'))?.versionId, 'v3')
  })

  withBucket('completeUpload with a condition that does not hold changes nothing: the upload stays in progress and can complete later', async (t, store) => {
    await store.putObject(version('k', { cid: 'existing' }))
    await store.createUpload(upload('k', 'u1'))
    await store.putPart(B, 'k', 'u1', part(1))
    const [v, record] = completion('k', 'u1', 'obj', { partSizes: [5] })
    const parts = [{ partNumber: 1, cid: 'part-1' }]
    t.like(await t.throwsAsync(store.completeUpload(v, 'u1', parts, record, { condition: { current: 'none' } })), refused('none', 'object'))
    t.is((await store.getObject(B, 'k'))?.cid, 'existing')
    t.deepEqual(await store.getUpload(B, 'k', 'u1'), upload('k', 'u1'))
    t.deepEqual(await store.listParts(B, 'k', 'u1', { limit: 10 }), [part(1)])
    t.is(await store.getCompletedUpload(B, 'k', 'u1'), undefined)
    t.is(await store.refCount('obj'), 0)
    t.is(await store.refCount('part-1'), 1)
    // The upload and its parts are checked first.
    t.deepEqual(await store.completeUpload(v, 'u9', parts, record, { condition: { current: 'none' } }), { status: 'no-upload' })
    t.deepEqual(await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'other' }], record, { condition: { current: 'none' } }), { status: 'parts-changed' })

    const result = await store.completeUpload(v, 'u1', parts, record, { condition: { current: 'object', etags: [version('k').etag] } })
    t.is(result.status, 'completed')
    t.is((await store.getObject(B, 'k'))?.cid, 'obj')
    t.is(await store.getUpload(B, 'k', 'u1'), undefined)
  })

  withBucket('of many concurrent conditional writes to one key exactly one commits; the others change nothing', async (t, store) => {
    const n = 24
    // Uploads to complete among the writers: completeUpload races putObject.
    for (let i = 0; i < n; i += 3) {
      await store.createUpload(upload('k', `u${i}`))
      await store.putPart(B, 'k', `u${i}`, part(1, `part-${i}`))
    }
    type Condition = { current: 'none' } | { current: 'object', etags: string[] }
    const write = async (round: number, i: number, condition: Condition): Promise<unknown> => {
      const etag = `etag-${round}-${i}`
      if (i % 3 !== 0) return await store.putObject(version('k', { cid: `c${i}`, etag }), { condition })
      const [v, record] = completion('k', `u${i}`, `c${i}`, { partSizes: [5] })
      return await store.completeUpload({ ...v, etag }, `u${i}`, [{ partNumber: 1, cid: `part-${i}` }], record, { condition })
    }
    const race = async (round: number, condition: Condition): Promise<number> => {
      const outcomes = await Promise.allSettled(Array.from({ length: n }, async (_, i) => await write(round, i, condition)))
      const won = outcomes.flatMap((o, i) => o.status === 'fulfilled' ? [i] : [])
      t.is(won.length, 1, 'exactly one writer commits')
      for (const o of outcomes) {
        if (o.status === 'rejected') t.is((o.reason as { code?: string }).code, 'ERR_CONDITION_FAILED', String(o.reason))
      }
      return won[0]
    }

    // Create-if-absent.
    const first = await race(1, { current: 'none' })
    t.is((await store.getObject(B, 'k'))?.cid, `c${first}`)
    t.deepEqual(await listVersionIds(store), [['k', 'null']])
    for (let i = 0; i < n; i++) t.is(await store.refCount(`c${i}`), i === first ? 1 : 0, `c${i}`)
    const uploads = await listUploadIds(store)
    t.is(uploads.length, first % 3 === 0 ? n / 3 - 1 : n / 3, 'the refused completions left their uploads in progress')

    // Compare-and-swap: every writer read the same ETag; one replaces it.
    for (let i = 0; i < n; i += 3) {
      if (i === first) {
        await store.createUpload(upload('k', `u${i}`))
        await store.putPart(B, 'k', `u${i}`, part(1, `part-${i}`))
      }
    }
    const second = await race(2, { current: 'object', etags: [`etag-1-${first}`] })
    t.is((await store.getObject(B, 'k'))?.etag, `etag-2-${second}`)
    for (let i = 0; i < n; i++) t.is(await store.refCount(`c${i}`), i === second ? 1 : 0, `c${i}`)
  })

  withBucket('completed records are kept for an hour after newer completions, then dropped', async (t, store) => {
    const at = (ms: number): Date => new Date(T0.getTime() + ms)
    const complete = async (uploadId: string, completed: Date): Promise<void> => {
      await store.createUpload(upload(`k-${uploadId}`, uploadId))
      await store.putPart(B, `k-${uploadId}`, uploadId, part(1, `p-${uploadId}`))
      const [v, record] = completion(`k-${uploadId}`, uploadId, `obj-${uploadId}`, { completed })
      t.is((await store.completeUpload(v, uploadId, [{ partNumber: 1, cid: `p-${uploadId}` }], record)).status, 'completed')
    }
    const kept = async (): Promise<string[]> => {
      const out: string[] = []
      for (const id of ['u1', 'u2', 'u3', 'u4']) if (await store.getCompletedUpload(B, `k-${id}`, id) !== undefined) out.push(id)
      return out
    }
    await complete('u1', at(0))
    await complete('u2', at(30 * 60 * 1000))
    await complete('u3', at(60 * 60 * 1000))
    t.deepEqual(await kept(), ['u1', 'u2', 'u3'], 'exactly an hour older is kept')
    await complete('u4', at(60 * 60 * 1000 + 1))
    t.deepEqual(await kept(), ['u2', 'u3', 'u4'])
    t.deepEqual(await store.getCompletedUpload(B, 'k-u4', 'u4'), completion('k-u4', 'u4', 'obj-u4', { completed: at(60 * 60 * 1000 + 1) })[1])
  })

  withBucket('abortUpload removes the upload and releases its parts; a second abort is undefined', async (t, store) => {
    await store.createUpload(upload('k', 'u1'))
    await store.putPart(B, 'k', 'u1', part(1))
    await store.putPart(B, 'k', 'u1', part(2, 'part-1'))
    await store.putPart(B, 'k', 'u1', part(3, 'kept'))
    await store.putObject(version('x', { cid: 'kept' }))
    const result = await store.abortUpload(B, 'k', 'u1')
    t.deepEqual(result, { released: ['part-1'] })
    t.is(await store.refCount('part-1'), 0)
    t.is(await store.refCount('kept'), 1)
    t.is(await store.getUpload(B, 'k', 'u1'), undefined)
    t.is(await store.listParts(B, 'k', 'u1', { limit: 10 }), undefined)
    t.deepEqual(await listUploadIds(store), [])
    t.is(await store.getCompletedUpload(B, 'k', 'u1'), undefined, 'an aborted upload is not completed')

    t.is(await store.abortUpload(B, 'k', 'u1'), undefined)
    t.is(await store.abortUpload(B, 'k', 'never'), undefined)
    t.is(await store.abortUpload('no-bucket', 'k', 'u1'), undefined)
    t.is(await store.putPart(B, 'k', 'u1', part(4)), undefined, 'putPart after abort')
    t.is(await store.refCount('part-4'), 0)
    const [v, record] = completion('k', 'u1', 'obj')
    t.deepEqual(await store.completeUpload(v, 'u1', [], record), { status: 'no-upload' })
    t.is(await store.getObject(B, 'k'), undefined)
  })

  it('deleteBucket removes uploads in progress with it and releases their parts', async (t, store) => {
    await store.createBucket(bucket(B))
    await store.createUpload(upload('k', 'u1'))
    await store.createUpload(upload('k2', 'u2'))
    await store.putPart(B, 'k', 'u1', part(1, 'p'))
    await store.putPart(B, 'k2', 'u2', part(1, 'p'))
    await store.putPart(B, 'k2', 'u2', part(2, 'q'))
    await store.putObject(version('obj', { cid: 'p' }))
    t.is(await store.deleteBucket(B), 'not-empty', 'a version keeps the bucket')
    t.deepEqual(await listUploadIds(store), [['k', 'u1'], ['k2', 'u2']], 'and its uploads')
    t.is(await store.refCount('p'), 3)

    await store.deleteObject(B, 'obj')
    t.is(await store.deleteBucket(B), 'deleted', 'uploads in progress do not keep it')
    t.is(await store.refCount('p'), 0)
    t.is(await store.refCount('q'), 0)
    t.deepEqual(await collect(store.referencedCids()), [])

    t.true(await store.createBucket(bucket(B)))
    t.is(await store.getUpload(B, 'k', 'u1'), undefined)
    t.deepEqual(await listUploadIds(store), [])
    t.is(await store.putPart(B, 'k', 'u1', part(1)), undefined)
  })

  withBucket('upload, part and completed records go in and come out as copies', async (t, store) => {
    const input = upload('k', 'u1', { headers: { 'content-type': 'a/b' }, metadata: { m: '1' }, tags: [['t', '1']] })
    await store.createUpload(input)
    input.metadata.m = 'changed'
    input.headers['content-type'] = 'changed'
    input.tags[0][1] = 'changed'
    input.initiated.setTime(0)
    const expected = upload('k', 'u1', { headers: { 'content-type': 'a/b' }, metadata: { m: '1' }, tags: [['t', '1']] })
    const got = await store.getUpload(B, 'k', 'u1')
    t.deepEqual(got, expected)
    if (got === undefined) return
    got.metadata.m = 'mutated'
    got.tags.push(['x', 'y'])
    got.initiated.setTime(1)
    const [listed] = await store.listUploads(B, { limit: 1 })
    listed.headers.x = 'mutated'
    t.deepEqual(await store.getUpload(B, 'k', 'u1'), expected)

    const p = part(1, 'p1', { checksum: { algorithm: 'CRC32', value: 'AAAAAA==' } })
    await store.putPart(B, 'k', 'u1', p)
    p.lastModified.setTime(0)
    if (p.checksum !== undefined) p.checksum.value = 'changed'
    p.cid = 'changed'
    const [stored] = await store.listParts(B, 'k', 'u1', { limit: 1 }) ?? []
    stored.lastModified.setTime(1)
    if (stored.checksum !== undefined) stored.checksum.value = 'mutated'
    t.deepEqual(await store.listParts(B, 'k', 'u1', { limit: 1 }), [part(1, 'p1', { checksum: { algorithm: 'CRC32', value: 'AAAAAA==' } })])

    const [v, record] = completion('k', 'u1', 'obj')
    const sizes = v.partSizes ?? []
    await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'p1' }], record)
    sizes[0] = -1
    record.completed.setTime(0)
    record.etag = 'changed'
    const [expectedVersion, expectedRecord] = completion('k', 'u1', 'obj')
    t.deepEqual(await store.getObject(B, 'k'), { ...expectedVersion, isLatest: true })
    const kept = await store.getCompletedUpload(B, 'k', 'u1')
    t.deepEqual(kept, expectedRecord)
    kept?.completed.setTime(1)
    const gotVersion = await store.getObject(B, 'k')
    gotVersion?.partSizes?.push(1)
    t.deepEqual(await store.getCompletedUpload(B, 'k', 'u1'), expectedRecord)
    t.deepEqual(await store.getObject(B, 'k'), { ...expectedVersion, isLatest: true })
  })

  withBucket('interleaved async part writes, completes and aborts leave consistent reference counts', async (t, store) => {
    for (let u = 0; u < 6; u++) await store.createUpload(upload(`k${u % 3}`, `u${u}`))
    const ops: Array<Promise<unknown>> = []
    for (let i = 0; i < 120; i++) ops.push(store.putPart(B, `k${i % 6 % 3}`, `u${i % 6}`, part(1 + (i % 4), `c${i % 5}`)))
    await Promise.all(ops)
    const [v0, r0] = completion('k0', 'u0', 'c0')
    const [v1, r1] = completion('k1', 'u1', 'c9')
    const results = await Promise.all([
      store.completeUpload(v0, 'u0', [{ partNumber: 1, cid: (await store.listParts(B, 'k0', 'u0', { limit: 1 }))?.[0].cid ?? '' }], r0),
      store.completeUpload(v1, 'u1', [{ partNumber: 1, cid: 'nope' }], r1),
      store.abortUpload(B, 'k2', 'u2'),
      store.putPart(B, 'k0', 'u3', part(9, 'c1')),
      store.abortUpload(B, 'k2', 'u2'),
    ])
    t.is((results[0] as { status: string }).status, 'completed')
    t.deepEqual(results[1], { status: 'parts-changed' })
    t.truthy(results[2])
    t.is(results[4], undefined)

    const counts = new Map<string, number>()
    const add = (cid: string): void => { counts.set(cid, (counts.get(cid) ?? 0) + 1) }
    for (const [key, uploadId] of await listUploadIds(store)) {
      for (const p of await store.listParts(B, key, uploadId, { limit: 100 }) ?? []) add(p.cid)
    }
    add('c0')
    t.deepEqual(await listUploadIds(store), [['k0', 'u3'], ['k1', 'u1'], ['k1', 'u4'], ['k2', 'u5']])
    for (let c = 0; c < 10; c++) t.is(await store.refCount(`c${c}`), counts.get(`c${c}`) ?? 0, `c${c}`)
    t.deepEqual((await collect(store.referencedCids())).sort(), [...counts.keys()].sort())
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
    const [listedVersion] = await store.listVersions(B, { limit: 1 })
    listedVersion.lastModified.setTime(3)
    if (listedVersion.checksum !== undefined) listedVersion.checksum.value = 'mutated'
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
    await t.throwsAsync(store.listKeys(B, { limit: 10, signal }), abort)
    await t.throwsAsync(store.listVersions(B, { limit: 10, signal }), abort)
    await t.throwsAsync(store.setBucketVersioning(B, 'Enabled', { signal }), abort)
    await t.throwsAsync(store.refCount('cid-k', { signal }), abort)
    await t.throwsAsync(collect(store.referencedCids({ signal })), abort)

    t.is(await store.getBucket('other'), undefined)
    t.is((await store.getBucket(B))?.versioning, 'Unversioned')
    t.deepEqual(await store.getObject(B, 'k'), { ...version('k'), isLatest: true })
    t.is(await store.getObject(B, 'k2'), undefined)
    t.is(await store.refCount('cid-k'), 1)
    t.is(await store.refCount('cid-k2'), 0)
  })

  withBucket('an already-aborted signal rejects every multipart method and changes nothing', async (t, store) => {
    await store.createUpload(upload('k', 'u1'))
    await store.putPart(B, 'k', 'u1', part(1))
    await store.createUpload(upload('k', 'u2'))
    await store.putPart(B, 'k', 'u2', part(1, 'p-u2'))
    const controller = new AbortController()
    controller.abort()
    const signal = controller.signal
    const abort = { any: true as const, name: 'AbortError' }
    const [v, record] = completion('k', 'u1', 'obj')
    await t.throwsAsync(store.createUpload(upload('k', 'u3'), { signal }), abort)
    await t.throwsAsync(store.getUpload(B, 'k', 'u1', { signal }), abort)
    await t.throwsAsync(store.listUploads(B, { limit: 10, signal }), abort)
    await t.throwsAsync(store.putPart(B, 'k', 'u1', part(2), { signal }), abort)
    await t.throwsAsync(store.listParts(B, 'k', 'u1', { limit: 10, signal }), abort)
    await t.throwsAsync(store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'part-1' }], record, { signal }), abort)
    await t.throwsAsync(store.getCompletedUpload(B, 'k', 'u1', { signal }), abort)
    await t.throwsAsync(store.abortUpload(B, 'k', 'u2', { signal }), abort)
    await t.throwsAsync(store.deleteBucket(B, { signal }), abort)

    t.deepEqual(await listUploadIds(store), [['k', 'u1'], ['k', 'u2']])
    t.deepEqual(await store.listParts(B, 'k', 'u1', { limit: 10 }), [part(1)])
    t.deepEqual(await store.listParts(B, 'k', 'u2', { limit: 10 }), [part(1, 'p-u2')])
    t.is(await store.getObject(B, 'k'), undefined)
    t.is(await store.getCompletedUpload(B, 'k', 'u1'), undefined)
    t.is(await store.refCount('part-1'), 1)
    t.is(await store.refCount('part-2'), 0)
    t.is(await store.refCount('p-u2'), 1)
    t.is(await store.refCount('obj'), 0)
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

  // ---- stats and ping (optional: tested where a store has them) ----

  const withStats = (title: string, fn: (t: ExecutionContext, store: MetadataStore, stats: StatsOf) => Promise<void>): void => {
    it(`stats: ${title}`, async (t, store) => {
      if (store.stats === undefined) {
        t.log('this store keeps no stats (optional)')
        t.pass()
        return
      }
      const stats = store.stats.bind(store)
      await fn(t, store, async (name) => await stats(name === undefined ? undefined : { bucket: name }))
    })
  }
  const totals = (objects: number, bytes: number, uploads = 0, buckets = 1): StoreStats => ({ buckets, objects, bytes, uploads })

  withStats('an empty store has nothing; a bucket starts at zero; a missing bucket has no totals', async (t, store, stats) => {
    t.deepEqual(await stats(), totals(0, 0, 0, 0))
    t.is(await stats(B), undefined)
    await store.createBucket(bucket(B))
    t.deepEqual(await stats(), totals(0, 0))
    t.deepEqual(await stats(B), totals(0, 0))
    t.is(await stats('nope'), undefined)
    t.false(await store.createBucket(bucket(B, 'bob')), 'a repeated create')
    t.deepEqual(await stats(), totals(0, 0), 'counts the bucket once')
  })

  withStats('an overwrite replaces the version it overwrites; a write that fails counts nothing', async (t, store, stats) => {
    await store.createBucket(bucket(B))
    await store.putObject(version('a', { size: 3 }))
    await store.putObject(version('b', { size: 10 }))
    t.deepEqual(await stats(B), totals(2, 13))
    await store.putObject(version('a', { size: 5, cid: 'cid-a2' }))
    t.deepEqual(await stats(B), totals(2, 15), 'the null version of a was replaced')
    await store.putObject(marker('b', 'null'))
    t.deepEqual(await stats(B), totals(1, 5), 'a delete marker in place of the null version: neither counts')
    await store.putObject(version('b', { size: 7 }))
    t.deepEqual(await stats(B), totals(2, 12), 'and an object in place of the marker counts again')
    await t.throwsAsync(store.putObject(version('c', { bucket: 'nope', size: 100 })))
    t.deepEqual(await stats(), totals(2, 12))
    await store.deleteObject(B, 'a')
    t.deepEqual(await stats(B), totals(1, 7))
    await store.deleteObject(B, 'a')
    t.deepEqual(await stats(B), totals(1, 7), 'deleting what is gone changes nothing')
  })

  withStats('every version counts, noncurrent ones too; delete markers never do; deleting a version uncounts it', async (t, store, stats) => {
    await store.createBucket(bucket(B, 'alice', { versioning: 'Enabled' }))
    await store.putObject(version('k', { versionId: 'v1', size: 100 }))
    await store.putObject(version('k', { versionId: 'v2', size: 200 }))
    await store.putObject(version('j', { versionId: 'v3', size: 1 }))
    t.deepEqual(await stats(B), totals(3, 301))
    await store.putObject(marker('k', 'dm1'))
    t.deepEqual(await stats(B), totals(3, 301), 'a delete marker hides k but its versions remain')
    await store.deleteObject(B, 'k', 'v1')
    t.deepEqual(await stats(B), totals(2, 201), 'a noncurrent version deleted')
    await store.deleteObject(B, 'k', 'dm1')
    t.deepEqual(await stats(B), totals(2, 201), 'the marker removed: v2 is current again, nothing counted twice')
    await store.putObject(version('k', { versionId: 'v2', size: 50 }))
    t.deepEqual(await stats(B), totals(2, 51), 'a version rewritten under its own id')
    await store.deleteObject(B, 'k')
    await store.deleteObject(B, 'j', 'v3')
    t.deepEqual(await stats(B), totals(0, 0))
    t.is(await store.deleteBucket(B), 'deleted')
  })

  withStats('multipart uploads in progress count as uploads, their parts as nothing; a completed upload counts as its object', async (t, store, stats) => {
    await store.createBucket(bucket(B))
    await store.createUpload(upload('k', 'u1'))
    await store.createUpload(upload('k', 'u2'))
    await store.createUpload(upload('other', 'u3'))
    await t.throwsAsync(store.createUpload(upload('k', 'u1')), { code: 'ERR_UPLOAD_EXISTS' } as never)
    t.deepEqual(await stats(B), totals(0, 0, 3))
    await store.putPart(B, 'k', 'u1', part(1))
    await store.putPart(B, 'k', 'u1', part(2, 'part-2', { size: 7 }))
    await store.putPart(B, 'k', 'u2', part(1, 'p-u2'))
    t.deepEqual(await stats(B), totals(0, 0, 3), 'parts are not objects')
    t.deepEqual(await store.abortUpload(B, 'k', 'u2'), { released: ['p-u2'] })
    t.is(await store.abortUpload(B, 'k', 'u2'), undefined)
    t.deepEqual(await stats(B), totals(0, 0, 2))

    const [v, record] = completion('k', 'u1', 'obj')
    t.deepEqual(await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'wrong' }], record), { status: 'parts-changed' })
    t.deepEqual(await stats(B), totals(0, 0, 2), 'a refused complete changes nothing')
    t.is((await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'part-1' }, { partNumber: 2, cid: 'part-2' }], record)).status, 'completed')
    t.deepEqual(await stats(B), totals(1, 5 * 1024 * 1024 + 7, 1))
    t.deepEqual(await store.completeUpload(v, 'u1', [{ partNumber: 1, cid: 'part-1' }], record), { status: 'no-upload' })
    t.deepEqual(await stats(B), totals(1, 5 * 1024 * 1024 + 7, 1), 'a repeated complete changes nothing')
    const [over, overRecord] = completion('k', 'u4', 'obj2', { partSizes: [10] })
    await store.createUpload(upload('k', 'u4'))
    await store.putPart(B, 'k', 'u4', part(1, 'p-u4', { size: 10 }))
    await store.completeUpload(over, 'u4', [{ partNumber: 1, cid: 'p-u4' }], overRecord)
    t.deepEqual(await stats(B), totals(1, 10, 1), 'an upload completed over the null version replaces it')
  })

  withStats('per bucket, summed over buckets; deleting a bucket removes its totals with its uploads', async (t, store, stats) => {
    await store.createBucket(bucket(B))
    await store.createBucket(bucket('other', 'bob', { versioning: 'Enabled' }))
    await store.putObject(version('a', { size: 3 }))
    await store.putObject(version('a', { bucket: 'other', versionId: 'v1', size: 40 }))
    await store.putObject(version('a', { bucket: 'other', versionId: 'v2', size: 50 }))
    await store.putObject({ ...marker('a', 'dm'), bucket: 'other' })
    await store.createUpload(upload('u', 'u1'))
    await store.createUpload(upload('u', 'u2', { bucket: 'other' }))
    await store.putPart('other', 'u', 'u2', part(1, 'p-other'))
    t.deepEqual(await stats(B), totals(1, 3, 1))
    t.deepEqual(await stats('other'), totals(2, 90, 1))
    t.deepEqual(await stats(), totals(3, 93, 2, 2))

    t.is(await store.deleteBucket('other'), 'not-empty')
    await store.deleteObject('other', 'a', 'v1')
    await store.deleteObject('other', 'a', 'v2')
    await store.deleteObject('other', 'a', 'dm')
    t.deepEqual(await stats('other'), totals(0, 0, 1))
    t.is(await store.deleteBucket('other'), 'deleted', 'an upload in progress does not keep it')
    t.is(await stats('other'), undefined)
    t.deepEqual(await stats(), totals(1, 3, 1))
    t.true(await store.createBucket(bucket('other')))
    t.deepEqual(await stats('other'), totals(0, 0), 'a bucket created again starts from zero')
    t.deepEqual(await stats(), totals(1, 3, 1, 2))
  })

  withStats('interleaved async writes leave totals equal to a recount', async (t, store, stats) => {
    await store.createBucket(bucket(B, 'alice', { versioning: 'Enabled' }))
    const ops: Array<Promise<unknown>> = []
    for (let i = 0; i < 300; i++) {
      const key = `k${i % 13}`
      switch (i % 6) {
        case 0: case 1: ops.push(store.putObject(version(key, { versionId: `v${i % 4}`, size: i }))); break
        case 2: ops.push(store.putObject(marker(key, `v${i % 4}`))); break
        case 3: ops.push(store.deleteObject(B, key, i % 2 === 0 ? undefined : `v${i % 4}`)); break
        case 4: ops.push(store.createUpload(upload(key, `u${i}`))); break
        // Every other upload is aborted right after it was created.
        case 5: ops.push(i % 12 === 5 ? store.abortUpload(B, `k${(i - 1) % 13}`, `u${i - 1}`) : store.putObject(version(key, { size: 1 }))); break
      }
    }
    await Promise.all(ops)
    const versions = (await store.listVersions(B, { limit: 10000 })).filter((v) => !v.deleteMarker)
    const uploads = await store.listUploads(B, { limit: 10000 })
    t.true(versions.length > 0 && uploads.length > 0)
    t.deepEqual(await stats(B), totals(versions.length, versions.reduce((sum, v) => sum + v.size, 0), uploads.length))
  })

  withStats('an already-aborted signal rejects with AbortError', async (t, store) => {
    await store.createBucket(bucket(B))
    const abort = { any: true as const, name: 'AbortError' }
    await t.throwsAsync(store.stats?.({ signal: AbortSignal.abort() }) as Promise<unknown>, abort)
    await t.throwsAsync(store.stats?.({ bucket: B, signal: AbortSignal.abort() }) as Promise<unknown>, abort)
  })

  it('ping: resolves while the store answers, rejects with an aborted signal and once the store is closed', async (t, store) => {
    if (store.ping === undefined) {
      t.log('this store has no ping (optional)')
      t.pass()
      return
    }
    await t.notThrowsAsync(store.ping())
    await t.notThrowsAsync(store.ping({ signal: new AbortController().signal }))
    await t.throwsAsync(store.ping({ signal: AbortSignal.abort() }), { any: true, name: 'AbortError' })
    await store.close()
    await t.throwsAsync(store.ping())
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
