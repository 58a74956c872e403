import { createHash } from 'node:crypto'
import pg from 'pg'
import type { Pool, PoolClient, QueryConfig, QueryResult, QueryResultRow } from 'pg'
import type { AbortOptions } from '../types.js'
import type {
  BucketConfig, BucketConfigKind, BucketRecord, ChecksumAlgorithm, ChecksumType, CompletedUpload, CompleteResult, DeleteResult, ListedObject, ListOptions,
  MetadataStore, MultipartUpload, ObjectVersion, PartListOptions, PartWriteResult, WriteOptions, UploadedPart, UploadListOptions, Versioning,
  VersionListOptions, WriteResult,
} from './metadata-store.js'
import { sourceReleased } from './metadata-store.js'
import { compareKeys, prefixSuccessor } from './key-order.js'

export interface PostgresMetadataStoreInit {
  /** e.g. `postgres://user@host:5432/db`. Ignored when `pool` is given; without either, pg's PG* environment variables apply. */
  connectionString?: string
  /** A pool shared with the host application: the store uses it and `close()` leaves it open. */
  pool?: Pool
  /** PostgreSQL schema that holds the tables; created when missing. Default 's3ipfs'. */
  schema?: string
  /** Connections of the pool the store creates. Default 10. */
  max?: number
}

/** Version of the schema below, recorded in the `schema_migrations` table. */
export const POSTGRES_SCHEMA_VERSION = 3

/** Completed-upload records older than the newest completion by more than this are dropped. */
const COMPLETED_TTL = 60 * 60 * 1000
/** A transaction that hits a serialization failure or a deadlock is tried this many times in all. */
const ATTEMPTS = 5
const RETRYABLE = new Set(['40001', '40P01'])
/** Changes between two ANALYZEs run by one process (see analyzeNow). */
const ANALYZE_EVERY = 5000

// Keys, bucket names, version and upload ids are COLLATE "C": byte order of their UTF-8, S3's key
// order. Times are milliseconds since the epoch, as in the SQLite store.
const schemaSql = (s: string): string => `
CREATE TABLE ${s}.buckets (
  name text COLLATE "C" PRIMARY KEY,
  owner text NOT NULL,
  owner_display_name text,
  created bigint NOT NULL,
  region text NOT NULL,
  versioning text NOT NULL,
  -- NULL: the gateway's configured default (buckets from before schema 2)
  cid_profile text,
  -- The bucket's configurations (policy, acl, cors, ...) by kind; NULL when none
  config jsonb
);
CREATE INDEX buckets_by_owner ON ${s}.buckets (owner, name);

CREATE TABLE ${s}.versions (
  seq bigint GENERATED ALWAYS AS IDENTITY,
  bucket text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  version_id text COLLATE "C" NOT NULL,
  is_latest boolean NOT NULL,
  delete_marker boolean NOT NULL,
  cid text NOT NULL,
  size bigint NOT NULL,
  etag text NOT NULL,
  last_modified bigint NOT NULL,
  owner text NOT NULL,
  headers jsonb NOT NULL,
  metadata jsonb NOT NULL,
  tags jsonb NOT NULL,
  checksum jsonb,
  storage_class text,
  parts_count integer,
  part_sizes bigint[],
  -- { acl, encryption } when either is set
  extra jsonb,
  -- The key while this is its latest version and not a delete marker: what listObjects orders by.
  -- Only versions_listing has it, so the planner cannot list through another index and a filter
  -- (which would step over delete markers and older versions).
  listed_key text COLLATE "C" GENERATED ALWAYS AS (CASE WHEN is_latest AND NOT delete_marker THEN key END) STORED,
  PRIMARY KEY (bucket, key, version_id)
);
-- A key's versions newest first: a version listing is a forward range scan, and a key's latest
-- version (always its newest) is the first row.
CREATE UNIQUE INDEX versions_by_key ON ${s}.versions (bucket, key, seq DESC);
-- At most one latest version per key, whatever a writer does. On a hash of the key, so that the
-- planner never takes it for a key-ordered listing instead of versions_listing.
CREATE UNIQUE INDEX versions_one_latest ON ${s}.versions (bucket, md5(key)) WHERE is_latest;
-- Covers a listing page.
CREATE INDEX versions_listing ON ${s}.versions (bucket, listed_key)
  INCLUDE (version_id, size, etag, last_modified, owner, checksum, storage_class)
  WHERE listed_key IS NOT NULL;

CREATE TABLE ${s}.refs (
  cid text COLLATE "C" PRIMARY KEY,
  count bigint NOT NULL
);

CREATE TABLE ${s}.uploads (
  bucket text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  upload_id text COLLATE "C" NOT NULL,
  initiated bigint NOT NULL,
  owner text NOT NULL,
  owner_display_name text,
  headers jsonb NOT NULL,
  metadata jsonb NOT NULL,
  tags jsonb NOT NULL,
  storage_class text,
  checksum_algorithm text,
  checksum_type text,
  profile text NOT NULL,
  extra jsonb,
  PRIMARY KEY (bucket, key, upload_id)
);

CREATE TABLE ${s}.parts (
  bucket text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  upload_id text COLLATE "C" NOT NULL,
  part_number integer NOT NULL,
  cid text NOT NULL,
  size bigint NOT NULL,
  etag text NOT NULL,
  last_modified bigint NOT NULL,
  checksum jsonb,
  PRIMARY KEY (bucket, key, upload_id, part_number)
);

CREATE TABLE ${s}.completed_uploads (
  bucket text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  upload_id text COLLATE "C" NOT NULL,
  version_id text NOT NULL,
  etag text NOT NULL,
  checksum jsonb,
  cid text NOT NULL,
  parts_digest text NOT NULL,
  completed bigint NOT NULL,
  PRIMARY KEY (bucket, key, upload_id)
);
CREATE INDEX completed_uploads_by_time ON ${s}.completed_uploads (completed);
`

/** Steps from each older schema version to the next; a new schema gets schemaSql directly. */
const MIGRATIONS: Record<number, (s: string) => string> = {
  // 1 → 2: each bucket's CID profile. Existing buckets get NULL, read as "the gateway's configured
  // default": the profile their objects were written with was never recorded.
  1: (s) => `ALTER TABLE ${s}.buckets ADD COLUMN cid_profile text`,
  // 2 → 3: bucket configurations (policy, ACL, CORS, ...), and object and upload ACLs and encryption
  2: (s) => `ALTER TABLE ${s}.buckets ADD COLUMN config jsonb;
ALTER TABLE ${s}.versions ADD COLUMN extra jsonb;
ALTER TABLE ${s}.uploads ADD COLUMN extra jsonb`,
}

