import { randomBytes } from 'node:crypto'
import { postgresProblem, whenServices } from './helpers/services.js'
import test, { type ExecutionContext } from 'ava'
import pg from 'pg'
import type { ObjectVersion } from '../src/metadata/metadata-store.js'
import { POSTGRES_SCHEMA_VERSION, PostgresMetadataStore } from '../src/metadata/postgres.js'
import { jobQueueSuite } from './compliance/job-queue.suite.js'
import { metadataStoreSuite } from './compliance/metadata-store.suite.js'
import { pinStoreSuite } from './compliance/pin-store.suite.js'
import { archiveStoreSuite } from './compliance/archive-store.suite.js'
import { cidTerm, storageClassTerm, tagTerm } from '../src/metadata/search.js'
import { searchPage } from '../src/discovery/search.js'
import { searchIndexSuite } from './compliance/search-index.suite.js'
import { snapshotStoreSuite } from './compliance/snapshot-store.suite.js'

const URL = process.env.S3IPFS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const T0 = new Date('2025-01-02T03:04:05.678Z')


const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`

/** Turns a schema of the current version back into a version 9 one: no snapshots. */
const toSchema9 = (s: string): string => `DROP TABLE ${s}.snapshots;
  DELETE FROM ${s}.schema_migrations; INSERT INTO ${s}.schema_migrations (version) VALUES (9)`
/** Turns a schema of the current version back into a version 8 one: no search index. */
const toSchema8 = (s: string): string => `${toSchema9(s)}; DROP TABLE ${s}.search_terms; DROP FUNCTION ${s}.search_index() CASCADE; DROP FUNCTION ${s}.search_terms_of;
  DROP INDEX ${s}.versions_by_size; DROP INDEX ${s}.versions_by_modified;
  DELETE FROM ${s}.schema_migrations; INSERT INTO ${s}.schema_migrations (version) VALUES (8)`
/** Turns a schema of the current version back into a version 7 one: no index of versions by CID. */
const toSchema7 = (s: string): string => `${toSchema8(s)}; DROP INDEX ${s}.versions_by_cid;
  DELETE FROM ${s}.schema_migrations; INSERT INTO ${s}.schema_migrations (version) VALUES (7)`
/** Turns a schema of the current version back into a version 6 one: no archive records. */
const toSchema6 = (s: string): string => `${toSchema7(s)}; DROP TABLE ${s}.archives;
  DELETE FROM ${s}.schema_migrations; INSERT INTO ${s}.schema_migrations (version) VALUES (6)`
/** Turns a schema of the current version back into a version 5 one: no pins. */
const toSchema5 = (s: string): string => `${toSchema6(s)}; DROP TABLE ${s}.pins;
  DELETE FROM ${s}.schema_migrations; INSERT INTO ${s}.schema_migrations (version) VALUES (5)`
/** Turns a schema of the current version back into a version 4 one: no job queue, no replica rows. */
const toSchema4 = (s: string): string => `${toSchema5(s)}; DROP TABLE ${s}.jobs; DROP TABLE ${s}.replicas;
  DELETE FROM ${s}.schema_migrations; INSERT INTO ${s}.schema_migrations (version) VALUES (4)`
/** Turns a schema of the current version back into a version 3 one: no bucket totals. */
const toSchema3 = (s: string): string => `${toSchema4(s)}; DROP TABLE ${s}.bucket_stats;
  ${['buckets', 'versions', 'version_change', 'uploads'].map((name) => `DROP FUNCTION ${s}.bucket_stats_${name}() CASCADE;`).join(' ')}
  DELETE FROM ${s}.schema_migrations; INSERT INTO ${s}.schema_migrations (version) VALUES (3)`
const freshSchema = (): string => `s3ipfs_test_${randomBytes(6).toString('hex')}`

/** A one-connection pool that records every statement it runs (its own pool, to see the statements a store runs). */
function recordingPool (t: ExecutionContext): { pool: pg.Pool, statements: Array<{ text: string, values?: unknown[] }> } {
  const statements: Array<{ text: string, values?: unknown[] }> = []
  const pool = new pg.Pool({ connectionString: URL, max: 1 })
  t.teardown(async () => pool.end())
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    client.query = ((...args: unknown[]) => {
      const config = typeof args[0] === 'string' ? { text: args[0], values: args[1] as unknown[] | undefined } : args[0] as { text: string, values?: unknown[] }
      statements.push({ text: config.text, values: config.values })
      return query(...args)
    }) as typeof client.query
  })
  return { pool, statements }
}

type PlanNode = Record<string, unknown> & { Plans?: PlanNode[] }

/**
 * EXPLAIN (FORMAT JSON[, ANALYZE]) on a client of its own with sequential scans priced out (a plan
 * that still has one has no index to use): the plan's nodes, flattened. With `rollback`, each
 * statement is explained in a transaction that is rolled back.
 */
async function planner (t: ExecutionContext, options: { rollback?: boolean } = {}): Promise<(text: string, values?: unknown[], analyze?: boolean) => Promise<PlanNode[]>> {
  const client = new pg.Client({ connectionString: URL })
  await client.connect()
  t.teardown(async () => client.end())
  await client.query('SET enable_seqscan = off')
  const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)]
  return async (text, values, analyze = true) => {
    if (options.rollback === true) await client.query('BEGIN')
    try {
      const { rows } = await client.query(`EXPLAIN (FORMAT JSON${analyze ? ', ANALYZE' : ''}) ${text}`, values)
      return nodes((rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0].Plan)
    } finally {
      if (options.rollback === true) await client.query('ROLLBACK')
    }
  }
}

function version (key: string, init: Partial<ObjectVersion> = {}): ObjectVersion {
  return {
    bucket: 'b', key, versionId: 'null', deleteMarker: false, cid: `cid-${key}`, size: 3, etag: 'e', lastModified: new Date(T0),
    owner: 'o', headers: {}, metadata: {}, tags: [], ...init,
  }
}

const unreachable = await postgresProblem(URL)

whenServices('PostgresMetadataStore', unreachable, registerTests)

function registerTests (): void {
  // The compliance suite's ~70 tests run at once; they share one small pool (the host-pool mode),
  // each in its own schema, so that they cannot exhaust the server's connections.
  const shared = new pg.Pool({ connectionString: URL, max: 8 })
  shared.on('error', () => {})
  test.after.always(async () => { await shared.end() })

  const dropSchema = async (schema: string): Promise<void> => { await shared.query(`DROP SCHEMA IF EXISTS ${quote(schema)} CASCADE`) }

  metadataStoreSuite('PostgresMetadataStore', async () => {
    const schema = freshSchema()
    return { store: new PostgresMetadataStore({ pool: shared, schema }), teardown: async () => dropSchema(schema) }
  })
  jobQueueSuite('PostgresMetadataStore', async () => {
    const schema = freshSchema()
    return { store: new PostgresMetadataStore({ pool: shared, schema }), teardown: async () => dropSchema(schema) }
  })
  pinStoreSuite('PostgresMetadataStore', async () => {
    const schema = freshSchema()
    return { store: new PostgresMetadataStore({ pool: shared, schema }), teardown: async () => dropSchema(schema) }
  })
  archiveStoreSuite('PostgresMetadataStore', async () => {
    const schema = freshSchema()
    return { store: new PostgresMetadataStore({ pool: shared, schema }), teardown: async () => dropSchema(schema) }
  })
  searchIndexSuite('PostgresMetadataStore', async () => {
    const schema = freshSchema()
    return { store: new PostgresMetadataStore({ pool: shared, schema }), teardown: async () => dropSchema(schema) }
  })
  snapshotStoreSuite('PostgresMetadataStore', async () => {
    const schema = freshSchema()
    return { store: new PostgresMetadataStore({ pool: shared, schema }), teardown: async () => dropSchema(schema) }
  })

  test('PostgresMetadataStore: conditional writes racing from several stores (pools of their own, as processes) on one schema: one commits', async (t) => {
    const schema = freshSchema()
    t.teardown(async () => dropSchema(schema))
    const stores = Array.from({ length: 4 }, () => new PostgresMetadataStore({ connectionString: URL, schema, max: 3 }))
    t.teardown(async () => { await Promise.all(stores.map(async (s) => s.close())) })
    await stores[0].createBucket({ name: 'b', owner: 'o', created: T0, region: 'r', versioning: 'Enabled' })
    const outcomes = await Promise.allSettled(Array.from({ length: 24 }, async (_, i) =>
      await stores[i % stores.length].putObject(version('k', { versionId: `v${i}`, cid: `c${i}` }), { condition: { current: 'none' } })))
    const won = outcomes.flatMap((o, i) => o.status === 'fulfilled' ? [i] : [])
    t.is(won.length, 1)
    t.true(outcomes.every((o) => o.status === 'fulfilled' || (o.reason as { code?: string }).code === 'ERR_CONDITION_FAILED'))
    t.deepEqual((await stores[1].listVersions('b', { limit: 100 })).map((v) => v.versionId), [`v${won[0]}`], 'one version: no loser wrote one')
    t.is(await stores[2].refCount(`c${won[0]}`), 1)
  })

  test('PostgresMetadataStore: processes starting together create the schema once and record its version', async (t) => {
    const schema = freshSchema()
    t.teardown(async () => dropSchema(schema))
    const stores = Array.from({ length: 6 }, () => new PostgresMetadataStore({ connectionString: URL, schema, max: 2 }))
    t.teardown(async () => { await Promise.all(stores.map(async (s) => s.close())) })
    await Promise.all(stores.map(async (s) => s.init()))
    await Promise.all(stores.map(async (s, i) => s.createBucket({ name: `b${i}`, owner: 'o', created: T0, region: 'r', versioning: 'Unversioned' })))
    const { rows } = await shared.query(`SELECT version FROM ${quote(schema)}.schema_migrations`)
    t.deepEqual(rows, [{ version: POSTGRES_SCHEMA_VERSION }])
    t.is((await stores[0].listBuckets()).length, 6)

    // A schema from a newer gateway is refused, before anything is read or written.
    await shared.query(`INSERT INTO ${quote(schema)}.schema_migrations (version) VALUES ($1)`, [POSTGRES_SCHEMA_VERSION + 1])
    const newer = new PostgresMetadataStore({ connectionString: URL, schema, max: 1 })
    t.teardown(async () => newer.close())
    await t.throwsAsync(newer.getBucket('b0'), { message: /newer/ })
    await t.throwsAsync(newer.putObject(version('k', { bucket: 'b0' })), { message: /newer/ }, 'a failed init is tried again')
    t.is(await stores[0].refCount('cid-k'), 0)
  })

  test('PostgresMetadataStore: a schema 1 database gains bucket CID profiles once, under the lock, however many processes start; its buckets have none', async (t) => {
    const schema = freshSchema()
    const s = quote(schema)
    t.teardown(async () => dropSchema(schema))
    const first = new PostgresMetadataStore({ pool: shared, schema })
    const old = { name: 'old', owner: 'o', created: T0, region: 'r', versioning: 'Enabled' as const }
    await first.createBucket({ ...old, cidProfile: 'unixfs-v0-2015' })
    await first.putObject(version('k', { bucket: 'old', cid: 'c1' }))
    const { rows: freshColumns } = await shared.query(`SELECT column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_schema = $1 AND table_name = 'buckets' ORDER BY ordinal_position`, [schema])
    await first.close()
    // Back to schema 1: no bucket totals, no cid_profile column, version 1 recorded.
    await shared.query(`${toSchema3(s)}; ALTER TABLE ${s}.buckets DROP COLUMN cid_profile; ALTER TABLE ${s}.buckets DROP COLUMN config;
      ALTER TABLE ${s}.versions DROP COLUMN extra; ALTER TABLE ${s}.uploads DROP COLUMN extra; DELETE FROM ${s}.schema_migrations; INSERT INTO ${s}.schema_migrations (version) VALUES (1)`)

    const stores = Array.from({ length: 4 }, () => new PostgresMetadataStore({ connectionString: URL, schema, max: 2 }))
    t.teardown(async () => { await Promise.all(stores.map(async (store) => store.close())) })
    await Promise.all(stores.map(async (store) => store.init()))
    const { rows: versions } = await shared.query(`SELECT version FROM ${s}.schema_migrations ORDER BY version`)
    t.deepEqual(versions.map((r) => r.version), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'migrated once')
    t.is(POSTGRES_SCHEMA_VERSION, 10)
    const { rows: columns } = await shared.query(`SELECT column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_schema = $1 AND table_name = 'buckets' ORDER BY ordinal_position`, [schema])
    t.deepEqual(columns, freshColumns, 'the migrated table is the fresh one')
    t.deepEqual(await stores[0].getBucket('old'), old, 'the profile it was written with is unknown: none, read as the gateway default')
    t.is((await stores[1].getObject('old', 'k'))?.cid, 'c1')
    await stores[2].createBucket({ ...old, name: 'new', cidProfile: 'unixfs-v0-2015' })
    t.is((await stores[3].getBucket('new'))?.cidProfile, 'unixfs-v0-2015')
    t.deepEqual(await stores[0].stats(), { buckets: 2, objects: 1, bytes: 3, uploads: 0 })
  })

  test('PostgresMetadataStore: a schema 3 database gains bucket totals, counted from the data it holds, and keeps them as it changes', async (t) => {
    const schema = freshSchema()
    const s = quote(schema)
    t.teardown(async () => dropSchema(schema))
    const fresh = freshSchema()
    t.teardown(async () => dropSchema(fresh))
    await new PostgresMetadataStore({ pool: shared, schema: fresh }).init()
    const store = new PostgresMetadataStore({ pool: shared, schema })
    const upload = { bucket: 'b', key: 'k', uploadId: 'u1', initiated: T0, owner: 'o', headers: {}, metadata: {}, tags: [] as Array<[string, string]>, profile: 'p' }
    for (const name of ['b', 'c', 'empty']) await store.createBucket({ name, owner: 'o', created: T0, region: 'r', versioning: 'Enabled' })
    await store.putObject(version('k', { versionId: 'v1', size: 100 }))
    await store.putObject(version('k', { versionId: 'v2', size: 20 }))
    await store.putObject(version('k', { versionId: 'dm', deleteMarker: true, cid: '', size: 0, etag: '' }))
    await store.putObject(version('j', { size: 3 }))
    await store.putObject(version('k', { bucket: 'c', size: 5 }))
    await store.createUpload(upload)
    await store.createUpload({ ...upload, uploadId: 'u2' })
    await store.createUpload({ ...upload, bucket: 'c' })
    await store.close()
    await shared.query(toSchema3(s))

    const triggers = async (name: string): Promise<string[]> => (await shared.query<{ trigger: string }>(`SELECT c.relname || '.' || t.tgname || ' ' || p.proname AS trigger
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid
      WHERE n.nspname = $1 AND NOT t.tgisinternal ORDER BY 1`, [name])).rows.map((row) => row.trigger)
    t.deepEqual(await triggers(schema), [], 'no trace of the totals is left')
    // Its own pool, to see the statements it runs.
    const statements: Array<{ text: string, values?: unknown[] }> = []
    const pool = new pg.Pool({ connectionString: URL, max: 1 })
    t.teardown(async () => pool.end())
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      client.query = ((...args: unknown[]) => {
        statements.push(typeof args[0] === 'string' ? { text: args[0], values: args[1] as unknown[] | undefined } : args[0] as { text: string, values?: unknown[] })
        return query(...args)
      }) as typeof client.query
    })
    const migrated = new PostgresMetadataStore({ pool, schema })
    t.teardown(async () => migrated.close())
    t.deepEqual(await migrated.stats(), { buckets: 3, objects: 4, bytes: 128, uploads: 3 })
    t.deepEqual(await migrated.stats({ bucket: 'b' }), { buckets: 1, objects: 3, bytes: 123, uploads: 2 })
    t.deepEqual(await migrated.stats({ bucket: 'c' }), { buckets: 1, objects: 1, bytes: 5, uploads: 1 })
    t.deepEqual(await migrated.stats({ bucket: 'empty' }), { buckets: 1, objects: 0, bytes: 0, uploads: 0 })
    t.deepEqual((await shared.query(`SELECT version FROM ${s}.schema_migrations ORDER BY version`)).rows.map((r) => r.version), [3, 4, 5, 6, 7, 8, 9, 10])
    t.deepEqual(await triggers(schema), await triggers(fresh), 'the triggers of a fresh schema')

    await migrated.deleteObject('b', 'k', 'v1')
    await migrated.abortUpload('b', 'k', 'u2')
    t.deepEqual(await migrated.stats({ bucket: 'b' }), { buckets: 1, objects: 2, bytes: 23, uploads: 1 })
    t.is(await migrated.deleteBucket('empty'), 'deleted')
    t.deepEqual(await migrated.stats(), { buckets: 2, objects: 3, bytes: 28, uploads: 2 })

    // Reading totals touches bucket_stats alone, whatever the number of versions.
    const reads = statements.filter(({ text }) => /^\s*SELECT/.test(text) && text.includes('.bucket_stats'))
    t.is(reads.length, 6, 'one statement per stats()')
    for (const { text, values } of reads) {
      const { rows: [{ 'QUERY PLAN': plan }] } = await shared.query(`EXPLAIN (FORMAT JSON) ${text}`, values)
      t.deepEqual([...JSON.stringify(plan).matchAll(/"Relation Name":"(\w+)"/g)].map((m) => m[1]), ['bucket_stats'], text)
    }
  })

  /** A schema holding object `k` (CID X) in bucket `b`, turned back by `downgrade` and opened again (migrated). */
  async function migratedFrom (t: ExecutionContext, downgrade: (s: string) => string): Promise<{ migrated: PostgresMetadataStore, s: string }> {
    const schema = freshSchema()
    const s = quote(schema)
    t.teardown(async () => dropSchema(schema))
    const store = new PostgresMetadataStore({ pool: shared, schema })
    await store.createBucket({ name: 'b', owner: 'o', created: T0, region: 'r', versioning: 'Unversioned' })
    await store.putObject(version('k', { cid: 'X' }))
    await store.close()
    await shared.query(downgrade(s))
    return { migrated: new PostgresMetadataStore({ pool: shared, schema }), s }
  }

  test('PostgresMetadataStore: a schema 9 database gains snapshots; its objects and their references are kept', async (t) => {
    const { migrated, s } = await migratedFrom(t, toSchema9)
    t.is(await migrated.refCount('X'), 1)
    const record = { bucket: 'b', id: 's', cid: 'X', prefix: '', created: T0, owner: 'o', profile: 'unixfs-v1-2025', keys: 1, bytes: 3, skipped: { encrypted: 0, archived: 0 } }
    t.is(await migrated.createSnapshot(record), 'created')
    t.is(await migrated.refCount('X'), 2)
    t.deepEqual(await migrated.listSnapshotsByCid('X', { limit: 10 }), [{ bucket: 'b', id: 's', prefix: '' }])
    t.deepEqual((await shared.query(`SELECT version FROM ${s}.schema_migrations ORDER BY version`)).rows.map((r) => r.version), [9, 10])
  })

  test('PostgresMetadataStore: a schema 5 database gains pins; its objects and their references are kept', async (t) => {
    const { migrated, s } = await migratedFrom(t, toSchema5)
    t.is(await migrated.refCount('X'), 1)
    await migrated.createPin({ requestId: 'r', owner: 'o', cid: 'X', origins: [], meta: {}, status: 'pinned', created: T0, updated: T0 })
    t.is(await migrated.refCount('X'), 2)
    t.is((await migrated.listPins({ owner: 'o', status: ['pinned'], limit: 10 })).count, 1)
    t.deepEqual((await shared.query(`SELECT version FROM ${s}.schema_migrations ORDER BY version`)).rows.map((r) => r.version), [5, 6, 7, 8, 9, 10])
  })

  test('PostgresMetadataStore: a schema 6 database gains archive records; its objects and their references are kept', async (t) => {
    const { migrated, s } = await migratedFrom(t, toSchema6)
    t.is(await migrated.refCount('X'), 1)
    const archived = await migrated.setVersionArchive('b', 'k', 'null', { cid: 'X', storageClass: 'GLACIER', archive: { target: 't', location: { a: 1 }, archived: T0 } })
    t.is(archived.status, 'changed')
    t.is(await migrated.refCount('X'), 0)
    t.deepEqual((await migrated.getArchive('X'))?.location, { a: 1 })
    t.deepEqual((await shared.query(`SELECT version FROM ${s}.schema_migrations ORDER BY version`)).rows.map((r) => r.version), [6, 7, 8, 9, 10])
  })

  test('PostgresMetadataStore: a schema 7 database gains the index of versions by CID, built from the versions it holds', async (t) => {
    const { migrated, s } = await migratedFrom(t, toSchema7)
    t.deepEqual(await migrated.listVersionsByCid('X', { limit: 10 }), [{ bucket: 'b', key: 'k', versionId: 'null', isLatest: true }])
    await migrated.putObject(version('j', { cid: 'X' }))
    t.deepEqual((await migrated.listVersionsByCid('X', { limit: 10 })).map((m) => m.key), ['j', 'k'])
    t.deepEqual((await shared.query(`SELECT version FROM ${s}.schema_migrations ORDER BY version`)).rows.map((r) => r.version), [7, 8, 9, 10])
    const { rows } = await shared.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'versions_by_cid'`, [s.slice(1, -1)])
    t.regex(rows[0]?.indexdef ?? '', /\(cid, bucket, key, version_id\) INCLUDE \(is_latest\) WHERE \(NOT delete_marker\)/)
  })

  test('PostgresMetadataStore: a schema 8 database gains the search index, built from the objects it holds', async (t) => {
    const { migrated, s } = await migratedFrom(t, toSchema8)
    t.deepEqual((await migrated.searchObjects('b', { term: cidTerm('X') }, { limit: 10 })).map((v) => v.key), ['k'])
    t.deepEqual((await migrated.searchObjects('b', { size: { min: 0 } }, { limit: 10 })).map((v) => v.key), ['k'])
    await migrated.putObject(version('j', { cid: 'Y', tags: [['a', 'b']] }))
    t.deepEqual((await migrated.searchObjects('b', { term: tagTerm('a', 'b') }, { limit: 10 })).map((v) => v.key), ['j'])
    t.deepEqual((await migrated.searchObjects('b', { term: storageClassTerm(undefined) }, { limit: 10 })).map((v) => v.key), ['j', 'k'])
    t.deepEqual((await shared.query(`SELECT version FROM ${s}.schema_migrations ORDER BY version`)).rows.map((r) => r.version), [8, 9, 10])
  })

  test('PostgresMetadataStore: a search matching 10 objects among 100,000 reads at most 16 rows of each index it touches, with no sort', async (t) => {
    const schema = freshSchema()
    const s = quote(schema)
    t.teardown(async () => dropSchema(schema))
    const { pool, statements } = recordingPool(t)
    const store = new PostgresMetadataStore({ pool, schema })
    await store.createBucket({ name: 'b', owner: 'o', created: T0, region: 'r', versioning: 'Enabled' })
    // Every object is tagged kind=common; one in 10,000 also rare=yes. Sizes and times vary.
    await pool.query(`INSERT INTO ${s}.versions (bucket, key, version_id, is_latest, delete_marker, cid, size, etag, last_modified, owner, headers, metadata, tags)
      SELECT 'b', 'k/' || lpad(i::text, 6, '0'), 'null', true, false, 'cid' || i, i % 5000, 'e', i, 'o', '{"content-type":"text/plain"}', '{}',
        CASE WHEN i % 10000 = 7 THEN '[["kind","common"],["rare","yes"]]' ELSE '[["kind","common"]]' END::jsonb
      FROM generate_series(0, 99999) i`)
    await pool.query(`VACUUM ANALYZE ${s}.versions`)
    await pool.query(`VACUUM ANALYZE ${s}.search_terms`)
    statements.length = 0
    const filter = { tags: [['kind', 'common'], ['rare', 'yes']] as Array<[string, string]>, tagKeys: [], metadata: [], contentType: 'text/plain', size: { min: 1 }, modified: {} }
    const page = await searchPage(store, 'b', filter, { limit: 100 })
    t.deepEqual(page.objects.map((v) => v.key), Array.from({ length: 10 }, (_, i) => `k/${String(i * 10000 + 7).padStart(6, '0')}`))
    t.is(page.next, undefined)
    const reads = statements.splice(0)
    t.true(reads.length <= 6, `${reads.length} statements: a count per condition, then one page`)

    const explain = await planner(t)
    for (const { text, values } of reads) {
      const plan = await explain(text, values)
      const described = `${text} ${JSON.stringify(values)}: ${JSON.stringify(plan.map((n) => ({ ...n, Plans: undefined })))}`
      const scans = plan.filter((n) => n['Relation Name'] !== undefined)
      t.true(scans.length > 0, described)
      t.false(plan.some((n) => n['Node Type'] === 'Sort' || n['Node Type'] === 'Seq Scan'), `no sort, no sequential scan: ${described}`)
      for (const scan of scans) {
        const read = Number(scan['Actual Rows']) * Number(scan['Actual Loops'] ?? 1) + Number(scan['Rows Removed by Filter'] ?? 0)
        t.true(read <= 16, `rows read ${read} (a count stops at 16 in its first round): ${described}`)
      }
    }
  })

  test('PostgresMetadataStore: a page of the versions holding a CID is one range of versions_by_cid, no more rows than it returns, no sort', async (t) => {
    const schema = freshSchema()
    const s = quote(schema)
    t.teardown(async () => dropSchema(schema))
    const { pool, statements } = recordingPool(t)
    const store = new PostgresMetadataStore({ pool, schema })
    for (const name of ['b', 'other']) await store.createBucket({ name, owner: 'o', created: T0, region: 'r', versioning: 'Enabled' })
    // 40k versions in two buckets, each its own CID but for one in a thousand (CID 'shared'); every
    // tenth a delete marker.
    await pool.query(`INSERT INTO ${s}.versions (bucket, key, version_id, is_latest, delete_marker, cid, size, etag, last_modified, owner, headers, metadata, tags)
      SELECT bucket, 'data/' || lpad(i::text, 6, '0'), 'null', true, i % 10 = 5, CASE WHEN i % 10 = 5 THEN '' WHEN i % 1000 = 0 THEN 'shared' ELSE 'cid' || i END,
        1, 'e', 0, 'o', '{}', '{}', '[]'
      FROM generate_series(0, 19999) i, (VALUES ('b'), ('other')) AS buckets(bucket)`)
    await pool.query(`VACUUM ANALYZE ${s}.versions`)
    statements.length = 0
    const page = 10
    const first = await store.listVersionsByCid('shared', { limit: page })
    t.is(first.length, page)
    const last = first[first.length - 1]
    const second = await store.listVersionsByCid('shared', { after: { bucket: last.bucket, key: last.key, versionId: last.versionId }, limit: page })
    t.deepEqual(second.map((m) => [m.bucket, m.key]), Array.from({ length: page }, (_, i) => ['b', `data/${String((i + 10) * 1000).padStart(6, '0')}`]))
    t.is((await store.listVersionsByCid('shared', { after: { bucket: 'b\0', key: '', versionId: '' }, limit: page })).length, page)
    t.is((await store.listVersionsByCid('cid1', { limit: page })).length, 2)
    const reads = statements.splice(0)
    t.is(reads.length, 4, 'one statement per page')

    const explain = await planner(t)
    for (const { text, values } of reads) {
      const plan = await explain(text, values)
      const described = `${text} ${JSON.stringify(values)}: ${JSON.stringify(plan.map((n) => ({ ...n, Plans: undefined })))}`
      const scans = plan.filter((n) => n['Relation Name'] !== undefined)
      // An index-only scan whenever the visibility map allows (other tests' open transactions may hold it back).
      t.deepEqual(scans.map((n) => [String(n['Node Type']).replace('Index Only Scan', 'Index Scan'), n['Index Name']]), [['Index Scan', 'versions_by_cid']], described)
      t.false(plan.some((n) => n['Node Type'] === 'Sort'), `no sort: ${described}`)
      for (const scan of scans) {
        t.true(Number(scan['Actual Rows']) <= page + 1, `rows read: ${described}`)
        t.is(Number(scan['Rows Removed by Filter'] ?? 0), 0, `rows filtered out: ${described}`)
      }
    }
  })

  test('PostgresMetadataStore: an owner\'s pin listing reads its range of pins_by_owner, the page no more than its rows', async (t) => {
    const schema = freshSchema()
    const s = quote(schema)
    t.teardown(async () => dropSchema(schema))
    const { pool, statements } = recordingPool(t)
    const store = new PostgresMetadataStore({ pool, schema })
    await store.init()
    // 20k pins for each of two owners, one in five pinned.
    await pool.query(`INSERT INTO ${s}.pins (request_id, owner, cid, name, name_lower, origins, meta, status, created, updated)
      SELECT owner || i, owner, 'cid' || i, 'Name ' || i, 'name ' || i, '[]', jsonb_build_object('app', (i % 3)::text), CASE WHEN i % 5 = 0 THEN 'pinned' ELSE 'queued' END, i, i
      FROM generate_series(0, 19999) i, (VALUES ('alice'), ('bob')) AS owners(owner)`)
    await pool.query(`VACUUM ANALYZE ${s}.pins`)
    statements.length = 0
    const { count, results } = await store.listPins({ owner: 'alice', limit: 10, before: new Date(15000) })
    t.is(count, 15000)
    t.deepEqual(results.map((p) => p.requestId), Array.from({ length: 10 }, (_, i) => `alice${14999 - i}`))
    const filtered = await store.listPins({ owner: 'alice', limit: 10, status: ['pinned'], meta: { app: '0' }, name: 'NAME 1', match: 'ipartial' })
    t.is(filtered.count, 742)
    t.is(filtered.results[0].requestId, 'alice19995')
    const [page, withFilters] = statements.splice(0)

    const explain = await planner(t)
    for (const { text, values } of [page, withFilters]) {
      const plan = await explain(text, values)
      const scans = plan.filter((n) => n['Relation Name'] === 'pins' || n['Index Name'] !== undefined)
      const described = JSON.stringify(plan.map((n) => ({ ...n, Plans: undefined })))
      t.deepEqual(scans.filter((n) => n['Node Type'] === 'Seq Scan'), [], described)
      t.deepEqual([...new Set(scans.map((n) => n['Index Name']).filter((name) => name !== undefined))], ['pins_by_owner'], described)
      // Bob's 20k pins are never read: each scan stays in Alice's range.
      for (const scan of scans) t.true(Number(scan['Actual Rows']) + Number(scan['Rows Removed by Filter'] ?? 0) <= 20000, described)
    }
    const pageScan = (await explain(page.text, page.values)).filter((n) => n['Relation Name'] === 'pins')
      .find((n) => n['Node Type'] === 'Index Scan' && Number(n['Actual Rows']) <= 11)
    t.truthy(pageScan, 'the page is read newest first and stops at its limit')
  })

  test('PostgresMetadataStore: tables live in the schema option, quoted; stores in two schemas are separate', async (t) => {
    const odd = `S3 "odd" ${randomBytes(4).toString('hex')}`
    const plain = freshSchema()
    t.teardown(async () => { await dropSchema(odd); await dropSchema(plain) })
    const a = new PostgresMetadataStore({ pool: shared, schema: odd })
    const b = new PostgresMetadataStore({ pool: shared, schema: plain })
    for (const store of [a, b]) await store.createBucket({ name: 'b', owner: 'o', created: T0, region: 'r', versioning: 'Unversioned' })
    await a.putObject(version('k', { cid: 'in-a' }))
    t.is((await b.getObject('b', 'k')), undefined)
    t.is(await b.refCount('in-a'), 0)
    t.is((await a.getObject('b', 'k'))?.cid, 'in-a')
    const { rows } = await shared.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [odd])
    t.deepEqual(rows.map((r) => r.table_name).sort(),
      ['archives', 'bucket_stats', 'buckets', 'completed_uploads', 'jobs', 'parts', 'pins', 'refs', 'replicas', 'schema_migrations', 'search_terms', 'snapshots', 'uploads', 'versions'])
    t.deepEqual(await a.stats(), { buckets: 1, objects: 1, bytes: 3, uploads: 0 }, 'the triggers name the quoted schema')

    // A given pool is the host's: close() leaves it open.
    await a.close()
    await a.close()
    t.is((await shared.query('SELECT 1 AS one')).rows[0].one, 1)
    t.throws(() => new PostgresMetadataStore({ pool: shared, schema: '' }), { message: /schema name/ })
    t.throws(() => new PostgresMetadataStore({ pool: shared, schema: 'x'.repeat(64) }), { message: /schema name/ })
  })

  test("PostgresMetadataStore: the default schema is 's3ipfs'", async (t) => {
    // In a database of its own, so that no other user of 's3ipfs' in the test database is touched.
    const database = `s3ipfs_test_${randomBytes(6).toString('hex')}`
    try {
      await shared.query(`CREATE DATABASE ${database}`)
    } catch (err) {
      if ((err as { code?: string }).code !== '42501') throw err
      t.log(`skipped: ${(err as Error).message} (this test creates a database)`)
      t.pass()
      return
    }
    // Teardowns run last first: the store closes, then the database goes.
    t.teardown(async () => { await shared.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`) })
    const url = new globalThis.URL(URL)
    url.pathname = `/${database}`
    const store = new PostgresMetadataStore({ connectionString: url.toString(), max: 1 })
    t.teardown(async () => store.close())
    await store.createBucket({ name: 'b', owner: 'o', created: T0, region: 'r', versioning: 'Unversioned' })
    const client = new pg.Client({ connectionString: url.toString() })
    await client.connect()
    try {
      t.deepEqual((await client.query('SELECT name FROM s3ipfs.buckets')).rows, [{ name: 'b' }])
    } finally {
      await client.end()
    }
    await store.close()
    await store.close()
    await t.throwsAsync(store.getBucket('b'), undefined, 'a closed store throws')
  })

  test('PostgresMetadataStore: NUL, which PostgreSQL text cannot hold, is refused in names written and matches nothing read', async (t) => {
    const schema = freshSchema()
    t.teardown(async () => dropSchema(schema))
    const store = new PostgresMetadataStore({ pool: shared, schema })
    await store.createBucket({ name: 'b', owner: 'o', created: T0, region: 'r', versioning: 'Unversioned' })
    for (const key of ['a', 'a\u0001', 'b']) await store.putObject(version(key))
    await t.throwsAsync(store.putObject(version('a\0b')), { code: 'ERR_NUL_IN_NAME' } as never)
    t.is(await store.getObject('b', 'a\0'), undefined)
    t.deepEqual(await store.deleteObject('b', 'a\0'), { released: [] })
    t.deepEqual(await store.listKeys('b', { after: 'a\0b', limit: 10 }), ['a\u0001', 'b'])
    t.deepEqual(await store.listKeys('b', { from: 'a\0', limit: 10 }), ['a\u0001', 'b'])
    t.deepEqual(await store.listKeys('b', { prefix: 'a\0', limit: 10 }), [])
    t.deepEqual((await store.listVersions('b', { after: { key: 'a', versionId: 'x\0' }, limit: 10 })).map((v) => v.key), ['a\u0001', 'b'])
    t.deepEqual(await store.listUploads('b', { after: { key: 'a\0', uploadId: 'u' }, limit: 10 }), [])
  })

  test('PostgresMetadataStore: a transaction that meets a deadlock is rolled back and run again once', async (t) => {
    const schema = freshSchema()
    t.teardown(async () => dropSchema(schema))
    const pool = new pg.Pool({ connectionString: URL, max: 1 })
    t.teardown(async () => pool.end())
    let injected = 0
    pool.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      client.query = ((...args: unknown[]) => {
        const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text
        if (injected === 0 && text.includes('.refs AS r')) {
          injected++
          return Promise.reject(Object.assign(new Error('deadlock detected (injected)'), { code: '40P01' }))
        }
        return query(...args)
      }) as typeof client.query
    })
    const store = new PostgresMetadataStore({ pool, schema })
    await store.createBucket({ name: 'b', owner: 'o', created: T0, region: 'r', versioning: 'Enabled' })
    await store.putObject(version('k', { versionId: 'v1', cid: 'c' }))
    t.is(injected, 1)
    t.deepEqual((await store.listVersions('b', { limit: 10 })).map((v) => v.versionId), ['v1'])
    t.is(await store.refCount('c'), 1)
  })

  test('PostgresMetadataStore: concurrent writers in two processes keep one latest per key, every version and exact reference counts', async (t) => {
    const schema = freshSchema()
    t.teardown(async () => dropSchema(schema))
    // Separate pools, as separate gateway processes would have.
    const a = new PostgresMetadataStore({ connectionString: URL, schema, max: 4 })
    const b = new PostgresMetadataStore({ connectionString: URL, schema, max: 4 })
    t.teardown(async () => { await a.close(); await b.close() })
    await Promise.all([a.init(), b.init()])
    await a.createBucket({ name: 'b', owner: 'o', created: T0, region: 'r', versioning: 'Enabled' })
    const uploads = Array.from({ length: 12 }, (_, u) => ({ key: `k${u % 4}`, uploadId: `u${u}` }))
    for (const { key, uploadId } of uploads) {
      await (Number(uploadId.slice(1)) % 2 === 0 ? a : b).createUpload({
        bucket: 'b', key, uploadId, initiated: T0, owner: 'o', headers: {}, metadata: {}, tags: [], profile: 'p',
      })
    }

    const putVersions = new Set<string>()
    const deletedVersions = new Set<string>()
    const started = Date.now()
    const ops: Array<Promise<unknown>> = []
    for (let i = 0; i < 600; i++) {
      const store = i % 2 === 0 ? a : b
      const key = `k${i % 4}`
      const cid = `c${i % 5}`
      const { key: upKey, uploadId } = uploads[(i >> 3) % uploads.length]
      switch (i % 8) {
        case 0: case 1:
          ops.push(store.putObject(version(key, { cid })))
          break
        case 2:
          ops.push(store.deleteObject('b', key))
          break
        case 3: {
          const versionId = `v${String(i).padStart(4, '0')}`
          ops.push(store.putObject(version('kv', { versionId, cid })).then(() => putVersions.add(versionId)))
          break
        }
        case 4: {
          const versionId = `v${String(i - 8).padStart(4, '0')}`
          ops.push(store.deleteObject('b', 'kv', versionId).then((r) => { if (r.deleted !== undefined) deletedVersions.add(versionId) }))
          break
        }
        case 5: case 6:
          ops.push(store.putPart('b', upKey, uploadId, { partNumber: 1 + (i % 3), cid, size: 1, etag: 'e', lastModified: T0 }))
          break
        case 7:
          ops.push(i % 16 === 7
            ? store.completeUpload(version(upKey, { cid: `obj${i % 3}` }), uploadId, [], {
              bucket: 'b', key: upKey, uploadId, versionId: 'null', etag: 'e-0', cid: `obj${i % 3}`, partsDigest: 'd', completed: T0,
            })
            : store.abortUpload('b', upKey, uploadId))
          break
      }
    }
    const results = await Promise.allSettled(ops)
    t.deepEqual(results.filter((r) => r.status === 'rejected'), [], 'no operation failed')
    t.log(`${ops.length} concurrent changes from two stores in ${Date.now() - started} ms`)

    const s = quote(schema)
    const { rows: drift } = await shared.query(`SELECT coalesce(r.cid, c.cid) AS cid, r.count AS stored, c.n AS counted
      FROM ${s}.refs r FULL JOIN (SELECT cid, count(*) AS n FROM (
        SELECT cid FROM ${s}.versions WHERE NOT delete_marker AND cid <> '' UNION ALL SELECT cid FROM ${s}.parts) held GROUP BY cid) c
      ON r.cid = c.cid WHERE r.count IS DISTINCT FROM c.n`)
    t.deepEqual(drift, [], 'every count equals a recount of versions and parts')
    const { rows: [recount] } = await shared.query(`SELECT 1 AS buckets,
        (SELECT count(*) FROM ${s}.versions WHERE bucket = 'b' AND NOT delete_marker)::int AS objects,
        (SELECT coalesce(sum(size), 0) FROM ${s}.versions WHERE bucket = 'b' AND NOT delete_marker)::int AS bytes,
        (SELECT count(*) FROM ${s}.uploads WHERE bucket = 'b')::int AS uploads`)
    t.deepEqual(await b.stats({ bucket: 'b' }), recount, 'the bucket totals equal a recount')
    const { rows: latest } = await shared.query(`SELECT key, count(*) FILTER (WHERE is_latest) AS latest,
        bool_or(is_latest AND seq = (SELECT max(seq) FROM ${s}.versions w WHERE w.bucket = v.bucket AND w.key = v.key)) AS newest
      FROM ${s}.versions v GROUP BY bucket, key ORDER BY key`)
    t.true(latest.length >= 1)
    for (const row of latest) t.deepEqual([row.key, row.latest, row.newest], [row.key, '1', true], 'one latest per key, and it is the newest')
    const kept = (await a.listVersions('b', { prefix: 'kv', limit: 1000 })).map((v) => v.versionId).sort()
    t.deepEqual(kept, [...putVersions].filter((id) => !deletedVersions.has(id)).sort(), 'no version of the versioned key was lost')
    for (let c = 0; c < 5; c++) t.is(await b.refCount(`c${c}`), await a.refCount(`c${c}`))

    // Last writer wins across processes.
    await a.putObject(version('k0', { cid: 'first' }))
    await b.putObject(version('k0', { cid: 'second' }))
    t.is((await a.getObject('b', 'k0'))?.cid, 'second')
    t.is(await a.refCount('first'), 0)
  })

  test('PostgresMetadataStore: every statement uses an index; listing pages read only the rows they return', async (t) => {
    const schema = freshSchema()
    const s = quote(schema)
    t.teardown(async () => dropSchema(schema))
    const { pool, statements } = recordingPool(t)
    const store = new PostgresMetadataStore({ pool, schema })
    for (const name of ['b', 'other']) await store.createBucket({ name, owner: 'o', created: T0, region: 'r', versioning: 'Enabled' })
    // Enough rows that a bucket scan would show: 20k keys in each of two buckets (every tenth a
    // delete marker), one key with 2,000 versions, 5,000 uploads with parts, 20k references.
    await pool.query(`INSERT INTO ${s}.versions (bucket, key, version_id, is_latest, delete_marker, cid, size, etag, last_modified, owner, headers, metadata, tags)
      SELECT bucket, 'data/' || lpad(i::text, 6, '0'), 'null', true, i % 10 = 0, 'cid' || i, 1, 'e', 0, 'o', '{}', '{}', '[]'
      FROM generate_series(0, 19999) i, (VALUES ('b'), ('other')) AS buckets(bucket)`)
    await pool.query(`INSERT INTO ${s}.versions (bucket, key, version_id, is_latest, delete_marker, cid, size, etag, last_modified, owner, headers, metadata, tags)
      SELECT 'b', 'big', 'v' || lpad(i::text, 5, '0'), i = 1999, false, 'cid' || i, 1, 'e', 0, 'o', '{}', '{}', '[]' FROM generate_series(0, 1999) i`)
    await pool.query(`INSERT INTO ${s}.uploads (bucket, key, upload_id, initiated, owner, headers, metadata, tags, profile)
      SELECT 'b', 'up/' || lpad((i / 5)::text, 5, '0'), 'u' || i, 0, 'o', '{}', '{}', '[]', 'p' FROM generate_series(0, 4999) i`)
    await pool.query(`INSERT INTO ${s}.parts (bucket, key, upload_id, part_number, cid, size, etag, last_modified)
      SELECT bucket, key, upload_id, n, 'part' || n, 1, 'e', 0 FROM ${s}.uploads, generate_series(1, 3) n`)
    await pool.query(`INSERT INTO ${s}.refs (cid, count) SELECT 'cid' || i, 2 FROM generate_series(0, 19999) i`)
    await pool.query(`INSERT INTO ${s}.completed_uploads (bucket, key, upload_id, version_id, etag, cid, parts_digest, completed)
      SELECT 'b', 'done/' || i, 'u' || i, 'null', 'e', 'c', 'd', i FROM generate_series(0, 4999) i`)
    for (const table of ['versions', 'uploads', 'parts', 'refs', 'completed_uploads', 'buckets']) await pool.query(`VACUUM ANALYZE ${s}.${table}`)

    statements.length = 0
    const page = 10
    t.is((await store.listObjects('b', { prefix: 'data/01', after: 'data/012345', limit: page })).length, page)
    t.is((await store.listKeys('b', { from: 'data/005', limit: page })).length, page)
    t.is((await store.listVersions('b', { after: { key: 'big', versionId: 'v01000' }, limit: page })).length, page)
    t.is((await store.listVersions('b', { prefix: 'data/0', after: { key: 'data/000500', versionId: 'null' }, limit: page })).length, page)
    t.is((await store.listUploads('b', { prefix: 'up/', after: { key: 'up/00100', uploadId: 'u502' }, limit: page })).length, page)
    t.is((await store.listParts('b', 'up/00100', 'u502', { after: 1, limit: page }))?.length, 2)
    const listingStatements = statements.splice(0)
    t.is(listingStatements.length, 6, 'one statement per page')

    const changes = async (): Promise<void> => {
      await store.putObject(version('data/000007', { cid: 'cid7' }))
      await store.putObject(version('big', { versionId: 'v9', cid: 'x' }))
      await store.putObject(version('big', { versionId: 'v9', cid: 'y' }))
      await store.getObject('b', 'big')
      await store.getObject('b', 'big', 'v00005')
      await store.setObjectTags('b', 'big', undefined, [['a', 'b']])
      await store.setObjectTags('b', 'big', 'v00005', [['a', 'b']])
      await store.deleteObject('b', 'big')
      await store.deleteObject('b', 'big', 'v00005')
      await store.createUpload({ bucket: 'b', key: 'up/00100', uploadId: 'u9', initiated: T0, owner: 'o', headers: {}, metadata: {}, tags: [], profile: 'p' })
      await store.getUpload('b', 'up/00100', 'u9')
      await store.putPart('b', 'up/00100', 'u9', { partNumber: 1, cid: 'p', size: 1, etag: 'e', lastModified: T0 })
      await store.completeUpload(version('up/00100', { cid: 'obj' }), 'u9', [{ partNumber: 1, cid: 'p' }],
        { bucket: 'b', key: 'up/00100', uploadId: 'u9', versionId: 'null', etag: 'e', cid: 'obj', partsDigest: 'd', completed: new Date(10000 + 3600000) })
      await store.getCompletedUpload('b', 'up/00100', 'u9')
      await store.abortUpload('b', 'up/00101', 'u505')
      await store.refCount('cid7')
      await store.createBucket({ name: 'empty', owner: 'o', created: T0, region: 'r', versioning: 'Unversioned' })
      await store.createUpload({ bucket: 'empty', key: 'k', uploadId: 'u', initiated: T0, owner: 'o', headers: {}, metadata: {}, tags: [], profile: 'p' })
      await store.deleteBucket('empty')
      await store.deleteBucket('other')
      await store.getBucket('b')
      let n = 0
      for await (const _ of store.referencedCids()) n++
      t.true(n > 20000)
    }
    await changes()
    const changeStatements = statements.splice(0).filter((st) => /^\s*(SELECT|WITH|INSERT|UPDATE|DELETE)/.test(st.text))
    t.true(changeStatements.length > 30)

    // Changes are explained in a transaction rolled back, so that ANALYZE's run of them changes nothing.
    const explain = await planner(t, { rollback: true })
    for (const { text, values } of [...listingStatements, ...changeStatements]) {
      const plan = await explain(text, values, false)
      const scans = plan.filter((n) => n['Relation Name'] !== undefined)
      t.deepEqual(scans.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name']), [], text)
    }
    // Run for real: no index scan reads more than a page (plus the row that ends it), nor filters rows out.
    const usedIndexes: string[] = []
    for (const { text, values } of listingStatements) {
      const plan = await explain(text, values, true)
      const described = `${text} ${JSON.stringify(values)}: ${JSON.stringify(plan.map((n) => ({ ...n, Plans: undefined })))}`
      for (const node of plan.filter((n) => n['Index Name'] !== undefined)) {
        usedIndexes.push(String(node['Index Name']))
        t.true(Number(node['Actual Rows']) <= page + 1, `rows read: ${described}`)
        t.is(Number(node['Rows Removed by Filter'] ?? 0), 0, `rows filtered out: ${described}`)
      }
    }
    t.deepEqual([...new Set(usedIndexes)].sort(), ['parts_pkey', 'uploads_pkey', 'versions_by_key', 'versions_listing', 'versions_pkey'])
  })
}
