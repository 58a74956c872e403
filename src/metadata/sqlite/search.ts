import type { ObjectVersion } from '../metadata-store.js'
import type { SearchCountOptions, SearchDriver, SearchReadOptions } from '../search.js'
import { MAX_TERM_LENGTH } from '../search.js'
import { prefixSuccessor, seekStart } from '../key-order.js'
import { sqliteRows } from '../rows.js'
import type { VersionRow } from '../rows.js'
import type { SqliteDatabase } from './database.js'

/**
 * The terms of the versions row `row` (NEW or OLD in a trigger) as one SELECT of `term`: the same
 * terms as searchTerms (search.ts) makes. SQLite's lower() folds ASCII only, as mediaType does;
 * length() and substr() count code points, as the JavaScript side does.
 */
const termsOf = (row: string): string => {
  const cut = (term: string): string => `substr(${term}, 1, ${MAX_TERM_LENGTH})`
  const contentType = `json_extract(${row}.headers, '$."content-type"')`
  const media = `lower(trim(CASE WHEN instr(${contentType}, ';') > 0 THEN substr(${contentType}, 1, instr(${contentType}, ';') - 1) ELSE ${contentType} END, ' '))`
  const tagKey = "json_extract(tag.value, '$[0]')"
  return `SELECT ${cut(`'s:' || coalesce(${row}.storage_class, 'STANDARD')`)} AS term
    UNION SELECT ${cut(`'c:' || ${row}.cid`)} WHERE ${row}.cid <> ''
    UNION SELECT ${cut(`'y:' || ${media}`)} WHERE ${contentType} IS NOT NULL
    UNION SELECT ${cut(`'k' || length(${tagKey}) || ':' || ${tagKey}`)} FROM json_each(${row}.tags) AS tag
    UNION SELECT ${cut(`'t' || length(${tagKey}) || ':' || ${tagKey} || json_extract(tag.value, '$[1]')`)} FROM json_each(${row}.tags) AS tag
    UNION SELECT ${cut("'m' || length(meta.key) || ':' || meta.key || meta.value")} FROM json_each(${row}.metadata) AS meta`
}

const CURRENT = (row: string): string => `${row}.is_latest = 1 AND ${row}.delete_marker = 0`
const add = `INSERT OR IGNORE INTO search_terms (bucket, term, key) SELECT NEW.bucket, term, NEW.key FROM (${termsOf('NEW')});`
const remove = `DELETE FROM search_terms WHERE bucket = OLD.bucket AND key = OLD.key AND term IN (${termsOf('OLD')});`

// Schema 12: the metadata search index (search.ts). search_terms holds the terms of every current
// object; triggers keep it in the transaction of each change to versions, so no code path that
// moves a latest version, its tags or its storage class can forget it. Sizes and times are
// searched on partial indexes of the current objects.
export const SEARCH_SCHEMA = `
CREATE TABLE search_terms (
  bucket TEXT NOT NULL,
  term TEXT NOT NULL COLLATE BINARY,
  key TEXT NOT NULL COLLATE BINARY,
  PRIMARY KEY (bucket, term, key)
) WITHOUT ROWID;
CREATE TRIGGER search_add AFTER INSERT ON versions WHEN ${CURRENT('NEW')} BEGIN
  ${add}
END;
CREATE TRIGGER search_remove AFTER DELETE ON versions WHEN ${CURRENT('OLD')} BEGIN
  ${remove}
END;
CREATE TRIGGER search_change AFTER UPDATE OF is_latest, delete_marker, tags, storage_class, metadata, headers, cid ON versions BEGIN
  DELETE FROM search_terms WHERE ${CURRENT('OLD')} AND bucket = OLD.bucket AND key = OLD.key AND term IN (${termsOf('OLD')});
  INSERT OR IGNORE INTO search_terms (bucket, term, key) SELECT NEW.bucket, term, NEW.key FROM (${termsOf('NEW')}) WHERE ${CURRENT('NEW')};
END;
CREATE INDEX versions_by_size ON versions (bucket, size, key) WHERE is_latest = 1 AND delete_marker = 0;
CREATE INDEX versions_by_modified ON versions (bucket, last_modified, key) WHERE is_latest = 1 AND delete_marker = 0;
`

