import type Database from 'better-sqlite3'
import { SEARCH_MIGRATION, SEARCH_SCHEMA } from './search.js'

/** Version of the schema below, kept in `PRAGMA user_version`. */
export const SQLITE_SCHEMA_VERSION = 13

// Schema 3: multipart uploads in progress, their parts, and completed uploads kept for retries.
const MULTIPART_SCHEMA = `
CREATE TABLE uploads (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  upload_id TEXT NOT NULL COLLATE BINARY,
  initiated INTEGER NOT NULL,
  owner TEXT NOT NULL,
  owner_display_name TEXT,
  headers TEXT NOT NULL,
  metadata TEXT NOT NULL,
  tags TEXT NOT NULL,
  storage_class TEXT,
  checksum_algorithm TEXT,
  checksum_type TEXT,
  profile TEXT NOT NULL,
  PRIMARY KEY (bucket, key, upload_id)
) WITHOUT ROWID;

CREATE TABLE parts (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  upload_id TEXT NOT NULL COLLATE BINARY,
  part_number INTEGER NOT NULL,
  cid TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  checksum TEXT,
  PRIMARY KEY (bucket, key, upload_id, part_number)
) WITHOUT ROWID;

CREATE TABLE completed_uploads (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  upload_id TEXT NOT NULL COLLATE BINARY,
  version_id TEXT NOT NULL,
  etag TEXT NOT NULL,
  checksum TEXT,
  cid TEXT NOT NULL,
  parts_digest TEXT NOT NULL,
  completed INTEGER NOT NULL,
  PRIMARY KEY (bucket, key, upload_id)
) WITHOUT ROWID;
CREATE INDEX completed_uploads_by_time ON completed_uploads (completed);
`

// Schema 10: records of content on an archive target (archives.ts).
const ARCHIVES_SCHEMA = `
CREATE TABLE archives (
  cid TEXT NOT NULL PRIMARY KEY,
  target TEXT NOT NULL,
  -- JSON: where the target put the CAR
  location TEXT NOT NULL,
  archived INTEGER NOT NULL,
  -- versions archived with this content now
  versions INTEGER NOT NULL CHECK (versions >= 0),
  deleting INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`

// Schema 11: the versions holding each CID (listVersionsByCid), in (bucket, key, version_id) order;
// is_latest rides along so that a page is read from the index alone.
const CID_INDEX_SCHEMA = `
CREATE INDEX versions_by_cid ON versions (cid, bucket, key, version_id, is_latest) WHERE delete_marker = 0;
`

// Schema 13: bucket snapshots (snapshots.ts); each holds one reference on its root CID in refs.
// snapshots_by_cid answers "which snapshots have this root" (the /ipfs/ gateway's access check).
const SNAPSHOTS_SCHEMA = `
CREATE TABLE snapshots (
  bucket TEXT NOT NULL,
  id TEXT NOT NULL COLLATE BINARY,
  cid TEXT NOT NULL,
  prefix TEXT NOT NULL COLLATE BINARY,
  created INTEGER NOT NULL,
  owner TEXT NOT NULL,
  profile TEXT NOT NULL,
  keys INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  skipped_encrypted INTEGER NOT NULL,
  skipped_archived INTEGER NOT NULL,
  PRIMARY KEY (bucket, id)
) WITHOUT ROWID;
CREATE INDEX snapshots_by_cid ON snapshots (cid, bucket, id);
`

