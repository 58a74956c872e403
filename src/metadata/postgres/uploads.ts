import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type {
  CompletedUpload, CompleteOptions, CompleteResult, MultipartUpload, ObjectVersion, PartListOptions, PartWriteResult, UploadedPart, UploadListOptions, WriteOptions,
} from '../metadata-store.js'
import { noSuchBucket, uploadExists } from '../metadata-store.js'
import { compareKeys } from '../key-order.js'
import type { CompletedRow as CompletedRowOf, PartRow as PartRowOf, UploadRow as UploadRowOf } from '../rows.js'
import { extraOf, jsonOrNull, postgresRows } from '../rows.js'
import { add, of } from './connection.js'
import type { Lock, PostgresConnection, Queryable } from './connection.js'
import { hasNul, keyRange, pageSize, rangeSql, unstorable } from './keys.js'
import { put } from './objects.js'

const { toCompleted, toPart, toUpload } = postgresRows

/** Completed-upload records older than the newest completion by more than this are dropped. */
const COMPLETED_TTL = 60 * 60 * 1000

const UPLOAD_COLUMNS = 'bucket, key, upload_id, initiated, owner, owner_display_name, headers, metadata, tags, storage_class, checksum_algorithm, ' +
  'checksum_type, profile, extra'
const PART_COLUMNS = 'part_number, cid, size, etag, last_modified, checksum'
const COMPLETED_COLUMNS = 'bucket, key, upload_id, version_id, etag, checksum, cid, parts_digest, completed'

type UploadRow = UploadRowOf<'postgres'>
type PartRow = PartRowOf<'postgres'>
type CompletedRow = CompletedRowOf<'postgres'>

export async function createUpload (db: PostgresConnection, upload: MultipartUpload, options?: AbortOptions): Promise<void> {
  if (hasNul(upload.key, upload.uploadId)) throw unstorable(upload.key, upload.uploadId)
  await db.change(options, [{ bucket: upload.bucket, shared: true }], async (q) => {
    await assertBucket(db, q, upload.bucket)
    const { rows } = await q.query(db.sql(`INSERT INTO ${db.s}.uploads (bucket, key, upload_id, initiated, owner, owner_display_name,
        headers, metadata, tags, storage_class, checksum_algorithm, checksum_type, profile, extra)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING RETURNING 1`, [
      upload.bucket, upload.key, upload.uploadId, upload.initiated.getTime(), upload.owner, upload.ownerDisplayName ?? null,
      JSON.stringify(upload.headers), JSON.stringify(upload.metadata), JSON.stringify(upload.tags), upload.storageClass ?? null,
      upload.checksumAlgorithm ?? null, upload.checksumType ?? null, upload.profile, extraOf(upload),
    ]))
    if (rows.length === 0) throw uploadExists(upload)
  })
}