/**
 * Our own parsers, so that a pool shared with a host that changed pg's global type parsers reads
 * the same values: int8 as numbers (sizes and times stay below 2^53), jsonb parsed.
 */
const TYPES = {
  getTypeParser: ((oid: number) => {
    switch (oid) {
      case 16: return (v: string) => v === 't'
      case 20: case 21: case 23: return Number
      case 1016: return (v: string) => v === '{}' ? [] : v.slice(1, -1).split(',').map(Number)
      case 114: case 3802: return JSON.parse
      default: return (v: string) => v
    }
  }) as unknown as typeof pg.types.getTypeParser,
}

type Queryable = Pick<PoolClient, 'query'>

interface BucketRow {
  name: string
  owner: string
  owner_display_name: string | null
  created: number
  region: string
  versioning: string
  cid_profile: string | null
  config: BucketConfig | null
}

interface VersionRow {
  seq: number
  bucket: string
  key: string
  version_id: string
  is_latest: boolean
  delete_marker: boolean
  cid: string
  size: number
  etag: string
  last_modified: number
  owner: string
  headers: Record<string, string>
  metadata: Record<string, string>
  tags: Array<[string, string]>
  checksum: ObjectVersion['checksum'] | null
  storage_class: string | null
  parts_count: number | null
  part_sizes: number[] | null
  extra: Extra | null
}

type ListedRow = Pick<VersionRow, 'key' | 'version_id' | 'size' | 'etag' | 'last_modified' | 'owner' | 'checksum' | 'storage_class'> &
  Partial<Pick<VersionRow, 'is_latest' | 'delete_marker'>>

interface UploadRow {
  bucket: string
  key: string
  upload_id: string
  initiated: number
  owner: string
  owner_display_name: string | null
  headers: Record<string, string>
  metadata: Record<string, string>
  tags: Array<[string, string]>
  storage_class: string | null
  checksum_algorithm: string | null
  checksum_type: string | null
  profile: string
  extra: Extra | null
}

interface PartRow {
  part_number: number
  cid: string
  size: number
  etag: string
  last_modified: number
  checksum: UploadedPart['checksum'] | null
}

interface CompletedRow {
  bucket: string
  key: string
  upload_id: string
  version_id: string
  etag: string
  checksum: CompletedUpload['checksum'] | null
  cid: string
  parts_digest: string
  completed: number
}

/** A lock a change takes before its first statement. */
type Lock = { bucket: string, shared: boolean } | { key: [string, string] } | { upload: [string, string, string] }

/** CID reference count changes of one transaction: net delta per CID. */
type Deltas = Map<string, number>

// Statements name their columns (no *): a prepared statement whose result columns change fails, so
// a column that a later schema version adds must not reach the statements of older processes.
const BUCKET_COLUMNS = 'name, owner, owner_display_name, created, region, versioning, cid_profile, config'
const VERSION_COLUMNS = 'seq, bucket, key, version_id, is_latest, delete_marker, cid, size, etag, last_modified, owner, headers, metadata, tags, ' +
  'checksum, storage_class, parts_count, part_sizes, extra'
const UPLOAD_COLUMNS = 'bucket, key, upload_id, initiated, owner, owner_display_name, headers, metadata, tags, storage_class, checksum_algorithm, ' +
  'checksum_type, profile, extra'
const PART_COLUMNS = 'part_number, cid, size, etag, last_modified, checksum'
const COMPLETED_COLUMNS = 'bucket, key, upload_id, version_id, etag, checksum, cid, parts_digest, completed'
/** The columns a version listing shows. */
const LISTED_COLUMNS = 'key, version_id, size, etag, last_modified, owner, checksum, storage_class'

/** `columns` qualified by a table alias. */
function of (alias: string, columns: string): string {
  return columns.split(', ').map((column) => `${alias}.${column}`).join(', ')
}

/**
 * Metadata in PostgreSQL (node-postgres). Every change is one READ COMMITTED transaction that first
 * takes transaction-level advisory locks: the bucket's in shared mode (deleteBucket takes it
 * exclusively), then the key's for version changes, then the upload's for multipart changes, so
 * that writers in any number of processes serialize per key and per upload. Reference counts change
 * last, in one statement over the CIDs in sorted order, so two transactions never wait on each
 * other's counts in opposite orders. Listing is one range query on a partial index of the latest,
 * non-deleted versions; listing versions is one statement of at most two range scans.
 */
export class PostgresMetadataStore implements MetadataStore {
  private readonly pool: Pool
  private readonly ownsPool: boolean
  /** The quoted schema name, for SQL text. */
  private readonly s: string
  /** Changes committed by this store, for analyzeNow. */
  private changes = 0
  private readonly schema: string
  private initialized?: Promise<void>
  private closed = false
  /** Prepared statement names by SQL text. */
  private readonly names = new Map<string, string>()

  constructor (init: PostgresMetadataStoreInit = {}) {
    this.schema = init.schema ?? 's3ipfs'
    if (this.schema === '' || this.schema.includes('\0') || Buffer.byteLength(this.schema) > 63) {
      throw new TypeError(`Invalid PostgreSQL schema name ${JSON.stringify(this.schema)}: 1 to 63 bytes, no NUL`)
    }
    this.s = `"${this.schema.replaceAll('"', '""')}"`
    this.ownsPool = init.pool === undefined
    this.pool = init.pool ?? new pg.Pool({ connectionString: init.connectionString, max: init.max ?? 10 })
    // An idle connection that fails is dropped by the pool and replaced on the next query; without a
    // listener its 'error' event would end the process.
    if (this.ownsPool) this.pool.on('error', () => {})
  }

  /**
   * Creates or migrates the tables. Every method awaits it; call it to fail early. Processes that
   * start together serialize on an advisory lock; a failure is retried by the next call.
   */
  async init (): Promise<void> {
    this.initialized ??= this.migrate().catch((err) => {
      this.initialized = undefined
      throw err
    })
    await this.initialized
  }