// Schema 7: each bucket's totals, kept by triggers in the transaction of every change, so that
// reading them never scans versions. A bucket's row lives and dies with the bucket.
const STATS_SCHEMA = `
CREATE TABLE bucket_stats (
  bucket TEXT NOT NULL PRIMARY KEY,
  objects INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  uploads INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TRIGGER bucket_stats_add_bucket AFTER INSERT ON buckets BEGIN
  INSERT INTO bucket_stats (bucket) VALUES (NEW.name);
END;
CREATE TRIGGER bucket_stats_remove_bucket AFTER DELETE ON buckets BEGIN
  DELETE FROM bucket_stats WHERE bucket = OLD.name;
END;
CREATE TRIGGER bucket_stats_add_version AFTER INSERT ON versions WHEN NEW.delete_marker = 0 BEGIN
  UPDATE bucket_stats SET objects = objects + 1, bytes = bytes + NEW.size WHERE bucket = NEW.bucket;
END;
CREATE TRIGGER bucket_stats_remove_version AFTER DELETE ON versions WHEN OLD.delete_marker = 0 BEGIN
  UPDATE bucket_stats SET objects = objects - 1, bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
END;
CREATE TRIGGER bucket_stats_change_version AFTER UPDATE OF delete_marker, size ON versions
  WHEN OLD.delete_marker IS NOT NEW.delete_marker OR OLD.size IS NOT NEW.size BEGIN
  UPDATE bucket_stats SET objects = objects - (OLD.delete_marker = 0) + (NEW.delete_marker = 0),
    bytes = bytes - (CASE WHEN OLD.delete_marker = 0 THEN OLD.size ELSE 0 END) + (CASE WHEN NEW.delete_marker = 0 THEN NEW.size ELSE 0 END)
    WHERE bucket = NEW.bucket;
END;
CREATE TRIGGER bucket_stats_add_upload AFTER INSERT ON uploads BEGIN
  UPDATE bucket_stats SET uploads = uploads + 1 WHERE bucket = NEW.bucket;
END;
CREATE TRIGGER bucket_stats_remove_upload AFTER DELETE ON uploads BEGIN
  UPDATE bucket_stats SET uploads = uploads - 1 WHERE bucket = OLD.bucket;
END;
`

// Schema 8: the job queue (one row per job name; jobs.ts) and the replica rows (replicas.ts).
const JOBS_SCHEMA = `
CREATE TABLE jobs (
  -- A rowid (not AUTOINCREMENT: no sqlite_sequence write per enqueue). An id may be reused after
  -- its job is gone; a lease token, not the id, proves a claim.
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  payload TEXT NOT NULL,
  -- ready | leased | failed
  state TEXT NOT NULL,
  -- 1: enqueued again while leased, runs once more
  again INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  run_at INTEGER NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  lease TEXT,
  lease_until INTEGER,
  last_error TEXT,
  UNIQUE (kind, key)
);
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE state = 'ready';
CREATE INDEX jobs_leased ON jobs (lease_until, id) WHERE state = 'leased';

CREATE TABLE replicas (
  cid TEXT NOT NULL COLLATE BINARY,
  service TEXT NOT NULL COLLATE BINARY,
  request_id TEXT,
  status TEXT NOT NULL,
  delegates TEXT NOT NULL,
  error TEXT,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  PRIMARY KEY (cid, service)
) WITHOUT ROWID;
`

// Schema 9: the pin requests served as a Pinning Service API (pins.ts). pins_by_owner is unique:
// a pin's created time is unique among its owner's pins (clients page by it), and a list of an
// owner's pins reads one range of it, newest first.
const PINS_SCHEMA = `
CREATE TABLE pins (
  request_id TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL,
  cid TEXT NOT NULL,
  name TEXT,
  -- the name lower-cased by the gateway, for the case-insensitive matches
  name_lower TEXT,
  origins TEXT NOT NULL,
  meta TEXT NOT NULL,
  -- queued | pinning | pinned | failed; a pinned pin holds one reference in refs
  status TEXT NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  info TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX pins_by_owner ON pins (owner, created);
`

// Keys are TEXT with BINARY collation, which compares the UTF-8 bytes: S3's key order.
const SCHEMA = `
CREATE TABLE buckets (
  name TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL,
  owner_display_name TEXT,
  created INTEGER NOT NULL,
  region TEXT NOT NULL,
  versioning TEXT NOT NULL,
  -- NULL: the gateway's configured default (buckets from before schema 5)
  cid_profile TEXT,
  -- JSON object of the bucket's configurations (policy, acl, cors, ...); NULL when none
  config TEXT
) WITHOUT ROWID;
CREATE INDEX buckets_by_owner ON buckets (owner, name);

CREATE TABLE versions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  bucket TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  version_id TEXT NOT NULL,
  is_latest INTEGER NOT NULL,
  delete_marker INTEGER NOT NULL,
  cid TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  owner TEXT NOT NULL,
  headers TEXT NOT NULL,
  metadata TEXT NOT NULL,
  tags TEXT NOT NULL,
  checksum TEXT,
  storage_class TEXT,
  parts_count INTEGER,
  -- comma-separated part sizes of a multipart object
  part_sizes TEXT,
  -- JSON { acl, encryption, partChecksums, archived, restore } when any is set
  extra TEXT,
  UNIQUE (bucket, key, version_id)
);
-- seq DESC: a key's newest version first, so that a version listing (keys ascending, each key's
-- versions newest first) is one forward range scan, with no sort of a key's many versions.
CREATE INDEX versions_by_key ON versions (bucket, key, seq DESC);
-- Covers a listing page: the rows a listing shows are read from the index alone.
CREATE INDEX versions_listing ON versions (bucket, key, version_id, delete_marker, size, etag, last_modified, owner, checksum, storage_class)
  WHERE is_latest = 1 AND delete_marker = 0;

CREATE TABLE refs (
  cid TEXT NOT NULL PRIMARY KEY,
  count INTEGER NOT NULL CHECK (count > 0)
) WITHOUT ROWID;
${MULTIPART_SCHEMA}
ALTER TABLE uploads ADD COLUMN extra TEXT;
${STATS_SCHEMA}
${JOBS_SCHEMA}
${PINS_SCHEMA}
${ARCHIVES_SCHEMA}
${CID_INDEX_SCHEMA}
${SEARCH_SCHEMA}
${SNAPSHOTS_SCHEMA}`

