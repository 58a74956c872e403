import type { PostgresConnection } from './connection.js'
import { searchMigrationSql, searchSql } from './search.js'

/** Version of the schema below, recorded in the `schema_migrations` table. */
export const POSTGRES_SCHEMA_VERSION = 10

/** Text as an SQL string literal: a function body that names the schema, whatever characters its name holds. */
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`

/** Rows of bucket_stats per bucket; a transaction counts in the one of its server process. */
export const STATS_SLOTS = 16

// Schema 4: each bucket's totals, kept by triggers in the transaction of every change, so that
// reading them never scans versions. A change holds the row it counts in until it commits, so a
// bucket has STATS_SLOTS rows and a change counts in the one of its server process
// (pg_backend_pid): concurrent writers to one bucket rarely share a row, to different buckets
// never; a bucket's totals are the sum of its rows, its slot 0 row says it exists. The rows are
// made with the bucket and go with it. Versions and uploads are counted per statement from its
// transition table: a statement that writes many rows updates a row once, not once per row.
const statsSql = (s: string): string => `
CREATE TABLE ${s}.bucket_stats (
  bucket text COLLATE "C" NOT NULL,
  slot integer NOT NULL,
  objects bigint NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  uploads bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, slot)
);

CREATE FUNCTION ${s}.bucket_stats_buckets() RETURNS trigger LANGUAGE plpgsql AS ${literal(`BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO ${s}.bucket_stats (bucket, slot) SELECT NEW.name, generate_series(0, ${STATS_SLOTS - 1});
  ELSE
    DELETE FROM ${s}.bucket_stats WHERE bucket = OLD.name;
  END IF;
  RETURN NULL;
END`)};
CREATE TRIGGER bucket_stats AFTER INSERT OR DELETE ON ${s}.buckets FOR EACH ROW EXECUTE FUNCTION ${s}.bucket_stats_buckets();

CREATE FUNCTION ${s}.bucket_stats_versions() RETURNS trigger LANGUAGE plpgsql AS ${literal(`BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE ${s}.bucket_stats AS t SET objects = t.objects + d.objects, bytes = t.bytes + d.bytes
      FROM (SELECT bucket, count(*) AS objects, sum(size) AS bytes FROM added WHERE NOT delete_marker GROUP BY bucket) d
      WHERE t.bucket = d.bucket AND t.slot = pg_backend_pid() % ${STATS_SLOTS};
  ELSE
    UPDATE ${s}.bucket_stats AS t SET objects = t.objects - d.objects, bytes = t.bytes - d.bytes
      FROM (SELECT bucket, count(*) AS objects, sum(size) AS bytes FROM removed WHERE NOT delete_marker GROUP BY bucket) d
      WHERE t.bucket = d.bucket AND t.slot = pg_backend_pid() % ${STATS_SLOTS};
  END IF;
  RETURN NULL;
END`)};
CREATE TRIGGER bucket_stats_add AFTER INSERT ON ${s}.versions
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ${s}.bucket_stats_versions();
CREATE TRIGGER bucket_stats_remove AFTER DELETE ON ${s}.versions
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION ${s}.bucket_stats_versions();

-- Per row: a trigger on some columns cannot have a transition table. The store never updates them.
CREATE FUNCTION ${s}.bucket_stats_version_change() RETURNS trigger LANGUAGE plpgsql AS ${literal(`BEGIN
  UPDATE ${s}.bucket_stats SET
    objects = objects - (NOT OLD.delete_marker)::int + (NOT NEW.delete_marker)::int,
    bytes = bytes - CASE WHEN OLD.delete_marker THEN 0 ELSE OLD.size END + CASE WHEN NEW.delete_marker THEN 0 ELSE NEW.size END
    WHERE bucket = NEW.bucket AND slot = pg_backend_pid() % ${STATS_SLOTS};
  RETURN NULL;
END`)};
CREATE TRIGGER bucket_stats_change AFTER UPDATE OF delete_marker, size ON ${s}.versions FOR EACH ROW
  WHEN (OLD.delete_marker IS DISTINCT FROM NEW.delete_marker OR OLD.size IS DISTINCT FROM NEW.size)
  EXECUTE FUNCTION ${s}.bucket_stats_version_change();

