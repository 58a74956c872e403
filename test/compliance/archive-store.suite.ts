import test from 'ava'
import type { ExecutionContext } from 'ava'
import { ARCHIVE_DELETE } from '../../src/metadata/archives.js'
import type { ArchiveChange } from '../../src/metadata/archives.js'
import type { MetadataStore, ObjectVersion } from '../../src/metadata/metadata-store.js'
import type { MetadataStoreFactory } from './metadata-store.suite.js'

const T0 = new Date('2025-01-02T03:04:05.000Z')
const at = (ms: number): Date => new Date(T0.getTime() + ms)
const record = { target: 's3:cold', location: { bucket: 'cold', key: 'k', nested: { n: 1 } }, archived: T0 }

function version (key: string, init: Partial<ObjectVersion> = {}): ObjectVersion {
  return {
    bucket: 'b', key, versionId: 'null', deleteMarker: false, cid: `cid-${key}`, size: 3, etag: 'e', lastModified: T0,
    owner: 'alice', headers: {}, metadata: {}, tags: [], ...init,
  }
}

/**
 * What every MetadataStore keeps of archived content (src/metadata/archives.ts): a version's archive
 * state and storage class, the references that follow it (local while not archived or restored),
 * the per-CID records with their version counts, and the clean-up job when a record counts none.
 */
