import type Database from 'better-sqlite3'
import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type { SnapshotCidListOptions, SnapshotDeleteResult, SnapshotListOptions, SnapshotMatch, SnapshotRecord } from '../snapshots.js'
import { snapshotPageSize } from '../snapshots.js'
import { SNAPSHOT_COLUMNS, snapshotRowOf, toSnapshot, type SnapshotRow } from '../snapshot-rows.js'
import type { SqliteDatabase, Statement } from './database.js'
import { release, retain } from './refs.js'

export function snapshotStatements (db: Database.Database) {
  return {
    insertSnapshot: db.prepare(`INSERT INTO snapshots (${SNAPSHOT_COLUMNS}) VALUES (@bucket, @id, @cid, @prefix, @created, @owner, @profile,
      @keys, @bytes, @skipped_encrypted, @skipped_archived) ON CONFLICT (bucket, id) DO NOTHING`) as Statement<[SnapshotRow]>,
    getSnapshot: db.prepare(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots WHERE bucket = ? AND id = ?`) as Statement<[string, string], SnapshotRow>,
    listSnapshots: db.prepare(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots WHERE bucket = ? AND id > ? ORDER BY id LIMIT ?`) as Statement<[string, string, number], SnapshotRow>,
    deleteSnapshot: db.prepare(`DELETE FROM snapshots WHERE bucket = ? AND id = ? RETURNING ${SNAPSHOT_COLUMNS}`) as Statement<[string, string], SnapshotRow>,
    deleteBucketSnapshots: db.prepare('DELETE FROM snapshots WHERE bucket = ? RETURNING cid').pluck() as Statement<[string], string>,
    snapshotsByCid: db.prepare(`SELECT bucket, id, prefix FROM snapshots WHERE cid = ? AND (bucket, id) > (?, ?) ORDER BY bucket, id LIMIT ?`) as
      Statement<[string, string, string, number], SnapshotMatch>,
  }
}

export async function createSnapshot (db: SqliteDatabase, record: SnapshotRecord, options?: ChangeOptions): Promise<'created' | 'exists' | 'no-bucket'> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    if (db.sql.getBucket.get(record.bucket) === undefined) return 'no-bucket' as const
    if (db.sql.insertSnapshot.run(snapshotRowOf(record)).changes === 0) return 'exists' as const
    retain(db, record.cid)
    return 'created' as const
  }, options)
}

export async function getSnapshot (db: SqliteDatabase, bucket: string, id: string, options?: AbortOptions): Promise<SnapshotRecord | undefined> {
  options?.signal?.throwIfAborted()
  const row = db.sql.getSnapshot.get(bucket, id)
  return row === undefined ? undefined : toSnapshot(row)
}

export async function listSnapshots (db: SqliteDatabase, bucket: string, options: SnapshotListOptions): Promise<SnapshotRecord[]> {
  options.signal?.throwIfAborted()
  return db.sql.listSnapshots.all(bucket, options.after ?? '', snapshotPageSize(options.limit)).map(toSnapshot)
}

export async function deleteSnapshot (db: SqliteDatabase, bucket: string, id: string, options?: ChangeOptions): Promise<SnapshotDeleteResult> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    const row = db.sql.deleteSnapshot.get(bucket, id)
    return row === undefined ? { released: [] } : { deleted: toSnapshot(row), released: release(db, row.cid) }
  }, options)
}

/** Inside deleteBucket's change: removes the bucket's snapshots and releases their references. */
export function dropBucketSnapshots (db: SqliteDatabase, bucket: string): void {
  for (const cid of db.sql.deleteBucketSnapshots.all(bucket)) release(db, cid)
}

export async function listSnapshotsByCid (db: SqliteDatabase, cid: string, options: SnapshotCidListOptions): Promise<SnapshotMatch[]> {
  options.signal?.throwIfAborted()
  // ('', '') sorts before every (bucket, id): a bucket name is never empty.
  return db.sql.snapshotsByCid.all(cid, options.after?.bucket ?? '', options.after?.id ?? '', snapshotPageSize(options.limit))
}
