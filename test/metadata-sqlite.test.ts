import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import Database from 'better-sqlite3'
import type { ObjectVersion } from '../src/metadata/metadata-store.js'
import { SQLITE_SCHEMA_VERSION, SqliteMetadataStore } from '../src/metadata/sqlite.js'
import { cidListSql } from '../src/metadata/sqlite/objects.js'
import { pinListSql } from '../src/metadata/sqlite/pins.js'
import { jobQueueSuite } from './compliance/job-queue.suite.js'
import { metadataStoreSuite } from './compliance/metadata-store.suite.js'
import { pinStoreSuite } from './compliance/pin-store.suite.js'
import { archiveStoreSuite } from './compliance/archive-store.suite.js'
import { searchSql } from '../src/metadata/sqlite/search.js'
import { cidTerm, storageClassTerm, tagTerm } from '../src/metadata/search.js'
import { searchIndexSuite } from './compliance/search-index.suite.js'
import { snapshotStoreSuite } from './compliance/snapshot-store.suite.js'

async function tempDir (): Promise<string> {
  return mkdtemp(join(tmpdir(), 's3ipfs-sqlite-'))
}

metadataStoreSuite('SqliteMetadataStore (file)', async () => {
  const dir = await tempDir()
  // A missing parent directory is created. NORMAL skips the fsync per commit (22k of them in the
  // scale test); the durable default is exercised by the reopen test below.
  const store = new SqliteMetadataStore({ path: join(dir, 'nested', 'meta.db'), synchronous: 'NORMAL' })
  return { store, teardown: async () => rm(dir, { recursive: true, force: true }) }
})

metadataStoreSuite('SqliteMetadataStore (:memory:)', async () => ({ store: new SqliteMetadataStore({ path: ':memory:' }) }))
jobQueueSuite('SqliteMetadataStore (file)', async () => {
  const dir = await tempDir()
  // The durable default: changes go through the group commit, jobs with them.
  const store = new SqliteMetadataStore({ path: join(dir, 'meta.db') })
  return { store, teardown: async () => rm(dir, { recursive: true, force: true }) }
})

pinStoreSuite('SqliteMetadataStore (file)', async () => {
  const dir = await tempDir()
  // The durable default: changes go through the group commit (a change that finds nothing rolls back alone).
  const store = new SqliteMetadataStore({ path: join(dir, 'meta.db') })
  return { store, teardown: async () => rm(dir, { recursive: true, force: true }) }
})
archiveStoreSuite('SqliteMetadataStore (file)', async () => {
  const dir = await tempDir()
  const store = new SqliteMetadataStore({ path: join(dir, 'meta.db') })
  return { store, teardown: async () => rm(dir, { recursive: true, force: true }) }
})
searchIndexSuite('SqliteMetadataStore (file)', async () => {
  const dir = await tempDir()
  const store = new SqliteMetadataStore({ path: join(dir, 'meta.db') })
  return { store, teardown: async () => rm(dir, { recursive: true, force: true }) }
})
snapshotStoreSuite('SqliteMetadataStore (file)', async () => {
  const dir = await tempDir()
  const store = new SqliteMetadataStore({ path: join(dir, 'meta.db') })
  return { store, teardown: async () => rm(dir, { recursive: true, force: true }) }
})

const T0 = new Date('2025-01-02T03:04:05.678Z')

/** Turns a database of the current schema back into a schema 12 one: no snapshots. */
const TO_SCHEMA_12 = 'DROP TABLE snapshots; PRAGMA user_version = 12'

/** Turns a database of the current schema back into a schema 11 one: no search index. */
const TO_SCHEMA_11 = `${TO_SCHEMA_12}; DROP TRIGGER search_add; DROP TRIGGER search_remove; DROP TRIGGER search_change; DROP TABLE search_terms;
  DROP INDEX versions_by_size; DROP INDEX versions_by_modified; PRAGMA user_version = 11`

/** Turns a database of the current schema back into a schema 10 one: no index of versions by CID. */
const TO_SCHEMA_10 = `${TO_SCHEMA_11}; DROP INDEX versions_by_cid; PRAGMA user_version = 10`

/** Turns a database of the current schema back into a schema 9 one: no archive records. */
const TO_SCHEMA_9 = `${TO_SCHEMA_10}; DROP TABLE archives; PRAGMA user_version = 9`

/** Turns a database of the current schema back into a schema 8 one: no pins. */
const TO_SCHEMA_8 = `${TO_SCHEMA_9}; DROP TABLE pins; PRAGMA user_version = 8`

/** Turns a database of the current schema back into a schema 7 one: no job queue, no replica rows. */
const TO_SCHEMA_7 = `${TO_SCHEMA_8}; DROP TABLE jobs; DROP TABLE replicas; PRAGMA user_version = 7`

/** Turns a database of the current schema back into a schema 6 one: no bucket totals. */
const TO_SCHEMA_6 = `${TO_SCHEMA_7}; ${['add_bucket', 'remove_bucket', 'add_version', 'remove_version', 'change_version', 'add_upload', 'remove_upload']
  .map((name) => `DROP TRIGGER bucket_stats_${name};`).join(' ')} DROP TABLE bucket_stats; PRAGMA user_version = 6`

