import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { NewJob } from '../../src/metadata/jobs.js'
import type { MetadataStore, ObjectVersion } from '../../src/metadata/metadata-store.js'
import type { SnapshotRecord } from '../../src/metadata/snapshots.js'
import type { MetadataStoreFactory } from './metadata-store.suite.js'

const T0 = new Date('2025-01-02T03:04:05.678Z')
const onRelease = (cid: string): NewJob[] => [{ kind: 'unreplicate', key: cid }]

function snapshot (id: string, init: Partial<SnapshotRecord> = {}): SnapshotRecord {
  return {
    bucket: 'b', id, cid: `root-${id}`, prefix: '', created: T0, owner: 'alice', profile: 'unixfs-v1-2025', keys: 3, bytes: 1234,
    skipped: { encrypted: 1, archived: 2 }, ...init,
  }
}

function version (key: string, cid: string): ObjectVersion {
  return { bucket: 'b', key, versionId: 'null', deleteMarker: false, cid, size: 3, etag: 'e', lastModified: T0, owner: 'alice', headers: {}, metadata: {}, tags: [] }
}

/**
 * The bucket snapshots every MetadataStore keeps (src/metadata/snapshots.ts): records as given,
 * one reference on the root per snapshot (shared with versions and other snapshots), ordering and
 * paging, lookup by root CID, jobs for released roots, and removal with the bucket.
 */
