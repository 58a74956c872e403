import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type { CidListOptions, CidMatch, DeleteResult, ListedObject, ListOptions, ObjectVersion, PutOptions, VersionListOptions, WriteCondition, WriteResult } from '../metadata-store.js'
import { noSuchBucket } from '../metadata-store.js'
import { checkCondition } from '../conditions.js'
import { compareKeys } from '../key-order.js'
import type { ListedRow as ListedRowOf, VersionRow as VersionRowOf } from '../rows.js'
import { extraOf, heldCid, jsonOrNull, postgresRows } from '../rows.js'
import { add, of } from './connection.js'
import type { Deltas, PostgresConnection, Queryable } from './connection.js'
import type { QueryResultRow } from './pg-types.js'
import { hasNul, keyRange, pageSize, rangeSql, unstorable } from './keys.js'
import { releaseHeld } from './archives.js'

const { toListed, toVersion } = postgresRows

const VERSION_COLUMNS = 'seq, bucket, key, version_id, is_latest, delete_marker, cid, size, etag, last_modified, owner, headers, metadata, tags, ' +
  'checksum, storage_class, parts_count, part_sizes, extra'
/** The columns a version listing shows. */
const LISTED_COLUMNS = 'key, version_id, size, etag, last_modified, owner, checksum, storage_class'

type VersionRow = VersionRowOf<'postgres'>
type ListedRow = ListedRowOf<'postgres'>

export async function putObject (db: PostgresConnection, version: ObjectVersion, options?: PutOptions): Promise<WriteResult> {
  if (hasNul(version.key, version.versionId)) throw unstorable(version.key, version.versionId)
  const { bucket, key } = version
  const { result: replaced, released } = await db.change(options, [{ bucket, shared: true }, { key: [bucket, key] }],
    async (q, deltas) => await put(db, q, version, deltas, options?.condition), options?.sourceCid)
  return replaced === undefined ? { released } : { replaced, released }
}