/** Turns a database of the current schema back into a schema 5 one: no bucket configurations, no object ACLs or encryption. */
const TO_SCHEMA_5 = `${TO_SCHEMA_6}; ALTER TABLE buckets DROP COLUMN config; ALTER TABLE versions DROP COLUMN extra; ALTER TABLE uploads DROP COLUMN extra;
  PRAGMA user_version = 5`

/** Turns a database of the current schema back into a schema 4 one: no bucket CID profiles. */
const TO_SCHEMA_4 = `${TO_SCHEMA_5}; ALTER TABLE buckets DROP COLUMN cid_profile; PRAGMA user_version = 4`

/** Turns a database of the current schema back into a schema 3 one: versions_by_key in ascending seq order. */
const TO_SCHEMA_3 = `${TO_SCHEMA_4}; DROP INDEX versions_by_key; CREATE INDEX versions_by_key ON versions (bucket, key, seq); PRAGMA user_version = 3`

/** Turns a database of the current schema back into a schema 2 one: no multipart tables, no part sizes. */
const TO_SCHEMA_2 = `${TO_SCHEMA_3}; DROP TABLE uploads; DROP TABLE parts; DROP TABLE completed_uploads;
  ALTER TABLE versions DROP COLUMN part_sizes; PRAGMA user_version = 2`

/** Every table's columns and every index's definition, to compare a migrated schema with a fresh one. */
function schemaOf (db: Database.Database): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const objects = db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ type: string, name: string, sql: string }>
  for (const { type, name, sql } of objects) out[name] = type === 'table' ? db.pragma(`table_xinfo(${name})`) : sql
  return out
}

/** The database at `path` has the current schema version, and exactly the schema of a fresh one. */
function assertFreshSchema (t: ExecutionContext, path: string, freshPath: string): void {
  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  const fresh = new Database(freshPath, { readonly: true })
  t.teardown(() => fresh.close())
  t.is(db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION)
  t.deepEqual(schemaOf(db), schemaOf(fresh), 'the migrated schema is the fresh one')
}

