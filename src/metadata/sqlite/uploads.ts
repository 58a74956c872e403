import type Database from 'better-sqlite3'
import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type {
  CompletedUpload, CompleteOptions, CompleteResult, MultipartUpload, ObjectVersion, PartListOptions, PartWriteResult, UploadedPart, UploadListOptions, WriteOptions,
} from '../metadata-store.js'
import { noSuchBucket, uploadExists } from '../metadata-store.js'
import { prefixSuccessor, uploadSeekStart } from '../key-order.js'
import type { CompletedRow, PartRow, UploadRow } from '../rows.js'
import { extraOf, heldCid, jsonOrNull, sqliteRows } from '../rows.js'
import type { SqliteDatabase, Statement } from './database.js'
import { put } from './objects.js'
import { release, requireReferenced, retain } from './refs.js'

const { toCompleted, toPart, toUpload } = sqliteRows

/** Completed-upload records older than the newest completion by more than this are dropped. */
const COMPLETED_TTL = 60 * 60 * 1000

type Row = UploadRow<'sqlite'>
type Part = PartRow<'sqlite'> & { bucket: string, key: string, upload_id: string }
type Completed = CompletedRow<'sqlite'>

export function uploadStatements (db: Database.Database) {
  // Seeks to the inclusive (key, upload_id) start on the primary key.
  const listUploads = (upper: string): string => `SELECT * FROM uploads
    WHERE bucket = ? AND (key, upload_id) >= (?, ?) ${upper} ORDER BY key, upload_id LIMIT ?`
  return {
    insertUpload: db.prepare(`INSERT INTO uploads (bucket, key, upload_id, initiated, owner, owner_display_name, headers, metadata,
        tags, storage_class, checksum_algorithm, checksum_type, profile, extra)
      VALUES (@bucket, @key, @upload_id, @initiated, @owner, @owner_display_name, @headers, @metadata,
        @tags, @storage_class, @checksum_algorithm, @checksum_type, @profile, @extra)`) as Statement<[Row]>,
    getUpload: db.prepare('SELECT * FROM uploads WHERE bucket = ? AND key = ? AND upload_id = ?') as Statement<[string, string, string], Row>,
    deleteUpload: db.prepare('DELETE FROM uploads WHERE bucket = ? AND key = ? AND upload_id = ?') as Statement<[string, string, string]>,
    listUploadsFrom: db.prepare(listUploads('')) as Statement<[string, string, string, number], Row>,
    listUploadsRange: db.prepare(listUploads('AND key < ?')) as Statement<[string, string, string, string, number], Row>,
    getPart: db.prepare('SELECT * FROM parts WHERE bucket = ? AND key = ? AND upload_id = ? AND part_number = ?') as Statement<[string, string, string, number], Part>,
    putPart: db.prepare(`INSERT OR REPLACE INTO parts (bucket, key, upload_id, part_number, cid, size, etag, last_modified, checksum)
      VALUES (@bucket, @key, @upload_id, @part_number, @cid, @size, @etag, @last_modified, @checksum)`) as Statement<[Part]>,
    listParts: db.prepare(`SELECT * FROM parts WHERE bucket = ? AND key = ? AND upload_id = ? AND part_number > ?
      ORDER BY part_number LIMIT ?`) as Statement<[string, string, string, number, number], Part>,
    partCids: db.prepare('SELECT cid FROM parts WHERE bucket = ? AND key = ? AND upload_id = ?').pluck() as Statement<[string, string, string], string>,
    deleteParts: db.prepare('DELETE FROM parts WHERE bucket = ? AND key = ? AND upload_id = ?') as Statement<[string, string, string]>,
    putCompleted: db.prepare(`INSERT OR REPLACE INTO completed_uploads (bucket, key, upload_id, version_id, etag, checksum, cid, parts_digest, completed)
      VALUES (@bucket, @key, @upload_id, @version_id, @etag, @checksum, @cid, @parts_digest, @completed)`) as Statement<[Completed]>,
    getCompleted: db.prepare('SELECT * FROM completed_uploads WHERE bucket = ? AND key = ? AND upload_id = ?') as Statement<[string, string, string], Completed>,
    pruneCompleted: db.prepare('DELETE FROM completed_uploads WHERE completed < ?') as Statement<[number]>,
  }
}

export async function createUpload (db: SqliteDatabase, upload: MultipartUpload, options?: AbortOptions): Promise<void> {
  options?.signal?.throwIfAborted()
  await db.write(() => {
    if (db.sql.bucketExists.get(upload.bucket) === undefined) throw noSuchBucket(upload.bucket)
    if (db.sql.getUpload.get(upload.bucket, upload.key, upload.uploadId) !== undefined) throw uploadExists(upload)
    db.sql.insertUpload.run({
      bucket: upload.bucket,
      key: upload.key,
      upload_id: upload.uploadId,
      initiated: upload.initiated.getTime(),
      owner: upload.owner,
      owner_display_name: upload.ownerDisplayName ?? null,
      headers: JSON.stringify(upload.headers),
      metadata: JSON.stringify(upload.metadata),
      tags: JSON.stringify(upload.tags),
      storage_class: upload.storageClass ?? null,
      checksum_algorithm: upload.checksumAlgorithm ?? null,
      checksum_type: upload.checksumType ?? null,
      profile: upload.profile,
      extra: extraOf(upload),
    })
  })
}