export async function getObject (db: PostgresConnection, bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined> {
  options?.signal?.throwIfAborted()
  if (hasNul(key, versionId)) return undefined
  const { rows } = versionId === undefined
    ? await db.query<VersionRow>(options, `SELECT ${VERSION_COLUMNS} FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1`, [bucket, key])
    : await db.query<VersionRow>(options, `SELECT ${VERSION_COLUMNS} FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 AND version_id = $3`, [bucket, key, versionId])
  return rows.length === 0 ? undefined : toVersion(rows[0])
}

export async function deleteObject (db: PostgresConnection, bucket: string, key: string, versionId?: string, options?: ChangeOptions): Promise<DeleteResult> {
  options?.signal?.throwIfAborted()
  if (hasNul(key, versionId)) return { released: [] }
  const { result: deleted, released } = await db.change(options, [{ bucket, shared: true }, { key: [bucket, key] }], async (q, deltas) => {
    const { rows } = versionId === undefined
      ? await q.query<VersionRow>(db.sql(`DELETE FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 AND seq =
        (SELECT seq FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1) RETURNING ${VERSION_COLUMNS}`, [bucket, key]))
      : await q.query<VersionRow>(db.sql(`DELETE FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 AND version_id = $3 RETURNING ${VERSION_COLUMNS}`, [bucket, key, versionId]))
    if (rows.length === 0) return undefined
    const row = rows[0]
    if (row.is_latest) {
      await q.query(db.sql(`UPDATE ${db.s}.versions SET is_latest = true WHERE bucket = $1 AND key = $2 AND seq =
        (SELECT seq FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1)`, [bucket, key]))
    }
    const deleted = toVersion(row)
    await releaseHeld(db, q, deltas, deleted)
    return deleted
  })
  return deleted === undefined ? { released } : { deleted, released }
}

export async function setObjectTags (db: PostgresConnection, bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  if (hasNul(key, versionId)) return false
  const { result } = await db.change(options, [{ key: [bucket, key] }], async (q) => {
    const json = JSON.stringify(tags)
    const { rowCount } = versionId === undefined
      ? await q.query(db.sql(`UPDATE ${db.s}.versions SET tags = $3 WHERE bucket = $1 AND key = $2 AND seq =
        (SELECT seq FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1)`, [bucket, key, json]))
      : await q.query(db.sql(`UPDATE ${db.s}.versions SET tags = $4 WHERE bucket = $1 AND key = $2 AND version_id = $3`, [bucket, key, versionId, json]))
    return rowCount === 1
  })
  return result
}

export async function setObjectAcl (db: PostgresConnection, bucket: string, key: string, versionId: string | undefined, acl: string, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  if (hasNul(key, versionId)) return false
  const { result } = await db.change(options, [{ key: [bucket, key] }], async (q) => {
    const set = `SET extra = COALESCE(extra, '{}'::jsonb) || jsonb_build_object('acl', $3::text)`
    const { rowCount } = versionId === undefined
      ? await q.query(db.sql(`UPDATE ${db.s}.versions ${set} WHERE bucket = $1 AND key = $2 AND seq =
        (SELECT seq FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1)`, [bucket, key, acl]))
      : await q.query(db.sql(`UPDATE ${db.s}.versions ${set} WHERE bucket = $1 AND key = $2 AND version_id = $4`, [bucket, key, acl, versionId]))
    return rowCount === 1
  })
  return result
}

export async function listObjects (db: PostgresConnection, bucket: string, options: ListOptions): Promise<ListedObject[]> {
  const rows = await listLatest<ListedRow>(db, bucket, options, 'listed_key AS key, version_id, size, etag, last_modified, owner, checksum, storage_class')
  return rows.map((row) => toListed(row, true))
}

export async function listKeys (db: PostgresConnection, bucket: string, options: ListOptions): Promise<string[]> {
  const rows = await listLatest<{ key: string }>(db, bucket, options, 'listed_key AS key')
  return rows.map((row) => row.key)
}

export async function listVersions (db: PostgresConnection, bucket: string, options: VersionListOptions): Promise<ListedObject[]> {
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
    branches.push(`(SELECT 0 AS branch, ${columns} FROM ${db.s}.versions
      WHERE bucket = $1 AND key = $3 AND seq < (SELECT seq FROM ${db.s}.versions WHERE bucket = $1 AND key = $3 AND version_id = $4)
      ORDER BY seq DESC LIMIT $2)`)
  }
  branches.push(`(SELECT 1 AS branch, ${columns} FROM ${db.s}.versions
    WHERE bucket = $1 ${rangeSql(range, values)} ORDER BY key, seq DESC LIMIT $2)`)
  const { rows } = await db.query<ListedRow>(options,
    `SELECT ${columns} FROM (${branches.join(' UNION ALL ')}) page ORDER BY branch, key, seq DESC LIMIT $2`, values, true)
  return rows.map((row) => toListed(row, row.is_latest === true))
}

export async function listVersionsByCid (db: PostgresConnection, cid: string, options: CidListOptions): Promise<CidMatch[]> {
  options.signal?.throwIfAborted()
  const limit = pageSize(options.limit)
  if (limit === 0 || hasNul(cid)) return []
  const values: unknown[] = [cid, limit]
  const { after } = options
  let seek = ''
  if (after !== undefined) {
    // No stored name holds NUL: a position with one is cut before it, and the comparison made
    // strict on what is left (nothing lies between).
    const cut = (text: string): string => text.slice(0, text.indexOf('\0'))
    if (hasNul(after.bucket)) {
      values.push(cut(after.bucket))
      seek = 'AND bucket > $3'
    } else if (hasNul(after.key)) {
      values.push(after.bucket, cut(after.key))
      seek = 'AND (bucket, key) > ($3, $4)'
    } else {
      values.push(after.bucket, after.key, hasNul(after.versionId) ? cut(after.versionId) : after.versionId)
      seek = 'AND (bucket, key, version_id) > ($3, $4, $5)'
    }
  }
  const { rows } = await db.query<{ bucket: string, key: string, version_id: string, is_latest: boolean }>(options,
    `SELECT bucket, key, version_id, is_latest FROM ${db.s}.versions WHERE cid = $1 AND NOT delete_marker ${seek}
      ORDER BY bucket, key, version_id LIMIT $2`, values, true)
  return rows.map((row) => ({ bucket: row.bucket, key: row.key, versionId: row.version_id, isLatest: row.is_latest }))
}