export function snapshotStoreSuite (name: string, factory: MetadataStoreFactory): void {
  const it = (title: string, fn: (t: ExecutionContext, store: MetadataStore) => Promise<void>): void => {
    test(`${name}: snapshots: ${title}`, async (t) => {
      const { store, teardown } = await factory()
      try {
        await store.createBucket({ name: 'b', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Enabled' })
        await fn(t, store)
      } finally {
        await store.close()
        await teardown?.()
      }
    })
  }

  it('a snapshot is stored as given, read back as a copy, and holds one reference on its root', async (t, store) => {
    const record = snapshot('s1', { prefix: 'photos/ünï/', keys: 100_000, bytes: 2 ** 40 })
    t.is(await store.createSnapshot(record), 'created')
    t.deepEqual(await store.getSnapshot('b', 's1'), record)
    t.is(await store.refCount(record.cid), 1)
    const read = await store.getSnapshot('b', 's1') as SnapshotRecord
    read.skipped.encrypted = 99
    t.is((await store.getSnapshot('b', 's1'))?.skipped.encrypted, 1)
    t.is(await store.getSnapshot('b', 'absent'), undefined)
    t.is(await store.getSnapshot('other', 's1'), undefined)
    const referenced: string[] = []
    for await (const cid of store.referencedCids()) referenced.push(cid)
    t.deepEqual(referenced, [record.cid], 'gc sees the root')
  })

  it('an id taken in the bucket is refused without a second reference; a missing bucket is refused', async (t, store) => {
    t.is(await store.createSnapshot(snapshot('s1')), 'created')
    t.is(await store.createSnapshot(snapshot('s1', { cid: 'other' })), 'exists')
    t.is(await store.refCount('root-s1'), 1)
    t.is(await store.refCount('other'), 0)
    t.is(await store.createSnapshot(snapshot('s1', { bucket: 'nope' })), 'no-bucket')
    t.is(await store.refCount('root-s1'), 1)
  })

  it('roots shared with versions and other snapshots are released only by the last holder', async (t, store) => {
    await store.putObject(version('k', 'shared'))
    t.is(await store.createSnapshot(snapshot('s1', { cid: 'shared' })), 'created')
    t.is(await store.createSnapshot(snapshot('s2', { cid: 'shared' })), 'created')
    t.is(await store.refCount('shared'), 3)
    t.deepEqual((await store.deleteSnapshot('b', 's1')).released, [])
    t.deepEqual((await store.deleteObject('b', 'k', 'null')).released, [])
    const last = await store.deleteSnapshot('b', 's2', { jobsOnRelease: onRelease })
    t.deepEqual(last.released, ['shared'])
    t.is(last.deleted?.id, 's2')
    t.is(await store.refCount('shared'), 0)
    t.truthy(await store.getJob('unreplicate', 'shared'), 'the release enqueued its job in the same change')
    t.deepEqual(await store.deleteSnapshot('b', 's2'), { released: [] }, 'repeating finds nothing')
  })

  it('a bucket lists its snapshots in id order, paged with after; other buckets are apart', async (t, store) => {
    await store.createBucket({ name: 'c', owner: 'bob', created: T0, region: 'us-east-1', versioning: 'Enabled' })
    for (const id of ['s3', 's1', 's2', 'é', 'z']) await store.createSnapshot(snapshot(id))
    await store.createSnapshot(snapshot('s0', { bucket: 'c' }))
    t.deepEqual((await store.listSnapshots('b', { limit: 10 })).map((s) => s.id), ['s1', 's2', 's3', 'z', 'é'], 'UTF-8 byte order')
    t.deepEqual((await store.listSnapshots('b', { limit: 2 })).map((s) => s.id), ['s1', 's2'])
    t.deepEqual((await store.listSnapshots('b', { after: 's2', limit: 2 })).map((s) => s.id), ['s3', 'z'])
    t.deepEqual((await store.listSnapshots('b', { after: 'é', limit: 2 })).map((s) => s.id), [])
    t.deepEqual((await store.listSnapshots('c', { limit: 10 })).map((s) => s.id), ['s0'])
    t.deepEqual(await store.listSnapshots('none', { limit: 10 }), [])
  })

  it('snapshots are found by their root CID, in (bucket, id) order, paged', async (t, store) => {
    await store.createBucket({ name: 'a', owner: 'bob', created: T0, region: 'us-east-1', versioning: 'Enabled' })
    await store.createSnapshot(snapshot('s2', { cid: 'X', prefix: 'p/' }))
    await store.createSnapshot(snapshot('s1', { cid: 'X' }))
    await store.createSnapshot(snapshot('s9', { bucket: 'a', cid: 'X' }))
    await store.createSnapshot(snapshot('s3', { cid: 'Y' }))
    t.deepEqual(await store.listSnapshotsByCid('X', { limit: 10 }), [
      { bucket: 'a', id: 's9', prefix: '' }, { bucket: 'b', id: 's1', prefix: '' }, { bucket: 'b', id: 's2', prefix: 'p/' }])
    t.deepEqual(await store.listSnapshotsByCid('X', { after: { bucket: 'a', id: 's9' }, limit: 1 }), [{ bucket: 'b', id: 's1', prefix: '' }])
    t.deepEqual(await store.listSnapshotsByCid('X', { after: { bucket: 'b', id: 's1' }, limit: 10 }), [{ bucket: 'b', id: 's2', prefix: 'p/' }])
    t.deepEqual(await store.listSnapshotsByCid('Z', { limit: 10 }), [])
    await store.deleteSnapshot('b', 's1')
    t.deepEqual((await store.listSnapshotsByCid('X', { limit: 10 })).map((m) => m.id), ['s9', 's2'])
  })

  it('deleting a bucket deletes its snapshots and releases their roots', async (t, store) => {
    await store.createSnapshot(snapshot('s1', { cid: 'X' }))
    await store.createSnapshot(snapshot('s2', { cid: 'X' }))
    await store.createSnapshot(snapshot('s3', { cid: 'Y' }))
    t.is(await store.deleteBucket('b'), 'deleted')
    t.is(await store.refCount('X'), 0)
    t.is(await store.refCount('Y'), 0)
    t.deepEqual(await store.listSnapshotsByCid('X', { limit: 10 }), [])
    await store.createBucket({ name: 'b', owner: 'mallory', created: T0, region: 'us-east-1', versioning: 'Enabled' })
    t.deepEqual(await store.listSnapshots('b', { limit: 10 }), [], 'a new bucket of the same name has none of the old one\'s snapshots')
  })
}