  async createBucket (bucket: BucketRecord, options?: AbortOptions): Promise<boolean> {
    const config = bucket.config === undefined || Object.keys(bucket.config).length === 0 ? null : JSON.stringify(bucket.config)
    const { rows } = await this.query(options, `INSERT INTO ${this.s}.buckets (name, owner, owner_display_name, created, region, versioning, cid_profile, config)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING RETURNING 1`,
    [bucket.name, bucket.owner, bucket.ownerDisplayName ?? null, bucket.created.getTime(), bucket.region, bucket.versioning, bucket.cidProfile ?? null, config])
    return rows.length === 1
  }

  async getBucket (name: string, options?: AbortOptions): Promise<BucketRecord | undefined> {
    const { rows } = await this.query<BucketRow>(options, `SELECT ${BUCKET_COLUMNS} FROM ${this.s}.buckets WHERE name = $1`, [name])
    return rows.length === 0 ? undefined : toBucket(rows[0])
  }

  async setBucketVersioning (name: string, versioning: 'Enabled' | 'Suspended', options?: AbortOptions): Promise<boolean> {
    const { rowCount } = await this.query(options, `UPDATE ${this.s}.buckets SET versioning = $2 WHERE name = $1`, [name, versioning])
    return rowCount === 1
  }

  async setBucketConfig (name: string, kind: BucketConfigKind, value: string | undefined, options?: AbortOptions): Promise<boolean> {
    // One statement: concurrent changes of different kinds each keep the other's.
    const { rowCount } = value === undefined
      ? await this.query(options, `UPDATE ${this.s}.buckets SET config = NULLIF(COALESCE(config, '{}'::jsonb) - $2::text, '{}'::jsonb)
          WHERE name = $1`, [name, kind])
      : await this.query(options, `UPDATE ${this.s}.buckets SET config = COALESCE(config, '{}'::jsonb) || jsonb_build_object($2::text, $3::text)
          WHERE name = $1`, [name, kind, value])
    return rowCount === 1
  }

  async listBuckets (owner?: string, options?: AbortOptions): Promise<BucketRecord[]> {
    const { rows } = owner === undefined
      ? await this.query<BucketRow>(options, `SELECT ${BUCKET_COLUMNS} FROM ${this.s}.buckets ORDER BY name`)
      : await this.query<BucketRow>(options, `SELECT ${BUCKET_COLUMNS} FROM ${this.s}.buckets WHERE owner = $1 ORDER BY name`, [owner])
    return rows.map(toBucket)
  }

  async deleteBucket (name: string, options?: AbortOptions): Promise<'deleted' | 'not-empty' | 'missing'> {
    const { result } = await this.change(options, [{ bucket: name, shared: false }], async (q, deltas) => {
      const { rows: [state] } = await q.query<{ present: boolean, used: boolean }>(this.sql(`SELECT
        EXISTS (SELECT 1 FROM ${this.s}.buckets WHERE name = $1) AS present,
        EXISTS (SELECT 1 FROM ${this.s}.versions WHERE bucket = $1) AS used`, [name]))
      if (!state.present) return 'missing'
      if (state.used) return 'not-empty'
      const { rows } = await q.query<{ cid: string }>(this.sql(`WITH
          parts AS (DELETE FROM ${this.s}.parts WHERE bucket = $1 RETURNING cid),
          uploads AS (DELETE FROM ${this.s}.uploads WHERE bucket = $1),
          completed AS (DELETE FROM ${this.s}.completed_uploads WHERE bucket = $1),
          buckets AS (DELETE FROM ${this.s}.buckets WHERE name = $1)
        SELECT cid FROM parts`, [name]))
      for (const { cid } of rows) add(deltas, cid, -1)
      return 'deleted'
    })
    return result
  }

  async putObject (version: ObjectVersion, options?: WriteOptions): Promise<WriteResult> {
    if (hasNul(version.key, version.versionId)) throw unstorable(version.key, version.versionId)
    const { bucket, key } = version
    const { result: replaced, released } = await this.change(options, [{ bucket, shared: true }, { key: [bucket, key] }],
      async (q, deltas) => await this.put(q, version, deltas), options?.sourceCid)
    return replaced === undefined ? { released } : { replaced, released }
  }

  async getObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined> {
    options?.signal?.throwIfAborted()
    if (hasNul(key, versionId)) return undefined
    const { rows } = versionId === undefined
      ? await this.query<VersionRow>(options, `SELECT ${VERSION_COLUMNS} FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1`, [bucket, key])
      : await this.query<VersionRow>(options, `SELECT ${VERSION_COLUMNS} FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 AND version_id = $3`, [bucket, key, versionId])
    return rows.length === 0 ? undefined : toVersion(rows[0])
  }

  async deleteObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<DeleteResult> {
    options?.signal?.throwIfAborted()
    if (hasNul(key, versionId)) return { released: [] }
    const { result: deleted, released } = await this.change(options, [{ bucket, shared: true }, { key: [bucket, key] }], async (q, deltas) => {
      const { rows } = versionId === undefined
        ? await q.query<VersionRow>(this.sql(`DELETE FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 AND seq =
          (SELECT seq FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1) RETURNING ${VERSION_COLUMNS}`, [bucket, key]))
        : await q.query<VersionRow>(this.sql(`DELETE FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 AND version_id = $3 RETURNING ${VERSION_COLUMNS}`, [bucket, key, versionId]))
      if (rows.length === 0) return undefined
      const row = rows[0]
      if (row.is_latest) {
        await q.query(this.sql(`UPDATE ${this.s}.versions SET is_latest = true WHERE bucket = $1 AND key = $2 AND seq =
          (SELECT seq FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1)`, [bucket, key]))
      }
      add(deltas, heldCid(row.delete_marker, row.cid), -1)
      return toVersion(row)
    })
    return deleted === undefined ? { released } : { deleted, released }
  }

  async setObjectTags (bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    if (hasNul(key, versionId)) return false
    const { result } = await this.change(options, [{ key: [bucket, key] }], async (q) => {
      const json = JSON.stringify(tags)
      const { rowCount } = versionId === undefined
        ? await q.query(this.sql(`UPDATE ${this.s}.versions SET tags = $3 WHERE bucket = $1 AND key = $2 AND seq =
          (SELECT seq FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1)`, [bucket, key, json]))
        : await q.query(this.sql(`UPDATE ${this.s}.versions SET tags = $4 WHERE bucket = $1 AND key = $2 AND version_id = $3`, [bucket, key, versionId, json]))
      return rowCount === 1
    })
    return result
  }