/** Steps from each older schema version to the next; a new database gets SCHEMA directly. */
const MIGRATIONS: Record<number, string> = {
  // 1 → 2: the listing index covers the listing columns
  1: `DROP INDEX versions_listing;
CREATE INDEX versions_listing ON versions (bucket, key, version_id, delete_marker, size, etag, last_modified, owner, checksum, storage_class)
  WHERE is_latest = 1 AND delete_marker = 0;`,
  // 2 → 3: multipart uploads, and the part sizes of multipart objects
  2: `ALTER TABLE versions ADD COLUMN part_sizes TEXT;
${MULTIPART_SCHEMA}`,
  // 3 → 4: versions_by_key orders each key's versions newest first, for version listings
  3: `DROP INDEX versions_by_key;
CREATE INDEX versions_by_key ON versions (bucket, key, seq DESC);`,
  // 4 → 5: each bucket's CID profile. Existing buckets get NULL, read as "the gateway's configured
  // default": the profile their objects were written with was never recorded.
  4: 'ALTER TABLE buckets ADD COLUMN cid_profile TEXT;',
  // 5 → 6: bucket configurations (policy, ACL, CORS, ...), and object and upload ACLs and encryption
  5: `ALTER TABLE buckets ADD COLUMN config TEXT;
ALTER TABLE versions ADD COLUMN extra TEXT;
ALTER TABLE uploads ADD COLUMN extra TEXT;`,
  // 6 → 7: bucket totals, counted once here from the existing rows (the migration holds the write
  // lock, so no change slips between the count and the triggers)
  6: `${STATS_SCHEMA}
INSERT INTO bucket_stats (bucket, objects, bytes, uploads) SELECT buckets.name,
    (SELECT count(*) FROM versions WHERE versions.bucket = buckets.name AND delete_marker = 0),
    (SELECT coalesce(sum(size), 0) FROM versions WHERE versions.bucket = buckets.name AND delete_marker = 0),
    (SELECT count(*) FROM uploads WHERE uploads.bucket = buckets.name)
  FROM buckets;`,
  // 7 → 8: the job queue and replica rows
  7: JOBS_SCHEMA,
  // 8 → 9: pin requests
  8: PINS_SCHEMA,
  // 9 → 10: records of content on an archive target
  9: ARCHIVES_SCHEMA,
  // 10 → 11: the index of versions by CID
  10: CID_INDEX_SCHEMA,
  // 11 → 12: the metadata search index
  11: SEARCH_MIGRATION,
  // 12 → 13: bucket snapshots
  12: SNAPSHOTS_SCHEMA,
}

export function migrate (db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current === SQLITE_SCHEMA_VERSION) return
  if (current > SQLITE_SCHEMA_VERSION) {
    throw new Error(`Metadata database schema version ${current} is newer than this gateway supports (${SQLITE_SCHEMA_VERSION})`)
  }
  db.transaction(() => {
    // Re-read inside the write lock: another process may have created the schema meanwhile.
    let version = db.pragma('user_version', { simple: true }) as number
    if (version === SQLITE_SCHEMA_VERSION) return
    if (version === 0) {
      db.exec(SCHEMA)
    } else {
      for (; version < SQLITE_SCHEMA_VERSION; version++) db.exec(MIGRATIONS[version])
    }
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`)
  }).immediate()
}