/**
 * The migration to schema 12: the index, then the terms of the objects already stored, made by
 * the change trigger itself (an UPDATE OF a column fires it, whether or not the value changes).
 */
export const SEARCH_MIGRATION = `${SEARCH_SCHEMA}
UPDATE versions SET tags = tags WHERE ${CURRENT('versions')};`

type Row = VersionRow<'sqlite'>
type Range = 'size' | 'last_modified'

/** The SQL reading a page of what a driver selects (`count`: counting it instead, up to a cap). */
export function searchSql (driver: 'term' | Range | 'all', bounded: { low: boolean, high: boolean, end: boolean }, count = false): string {
  const keys = `key >= @start${bounded.end ? ' AND key < @end' : ''}`
  if (driver === 'term') {
    const page = `SELECT key FROM search_terms WHERE bucket = @bucket AND term = @term AND ${keys} ORDER BY key LIMIT @limit`
    return count
      ? `SELECT count(*) FROM (${page})`
      : `SELECT v.* FROM (${page}) AS t JOIN versions AS v INDEXED BY versions_listing ON v.bucket = @bucket AND v.key = t.key AND ${CURRENT('v')} ORDER BY t.key`
  }
  if (driver === 'all') {
    return `SELECT * FROM versions INDEXED BY versions_listing WHERE bucket = @bucket AND ${CURRENT('versions')} AND ${keys} ORDER BY key LIMIT @limit`
  }
  const index = driver === 'size' ? 'versions_by_size' : 'versions_by_modified'
  const range = `${bounded.low ? ` AND ${driver} >= @low` : ''}${bounded.high ? ` AND ${driver} ${driver === 'size' ? '<=' : '<'} @high` : ''}`
  // The range's matches in key order: read from the index, then sorted (a range is chosen when it holds few).
  return count
    ? `SELECT count(*) FROM (SELECT 1 FROM versions INDEXED BY ${index} WHERE bucket = @bucket AND ${CURRENT('versions')}${range} AND ${keys} LIMIT @limit)`
    : `SELECT * FROM versions INDEXED BY ${index} WHERE bucket = @bucket AND ${CURRENT('versions')}${range} AND ${keys} ORDER BY key LIMIT @limit`
}

interface Params {
  bucket: string
  start: string
  end?: string
  term?: string
  low?: number
  high?: number
  limit: number
}

function prepare (driver: SearchDriver, options: { prefix?: string, after?: string }, count: boolean): { sql: string, params: Params } {
  const start = seekStart({ prefix: options.prefix, after: options.after }) ?? ''
  const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
  const params: Params = { bucket: '', start, limit: 0, ...(end === undefined ? {} : { end }) }
  if ('term' in driver) return { sql: searchSql('term', { low: false, high: false, end: end !== undefined }, count), params: { ...params, term: driver.term } }
  if ('all' in driver) return { sql: searchSql('all', { low: false, high: false, end: end !== undefined }), params }
  const [column, low, high] = 'size' in driver
    ? ['size' as const, driver.size.min, driver.size.max]
    : ['last_modified' as const, driver.modified.from, driver.modified.to]
  return {
    sql: searchSql(column, { low: low !== undefined, high: high !== undefined, end: end !== undefined }, count),
    params: { ...params, ...(low === undefined ? {} : { low }), ...(high === undefined ? {} : { high }) },
  }
}

export async function searchObjects (db: SqliteDatabase, bucket: string, driver: SearchDriver, options: SearchReadOptions): Promise<ObjectVersion[]> {
  options.signal?.throwIfAborted()
  if (!(options.limit >= 1)) return []
  const { sql, params } = prepare(driver, options, false)
  const rows = db.statement<[Params], Row>(sql).all({ ...params, bucket, limit: Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER) })
  return rows.map((row) => sqliteRows.toVersion(row))
}

export async function countSearch (db: SqliteDatabase, bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: SearchCountOptions): Promise<number> {
  options.signal?.throwIfAborted()
  const { sql, params } = prepare(driver, options, true)
  return db.statement<[Params], number>(sql).pluck().get({ ...params, bucket, limit: Math.max(1, Math.floor(options.cap)) }) ?? 0
}
