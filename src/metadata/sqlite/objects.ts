import type Database from 'better-sqlite3'
import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type { CidListOptions, CidMatch, DeleteResult, ListedObject, ListOptions, ObjectVersion, PutOptions, VersionListOptions, WriteCondition, WriteResult } from '../metadata-store.js'
import { noSuchBucket } from '../metadata-store.js'
import { checkCondition } from '../conditions.js'
import { prefixSuccessor, seekStart, versionSeek } from '../key-order.js'
import type { ListedRow, VersionRow } from '../rows.js'
import { extraOf, heldCid, jsonOrNull, sqliteRows } from '../rows.js'
import type { SqliteDatabase, Statement } from './database.js'
import { requireReferenced, retain } from './refs.js'
import { releaseHeld } from './archives.js'

const { toListed, toVersion } = sqliteRows

type Row = VersionRow<'sqlite'>

/** The columns a listing reads: the large JSON columns stay on disk. */
const LISTED_COLUMNS = 'key, version_id, delete_marker, size, etag, last_modified, owner, checksum, storage_class'
type Listed = ListedRow<'sqlite'> & Pick<Row, 'delete_marker'>
type ListedVersion = Listed & Pick<Row, 'is_latest'>
type CidRow = Pick<Row, 'bucket' | 'key' | 'version_id' | 'is_latest'>

/** A page of the versions holding a CID, read from versions_by_cid alone; `after`: from a position on. */
export function cidListSql (after: boolean): string {
  return `SELECT bucket, key, version_id, is_latest FROM versions INDEXED BY versions_by_cid WHERE cid = ? AND delete_marker = 0
    ${after ? 'AND (bucket, key, version_id) > (?, ?, ?) ' : ''}ORDER BY bucket, key, version_id LIMIT ?`
}

export function objectStatements (db: Database.Database) {
  // Keys ascending, each key's versions newest first: versions_by_key's order.
  const listVersions = (upper: string): string => `SELECT ${LISTED_COLUMNS}, is_latest FROM versions INDEXED BY versions_by_key
    WHERE bucket = ? AND key >= ? ${upper} ORDER BY key, seq DESC LIMIT ?`
  const list = (upper: string, columns = '*'): string => `SELECT ${columns} FROM versions INDEXED BY versions_listing
    WHERE bucket = ? AND is_latest = 1 AND delete_marker = 0 AND key >= ? ${upper} ORDER BY key LIMIT ?`
  return {
    getVersion: db.prepare('SELECT * FROM versions WHERE bucket = ? AND key = ? AND version_id = ?') as Statement<[string, string, string], Row>,
    getLatest: db.prepare('SELECT * FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1') as Statement<[string, string], Row>,
    deleteVersion: db.prepare('DELETE FROM versions WHERE seq = ?') as Statement<[number]>,
    setLatest: db.prepare('UPDATE versions SET is_latest = ? WHERE seq = ?') as Statement<[number, number]>,
    insertVersion: db.prepare(`INSERT INTO versions (bucket, key, version_id, is_latest, delete_marker, cid, size, etag,
        last_modified, owner, headers, metadata, tags, checksum, storage_class, parts_count, part_sizes, extra)
      VALUES (@bucket, @key, @version_id, 1, @delete_marker, @cid, @size, @etag,
        @last_modified, @owner, @headers, @metadata, @tags, @checksum, @storage_class, @parts_count, @part_sizes, @extra)`) as Statement<[Omit<Row, 'seq' | 'is_latest'>]>,
    setVersionTags: db.prepare('UPDATE versions SET tags = ? WHERE bucket = ? AND key = ? AND version_id = ?') as Statement<[string, string, string, string]>,
    setLatestTags: db.prepare(`UPDATE versions SET tags = ? WHERE seq =
      (SELECT seq FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1)`) as Statement<[string, string, string]>,
    setExtra: db.prepare('UPDATE versions SET extra = ? WHERE seq = ?') as Statement<[string | null, number]>,
    listFrom: db.prepare(list('', LISTED_COLUMNS)) as Statement<[string, string, number], Listed>,
    listRange: db.prepare(list('AND key < ?', LISTED_COLUMNS)) as Statement<[string, string, string, number], Listed>,
    listVersionsFrom: db.prepare(listVersions('')) as Statement<[string, string, number], ListedVersion>,
    listVersionsRange: db.prepare(listVersions('AND key < ?')) as Statement<[string, string, string, number], ListedVersion>,
    listOlderVersions: db.prepare(`SELECT ${LISTED_COLUMNS}, is_latest FROM versions INDEXED BY versions_by_key
      WHERE bucket = @bucket AND key = @key AND seq < (SELECT seq FROM versions WHERE bucket = @bucket AND key = @key AND version_id = @versionId)
      ORDER BY seq DESC LIMIT @limit`) as Statement<[{ bucket: string, key: string, versionId: string, limit: number }], ListedVersion>,
    listByCid: db.prepare(cidListSql(false)) as Statement<[string, number], CidRow>,
    listByCidAfter: db.prepare(cidListSql(true)) as Statement<[string, string, string, string, number], CidRow>,
    listKeysFrom: db.prepare(list('', 'key')).pluck() as Statement<[string, string, number], string>,
    listKeysRange: db.prepare(list('AND key < ?', 'key')).pluck() as Statement<[string, string, string, number], string>,
  }
}