/**
 * Stores a version as the key's latest inside a change (putObject, completeUpload), when the key's
 * latest version meets `condition`; returns the version it replaced. Every change of a key's
 * versions holds the key's advisory lock (taken before the change's first statement), so the
 * latest version this reads under READ COMMITTED stays the latest until the change commits.
 */
export async function put (db: PostgresConnection, q: Queryable, version: ObjectVersion, deltas: Deltas, condition?: WriteCondition): Promise<ObjectVersion | undefined> {
  const { bucket, key, versionId } = version
  const { rows: [found] } = await q.query<Partial<VersionRow> & { present: boolean, used: boolean, latest_marker: boolean | null, latest_etag: string | null }>(db.sql(`SELECT
      EXISTS (SELECT 1 FROM ${db.s}.buckets WHERE name = $1) AS present,
      EXISTS (SELECT 1 FROM ${db.s}.versions WHERE bucket = $1 AND key = $2) AS used,
      latest.delete_marker AS latest_marker, latest.etag AS latest_etag,
      ${of('old', VERSION_COLUMNS)}
    FROM (SELECT 1) one LEFT JOIN ${db.s}.versions old ON old.bucket = $1 AND old.key = $2 AND old.version_id = $3
      LEFT JOIN LATERAL (SELECT delete_marker, etag FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1) latest ON true`,
  [bucket, key, versionId]))
  if (!found.present) throw noSuchBucket(bucket)
  checkCondition(condition, bucket, key, found.latest_marker === null || found.latest_marker === undefined
    ? undefined
    : { deleteMarker: found.latest_marker, etag: found.latest_etag ?? '' })
  const old = found.seq === null || found.seq === undefined ? undefined : toVersion(found as VersionRow)
  if (found.used === true) {
    // Removes the replaced version and demotes the latest (the newest) unless that is the one
    // replaced. Different rows; the subquery sees the key as it was before this statement.
    await q.query(db.sql(`WITH old AS (DELETE FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 AND version_id = $3)
      UPDATE ${db.s}.versions SET is_latest = false WHERE bucket = $1 AND key = $2 AND is_latest AND version_id <> $3 AND seq =
        (SELECT seq FROM ${db.s}.versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1)`, [bucket, key, versionId]))
  }
  await q.query(db.sql(`INSERT INTO ${db.s}.versions (bucket, key, version_id, is_latest, delete_marker, cid, size, etag,
      last_modified, owner, headers, metadata, tags, checksum, storage_class, parts_count, part_sizes, extra)
    VALUES ($1, $2, $3, true, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`, [
    bucket, key, versionId, version.deleteMarker, version.cid, version.size, version.etag, version.lastModified.getTime(), version.owner,
    JSON.stringify(version.headers), JSON.stringify(version.metadata), JSON.stringify(version.tags),
    jsonOrNull(version.checksum), version.storageClass ?? null, version.partsCount ?? null,
    version.partSizes === undefined ? null : version.partSizes, extraOf({ ...version, archived: undefined, restore: undefined }),
  ]))
  add(deltas, heldCid(version.deleteMarker, version.cid), 1)
  if (old !== undefined) await releaseHeld(db, q, deltas, old)
  return old
}

async function listLatest<R extends QueryResultRow> (db: PostgresConnection, bucket: string, options: ListOptions, columns: string): Promise<R[]> {
  options.signal?.throwIfAborted()
  const limit = pageSize(options.limit)
  const range = keyRange(options.prefix, options.from, options.after)
  if (limit === 0 || range === undefined) return []
  const values: unknown[] = [bucket, limit]
  const { rows } = await db.query<R>(options, `SELECT ${columns} FROM ${db.s}.versions
    WHERE bucket = $1 AND listed_key IS NOT NULL ${rangeSql(range, values, 'listed_key')} ORDER BY listed_key LIMIT $2`, values, true)
  return rows
}