  async setObjectAcl (bucket: string, key: string, versionId: string | undefined, acl: string, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    if (hasNul(key, versionId)) return false
    const { result } = await this.change(options, [{ key: [bucket, key] }], async (q) => {
      const set = `SET extra = COALESCE(extra, '{}'::jsonb) || jsonb_build_object('acl', $3::text)`
      const { rowCount } = versionId === undefined
        ? await q.query(this.sql(`UPDATE ${this.s}.versions ${set} WHERE bucket = $1 AND key = $2 AND seq =
          (SELECT seq FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1)`, [bucket, key, acl]))
        : await q.query(this.sql(`UPDATE ${this.s}.versions ${set} WHERE bucket = $1 AND key = $2 AND version_id = $4`, [bucket, key, acl, versionId]))
      return rowCount === 1
    })
    return result
  }

  async listObjects (bucket: string, options: ListOptions): Promise<ListedObject[]> {
    const rows = await this.listLatest<ListedRow>(bucket, options, 'listed_key AS key, version_id, size, etag, last_modified, owner, checksum, storage_class')
    return rows.map((row) => toListed(row, true))
  }

  async listKeys (bucket: string, options: ListOptions): Promise<string[]> {
    const rows = await this.listLatest<{ key: string }>(bucket, options, 'listed_key AS key')
    return rows.map((row) => row.key)
  }

  async listVersions (bucket: string, options: VersionListOptions): Promise<ListedObject[]> {
    options.signal?.throwIfAborted()
    const limit = pageSize(options.limit)
    const range = keyRange(options.prefix, options.from, options.after?.key)
    if (limit === 0 || range === undefined) return []
    const { after, prefix, from } = options
    const values: unknown[] = [bucket, limit]
    const columns = `${LISTED_COLUMNS}, is_latest, delete_marker, seq`
    // The versions of the marker key older than the marker version, then the versions of the keys
    // after it: one statement, so one snapshot.
    const branches: string[] = []
    if (after?.versionId !== undefined && !hasNul(after.key, after.versionId) &&
      (prefix === undefined || after.key.startsWith(prefix)) && (from === undefined || compareKeys(after.key, from) >= 0)) {
      values.push(after.key, after.versionId)
      branches.push(`(SELECT 0 AS branch, ${columns} FROM ${this.s}.versions
        WHERE bucket = $1 AND key = $3 AND seq < (SELECT seq FROM ${this.s}.versions WHERE bucket = $1 AND key = $3 AND version_id = $4)
        ORDER BY seq DESC LIMIT $2)`)
    }
    branches.push(`(SELECT 1 AS branch, ${columns} FROM ${this.s}.versions
      WHERE bucket = $1 ${rangeSql(range, values)} ORDER BY key, seq DESC LIMIT $2)`)
    const { rows } = await this.query<ListedRow>(options,
      `SELECT ${columns} FROM (${branches.join(' UNION ALL ')}) page ORDER BY branch, key, seq DESC LIMIT $2`, values, true)
    return rows.map((row) => toListed(row, row.is_latest === true))
  }

  async createUpload (upload: MultipartUpload, options?: AbortOptions): Promise<void> {
    if (hasNul(upload.key, upload.uploadId)) throw unstorable(upload.key, upload.uploadId)
    await this.change(options, [{ bucket: upload.bucket, shared: true }], async (q) => {
      await this.assertBucket(q, upload.bucket)
      const { rows } = await q.query(this.sql(`INSERT INTO ${this.s}.uploads (bucket, key, upload_id, initiated, owner, owner_display_name,
          headers, metadata, tags, storage_class, checksum_algorithm, checksum_type, profile, extra)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING RETURNING 1`, [
        upload.bucket, upload.key, upload.uploadId, upload.initiated.getTime(), upload.owner, upload.ownerDisplayName ?? null,
        JSON.stringify(upload.headers), JSON.stringify(upload.metadata), JSON.stringify(upload.tags), upload.storageClass ?? null,
        upload.checksumAlgorithm ?? null, upload.checksumType ?? null, upload.profile, extraOf(upload),
      ]))
      if (rows.length === 0) throw uploadExists(upload)
    })
  }

  async getUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<MultipartUpload | undefined> {
    options?.signal?.throwIfAborted()
    if (hasNul(key, uploadId)) return undefined
    const { rows } = await this.query<UploadRow>(options,
      `SELECT ${UPLOAD_COLUMNS} FROM ${this.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3`, [bucket, key, uploadId])
    return rows.length === 0 ? undefined : toUpload(rows[0])
  }

  async listUploads (bucket: string, options: UploadListOptions): Promise<MultipartUpload[]> {
    options.signal?.throwIfAborted()
    const limit = pageSize(options.limit)
    const { after } = options
    // After (key, uploadId): a NUL cuts a bound short, as in keyRange; a key with one has no uploads.
    const afterUpload = after?.uploadId !== undefined && !hasNul(after.key) ? { key: after.key, uploadId: after.uploadId.split('\0')[0] } : undefined
    const range = keyRange(options.prefix, options.from, afterUpload === undefined ? after?.key : undefined)
    if (limit === 0 || range === undefined) return []
    const values: unknown[] = [bucket, limit]
    let where: string
    if (afterUpload !== undefined && (range.start === undefined || compareKeys(range.start.key, afterUpload.key) <= 0)) {
      values.push(afterUpload.key, afterUpload.uploadId)
      where = `AND (key, upload_id) > ($3, $4) ${rangeSql({ end: range.end }, values)}`
    } else {
      where = rangeSql(range, values)
    }
    const { rows } = await this.query<UploadRow>(options,
      `SELECT ${UPLOAD_COLUMNS} FROM ${this.s}.uploads WHERE bucket = $1 ${where} ORDER BY key, upload_id LIMIT $2`, values, true)
    return rows.map(toUpload)
  }