export async function putObject (db: SqliteDatabase, version: ObjectVersion, options?: PutOptions): Promise<WriteResult> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    requireReferenced(db, options?.sourceCid)
    return put(db, version, options?.condition)
  }, options)
}

export async function getObject (db: SqliteDatabase, bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined> {
  options?.signal?.throwIfAborted()
  const row = versionId === undefined ? db.sql.getLatest.get(bucket, key) : db.sql.getVersion.get(bucket, key, versionId)
  return row === undefined ? undefined : toVersion(row)
}

export async function deleteObject (db: SqliteDatabase, bucket: string, key: string, versionId?: string, options?: ChangeOptions): Promise<DeleteResult> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    const row = versionId === undefined ? db.sql.getLatest.get(bucket, key) : db.sql.getVersion.get(bucket, key, versionId)
    if (row === undefined) return { released: [] }
    db.sql.deleteVersion.run(row.seq)
    if (row.is_latest === 1) {
      const next = db.sql.getLatest.get(bucket, key)
      if (next !== undefined) db.sql.setLatest.run(1, next.seq)
    }
    const deleted = toVersion(row)
    return { deleted, released: releaseHeld(db, deleted) }
  }, options)
}

export async function setObjectTags (db: SqliteDatabase, bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>,
  options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  const json = JSON.stringify(tags)
  return await db.write(() => (versionId === undefined
    ? db.sql.setLatestTags.run(json, bucket, key)
    : db.sql.setVersionTags.run(json, bucket, key, versionId)).changes > 0)
}

export async function setObjectAcl (db: SqliteDatabase, bucket: string, key: string, versionId: string | undefined, acl: string, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    const row = versionId === undefined ? db.sql.getLatest.get(bucket, key) : db.sql.getVersion.get(bucket, key, versionId)
    if (row === undefined) return false
    db.sql.setExtra.run(extraOf({ ...toVersion(row), acl }), row.seq)
    return true
  })
}

export async function listObjects (db: SqliteDatabase, bucket: string, options: ListOptions): Promise<ListedObject[]> {
  options.signal?.throwIfAborted()
  if (!(options.limit >= 1)) return []
  const start = seekStart(options) ?? ''
  const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
  const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
  const found = end === undefined
    ? db.sql.listFrom.all(bucket, start, limit)
    : db.sql.listRange.all(bucket, start, end, limit)
  // Rows of the listing index are latest versions by construction.
  return found.map((row) => toListed(row, true))
}