test('SqliteMetadataStore: reopening the file keeps buckets, versions and references', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')

  const first = new SqliteMetadataStore({ path })
  await first.createBucket({ name: 'b', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Enabled' })
  const v = {
    bucket: 'b', key: 'k/😀', versionId: 'v1', deleteMarker: false, cid: 'bafy-k', size: 5, etag: 'e', lastModified: T0,
    owner: 'alice', headers: { 'content-type': 'text/plain' }, metadata: { a: 'b' }, tags: [['t', 'v']] as Array<[string, string]>,
  }
  await first.putObject(v)
  await first.putObject({ ...v, versionId: 'v2', cid: 'bafy-k2' })
  await first.close()
  await first.close()

  const second = new SqliteMetadataStore({ path })
  t.teardown(async () => second.close())
  t.deepEqual(await second.getBucket('b'), { name: 'b', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Enabled' })
  t.deepEqual(await second.getObject('b', 'k/😀', 'v1'), { ...v, isLatest: false })
  t.is((await second.getObject('b', 'k/😀'))?.versionId, 'v2')
  t.is(await second.refCount('bafy-k'), 1)
  t.deepEqual((await second.listObjects('b', { limit: 10 })).map((o) => o.versionId), ['v2'])
  await second.deleteObject('b', 'k/😀')
  t.is((await second.getObject('b', 'k/😀'))?.versionId, 'v1')
})

test('SqliteMetadataStore: a bucket read and kept by one connection is read again once another connection changes it', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  // Two stores on one file: two connections, as two processes have.
  const a = new SqliteMetadataStore({ path })
  const b = new SqliteMetadataStore({ path })
  t.teardown(async () => { await a.close(); await b.close() })
  t.is(await a.getBucket('shared'), undefined)
  await b.createBucket({ name: 'shared', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Unversioned' })
  t.is((await a.getBucket('shared'))?.versioning, 'Unversioned', 'an absent bucket is not remembered past another connection creating it')
  await b.setBucketVersioning('shared', 'Enabled')
  t.is((await a.getBucket('shared'))?.versioning, 'Enabled')
  await b.setBucketConfig('shared', 'policy', '{"Version":"2012-10-17","Statement":[]}')
  t.is((await a.getBucket('shared'))?.config?.policy, '{"Version":"2012-10-17","Statement":[]}')
  // And this connection's own changes, with reads in between.
  await a.setBucketConfig('shared', 'policy', undefined)
  t.is((await a.getBucket('shared'))?.config?.policy, undefined)
  t.is((await b.getBucket('shared'))?.config?.policy, undefined)
  t.is(await b.deleteBucket('shared'), 'deleted')
  t.is(await a.getBucket('shared'), undefined)
  // Each of this connection's bucket writes, each after a read that was kept.
  t.is(await a.getBucket('own'), undefined)
  await a.createBucket({ name: 'own', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Unversioned' })
  t.is((await a.getBucket('own'))?.versioning, 'Unversioned')
  await a.setBucketVersioning('own', 'Suspended')
  t.is((await a.getBucket('own'))?.versioning, 'Suspended')
  t.is(await a.deleteBucket('own'), 'deleted')
  t.is(await a.getBucket('own'), undefined)
})

test('SqliteMetadataStore: records its schema version and uses WAL', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  const store = new SqliteMetadataStore({ path })
  await store.close()
  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  t.is(db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION)
  t.is(db.pragma('journal_mode', { simple: true }), 'wal')
})

test('SqliteMetadataStore: refuses a database from a newer schema', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  const db = new Database(path)
  db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`)
  db.close()
  t.throws(() => new SqliteMetadataStore({ path }), { message: /newer/ })
})

test('SqliteMetadataStore: group commit acknowledges concurrent writes only once synced, and they persist', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-sqlite-group-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const path = join(dir, 'meta.db')
  const store = new SqliteMetadataStore({ path })
  await store.createBucket({ name: 'b', owner: 'o', created: new Date(), region: 'us-east-1', versioning: 'Unversioned' })
  const writes = Array.from({ length: 200 }, async (_, i) => await store.putObject({
    bucket: 'b', key: `k${String(i).padStart(3, '0')}`, versionId: 'null', deleteMarker: false, cid: `cid${i % 7}`, size: i, etag: 'e',
    lastModified: new Date(), owner: 'o', headers: {}, metadata: {}, tags: [],
  }))
  const results = await Promise.all(writes)
  t.is(results.length, 200)
  await store.close()
  const reopened = new SqliteMetadataStore({ path })
  t.teardown(async () => { await reopened.close() })
  const listed = await reopened.listObjects('b', { limit: 1000 })
  t.is(listed.length, 200)
  t.is(await reopened.refCount('cid0'), 29)
})

test('SqliteMetadataStore: in a commit group a failing change rolls back alone, and changes apply in call order', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-sqlite-group-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const path = join(dir, 'meta.db')
  const store = new SqliteMetadataStore({ path })
  t.teardown(async () => { await store.close() })
  await store.createBucket({ name: 'b', owner: 'o', created: new Date(), region: 'us-east-1', versioning: 'Unversioned' })
  const version = (bucket: string, key: string, cid: string) => ({
    bucket, key, versionId: 'null', deleteMarker: false, cid, size: 1, etag: 'e',
    lastModified: new Date(), owner: 'o', headers: {}, metadata: {}, tags: [] as Array<[string, string]>,
  })
  // Issued together, so they share one group.
  const first = store.putObject(version('b', 'k1', 'c1'))
  const missing = store.putObject(version('nope', 'k2', 'c2'))
  const replaced = store.putObject(version('b', 'k1', 'c3'))
  const deleted = store.deleteObject('b', 'k1')
  const created = store.createBucket({ name: 'b', owner: 'o', created: new Date(), region: 'us-east-1', versioning: 'Unversioned' })
  const tagged = store.setObjectTags('b', 'k1', undefined, [['a', 'b']])
  const last = store.putObject(version('b', 'k3', 'c1'))
  t.deepEqual(await first, { released: [] })
  await t.throwsAsync(missing, { code: 'ERR_NO_SUCH_BUCKET' } as never)
  t.is((await replaced).replaced?.cid, 'c1')
  t.is((await deleted).deleted?.cid, 'c3')
  t.false(await created)
  t.false(await tagged)
  t.deepEqual(await last, { released: [] })
  t.is(await store.getObject('b', 'k1'), undefined)
  t.is(await store.refCount('c2'), 0)
  t.is(await store.refCount('c1'), 1)
  t.is(await store.refCount('c3'), 0)
  t.is((await store.getObject('b', 'k3'))?.cid, 'c1')
})

test('SqliteMetadataStore: a listing page reads the covering index alone, keys-only probes too', async (t) => {
  const plan = await queryPlanner(t)
  for (const columns of ['key, version_id, delete_marker, size, etag, last_modified, owner, checksum, storage_class', 'key']) {
    t.deepEqual(plan(`SELECT ${columns} FROM versions WHERE bucket = ? AND is_latest = 1 AND delete_marker = 0
      AND key >= ? AND key < ? ORDER BY key LIMIT ?`, 'b', 'a', 'b', 10), ['SEARCH versions USING COVERING INDEX versions_listing (bucket=? AND key>? AND key<?)'])
  }
})

test('SqliteMetadataStore: a schema 1 database is migrated in place and keeps its data', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  const store = new SqliteMetadataStore({ path })
  await store.createBucket({ name: 'b', owner: 'o', created: new Date(0), region: 'us-east-1', versioning: 'Unversioned' })
  await store.putObject({ bucket: 'b', key: 'k', versionId: 'null', deleteMarker: false, cid: 'c', size: 1, etag: 'e', lastModified: new Date(0), owner: 'o', headers: {}, metadata: {}, tags: [] })
  await store.close()
  // turn it back into a schema 1 database: the listing index of version 1, and its version number
  const old = new Database(path)
  old.exec(TO_SCHEMA_2)
  old.exec('DROP INDEX versions_listing; CREATE INDEX versions_listing ON versions (bucket, key) WHERE is_latest = 1 AND delete_marker = 0; PRAGMA user_version = 1')
  old.close()
  const migrated = new SqliteMetadataStore({ path })
  t.teardown(async () => { await migrated.close() })
  t.deepEqual((await migrated.listObjects('b', { limit: 10 })).map((o) => o.key), ['k'])
  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  t.is(db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION)
  const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'versions_listing'").get() as { sql: string }).sql
  t.regex(sql, /storage_class/)
})

test('SqliteMetadataStore: a schema 2 database is migrated to the current schema, keeps its versions and takes uploads', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  const freshPath = join(dir, 'fresh.db')
  await new SqliteMetadataStore({ path: freshPath }).close()
  const store = new SqliteMetadataStore({ path })
  await store.createBucket({ name: 'b', owner: 'o', created: new Date(0), region: 'us-east-1', versioning: 'Enabled' })
  const v = {
    bucket: 'b', key: 'k/😀', versionId: 'v1', deleteMarker: false, cid: 'c1', size: 1, etag: 'e', lastModified: T0, owner: 'o',
    headers: { 'content-type': 'text/plain' }, metadata: {}, tags: [] as Array<[string, string]>, partsCount: 2,
  }
  await store.putObject(v)
  await store.putObject({ ...v, versionId: 'v2', cid: 'c2' })
  await store.close()
  const old = new Database(path)
  old.exec(TO_SCHEMA_2)
  t.false((old.pragma('table_info(versions)') as Array<{ name: string }>).some((c) => c.name === 'part_sizes'))
  old.close()

  const migrated = new SqliteMetadataStore({ path })
  t.teardown(async () => { await migrated.close() })
  t.deepEqual(await migrated.getObject('b', 'k/😀', 'v1'), { ...v, isLatest: false })
  t.deepEqual(await migrated.getObject('b', 'k/😀'), { ...v, versionId: 'v2', cid: 'c2', isLatest: true })
  t.is(await migrated.refCount('c1'), 1)

  await migrated.createUpload({ bucket: 'b', key: 'k/😀', uploadId: 'u1', initiated: T0, owner: 'o', headers: {}, metadata: {}, tags: [], profile: 'p' })
  await migrated.putPart('b', 'k/😀', 'u1', { partNumber: 1, cid: 'p1', size: 4, etag: 'e1', lastModified: T0 })
  const completed = { bucket: 'b', key: 'k/😀', uploadId: 'u1', versionId: 'v3', etag: 'e-1', cid: 'c3', partsDigest: 'd', completed: T0 }
  const result = await migrated.completeUpload({ ...v, versionId: 'v3', cid: 'c3', size: 4, partsCount: 1, partSizes: [4] }, 'u1', [{ partNumber: 1, cid: 'p1' }], completed)
  t.deepEqual(result, { status: 'completed', released: ['p1'] })
  t.deepEqual((await migrated.getObject('b', 'k/😀'))?.partSizes, [4])
  t.deepEqual(await migrated.getCompletedUpload('b', 'k/😀', 'u1'), completed)

  assertFreshSchema(t, path, freshPath)
})

test('SqliteMetadataStore: a schema 3 database is migrated to the current schema and lists its versions newest first', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  const freshPath = join(dir, 'fresh.db')
  await new SqliteMetadataStore({ path: freshPath }).close()
  const store = new SqliteMetadataStore({ path })
  await store.createBucket({ name: 'b', owner: 'o', created: new Date(0), region: 'us-east-1', versioning: 'Enabled' })
  const v = {
    bucket: 'b', key: 'k', versionId: 'v1', deleteMarker: false, cid: 'c1', size: 1, etag: 'e', lastModified: T0, owner: 'o',
    headers: {}, metadata: {}, tags: [] as Array<[string, string]>,
  }
  for (const versionId of ['v1', 'v2', 'v3']) await store.putObject({ ...v, versionId })
  await store.putObject({ ...v, key: 'j' })
  await store.close()
  const old = new Database(path)
  old.exec(TO_SCHEMA_3)
  old.close()

  const migrated = new SqliteMetadataStore({ path })
  t.teardown(async () => { await migrated.close() })
  t.deepEqual((await migrated.listVersions('b', { limit: 10 })).map((o) => [o.key, o.versionId, o.isLatest]),
    [['j', 'v1', true], ['k', 'v3', true], ['k', 'v2', false], ['k', 'v1', false]])
  t.is((await migrated.getObject('b', 'k'))?.versionId, 'v3')
  assertFreshSchema(t, path, freshPath)
})

test('SqliteMetadataStore: a schema 4 database gains bucket CID profiles; its buckets have none (the gateway default)', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  const freshPath = join(dir, 'fresh.db')
  await new SqliteMetadataStore({ path: freshPath }).close()
  const store = new SqliteMetadataStore({ path })
  const old = { name: 'old', owner: 'o', created: T0, region: 'us-east-1', versioning: 'Enabled' as const }
  await store.createBucket({ ...old, cidProfile: 'unixfs-v0-2015' })
  await store.putObject({ bucket: 'old', key: 'k', versionId: 'v1', deleteMarker: false, cid: 'c1', size: 1, etag: 'e', lastModified: T0, owner: 'o', headers: {}, metadata: {}, tags: [] })
  await store.close()
  const downgraded = new Database(path)
  downgraded.exec(TO_SCHEMA_4)
  downgraded.close()

  const migrated = new SqliteMetadataStore({ path })
  t.teardown(async () => { await migrated.close() })
  t.deepEqual(await migrated.getBucket('old'), old, 'the profile it was written with is unknown: none, read as the gateway default')
  t.is((await migrated.getObject('old', 'k'))?.cid, 'c1')
  await migrated.createBucket({ ...old, name: 'new', cidProfile: 'unixfs-v0-2015' })
  t.is((await migrated.getBucket('new'))?.cidProfile, 'unixfs-v0-2015')
  assertFreshSchema(t, path, freshPath)
})

test('SqliteMetadataStore: a schema 6 database gains bucket totals, counted from the data it holds, and keeps them as it changes', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  const freshPath = join(dir, 'fresh.db')
  await new SqliteMetadataStore({ path: freshPath }).close()
  const store = new SqliteMetadataStore({ path })
  const v = {
    bucket: 'b', key: 'k', versionId: 'v1', deleteMarker: false, cid: 'c1', size: 100, etag: 'e', lastModified: T0, owner: 'o',
    headers: {}, metadata: {}, tags: [] as Array<[string, string]>,
  }
  const upload = { bucket: 'b', key: 'k', uploadId: 'u1', initiated: T0, owner: 'o', headers: {}, metadata: {}, tags: [] as Array<[string, string]>, profile: 'p' }
  for (const name of ['b', 'c', 'empty']) await store.createBucket({ name, owner: 'o', created: T0, region: 'us-east-1', versioning: 'Enabled' })
  await store.putObject(v)
  await store.putObject({ ...v, versionId: 'v2', size: 20 })
  await store.putObject({ ...v, versionId: 'dm', deleteMarker: true, cid: '', size: 0, etag: '' })
  await store.putObject({ ...v, key: 'j', versionId: 'null', size: 3 })
  await store.putObject({ ...v, bucket: 'c', size: 5 })
  await store.createUpload(upload)
  await store.createUpload({ ...upload, uploadId: 'u2' })
  await store.createUpload({ ...upload, bucket: 'c' })
  await store.close()
  const old = new Database(path)
  old.exec(TO_SCHEMA_6)
  t.is(old.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'bucket_stats%'").pluck().get(), 0, 'no trace of the totals is left')
  old.close()

  const migrated = new SqliteMetadataStore({ path })
  t.teardown(async () => { await migrated.close() })
  t.deepEqual(await migrated.stats(), { buckets: 3, objects: 4, bytes: 128, uploads: 3 })
  t.deepEqual(await migrated.stats({ bucket: 'b' }), { buckets: 1, objects: 3, bytes: 123, uploads: 2 })
  t.deepEqual(await migrated.stats({ bucket: 'c' }), { buckets: 1, objects: 1, bytes: 5, uploads: 1 })
  t.deepEqual(await migrated.stats({ bucket: 'empty' }), { buckets: 1, objects: 0, bytes: 0, uploads: 0 })
  await migrated.deleteObject('b', 'k', 'v1')
  await migrated.abortUpload('b', 'k', 'u2')
  t.deepEqual(await migrated.stats({ bucket: 'b' }), { buckets: 1, objects: 2, bytes: 23, uploads: 1 })
  t.is(await migrated.deleteBucket('empty'), 'deleted')
  t.deepEqual(await migrated.stats(), { buckets: 2, objects: 3, bytes: 28, uploads: 2 })
  assertFreshSchema(t, path, freshPath)
})

/**
 * A database holding object `k` (CID X) in bucket `b`, turned back by `downgrade` and opened again
 * (migrated); and a fresh database to compare its schema with.
 */
async function migratedFrom (t: ExecutionContext, downgrade: string): Promise<{ migrated: SqliteMetadataStore, path: string, freshPath: string }> {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  const freshPath = join(dir, 'fresh.db')
  await new SqliteMetadataStore({ path: freshPath }).close()
  const store = new SqliteMetadataStore({ path })
  await store.createBucket({ name: 'b', owner: 'o', created: T0, region: 'us-east-1', versioning: 'Unversioned' })
  await store.putObject({ bucket: 'b', key: 'k', versionId: 'null', deleteMarker: false, cid: 'X', size: 1, etag: 'e', lastModified: T0, owner: 'o', headers: {}, metadata: {}, tags: [] })
  await store.close()
  const old = new Database(path)
  old.exec(downgrade)
  old.close()
  const migrated = new SqliteMetadataStore({ path })
  t.teardown(async () => { await migrated.close() })
  return { migrated, path, freshPath }
}

test('SqliteMetadataStore: a schema 8 database gains pins; its objects and their references are kept', async (t) => {
  const { migrated, path, freshPath } = await migratedFrom(t, TO_SCHEMA_8)
  t.is(await migrated.refCount('X'), 1)
  await migrated.createPin({ requestId: 'r', owner: 'o', cid: 'X', origins: [], meta: {}, status: 'pinned', created: T0, updated: T0 })
  t.is(await migrated.refCount('X'), 2)
  t.is((await migrated.listPins({ owner: 'o', status: ['pinned'], limit: 10 })).count, 1)
  assertFreshSchema(t, path, freshPath)
})

test('SqliteMetadataStore: a schema 9 database gains archive records; its objects and their references are kept', async (t) => {
  const { migrated, path, freshPath } = await migratedFrom(t, TO_SCHEMA_9)
  t.is(await migrated.refCount('X'), 1)
  const archived = await migrated.setVersionArchive('b', 'k', 'null', { cid: 'X', storageClass: 'GLACIER', archive: { target: 't', location: {}, archived: T0 } })
  t.is(archived.status, 'changed')
  t.is(await migrated.refCount('X'), 0)
  t.is((await migrated.getArchive('X'))?.versions, 1)
  assertFreshSchema(t, path, freshPath)
})

test('SqliteMetadataStore: a schema 12 database gains snapshots; its objects and their references are kept', async (t) => {
  const { migrated, path, freshPath } = await migratedFrom(t, TO_SCHEMA_12)
  t.is(await migrated.refCount('X'), 1)
  const record = { bucket: 'b', id: 's', cid: 'X', prefix: '', created: T0, owner: 'o', profile: 'unixfs-v1-2025', keys: 1, bytes: 3, skipped: { encrypted: 0, archived: 0 } }
  t.is(await migrated.createSnapshot(record), 'created')
  t.is(await migrated.refCount('X'), 2)
  t.deepEqual(await migrated.listSnapshotsByCid('X', { limit: 10 }), [{ bucket: 'b', id: 's', prefix: '' }])
  assertFreshSchema(t, path, freshPath)
})

test('SqliteMetadataStore: a schema 10 database gains the index of versions by CID, built from the versions it holds', async (t) => {
  const { migrated, path, freshPath } = await migratedFrom(t, TO_SCHEMA_10)
  t.deepEqual(await migrated.listVersionsByCid('X', { limit: 10 }), [{ bucket: 'b', key: 'k', versionId: 'null', isLatest: true }])
  await migrated.putObject({ bucket: 'b', key: 'j', versionId: 'null', deleteMarker: false, cid: 'X', size: 1, etag: 'e', lastModified: T0, owner: 'o', headers: {}, metadata: {}, tags: [] })
  t.deepEqual((await migrated.listVersionsByCid('X', { limit: 10 })).map((m) => m.key), ['j', 'k'])
  assertFreshSchema(t, path, freshPath)
})

test('SqliteMetadataStore: a schema 11 database gains the search index, built from the objects it holds', async (t) => {
  const { migrated, path, freshPath } = await migratedFrom(t, TO_SCHEMA_11)
  t.deepEqual((await migrated.searchObjects('b', { term: cidTerm('X') }, { limit: 10 })).map((v) => v.key), ['k'])
  t.deepEqual((await migrated.searchObjects('b', { size: { min: 1 } }, { limit: 10 })).map((v) => v.key), ['k'])
  await migrated.putObject({ bucket: 'b', key: 'j', versionId: 'null', deleteMarker: false, cid: 'Y', size: 1, etag: 'e', lastModified: T0, owner: 'o', headers: {}, metadata: {}, tags: [['a', 'b']] })
  t.deepEqual((await migrated.searchObjects('b', { term: tagTerm('a', 'b') }, { limit: 10 })).map((v) => v.key), ['j'])
  t.deepEqual((await migrated.searchObjects('b', { term: storageClassTerm(undefined) }, { limit: 10 })).map((v) => v.key), ['j', 'k'])
  assertFreshSchema(t, path, freshPath)
})

/** EXPLAIN QUERY PLAN of a statement on a fresh database of the current schema: its plan lines. */
async function queryPlanner (t: ExecutionContext): Promise<(sql: string, ...params: unknown[]) => string[]> {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  await new SqliteMetadataStore({ path }).close()
  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  return (sql, ...params) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((p) => p.detail)
}

test('SqliteMetadataStore: a page of the versions holding a CID is one seek in versions_by_cid, read from the index alone, with no sort', async (t) => {
  const plan = await queryPlanner(t)
  t.deepEqual(plan(cidListSql(false), 'X', 10), ['SEARCH versions USING COVERING INDEX versions_by_cid (cid=?)'])
  t.deepEqual(plan(cidListSql(true), 'X', 'b', 'k', 'v', 10), ['SEARCH versions USING COVERING INDEX versions_by_cid (cid=? AND (bucket,key,version_id)>(?,?,?))'])
})

test('SqliteMetadataStore: a search reads a term\'s keys in order from search_terms, a range from its own index, with no full scan', async (t) => {
  const plan = await queryPlanner(t)
  const bounds = { low: true, high: true, end: true }
  const params = { bucket: 'b', term: 't', start: 'a', end: 'z', low: 1, high: 2, limit: 10 }
  const only = (sql: string): Record<string, unknown> => Object.fromEntries(Object.entries(params).filter(([name]) => sql.includes(`@${name}`)))
  const term = searchSql('term', bounds)
  t.deepEqual(plan(term, only(term)), [
    'CO-ROUTINE t',
    'SEARCH search_terms USING PRIMARY KEY (bucket=? AND term=? AND key>? AND key<?)',
    'SCAN t',
    'SEARCH v USING INDEX versions_listing (bucket=? AND key=?)',
  ], 'a page of the term\'s keys, each joined to its current version: no sort')
  const count = searchSql('term', bounds, true)
  t.deepEqual(plan(count, only(count)).filter((line) => line.startsWith('SEARCH')), ['SEARCH search_terms USING PRIMARY KEY (bucket=? AND term=? AND key>? AND key<?)'])
  for (const [column, index] of [['size', 'versions_by_size'], ['last_modified', 'versions_by_modified']] as const) {
    const range = searchSql(column, bounds)
    t.deepEqual(plan(range, only(range))[0], `SEARCH versions USING INDEX ${index} (bucket=? AND ${column}>? AND ${column}<?)`)
    const counted = searchSql(column, bounds, true)
    t.true(plan(counted, only(counted)).includes(`SEARCH versions USING COVERING INDEX ${index} (bucket=? AND ${column}>? AND ${column}<?)`))
  }
  const listing = searchSql('all', bounds)
  t.deepEqual(plan(listing, only(listing)), ['SEARCH versions USING INDEX versions_listing (bucket=? AND key>? AND key<?)'])
})

test('SqliteMetadataStore: an owner\'s pin listing reads one range of pins_by_owner, newest first, with no sort', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  await new SqliteMetadataStore({ path }).close()
  const db = new Database(path, { readonly: true })
  t.teardown(() => db.close())
  const params = { owner: 'o', before: 2, after: 1, cids: '["c"]', name: 'n', name_lower: 'n', match: 'ipartial', status: '["pinned"]', meta: '{"a":"b"}', limit: 10 }
  for (const [sql, values] of [[pinListSql(true), params], [pinListSql(true, true), { ...params, limit: undefined }]] as const) {
    const { limit, ...rest } = values
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(limit === undefined ? rest : values) as Array<{ detail: string }>).map((p) => p.detail)
    t.is(plan[0], 'SEARCH pins USING INDEX pins_by_owner (owner=? AND created>? AND created<?)', sql)
    t.false(plan.some((line) => line.includes('TEMP B-TREE')), 'no sort')
  }
})

test('SqliteMetadataStore: totals are read from bucket_stats alone, never counted from versions', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  const store = new SqliteMetadataStore({ path })
  await store.createBucket({ name: 'b', owner: 'alice', created: T0, region: 'us-east-1', versioning: 'Enabled' })
  await store.putObject({ bucket: 'b', key: 'k', versionId: 'v1', deleteMarker: false, cid: 'bafy-k', size: 5, etag: 'e', lastModified: T0, owner: 'alice', headers: {}, metadata: {}, tags: [] })
  await store.close()
  // Counters that disagree with the versions table: a store that counted versions would answer 1 object of 5 bytes.
  const db = new Database(path)
  db.prepare('UPDATE bucket_stats SET objects = 1000, bytes = 123456 WHERE bucket = ?').run('b')
  db.close()
  const reopened = new SqliteMetadataStore({ path })
  t.teardown(async () => reopened.close())
  t.deepEqual(await reopened.stats(), { buckets: 1, objects: 1000, bytes: 123456, uploads: 0 })
  t.deepEqual(await reopened.stats({ bucket: 'b' }), { buckets: 1, objects: 1000, bytes: 123456, uploads: 0 })
})

test('SqliteMetadataStore: a version listing is range scans of versions_by_key in listing order, with no sort', async (t) => {
  const plan = await queryPlanner(t)
  const columns = 'key, version_id, delete_marker, size, etag, last_modified, owner, checksum, storage_class, is_latest'
  t.deepEqual(plan(`SELECT ${columns} FROM versions INDEXED BY versions_by_key WHERE bucket = ? AND key >= ? ORDER BY key, seq DESC LIMIT ?`, 'b', 'a', 10),
    ['SEARCH versions USING INDEX versions_by_key (bucket=? AND key>?)'])
  t.deepEqual(plan(`SELECT ${columns} FROM versions INDEXED BY versions_by_key WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key, seq DESC LIMIT ?`, 'b', 'a', 'b', 10),
    ['SEARCH versions USING INDEX versions_by_key (bucket=? AND key>? AND key<?)'])
  t.deepEqual(plan(`SELECT ${columns} FROM versions INDEXED BY versions_by_key
      WHERE bucket = @bucket AND key = @key AND seq < (SELECT seq FROM versions WHERE bucket = @bucket AND key = @key AND version_id = @versionId)
      ORDER BY seq DESC LIMIT @limit`, { bucket: 'b', key: 'k', versionId: 'v', limit: 10 }), [
    'SEARCH versions USING INDEX versions_by_key (bucket=? AND key=? AND seq<?)',
    'SCALAR SUBQUERY 1',
    'SEARCH versions USING COVERING INDEX sqlite_autoindex_versions_1 (bucket=? AND key=? AND version_id=?)',
  ])
  t.deepEqual(plan('SELECT * FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1', 'b', 'k'),
    ['SEARCH versions USING INDEX versions_by_key (bucket=? AND key=?)'], 'the latest version of a key is the first row')
})

test('SqliteMetadataStore: upload and part listings seek on their primary keys', async (t) => {
  const plan = await queryPlanner(t)
  t.deepEqual(plan(`SELECT * FROM uploads WHERE bucket = ? AND (key, upload_id) >= (?, ?) AND key < ? ORDER BY key, upload_id LIMIT ?`, 'b', 'a', '', 'b', 10),
    ['SEARCH uploads USING PRIMARY KEY (bucket=? AND (key,upload_id)>(?,?) AND key<?)'])
  t.deepEqual(plan(`SELECT * FROM parts WHERE bucket = ? AND key = ? AND upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?`, 'b', 'k', 'u', 0, 10),
    ['SEARCH parts USING PRIMARY KEY (bucket=? AND key=? AND upload_id=? AND part_number>?)'])
  t.deepEqual(plan('DELETE FROM completed_uploads WHERE completed < ?', 0),
    ['SEARCH completed_uploads USING INDEX completed_uploads_by_time (completed<?)'])
})

test('SqliteMetadataStore: multipart changes share group commits and persist', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 's3ipfs-sqlite-group-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const path = join(dir, 'meta.db')
  const store = new SqliteMetadataStore({ path })
  await store.createBucket({ name: 'b', owner: 'o', created: T0, region: 'us-east-1', versioning: 'Unversioned' })
  await store.createUpload({ bucket: 'b', key: 'k', uploadId: 'u1', initiated: T0, owner: 'o', headers: {}, metadata: {}, tags: [], profile: 'p' })
  await store.createUpload({ bucket: 'b', key: 'k', uploadId: 'u2', initiated: T0, owner: 'o', headers: {}, metadata: {}, tags: [], profile: 'p' })
  // Issued together, so they share one group; each applies in call order.
  const writes = await Promise.all([
    ...Array.from({ length: 50 }, async (_, i) => await store.putPart('b', 'k', 'u1', { partNumber: i + 1, cid: `c${i % 3}`, size: 1, etag: 'e', lastModified: T0 })),
    store.putPart('b', 'k', 'u2', { partNumber: 1, cid: 'c0', size: 1, etag: 'e', lastModified: T0 }),
    store.abortUpload('b', 'k', 'u2'),
    store.putPart('b', 'k', 'u2', { partNumber: 2, cid: 'c0', size: 1, etag: 'e', lastModified: T0 }),
  ])
  t.deepEqual(writes.slice(-3), [{ released: [] }, { released: [] }, undefined])
  await store.close()
  const reopened = new SqliteMetadataStore({ path })
  t.teardown(async () => { await reopened.close() })
  t.is((await reopened.listParts('b', 'k', 'u1', { limit: 100 }))?.length, 50)
  t.is(await reopened.refCount('c0'), 17)
  t.is(await reopened.getUpload('b', 'k', 'u2'), undefined)
})

test('SqliteMetadataStore: conditional writes racing from several stores on one file (as processes), in group commits: one commits', async (t) => {
  const dir = await tempDir()
  t.teardown(async () => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'meta.db')
  // The durable default ('GROUP'): each store's concurrent writes share a transaction, and the stores take turns at the file's write lock.
  const stores = Array.from({ length: 3 }, () => new SqliteMetadataStore({ path }))
  t.teardown(async () => { await Promise.all(stores.map(async (s) => s.close())) })
  await stores[0].createBucket({ name: 'b', owner: 'o', created: T0, region: 'us-east-1', versioning: 'Enabled' })
  const version = (i: number): ObjectVersion => ({
    bucket: 'b', key: 'k', versionId: `v${i}`, deleteMarker: false, cid: `c${i}`, size: 1, etag: `e${i}`, lastModified: T0, owner: 'o', headers: {}, metadata: {}, tags: [],
  })
  const outcomes = await Promise.allSettled(Array.from({ length: 24 }, async (_, i) =>
    await stores[i % stores.length].putObject(version(i), { condition: { current: 'none' } })))
  const won = outcomes.flatMap((o, i) => o.status === 'fulfilled' ? [i] : [])
  t.is(won.length, 1)
  t.true(outcomes.every((o) => o.status === 'fulfilled' || (o.reason as { code?: string }).code === 'ERR_CONDITION_FAILED'))
  t.deepEqual((await stores[1].listVersions('b', { limit: 100 })).map((v) => v.versionId), [`v${won[0]}`], 'one version: no loser wrote one')
  t.is(await stores[2].refCount(`c${won[0]}`), 1)
})