  async putPart (bucket: string, key: string, uploadId: string, part: UploadedPart, options?: WriteOptions): Promise<PartWriteResult | undefined> {
    options?.signal?.throwIfAborted()
    if (hasNul(key, uploadId)) return undefined
    const { result, released } = await this.change(options, [{ bucket, shared: true }, { upload: [bucket, key, uploadId] }], async (q, deltas) => {
      const { rows: [found] } = await q.query<Partial<PartRow> & { upload: boolean }>(this.sql(`SELECT
          EXISTS (SELECT 1 FROM ${this.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3) AS upload, ${of('p', PART_COLUMNS)}
        FROM (SELECT 1) one LEFT JOIN ${this.s}.parts p ON p.bucket = $1 AND p.key = $2 AND p.upload_id = $3 AND p.part_number = $4`,
      [bucket, key, uploadId, part.partNumber]))
      if (!found.upload) return undefined
      await q.query(this.sql(`INSERT INTO ${this.s}.parts (bucket, key, upload_id, part_number, cid, size, etag, last_modified, checksum)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (bucket, key, upload_id, part_number) DO UPDATE SET cid = excluded.cid, size = excluded.size, etag = excluded.etag,
          last_modified = excluded.last_modified, checksum = excluded.checksum`, [
        bucket, key, uploadId, part.partNumber, part.cid, part.size, part.etag, part.lastModified.getTime(),
        part.checksum === undefined ? null : JSON.stringify(part.checksum),
      ]))
      add(deltas, part.cid, 1)
      if (found.cid === null || found.cid === undefined) return {}
      const replaced = toPart(found as PartRow)
      add(deltas, replaced.cid, -1)
      return { replaced }
    }, options?.sourceCid)
    if (result === undefined) return undefined
    return result.replaced === undefined ? { released } : { replaced: result.replaced, released }
  }

  async listParts (bucket: string, key: string, uploadId: string, options: PartListOptions): Promise<UploadedPart[] | undefined> {
    options.signal?.throwIfAborted()
    if (hasNul(key, uploadId)) return undefined
    const after = options.after === undefined || !(options.after >= 0) ? 0 : Math.min(Math.floor(options.after), Number.MAX_SAFE_INTEGER)
    const { rows } = await this.query<Partial<PartRow>>(options, `SELECT ${of('p', PART_COLUMNS)} FROM ${this.s}.uploads u LEFT JOIN LATERAL
        (SELECT ${PART_COLUMNS} FROM ${this.s}.parts WHERE bucket = $1 AND key = $2 AND upload_id = $3 AND part_number > $4::bigint ORDER BY part_number LIMIT $5) p ON true
      WHERE u.bucket = $1 AND u.key = $2 AND u.upload_id = $3`, [bucket, key, uploadId, after, pageSize(options.limit)], true)
    if (rows.length === 0) return undefined
    return rows.filter((row) => row.part_number !== null).map((row) => toPart(row as PartRow))
  }

  async completeUpload (version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>, completed: CompletedUpload, options?: AbortOptions): Promise<CompleteResult> {
    options?.signal?.throwIfAborted()
    const { bucket, key } = version
    if (hasNul(key, uploadId)) return { status: 'no-upload' }
    if (hasNul(version.versionId)) throw unstorable(key, version.versionId)
    const wanted = new Map<number, string>()
    let conflicting = false
    for (const { partNumber, cid } of parts) {
      if (wanted.has(partNumber) && wanted.get(partNumber) !== cid) conflicting = true
      wanted.set(partNumber, cid)
    }
    const locks: Lock[] = [{ bucket, shared: true }, { key: [bucket, key] }, { upload: [bucket, key, uploadId] }]
    const { result, released } = await this.change(options, locks, async (q, deltas) => {
      const { rows: [state] } = await q.query<{ upload: boolean, matched: number }>(this.sql(`SELECT
          EXISTS (SELECT 1 FROM ${this.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3) AS upload,
          (SELECT count(*) FROM ${this.s}.parts p JOIN unnest($4::bigint[], $5::text[]) AS w(part_number, cid)
            ON p.part_number = w.part_number AND p.cid = w.cid
            WHERE p.bucket = $1 AND p.key = $2 AND p.upload_id = $3) AS matched`,
      [bucket, key, uploadId, [...wanted.keys()], [...wanted.values()]]))
      if (!state.upload) return { status: 'no-upload' as const }
      if (conflicting || state.matched !== wanted.size) return { status: 'parts-changed' as const }
      // The version's reference is counted in the same deltas, so a part CID the object shares is kept.
      const replaced = await this.put(q, version, deltas)
      const { rows } = await q.query<{ cid: string }>(this.sql(`WITH
          parts AS (DELETE FROM ${this.s}.parts WHERE bucket = $1 AND key = $2 AND upload_id = $3 RETURNING cid),
          uploads AS (DELETE FROM ${this.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3),
          record AS (INSERT INTO ${this.s}.completed_uploads (bucket, key, upload_id, version_id, etag, checksum, cid, parts_digest, completed)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (bucket, key, upload_id) DO UPDATE SET version_id = excluded.version_id, etag = excluded.etag,
              checksum = excluded.checksum, cid = excluded.cid, parts_digest = excluded.parts_digest, completed = excluded.completed)
        SELECT cid FROM parts`, [
        bucket, key, uploadId, completed.versionId, completed.etag, completed.checksum === undefined ? null : JSON.stringify(completed.checksum),
        completed.cid, completed.partsDigest, completed.completed.getTime(),
      ]))
      for (const { cid } of rows) add(deltas, cid, -1)
      // Bounded, and rows another transaction is deleting are left to it: pruning never waits.
      await q.query(this.sql(`DELETE FROM ${this.s}.completed_uploads WHERE (bucket, key, upload_id) IN
        (SELECT bucket, key, upload_id FROM ${this.s}.completed_uploads WHERE completed < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)`,
      [completed.completed.getTime() - COMPLETED_TTL]))
      return { status: 'completed' as const, replaced }
    })
    if (result.status !== 'completed') return result
    return result.replaced === undefined ? { status: 'completed', released } : { status: 'completed', replaced: result.replaced, released }
  }

  async getCompletedUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<CompletedUpload | undefined> {
    options?.signal?.throwIfAborted()
    if (hasNul(key, uploadId)) return undefined
    const { rows } = await this.query<CompletedRow>(options,
      `SELECT ${COMPLETED_COLUMNS} FROM ${this.s}.completed_uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3`, [bucket, key, uploadId])
    return rows.length === 0 ? undefined : toCompleted(rows[0])
  }