CREATE FUNCTION ${s}.bucket_stats_uploads() RETURNS trigger LANGUAGE plpgsql AS ${literal(`BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE ${s}.bucket_stats AS t SET uploads = t.uploads + d.uploads
      FROM (SELECT bucket, count(*) AS uploads FROM added GROUP BY bucket) d
      WHERE t.bucket = d.bucket AND t.slot = pg_backend_pid() % ${STATS_SLOTS};
  ELSE
    UPDATE ${s}.bucket_stats AS t SET uploads = t.uploads - d.uploads
      FROM (SELECT bucket, count(*) AS uploads FROM removed GROUP BY bucket) d
      WHERE t.bucket = d.bucket AND t.slot = pg_backend_pid() % ${STATS_SLOTS};
  END IF;
  RETURN NULL;
END`)};
CREATE TRIGGER bucket_stats_add AFTER INSERT ON ${s}.uploads
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ${s}.bucket_stats_uploads();
CREATE TRIGGER bucket_stats_remove AFTER DELETE ON ${s}.uploads
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION ${s}.bucket_stats_uploads();
`

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
  -- Only versions_listing has it first, so the planner cannot list through another index and a
  -- filter (which would step over delete markers and older versions); the search's range indexes
  -- (versions_by_size, versions_by_modified) have it after the value they order by.
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
${statsSql(s)}
${jobsSql(s)}
${pinsSql(s)}
${archivesSql(s)}
${cidIndexSql(s)}
${searchSql(s)}
${snapshotsSql(s)}`

// Schema 10: bucket snapshots (snapshots.ts); each holds one reference on its root CID in refs.
// snapshots_by_cid answers "which snapshots have this root" (the /ipfs/ gateway's access check).
const snapshotsSql = (s: string): string => `
CREATE TABLE ${s}.snapshots (
  bucket text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  cid text COLLATE "C" NOT NULL,
  prefix text COLLATE "C" NOT NULL,
  created bigint NOT NULL,
  owner text NOT NULL,
  profile text NOT NULL,
  keys bigint NOT NULL,
  bytes bigint NOT NULL,
  skipped_encrypted bigint NOT NULL,
  skipped_archived bigint NOT NULL,
  PRIMARY KEY (bucket, id)
);
CREATE INDEX snapshots_by_cid ON ${s}.snapshots (cid, bucket, id);`

// Schema 8: the versions holding each CID (listVersionsByCid), in (bucket, key, version_id) order;
// is_latest rides along so that a page can be read from the index alone.
const cidIndexSql = (s: string): string => `
CREATE INDEX versions_by_cid ON ${s}.versions (cid, bucket, key, version_id) INCLUDE (is_latest) WHERE NOT delete_marker;`

// Schema 5: the job queue (one row per job name; jobs.ts) and the replica rows (replicas.ts).
// Times are epoch milliseconds, as in the other tables.
const jobsSql = (s: string): string => `
CREATE TABLE ${s}.jobs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  payload jsonb NOT NULL,
  state text NOT NULL,
  again boolean NOT NULL DEFAULT false,
  attempts integer NOT NULL DEFAULT 0,
  run_at bigint NOT NULL,
  created bigint NOT NULL,
  updated bigint NOT NULL,
  lease text,
  lease_until bigint,
  last_error text,
  UNIQUE (kind, key)
);
CREATE INDEX jobs_due ON ${s}.jobs (run_at, id) WHERE state = 'ready';
CREATE INDEX jobs_leased ON ${s}.jobs (lease_until, id) WHERE state = 'leased';

CREATE TABLE ${s}.replicas (
  cid text COLLATE "C" NOT NULL,
  service text COLLATE "C" NOT NULL,
  request_id text,
  status text NOT NULL,
  delegates jsonb NOT NULL,
  error text,
  created bigint NOT NULL,
  updated bigint NOT NULL,
  PRIMARY KEY (cid, service)
);`

// Schema 6: the pin requests served as a Pinning Service API (pins.ts). pins_by_owner is unique: a
// pin's created time is unique among its owner's pins (clients page by it; an insert that meets
// the same time takes the next millisecond), and a list of an owner's pins reads one range of it.
// name_lower is folded by the gateway, so every store matches case-insensitively alike.
const pinsSql = (s: string): string => `
CREATE TABLE ${s}.pins (
  request_id text COLLATE "C" PRIMARY KEY,
  owner text COLLATE "C" NOT NULL,
  cid text COLLATE "C" NOT NULL,
  name text COLLATE "C",
  name_lower text COLLATE "C",
  origins jsonb NOT NULL,
  meta jsonb NOT NULL,
  -- queued | pinning | pinned | failed; a pinned pin holds one reference in refs
  status text NOT NULL,
  created bigint NOT NULL,
  updated bigint NOT NULL,
  info jsonb
);
CREATE UNIQUE INDEX pins_by_owner ON ${s}.pins (owner, created);`