export async function getUpload (db: PostgresConnection, bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<MultipartUpload | undefined> {
  options?.signal?.throwIfAborted()
  if (hasNul(key, uploadId)) return undefined
  const { rows } = await db.query<UploadRow>(options,
    `SELECT ${UPLOAD_COLUMNS} FROM ${db.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3`, [bucket, key, uploadId])
  return rows.length === 0 ? undefined : toUpload(rows[0])
}

export async function listUploads (db: PostgresConnection, bucket: string, options: UploadListOptions): Promise<MultipartUpload[]> {
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
  const { rows } = await db.query<UploadRow>(options,
    `SELECT ${UPLOAD_COLUMNS} FROM ${db.s}.uploads WHERE bucket = $1 ${where} ORDER BY key, upload_id LIMIT $2`, values, true)
  return rows.map(toUpload)
}

export async function putPart (db: PostgresConnection, bucket: string, key: string, uploadId: string, part: UploadedPart, options?: WriteOptions): Promise<PartWriteResult | undefined> {
  options?.signal?.throwIfAborted()
  if (hasNul(key, uploadId)) return undefined
  const { result, released } = await db.change(options, [{ bucket, shared: true }, { upload: [bucket, key, uploadId] }], async (q, deltas) => {
    const { rows: [found] } = await q.query<Partial<PartRow> & { upload: boolean }>(db.sql(`SELECT
        EXISTS (SELECT 1 FROM ${db.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3) AS upload, ${of('p', PART_COLUMNS)}
      FROM (SELECT 1) one LEFT JOIN ${db.s}.parts p ON p.bucket = $1 AND p.key = $2 AND p.upload_id = $3 AND p.part_number = $4`,
    [bucket, key, uploadId, part.partNumber]))
    if (!found.upload) return undefined
    await q.query(db.sql(`INSERT INTO ${db.s}.parts (bucket, key, upload_id, part_number, cid, size, etag, last_modified, checksum)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
      ON CONFLICT (bucket, key, upload_id, part_number) DO UPDATE SET cid = excluded.cid, size = excluded.size, etag = excluded.etag,
        last_modified = excluded.last_modified, checksum = excluded.checksum`, [
      bucket, key, uploadId, part.partNumber, part.cid, part.size, part.etag, part.lastModified.getTime(),
      jsonOrNull(part.checksum),
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

export async function listParts (db: PostgresConnection, bucket: string, key: string, uploadId: string, options: PartListOptions): Promise<UploadedPart[] | undefined> {
  options.signal?.throwIfAborted()
  if (hasNul(key, uploadId)) return undefined
  const after = options.after === undefined || !(options.after >= 0) ? 0 : Math.min(Math.floor(options.after), Number.MAX_SAFE_INTEGER)
  const { rows } = await db.query<Partial<PartRow>>(options, `SELECT ${of('p', PART_COLUMNS)} FROM ${db.s}.uploads u LEFT JOIN LATERAL
      (SELECT ${PART_COLUMNS} FROM ${db.s}.parts WHERE bucket = $1 AND key = $2 AND upload_id = $3 AND part_number > $4::bigint ORDER BY part_number LIMIT $5) p ON true
    WHERE u.bucket = $1 AND u.key = $2 AND u.upload_id = $3`, [bucket, key, uploadId, after, pageSize(options.limit)], true)
  if (rows.length === 0) return undefined
  return rows.filter((row) => row.part_number !== null).map((row) => toPart(row as PartRow))
}

export async function completeUpload (db: PostgresConnection, version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>, completed: CompletedUpload, options?: CompleteOptions): Promise<CompleteResult> {
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
  const { result, released } = await db.change(options, locks, async (q, deltas) => {
    const { rows: [state] } = await q.query<{ upload: boolean, matched: number }>(db.sql(`SELECT
        EXISTS (SELECT 1 FROM ${db.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3) AS upload,
        (SELECT count(*) FROM ${db.s}.parts p JOIN unnest($4::bigint[], $5::text[]) AS w(part_number, cid)
          ON p.part_number = w.part_number AND p.cid = w.cid
          WHERE p.bucket = $1 AND p.key = $2 AND p.upload_id = $3) AS matched`,
    [bucket, key, uploadId, [...wanted.keys()], [...wanted.values()]]))
    if (!state.upload) return { status: 'no-upload' as const }
    if (conflicting || state.matched !== wanted.size) return { status: 'parts-changed' as const }
    // The version's reference is counted in the same deltas, so a part CID the object shares is kept.
    const replaced = await put(db, q, version, deltas, options?.condition)
    const { rows } = await q.query<{ cid: string }>(db.sql(`WITH
        parts AS (DELETE FROM ${db.s}.parts WHERE bucket = $1 AND key = $2 AND upload_id = $3 RETURNING cid),
        uploads AS (DELETE FROM ${db.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3),
        record AS (INSERT INTO ${db.s}.completed_uploads (bucket, key, upload_id, version_id, etag, checksum, cid, parts_digest, completed)
          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
          ON CONFLICT (bucket, key, upload_id) DO UPDATE SET version_id = excluded.version_id, etag = excluded.etag,
            checksum = excluded.checksum, cid = excluded.cid, parts_digest = excluded.parts_digest, completed = excluded.completed)
      SELECT cid FROM parts`, [
      bucket, key, uploadId, completed.versionId, completed.etag, jsonOrNull(completed.checksum),
      completed.cid, completed.partsDigest, completed.completed.getTime(),
    ]))
    for (const { cid } of rows) add(deltas, cid, -1)
    // Bounded, and rows another transaction is deleting are left to it: pruning never waits.
    await q.query(db.sql(`DELETE FROM ${db.s}.completed_uploads WHERE (bucket, key, upload_id) IN
      (SELECT bucket, key, upload_id FROM ${db.s}.completed_uploads WHERE completed < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)`,
    [completed.completed.getTime() - COMPLETED_TTL]))
    return { status: 'completed' as const, replaced }
  })
  if (result.status !== 'completed') return result
  return result.replaced === undefined ? { status: 'completed', released } : { status: 'completed', replaced: result.replaced, released }
}

export async function getCompletedUpload (db: PostgresConnection, bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<CompletedUpload | undefined> {
  options?.signal?.throwIfAborted()
  if (hasNul(key, uploadId)) return undefined
  const { rows } = await db.query<CompletedRow>(options,
    `SELECT ${COMPLETED_COLUMNS} FROM ${db.s}.completed_uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3`, [bucket, key, uploadId])
  return rows.length === 0 ? undefined : toCompleted(rows[0])
}

export async function abortUpload (db: PostgresConnection, bucket: string, key: string, uploadId: string, options?: ChangeOptions): Promise<{ released: string[] } | undefined> {
  options?.signal?.throwIfAborted()
  if (hasNul(key, uploadId)) return undefined
  const { result: found, released } = await db.change(options, [{ bucket, shared: true }, { upload: [bucket, key, uploadId] }], async (q, deltas) => {
    const { rowCount } = await q.query(db.sql(`DELETE FROM ${db.s}.uploads WHERE bucket = $1 AND key = $2 AND upload_id = $3`, [bucket, key, uploadId]))
    if (rowCount === 0) return false
    const { rows } = await q.query<{ cid: string }>(db.sql(`DELETE FROM ${db.s}.parts WHERE bucket = $1 AND key = $2 AND upload_id = $3 RETURNING cid`,
      [bucket, key, uploadId]))
    for (const { cid } of rows) add(deltas, cid, -1)
    return true
  })
  return found ? { released } : undefined
}

async function assertBucket (db: PostgresConnection, q: Queryable, bucket: string): Promise<void> {
  const { rows } = await q.query(db.sql(`SELECT 1 FROM ${db.s}.buckets WHERE name = $1`, [bucket]))
  if (rows.length === 0) throw noSuchBucket(bucket)
}