  async abortUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<{ released: string[] } | undefined> {
    options?.signal?.throwIfAborted()
    if (hasNul(key, uploadId)) return undefined
    const { result: found, released } = await this.change(options, [{ bucket, shared: true }, { upload: [bucket, key, uploadId] }], async (q, deltas) => {
      const { rowCount } = await q.query(this.sql(`DELETE FROM ${this.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3`, [bucket, key, uploadId]))
      if (rowCount === 0) return false
      const { rows } = await q.query<{ cid: string }>(this.sql(`DELETE FROM ${this.s}.parts WHERE bucket = $1 AND key = $2 AND upload_id = $3 RETURNING cid`,
        [bucket, key, uploadId]))
      for (const { cid } of rows) add(deltas, cid, -1)
      return true
    })
    return found ? { released } : undefined
  }

  async refCount (cid: string, options?: AbortOptions): Promise<number> {
    options?.signal?.throwIfAborted()
    if (hasNul(cid)) return 0
    const { rows } = await this.query<{ count: number }>(options, `SELECT count FROM ${this.s}.refs WHERE cid = $1`, [cid])
    return rows.length === 0 ? 0 : rows[0].count
  }

  async * referencedCids (options?: AbortOptions): AsyncIterable<string> {
    // Pages by key rather than a cursor, so no connection or snapshot is held between pages.
    let after: string | undefined
    while (true) {
      const { rows } = after === undefined
        ? await this.query<{ cid: string }>(options, `SELECT cid FROM ${this.s}.refs ORDER BY cid LIMIT 1000`)
        : await this.query<{ cid: string }>(options, `SELECT cid FROM ${this.s}.refs WHERE cid > $1 ORDER BY cid LIMIT 1000`, [after])
      for (const { cid } of rows) yield cid
      if (rows.length < 1000) return
      after = rows[rows.length - 1].cid
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.ownsPool) await this.pool.end()
  }

  /** Stores a version as the key's latest inside a change; returns the version it replaced. */
  private async put (q: Queryable, version: ObjectVersion, deltas: Deltas): Promise<ObjectVersion | undefined> {
    const { bucket, key, versionId } = version
    const { rows: [found] } = await q.query<Partial<VersionRow> & { present: boolean, used: boolean }>(this.sql(`SELECT
        EXISTS (SELECT 1 FROM ${this.s}.buckets WHERE name = $1) AS present,
        EXISTS (SELECT 1 FROM ${this.s}.versions WHERE bucket = $1 AND key = $2) AS used,
        ${of('old', VERSION_COLUMNS)}
      FROM (SELECT 1) one LEFT JOIN ${this.s}.versions old ON old.bucket = $1 AND old.key = $2 AND old.version_id = $3`,
    [bucket, key, versionId]))
    if (!found.present) throw noSuchBucket(bucket)
    const old = found.seq === null || found.seq === undefined ? undefined : toVersion(found as VersionRow)
    if (found.used === true) {
      // Removes the replaced version and demotes the latest (the newest) unless that is the one
      // replaced. Different rows; the subquery sees the key as it was before this statement.
      await q.query(this.sql(`WITH old AS (DELETE FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 AND version_id = $3)
        UPDATE ${this.s}.versions SET is_latest = false WHERE bucket = $1 AND key = $2 AND is_latest AND version_id <> $3 AND seq =
          (SELECT seq FROM ${this.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1)`, [bucket, key, versionId]))
    }
    await q.query(this.sql(`INSERT INTO ${this.s}.versions (bucket, key, version_id, is_latest, delete_marker, cid, size, etag,
        last_modified, owner, headers, metadata, tags, checksum, storage_class, parts_count, part_sizes, extra)
      VALUES ($1, $2, $3, true, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`, [
      bucket, key, versionId, version.deleteMarker, version.cid, version.size, version.etag, version.lastModified.getTime(), version.owner,
      JSON.stringify(version.headers), JSON.stringify(version.metadata), JSON.stringify(version.tags),
      version.checksum === undefined ? null : JSON.stringify(version.checksum), version.storageClass ?? null, version.partsCount ?? null,
      version.partSizes === undefined ? null : version.partSizes, extraOf(version),
    ]))
    add(deltas, heldCid(version.deleteMarker, version.cid), 1)
    if (old !== undefined) add(deltas, heldCid(old.deleteMarker, old.cid), -1)
    return old
  }

  private async assertBucket (q: Queryable, bucket: string): Promise<void> {
    const { rows } = await q.query(this.sql(`SELECT 1 FROM ${this.s}.buckets WHERE name = $1`, [bucket]))
    if (rows.length === 0) throw noSuchBucket(bucket)
  }

  private async listLatest<R extends QueryResultRow> (bucket: string, options: ListOptions, columns: string): Promise<R[]> {
    options.signal?.throwIfAborted()
    const limit = pageSize(options.limit)
    const range = keyRange(options.prefix, options.from, options.after)
    if (limit === 0 || range === undefined) return []
    const values: unknown[] = [bucket, limit]
    const { rows } = await this.query<R>(options, `SELECT ${columns} FROM ${this.s}.versions
      WHERE bucket = $1 AND listed_key IS NOT NULL ${rangeSql(range, values, 'listed_key')} ORDER BY listed_key LIMIT $2`, values, true)
    return rows
  }

  /**
   * A statement with our type parsers. Prepared (named) unless `planned`: parsing and planning cost
   * more than executing these point statements, so each connection prepares each text once. Range
   * listings are planned for their actual bounds and limit every time instead.
   */
  private sql (text: string, values?: unknown[], planned = false): QueryConfig {
    if (planned) return { text, values, types: TYPES }
    let name = this.names.get(text)
    if (name === undefined) {
      name = `s3ipfs_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`
      this.names.set(text, name)
    }
    return { name, text, values, types: TYPES }
  }

  /** One statement outside any transaction, once the schema is ready. */
  private async query<R extends QueryResultRow = QueryResultRow> (options: AbortOptions | undefined, text: string, values?: unknown[], planned = false): Promise<QueryResult<R>> {
    options?.signal?.throwIfAborted()
    await this.init()
    options?.signal?.throwIfAborted()
    return await this.pool.query<R>(this.sql(text, values, planned))
  }

  /**
   * Runs a change as one transaction holding `locks` (advisory, released at commit), then applies
   * the reference count deltas it collected. Serialization failures and deadlocks are retried.
   */
  /**
   * Listing plans must not depend on autovacuum having run: without statistics the planner takes a
   * freshly bulk-loaded bucket for a few rows and sorts it instead of reading the index in order. So
   * every ANALYZE_EVERY changes this process refreshes the statistics itself, in the background.
   */
  private analyzeNow (): void {
    if (++this.changes % ANALYZE_EVERY !== 0) return
    this.pool.query(`ANALYZE ${this.s}.versions, ${this.s}.uploads, ${this.s}.parts, ${this.s}.refs`).catch(() => {})
  }