export function archiveStoreSuite (name: string, factory: MetadataStoreFactory): void {
  const it = (title: string, fn: (t: ExecutionContext, store: MetadataStore) => Promise<void>): void => {
    test(`${name}: archives: ${title}`, async (t) => {
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
  const archive = (cid: string, extra: Partial<ArchiveChange> = {}): ArchiveChange => ({ cid, storageClass: 'GLACIER', archive: record, ...extra })

  it('archiving a version releases its local reference, records the CID once per version, and keeps the state through reads and listings', async (t, store) => {
    await store.putObject(version('a', { versionId: 'v1' }))
    await store.putObject(version('b', { versionId: 'v1', cid: 'cid-a' }))
    t.is(await store.refCount('cid-a'), 2)

    const first = await store.setVersionArchive('b', 'a', 'v1', archive('cid-a'))
    t.is(first.status, 'changed')
    if (first.status !== 'changed') return
    t.deepEqual(first.released, [], 'another version still holds the CID locally')
    t.is(first.version.storageClass, 'GLACIER')
    t.true(first.version.archived)
    t.is(await store.refCount('cid-a'), 1)
    const second = await store.setVersionArchive('b', 'b', 'v1', archive('cid-a', { storageClass: 'DEEP_ARCHIVE', archive: { ...record, target: 'other' } }))
    t.deepEqual(second.status === 'changed' ? second.released : undefined, ['cid-a'], 'the last local reference goes')
    t.is(await store.refCount('cid-a'), 0)

    const stored = await store.getArchive('cid-a')
    t.like(stored, { cid: 'cid-a', target: 's3:cold', versions: 2, deleting: false })
    t.deepEqual(stored?.location, record.location)
    t.deepEqual(stored?.archived, T0)
    const read = await store.getObject('b', 'a', 'v1')
    t.like(read, { storageClass: 'GLACIER', archived: true })
    t.is(read?.restore, undefined)
    const [listed] = await store.listObjects('b', { limit: 1 })
    t.is(listed.storageClass, 'GLACIER')
    t.is((await store.listVersions('b', { limit: 5 })).find(v => v.key === 'b')?.storageClass, 'DEEP_ARCHIVE')
    t.is((await store.setVersionArchive('b', 'a', 'v1', archive('cid-a'))).status, 'conflict', 'archived already')
    t.is((await store.getArchive('cid-a'))?.versions, 2)
  })

  it('a change names the content it expects: another CID, a delete marker or an absent version is missing', async (t, store) => {
    await store.putObject(version('a', { versionId: 'v1' }))
    t.is((await store.setVersionArchive('b', 'a', 'v1', archive('cid-other'))).status, 'missing')
    t.is((await store.setVersionArchive('b', 'a', 'nope', archive('cid-a'))).status, 'missing')
    t.is((await store.setVersionArchive('b', 'nokey', 'v1', archive('cid-a'))).status, 'missing')
    await store.putObject({ ...version('a', { versionId: 'm1', cid: '', etag: '', size: 0 }), deleteMarker: true })
    t.is((await store.setVersionArchive('b', 'a', 'm1', archive(''))).status, 'missing')
    t.is(await store.getArchive('cid-a'), undefined)
    t.is(await store.refCount('cid-a'), 1)
  })

  it('a restore takes the local reference back while restored; clearing it releases it; expectations guard each step', async (t, store) => {
    await store.putObject(version('a', { versionId: 'v1' }))
    await store.setVersionArchive('b', 'a', 'v1', archive('cid-a'))
    t.is(await store.refCount('cid-a'), 0)

    const requested = { ongoing: true as const, days: 3, requested: at(1000) }
    t.is((await store.setVersionArchive('b', 'a', 'v1', { cid: 'cid-a', restore: requested, expect: 'restored' })).status, 'conflict')
    const started = await store.setVersionArchive('b', 'a', 'v1', { cid: 'cid-a', restore: requested, expect: 'none' }, { jobs: [{ kind: 'archive', key: 'a-v1' }] })
    t.is(started.status, 'changed')
    t.deepEqual((await store.getObject('b', 'a', 'v1'))?.restore, requested)
    t.truthy(await store.getJob('archive', 'a-v1'), 'the change\'s jobs are enqueued with it')
    t.is(await store.refCount('cid-a'), 0, 'a restore in progress holds nothing yet')
    t.is((await store.setVersionArchive('b', 'a', 'v1', { cid: 'cid-a', restore: requested, expect: 'none' })).status, 'conflict', 'one restore at a time')

    const done = { ongoing: false as const, expiry: at(86_400_000) }
    const restored = await store.setVersionArchive('b', 'a', 'v1', { cid: 'cid-a', restore: done, expect: 'ongoing' })
    t.deepEqual(restored.status === 'changed' ? restored.released : undefined, [])
    t.is(await store.refCount('cid-a'), 1, 'restored content is held locally')
    t.deepEqual((await store.getObject('b', 'a', 'v1'))?.restore, done)

    const extended = { ongoing: false as const, expiry: at(2 * 86_400_000) }
    t.is((await store.setVersionArchive('b', 'a', 'v1', { cid: 'cid-a', restore: extended, expect: 'restored' })).status, 'changed')
    t.is(await store.refCount('cid-a'), 1, 'extending the expiry holds the one reference')

    const cleared = await store.setVersionArchive('b', 'a', 'v1', { cid: 'cid-a', restore: null, expect: 'restored' })
    t.deepEqual(cleared.status === 'changed' ? cleared.released : undefined, ['cid-a'])
    t.is(await store.refCount('cid-a'), 0)
    const after = await store.getObject('b', 'a', 'v1')
    t.is(after?.restore, undefined)
    t.true(after?.archived, 'still archived')
  })

  it('a version archived before it is restored keeps its restored copy; a write never sets archive state', async (t, store) => {
    await store.putObject(version('a', { versionId: 'v1', storageClass: 'GLACIER' }))
    // A restore requested and done before the transition (the content was still local).
    await store.setVersionArchive('b', 'a', 'v1', { cid: 'cid-a', restore: { ongoing: false, expiry: at(1000) }, expect: 'none' })
    t.is(await store.refCount('cid-a'), 1)
    const archived = await store.setVersionArchive('b', 'a', 'v1', { cid: 'cid-a', archive: record })
    t.deepEqual(archived.status === 'changed' ? archived.released : undefined, [], 'the restored copy stays held')
    t.is(await store.refCount('cid-a'), 1)

    await store.putObject(version('w', { versionId: 'v1', archived: true, restore: { ongoing: true, days: 1, requested: T0 } }))
    const written = await store.getObject('b', 'w', 'v1')
    t.is(written?.archived, undefined)
    t.is(written?.restore, undefined)
    t.is(await store.refCount('cid-w'), 1)
  })

  it('removing the last archived version of a CID enqueues its clean-up in the same change; the record is then marked and deleted', async (t, store) => {
    await store.putObject(version('a', { versionId: 'v1' }))
    await store.putObject(version('a', { versionId: 'v2', cid: 'cid-a' }))
    await store.setVersionArchive('b', 'a', 'v1', archive('cid-a'))
    await store.setVersionArchive('b', 'a', 'v2', archive('cid-a'))
    t.is(await store.markArchiveDeleting('cid-a'), undefined, 'in use')
    t.false(await store.deleteArchive('cid-a'))

    const gone = await store.deleteObject('b', 'a', 'v1')
    t.deepEqual(gone.released, [], 'an archived version held no local reference')
    t.is(await store.getJob(ARCHIVE_DELETE, 'cid-a'), undefined, 'one version still archived')
    t.is((await store.getArchive('cid-a'))?.versions, 1)
    // Replacing a version (same id) releases what the replaced one held.
    await store.putObject(version('a', { versionId: 'v2', cid: 'cid-new' }))
    t.truthy(await store.getJob(ARCHIVE_DELETE, 'cid-a'))
    t.is((await store.getArchive('cid-a'))?.versions, 0)
    t.is(await store.refCount('cid-a'), 0)

    t.false(await store.deleteArchive('cid-a'), 'not marked yet')
    const marked = await store.markArchiveDeleting('cid-a')
    t.like(marked, { cid: 'cid-a', deleting: true, versions: 0 })
    // Archiving the CID again while its record is being deleted must store the CAR again.
    await store.putObject(version('c', { versionId: 'v1', cid: 'cid-a' }))
    t.is((await store.setVersionArchive('b', 'c', 'v1', archive('cid-a'))).status, 'conflict')
    t.is(await store.refCount('cid-a'), 1, 'a refused archive change keeps the local reference')
    t.true(await store.deleteArchive('cid-a'))
    t.is(await store.getArchive('cid-a'), undefined)
    t.is((await store.setVersionArchive('b', 'c', 'v1', archive('cid-a', { archive: { ...record, target: 'fresh' } }))).status, 'changed')
    t.like(await store.getArchive('cid-a'), { target: 'fresh', versions: 1, deleting: false })
  })

  it('an ACL or tag change keeps a version\'s archive state', async (t, store) => {
    await store.putObject(version('a', { versionId: 'v1' }))
    await store.setVersionArchive('b', 'a', 'v1', archive('cid-a', { restore: { ongoing: true, days: 2, requested: T0 } }))
    await store.setObjectAcl('b', 'a', 'v1', '{"grants":[]}')
    await store.setObjectTags('b', 'a', 'v1', [['k', 'v']])
    const read = await store.getObject('b', 'a', 'v1')
    t.like(read, { archived: true, storageClass: 'GLACIER', acl: '{"grants":[]}' })
    t.deepEqual(read?.restore, { ongoing: true, days: 2, requested: T0 })
  })
}
