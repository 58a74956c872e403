import type { ObjectVersion } from '../metadata-store.js'
import type { SearchCountOptions, SearchDriver, SearchReadOptions } from '../search.js'
import { MAX_TERM_LENGTH } from '../search.js'
import { postgresRows } from '../rows.js'
import type { VersionRow } from '../rows.js'
import type { PostgresConnection } from './connection.js'
import { hasNul, keyRange, pageSize, rangeSql } from './keys.js'

/** Text as an SQL string literal: a function body that names the schema, whatever characters its name holds. */
const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`

const ASCII_LOWER = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"

// Schema 9: the metadata search index (search.ts). search_terms holds the terms of every current
// object, made by search_terms_of exactly as searchTerms makes them in JavaScript (translate()
// folds ASCII only, as mediaType does; length() and substr() count code points). Row triggers keep
// it in the transaction of each change to versions, so no code path that moves a latest version,
// its tags or its storage class can forget it. Sizes and times are searched on partial indexes of
// the current objects (listed_key is set exactly for them).
export const searchSql = (s: string): string => `
CREATE TABLE ${s}.search_terms (
  bucket text COLLATE "C" NOT NULL,
  term text COLLATE "C" NOT NULL,
  key text COLLATE "C" NOT NULL,
  PRIMARY KEY (bucket, term, key)
);

CREATE FUNCTION ${s}.search_terms_of(storage_class text, cid text, headers jsonb, tags jsonb, metadata jsonb) RETURNS SETOF text
  LANGUAGE sql IMMUTABLE AS ${literal(`SELECT DISTINCT substr(term, 1, ${MAX_TERM_LENGTH}) FROM (
    SELECT 's:' || coalesce(storage_class, 'STANDARD') AS term
    UNION ALL SELECT 'c:' || cid WHERE cid <> ''
    UNION ALL SELECT 'y:' || translate(trim(both ' ' from split_part(headers->>'content-type', ';', 1)), ${ASCII_LOWER}) WHERE headers ? 'content-type'
    UNION ALL SELECT 'k' || length(tag->>0) || ':' || (tag->>0) FROM jsonb_array_elements(tags) AS tag
    UNION ALL SELECT 't' || length(tag->>0) || ':' || (tag->>0) || (tag->>1) FROM jsonb_array_elements(tags) AS tag
    UNION ALL SELECT 'm' || length(meta.key) || ':' || meta.key || meta.value FROM jsonb_each_text(metadata) AS meta
  ) AS terms`)};

CREATE FUNCTION ${s}.search_index() RETURNS trigger LANGUAGE plpgsql AS ${literal(`BEGIN
  IF TG_OP <> 'INSERT' AND OLD.is_latest AND NOT OLD.delete_marker THEN
    DELETE FROM ${s}.search_terms WHERE bucket = OLD.bucket AND key = OLD.key
      AND term IN (SELECT ${s}.search_terms_of(OLD.storage_class, OLD.cid, OLD.headers, OLD.tags, OLD.metadata));
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.is_latest AND NOT NEW.delete_marker THEN
    INSERT INTO ${s}.search_terms (bucket, term, key)
      SELECT NEW.bucket, term, NEW.key FROM ${s}.search_terms_of(NEW.storage_class, NEW.cid, NEW.headers, NEW.tags, NEW.metadata) AS term
      ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END`)};
CREATE TRIGGER search_index AFTER INSERT OR DELETE ON ${s}.versions FOR EACH ROW EXECUTE FUNCTION ${s}.search_index();
CREATE TRIGGER search_index_change AFTER UPDATE OF is_latest, delete_marker, tags, storage_class, metadata, headers, cid ON ${s}.versions
  FOR EACH ROW EXECUTE FUNCTION ${s}.search_index();