  /**
   * `sourceCid` (WriteOptions): the change must not take that CID's count from zero. Checked on the
   * count the reference update returns, under the row lock that update already holds, so a release
   * to zero either committed before (the update finds no row: rolled back) or waits for this one.
   */
  private async change<T> (options: AbortOptions | undefined, locks: Lock[],
    fn: (q: Queryable, deltas: Deltas) => Promise<T>, sourceCid?: string): Promise<{ result: T, released: string[] }> {
    options?.signal?.throwIfAborted()
    await this.init()
    // Lock ids are computed here, so they go in the same round trip as BEGIN (literals, not parameters).
    const lockSql = locks.map((lock) => 'bucket' in lock
      ? `SELECT pg_advisory_xact_lock${lock.shared ? '_shared' : ''}(${this.lockId('bucket', lock.bucket)})`
      : `SELECT pg_advisory_xact_lock(${'key' in lock ? this.lockId('key', ...lock.key) : this.lockId('upload', ...lock.upload)})`)
    const begin = ['BEGIN', ...lockSql].join('; ')
    for (let attempt = 1; ; attempt++) {
      options?.signal?.throwIfAborted()
      const client = await this.pool.connect()
      let broken: Error | undefined
      try {
        await client.query(begin)
        const deltas: Deltas = new Map()
        const result = await fn(client, deltas)
        const released = await this.applyRefs(client, deltas, sourceCid)
        await client.query('COMMIT')
        this.analyzeNow()
        return { result, released }
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => { broken = rollbackError })
        if (attempt < ATTEMPTS && RETRYABLE.has((err as { code?: string }).code ?? '')) {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt))
          continue
        }
        throw err
      } finally {
        client.release(broken)
      }
    }
  }

  /**
   * Applies net reference count changes in one statement that visits the CIDs in sorted order, so
   * concurrent changes lock count rows in one global order; removes counts that reached zero.
   */
  private async applyRefs (q: Queryable, deltas: Deltas, sourceCid?: string): Promise<string[]> {
    const changes = [...deltas].filter(([, delta]) => delta !== 0)
    if (changes.length === 0) return []
    const { rows } = await q.query<{ cid: string, count: number }>(this.sql(`INSERT INTO ${this.s}.refs AS r (cid, count)
        SELECT cid, delta FROM unnest($1::text[], $2::bigint[]) AS d(cid, delta) ORDER BY cid COLLATE "C"
      ON CONFLICT (cid) DO UPDATE SET count = r.count + excluded.count
      RETURNING cid, count`, [changes.map(([cid]) => cid), changes.map(([, delta]) => delta)]))
    const added = sourceCid === undefined ? 0 : deltas.get(sourceCid) ?? 0
    if (added > 0 && Number(rows.find((row) => row.cid === sourceCid)?.count ?? 0) <= added) throw sourceReleased(sourceCid as string)
    const released = rows.filter((row) => row.count <= 0).map((row) => row.cid)
    if (released.length > 0) {
      await q.query(this.sql(`DELETE FROM ${this.s}.refs WHERE cid = ANY ($1::text[]) AND count <= 0`, [released]))
    }
    return released
  }

  /** A 64-bit advisory lock id for one bucket, key or upload of this schema. */
  private lockId (kind: string, ...names: string[]): string {
    const hash = createHash('sha256').update([this.schema, kind, ...names].join('\0')).digest()
    return `'${hash.readBigInt64BE(0)}'::bigint`
  }

  private async migrate (): Promise<void> {
    const s = this.s
    // Already current: no lock, no DDL (nor the privileges it needs).
    const { rows: [table] } = await this.pool.query<{ present: boolean }>(this.sql('SELECT to_regclass($1) IS NOT NULL AS present', [`${s}.schema_migrations`], true))
    const found = table.present
      ? (await this.pool.query<{ version: number | null }>(this.sql(`SELECT max(version) AS version FROM ${s}.schema_migrations`, [], true))).rows[0]
      : { version: null }
    if (found.version === POSTGRES_SCHEMA_VERSION) return
    checkNotNewer(found.version)
    const client = await this.pool.connect()
    let broken: Error | undefined
    try {
      await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${this.lockId('migrate')})`)
      // Re-read under the lock: another process may have migrated meanwhile.
      const { rows: [schema] } = await client.query<{ present: boolean }>(this.sql('SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present', [this.schema], true))
      if (!schema.present) await client.query(`CREATE SCHEMA ${s}`)
      await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`)
      const { rows: [current] } = await client.query<{ version: number | null }>(this.sql(`SELECT max(version) AS version FROM ${s}.schema_migrations`, [], true))
      let version = current.version ?? 0
      checkNotNewer(version)
      if (version === 0) {
        await client.query(schemaSql(s))
        version = POSTGRES_SCHEMA_VERSION
        await client.query(this.sql(`INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`, [version], true))
      }
      for (; version < POSTGRES_SCHEMA_VERSION; version++) {
        await client.query(MIGRATIONS[version](s))
        await client.query(this.sql(`INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`, [version + 1], true))
      }
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => { broken = rollbackError })
      throw err
    } finally {
      client.release(broken)
    }
  }
}

function checkNotNewer (version: number | null): void {
  if (version !== null && version > POSTGRES_SCHEMA_VERSION) {
    throw new Error(`Metadata schema version ${version} is newer than this gateway supports (${POSTGRES_SCHEMA_VERSION})`)
  }
}

interface KeyBound { key: string, inclusive: boolean }

/**
 * The key range of a listing: from the greatest of `prefix` and `from` (inclusive) and `after`
 * (exclusive), up to the prefix's successor. PostgreSQL text cannot hold NUL, so no stored key has
 * one: a bound with a NUL is cut before it and made exclusive (no key lies between), and a prefix
 * with one matches nothing (undefined).
 */