export async function getUpload (db: SqliteDatabase, bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<MultipartUpload | undefined> {
  options?.signal?.throwIfAborted()
  const row = db.sql.getUpload.get(bucket, key, uploadId)
  return row === undefined ? undefined : toUpload(row)
}

export async function listUploads (db: SqliteDatabase, bucket: string, options: UploadListOptions): Promise<MultipartUpload[]> {
  options.signal?.throwIfAborted()
  if (!(options.limit >= 1)) return []
  const [key, uploadId] = uploadSeekStart(options)
  const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
  const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
  const found = end === undefined
    ? db.sql.listUploadsFrom.all(bucket, key, uploadId, limit)
    : db.sql.listUploadsRange.all(bucket, key, uploadId, end, limit)
  return found.map(toUpload)
}

export async function putPart (db: SqliteDatabase, bucket: string, key: string, uploadId: string, part: UploadedPart,
  options?: WriteOptions): Promise<PartWriteResult | undefined> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    if (db.sql.getUpload.get(bucket, key, uploadId) === undefined) return undefined
    requireReferenced(db, options?.sourceCid)
    const old = db.sql.getPart.get(bucket, key, uploadId, part.partNumber)
    db.sql.putPart.run({
      bucket,
      key,
      upload_id: uploadId,
      part_number: part.partNumber,
      cid: part.cid,
      size: part.size,
      etag: part.etag,
      last_modified: part.lastModified.getTime(),
      checksum: jsonOrNull(part.checksum),
    })
    retain(db, heldCid(false, part.cid))
    return {
      ...(old === undefined ? {} : { replaced: toPart(old) }),
      released: old === undefined ? [] : release(db, heldCid(false, old.cid)),
    }
  }, options)
}

export async function listParts (db: SqliteDatabase, bucket: string, key: string, uploadId: string, options: PartListOptions): Promise<UploadedPart[] | undefined> {
  options.signal?.throwIfAborted()
  if (db.sql.getUpload.get(bucket, key, uploadId) === undefined) return undefined
  if (!(options.limit >= 1)) return []
  const after = options.after === undefined ? 0 : Math.floor(options.after)
  const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
  return db.sql.listParts.all(bucket, key, uploadId, after, limit).map(toPart)
}

export async function completeUpload (db: SqliteDatabase, version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>,
  completed: CompletedUpload, options?: CompleteOptions): Promise<CompleteResult> {
  options?.signal?.throwIfAborted()
  return await db.write((): CompleteResult => {
    const { bucket, key } = version
    if (db.sql.getUpload.get(bucket, key, uploadId) === undefined) return { status: 'no-upload' }
    for (const { partNumber, cid } of parts) {
      if (db.sql.getPart.get(bucket, key, uploadId, partNumber)?.cid !== cid) return { status: 'parts-changed' }
    }
    // The version's reference is taken first, so a part CID the object shares is not released.
    const result = put(db, version, options?.condition)
    const released = [...result.released, ...removeUpload(db, bucket, key, uploadId)]
    db.sql.putCompleted.run({
      bucket,
      key,
      upload_id: uploadId,
      version_id: completed.versionId,
      etag: completed.etag,
      checksum: jsonOrNull(completed.checksum),
      cid: completed.cid,
      parts_digest: completed.partsDigest,
      completed: completed.completed.getTime(),
    })
    db.sql.pruneCompleted.run(completed.completed.getTime() - COMPLETED_TTL)
    return { status: 'completed', ...result, released }
  }, options)
}

export async function getCompletedUpload (db: SqliteDatabase, bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<CompletedUpload | undefined> {
  options?.signal?.throwIfAborted()
  const row = db.sql.getCompleted.get(bucket, key, uploadId)
  return row === undefined ? undefined : toCompleted(row)
}

export async function abortUpload (db: SqliteDatabase, bucket: string, key: string, uploadId: string, options?: ChangeOptions): Promise<{ released: string[] } | undefined> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    if (db.sql.getUpload.get(bucket, key, uploadId) === undefined) return undefined
    return { released: removeUpload(db, bucket, key, uploadId) }
  }, options)
}

// Deletes an upload and all its parts; returns the part CIDs whose last reference that was.
function removeUpload (db: SqliteDatabase, bucket: string, key: string, uploadId: string): string[] {
  const cids = db.sql.partCids.all(bucket, key, uploadId)
  db.sql.deleteParts.run(bucket, key, uploadId)
  db.sql.deleteUpload.run(bucket, key, uploadId)
  return cids.flatMap((cid) => release(db, heldCid(false, cid)))
}