CREATE INDEX versions_by_size ON ${s}.versions (bucket, size, listed_key) WHERE listed_key IS NOT NULL;
CREATE INDEX versions_by_modified ON ${s}.versions (bucket, last_modified, listed_key) WHERE listed_key IS NOT NULL;`

/**
 * The migration to schema 9: the index, then the terms of the objects already stored. Creating the
 * triggers waits for the writers of versions and holds off new ones until this commits, so every
 * current object is either in the fill or indexed by a trigger.
 */
export const searchMigrationSql = (s: string): string => `${searchSql(s)};
INSERT INTO ${s}.search_terms (bucket, term, key)
  SELECT v.bucket, term, v.key FROM ${s}.versions AS v, ${s}.search_terms_of(v.storage_class, v.cid, v.headers, v.tags, v.metadata) AS term
  WHERE v.listed_key IS NOT NULL
  ON CONFLICT DO NOTHING`

const VERSION_COLUMNS = 'seq, bucket, key, version_id, is_latest, delete_marker, cid, size, etag, last_modified, owner, headers, metadata, tags, ' +
  'checksum, storage_class, parts_count, part_sizes, extra'

/** The statement reading (or with `count`, counting up to its limit) what a driver selects. */
function statement (db: PostgresConnection, bucket: string, driver: SearchDriver, options: { prefix?: string, after?: string }, limit: number,
  count: boolean): { text: string, values: unknown[] } | undefined {
  const range = keyRange(options.prefix, undefined, options.after)
  if (range === undefined) return undefined
  const values: unknown[] = [bucket, limit]
  const columns = VERSION_COLUMNS.split(', ').map((column) => `v.${column}`).join(', ')
  if ('term' in driver) {
    if (hasNul(driver.term)) return undefined
    values.push(driver.term)
    const page = `SELECT key FROM ${db.s}.search_terms WHERE bucket = $1 AND term = $3 ${rangeSql(range, values)} ORDER BY key LIMIT $2`
    return {
      text: count
        ? `SELECT count(*)::int AS n FROM (${page}) AS t`
        : `SELECT ${columns} FROM (${page}) AS t JOIN ${db.s}.versions AS v ON v.bucket = $1 AND v.listed_key = t.key ORDER BY t.key`,
      values,
    }
  }
  const keys = rangeSql(range, values, 'listed_key')
  if ('all' in driver) {
    return { text: `SELECT ${VERSION_COLUMNS} FROM ${db.s}.versions WHERE bucket = $1 AND listed_key IS NOT NULL ${keys} ORDER BY listed_key LIMIT $2`, values }
  }
  const [column, low, high, upper] = 'size' in driver
    ? ['size', driver.size.min, driver.size.max, '<=']
    : ['last_modified', driver.modified.from, driver.modified.to, '<']
  let bounds = ''
  if (low !== undefined) bounds += ` AND ${column} >= $${values.push(low)}`
  if (high !== undefined) bounds += ` AND ${column} ${upper} $${values.push(high)}`
  // The range's matches in key order: read from its index, then sorted (a range is chosen when it holds few).
  const where = `bucket = $1 AND listed_key IS NOT NULL${bounds} ${keys}`
  return {
    text: count
      ? `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${db.s}.versions WHERE ${where} LIMIT $2) AS t`
      : `SELECT ${VERSION_COLUMNS} FROM ${db.s}.versions WHERE ${where} ORDER BY listed_key LIMIT $2`,
    values,
  }
}

export async function searchObjects (db: PostgresConnection, bucket: string, driver: SearchDriver, options: SearchReadOptions): Promise<ObjectVersion[]> {
  options.signal?.throwIfAborted()
  const limit = pageSize(options.limit)
  const query = limit === 0 ? undefined : statement(db, bucket, driver, options, limit, false)
  if (query === undefined) return []
  // Planned for its bounds every time, as listings are: a range's size decides its best plan.
  const { rows } = await db.query<VersionRow<'postgres'>>(options, query.text, query.values, true)
  return rows.map((row) => postgresRows.toVersion(row))
}

export async function countSearch (db: PostgresConnection, bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: SearchCountOptions): Promise<number> {
  options.signal?.throwIfAborted()
  const query = statement(db, bucket, driver, options, Math.max(1, pageSize(options.cap)), true)
  if (query === undefined) return 0
  const { rows } = await db.query<{ n: number }>(options, query.text, query.values, true)
  return rows[0].n
}