function keyRange (prefix: string | undefined, from: string | undefined, after: string | undefined): { start?: KeyBound, end?: string } | undefined {
  if (prefix !== undefined && hasNul(prefix)) return undefined
  let start: KeyBound | undefined
  const candidates: Array<[string | undefined, boolean]> = [[prefix, true], [from, true], [after, false]]
  for (const [value, inclusive] of candidates) {
    if (value === undefined) continue
    const cut = value.indexOf('\0')
    const bound = cut === -1 ? { key: value, inclusive } : { key: value.slice(0, cut), inclusive: false }
    const order = start === undefined ? 1 : compareKeys(bound.key, start.key)
    if (order > 0 || (order === 0 && !bound.inclusive)) start = bound
  }
  return { start, end: prefix === undefined ? undefined : prefixSuccessor(prefix) }
}

/** SQL conditions for a key range, its values appended to `values`. */
function rangeSql (range: { start?: KeyBound, end?: string }, values: unknown[], column = 'key'): string {
  let sql = ''
  if (range.start !== undefined && !(range.start.inclusive && range.start.key === '')) {
    values.push(range.start.key)
    sql += ` AND ${column} ${range.start.inclusive ? '>=' : '>'} $${values.length}`
  }
  if (range.end !== undefined) {
    values.push(range.end)
    sql += ` AND ${column} < $${values.length}`
  }
  return sql
}

/** A page size for LIMIT: 0 when the caller's limit is below 1 (or not a number). */
function pageSize (limit: number): number {
  return limit >= 1 ? Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER) : 0
}

function hasNul (...values: Array<string | undefined>): boolean {
  return values.some((value) => value?.includes('\0') === true)
}

function add (deltas: Deltas, cid: string | undefined, delta: number): void {
  if (cid !== undefined) deltas.set(cid, (deltas.get(cid) ?? 0) + delta)
}

function heldCid (deleteMarker: boolean, cid: string): string | undefined {
  return deleteMarker || cid === '' ? undefined : cid
}

function noSuchBucket (name: string): Error {
  return Object.assign(new Error(`No bucket named ${JSON.stringify(name)}`), { code: 'ERR_NO_SUCH_BUCKET' })
}

function uploadExists (upload: MultipartUpload): Error {
  return Object.assign(new Error(`Upload ${JSON.stringify(upload.uploadId)} of ${JSON.stringify(upload.key)} is already in progress`), { code: 'ERR_UPLOAD_EXISTS' })
}

function unstorable (key: string, id: string): Error {
  return Object.assign(new Error(`PostgreSQL text cannot hold NUL (U+0000): key ${JSON.stringify(key)}, id ${JSON.stringify(id)}`), { code: 'ERR_NUL_IN_NAME' })
}

type Extra = Pick<ObjectVersion, 'acl' | 'encryption'>

/** The `extra` column: a version's or upload's ACL and encryption (JSON text); null when neither. */
function extraOf (record: Extra): string | null {
  if (record.acl === undefined && record.encryption === undefined) return null
  return JSON.stringify({ acl: record.acl, encryption: record.encryption })
}

function fromExtra (extra: Extra): Extra {
  const out: Extra = {}
  if (extra.acl !== undefined && extra.acl !== null) out.acl = extra.acl
  if (extra.encryption !== undefined && extra.encryption !== null) out.encryption = extra.encryption
  return out
}

function toBucket (row: BucketRow): BucketRecord {
  const bucket: BucketRecord = {
    name: row.name,
    owner: row.owner,
    created: new Date(row.created),
    region: row.region,
    versioning: row.versioning as Versioning,
  }
  if (row.owner_display_name !== null) bucket.ownerDisplayName = row.owner_display_name
  if (row.cid_profile !== null) bucket.cidProfile = row.cid_profile
  if (row.config !== null) bucket.config = row.config
  return bucket
}

function toVersion (row: VersionRow): ObjectVersion {
  const version: ObjectVersion = {
    bucket: row.bucket,
    key: row.key,
    versionId: row.version_id,
    isLatest: row.is_latest,
    deleteMarker: row.delete_marker,
    cid: row.cid,
    size: row.size,
    etag: row.etag,
    lastModified: new Date(row.last_modified),
    owner: row.owner,
    headers: row.headers,
    metadata: row.metadata,
    tags: row.tags,
  }
  if (row.checksum !== null) version.checksum = row.checksum
  if (row.storage_class !== null) version.storageClass = row.storage_class
  if (row.parts_count !== null) version.partsCount = row.parts_count
  if (row.part_sizes !== null) version.partSizes = row.part_sizes
  if (row.extra !== null) Object.assign(version, fromExtra(row.extra))
  return version
}

function toListed (row: ListedRow, isLatest: boolean): ListedObject {
  const listed: ListedObject = {
    key: row.key,
    versionId: row.version_id,
    isLatest,
    deleteMarker: row.delete_marker === true,
    size: row.size,
    etag: row.etag,
    lastModified: new Date(row.last_modified),
    owner: row.owner,
  }
  if (row.checksum !== null) listed.checksum = row.checksum
  if (row.storage_class !== null) listed.storageClass = row.storage_class
  return listed
}

function toUpload (row: UploadRow): MultipartUpload {
  const upload: MultipartUpload = {
    bucket: row.bucket,
    key: row.key,
    uploadId: row.upload_id,
    initiated: new Date(row.initiated),
    owner: row.owner,
    headers: row.headers,
    metadata: row.metadata,
    tags: row.tags,
    profile: row.profile,
  }
  if (row.owner_display_name !== null) upload.ownerDisplayName = row.owner_display_name
  if (row.storage_class !== null) upload.storageClass = row.storage_class
  if (row.checksum_algorithm !== null) upload.checksumAlgorithm = row.checksum_algorithm as ChecksumAlgorithm
  if (row.checksum_type !== null) upload.checksumType = row.checksum_type as ChecksumType
  if (row.extra !== null) Object.assign(upload, fromExtra(row.extra))
  return upload
}

function toPart (row: PartRow): UploadedPart {
  const part: UploadedPart = {
    partNumber: row.part_number,
    cid: row.cid,
    size: row.size,
    etag: row.etag,
    lastModified: new Date(row.last_modified),
  }
  if (row.checksum !== null) part.checksum = row.checksum
  return part
}

function toCompleted (row: CompletedRow): CompletedUpload {
  const record: CompletedUpload = {
    bucket: row.bucket,
    key: row.key,
    uploadId: row.upload_id,
    versionId: row.version_id,
    etag: row.etag,
    cid: row.cid,
    partsDigest: row.parts_digest,
    completed: new Date(row.completed),
  }
  if (row.checksum !== null) record.checksum = row.checksum
  return record
}