export async function listVersions (db: SqliteDatabase, bucket: string, options: VersionListOptions): Promise<ListedObject[]> {
  options.signal?.throwIfAborted()
  if (!(options.limit >= 1)) return []
  const { marker, start } = versionSeek(options)
  const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
  const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
  const found = db.read(() => {
    // An unknown marker version id lists none of its key: the subquery's seq is NULL.
    const older = marker === undefined ? [] : db.sql.listOlderVersions.all({ bucket, ...marker, limit })
    if (older.length === limit) return older
    const rest = limit - older.length
    return [...older, ...(end === undefined
      ? db.sql.listVersionsFrom.all(bucket, start ?? '', rest)
      : db.sql.listVersionsRange.all(bucket, start ?? '', end, rest))]
  })
  return found.map((row) => toListed(row, row.is_latest === 1))
}

export async function listKeys (db: SqliteDatabase, bucket: string, options: ListOptions): Promise<string[]> {
  options.signal?.throwIfAborted()
  if (!(options.limit >= 1)) return []
  const start = seekStart(options) ?? ''
  const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
  const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
  return end === undefined
    ? db.sql.listKeysFrom.all(bucket, start, limit)
    : db.sql.listKeysRange.all(bucket, start, end, limit)
}

export async function listVersionsByCid (db: SqliteDatabase, cid: string, options: CidListOptions): Promise<CidMatch[]> {
  options.signal?.throwIfAborted()
  if (!(options.limit >= 1)) return []
  const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
  const { after } = options
  const rows = after === undefined
    ? db.sql.listByCid.all(cid, limit)
    : db.sql.listByCidAfter.all(cid, after.bucket, after.key, after.versionId, limit)
  return rows.map((row) => ({ bucket: row.bucket, key: row.key, versionId: row.version_id, isLatest: row.is_latest === 1 }))
}

/**
 * Inside a change: stores a version as its key's latest (putObject, completeUpload), when the key's
 * latest version meets `condition`. The change's immediate transaction holds the database's write
 * lock from its start, so no other writer, in this process or another, moves the latest version
 * between the check and the write.
 */
export function put (db: SqliteDatabase, version: ObjectVersion, condition?: WriteCondition): WriteResult {
  const { bucket, key, versionId } = version
  if (db.sql.bucketExists.get(bucket) === undefined) throw noSuchBucket(bucket)
  if (condition !== undefined) {
    const latest = db.sql.getLatest.get(bucket, key)
    checkCondition(condition, bucket, key, latest === undefined ? undefined : { deleteMarker: latest.delete_marker === 1, etag: latest.etag })
  }
  const old = db.sql.getVersion.get(bucket, key, versionId)
  const replaced = old === undefined ? undefined : toVersion(old)
  if (old !== undefined) db.sql.deleteVersion.run(old.seq)
  // At most one version of a key is the latest: when the replaced one was, none is left to demote.
  if (old?.is_latest !== 1) {
    const latest = db.sql.getLatest.get(bucket, key)
    if (latest !== undefined && latest.is_latest === 1) db.sql.setLatest.run(0, latest.seq)
  }
  db.sql.insertVersion.run({
    bucket,
    key,
    version_id: versionId,
    delete_marker: version.deleteMarker ? 1 : 0,
    cid: version.cid,
    size: version.size,
    etag: version.etag,
    last_modified: version.lastModified.getTime(),
    owner: version.owner,
    headers: JSON.stringify(version.headers),
    metadata: JSON.stringify(version.metadata),
    tags: JSON.stringify(version.tags),
    checksum: jsonOrNull(version.checksum),
    storage_class: version.storageClass ?? null,
    parts_count: version.partsCount ?? null,
    part_sizes: version.partSizes === undefined ? null : version.partSizes.join(','),
    extra: extraOf({ ...version, archived: undefined, restore: undefined }),
  })
  retain(db, heldCid(version.deleteMarker, version.cid))
  return {
    ...(replaced === undefined ? {} : { replaced }),
    released: replaced === undefined ? [] : releaseHeld(db, replaced),
  }
}