// Schema 7: records of content on an archive target (archives.ts). Times are epoch milliseconds.
const archivesSql = (s: string): string => `
CREATE TABLE ${s}.archives (
  cid text COLLATE "C" PRIMARY KEY,
  target text NOT NULL,
  location jsonb NOT NULL,
  archived bigint NOT NULL,
  -- versions archived with this content now
  versions integer NOT NULL CHECK (versions >= 0),
  deleting boolean NOT NULL DEFAULT false
);`

/** Steps from each older schema version to the next; a new schema gets schemaSql directly. */
const MIGRATIONS: Record<number, (s: string) => string> = {
  // 1 → 2: each bucket's CID profile. Existing buckets get NULL, read as "the gateway's configured
  // default": the profile their objects were written with was never recorded.
  1: (s) => `ALTER TABLE ${s}.buckets ADD COLUMN cid_profile text`,
  // 2 → 3: bucket configurations (policy, ACL, CORS, ...), and object and upload ACLs and encryption
  2: (s) => `ALTER TABLE ${s}.buckets ADD COLUMN config jsonb;
ALTER TABLE ${s}.versions ADD COLUMN extra jsonb;
ALTER TABLE ${s}.uploads ADD COLUMN extra jsonb`,
  // 3 → 4: bucket totals, counted once from the existing rows after the triggers exist: creating a
  // trigger waits for the writers of its table and holds off new ones until this commits, so every
  // change is either in the count or counted by a trigger.
  3: (s) => `${statsSql(s)}
INSERT INTO ${s}.bucket_stats (bucket, slot, objects, bytes, uploads) SELECT b.name, 0,
    (SELECT count(*) FROM ${s}.versions v WHERE v.bucket = b.name AND NOT v.delete_marker),
    (SELECT coalesce(sum(v.size), 0) FROM ${s}.versions v WHERE v.bucket = b.name AND NOT v.delete_marker),
    (SELECT count(*) FROM ${s}.uploads u WHERE u.bucket = b.name)
  FROM ${s}.buckets b;
INSERT INTO ${s}.bucket_stats (bucket, slot) SELECT b.name, generate_series(1, ${STATS_SLOTS - 1}) FROM ${s}.buckets b`,
  // 4 → 5: the job queue and replica rows
  4: jobsSql,
  // 5 → 6: pin requests
  5: pinsSql,
  // 6 → 7: records of content on an archive target
  6: archivesSql,
  // 7 → 8: the index of versions by CID
  7: cidIndexSql,
  // 8 → 9: the metadata search index
  8: searchMigrationSql,
  // 9 → 10: bucket snapshots
  9: snapshotsSql,
}

function checkNotNewer (version: number | null): void {
  if (version !== null && version > POSTGRES_SCHEMA_VERSION) {
    throw new Error(`Metadata schema version ${version} is newer than this gateway supports (${POSTGRES_SCHEMA_VERSION})`)
  }
}

/**
 * Creates or migrates the tables. Already current: no lock, no DDL (nor the privileges it needs).
 * Processes that start together serialize on an advisory lock.
 */
export async function migrate (db: PostgresConnection): Promise<void> {
  const s = db.s
  const pool = await db.pool()
  const { rows: [table] } = await pool.query<{ present: boolean }>(db.sql('SELECT to_regclass($1) IS NOT NULL AS present', [`${s}.schema_migrations`], true))
  const found = table.present
    ? (await pool.query<{ version: number | null }>(db.sql(`SELECT max(version) AS version FROM ${s}.schema_migrations`, [], true))).rows[0]
    : { version: null }
  if (found.version === POSTGRES_SCHEMA_VERSION) return
  checkNotNewer(found.version)
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${db.lockId('migrate')})`)
    // Re-read under the lock: another process may have migrated meanwhile.
    const { rows: [schema] } = await client.query<{ present: boolean }>(db.sql('SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS present', [db.schema], true))
    if (!schema.present) await client.query(`CREATE SCHEMA ${s}`)
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`)
    const { rows: [current] } = await client.query<{ version: number | null }>(db.sql(`SELECT max(version) AS version FROM ${s}.schema_migrations`, [], true))
    let version = current.version ?? 0
    checkNotNewer(version)
    if (version === 0) {
      await client.query(schemaSql(s))
      version = POSTGRES_SCHEMA_VERSION
      await client.query(db.sql(`INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`, [version], true))
    }
    for (; version < POSTGRES_SCHEMA_VERSION; version++) {
      await client.query(MIGRATIONS[version](s))
      await client.query(db.sql(`INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`, [version + 1], true))
    }
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => { broken = rollbackError })
    throw err
  } finally {
    client.release(broken)
  }
}
