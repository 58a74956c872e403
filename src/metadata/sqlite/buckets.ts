import type Database from 'better-sqlite3'
import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type { BucketConfig, BucketConfigKind, BucketRecord } from '../metadata-store.js'
import type { BucketRow } from '../rows.js'
import { configOf, heldCid, sqliteRows } from '../rows.js'
import type { SqliteDatabase, Statement } from './database.js'
import { release } from './refs.js'
import { dropBucketSnapshots } from './snapshots.js'

const { toBucket } = sqliteRows

type Row = BucketRow<'sqlite'>

export function bucketStatements (db: Database.Database) {
  return {
    insertBucket: db.prepare(`INSERT INTO buckets (name, owner, owner_display_name, created, region, versioning, cid_profile, config)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`) as Statement<[string, string, string | null, number, string, string, string | null, string | null]>,
    getBucket: db.prepare('SELECT * FROM buckets WHERE name = ?') as Statement<[string], Row>,
    setVersioning: db.prepare('UPDATE buckets SET versioning = ? WHERE name = ?') as Statement<[string, string]>,
    setConfig: db.prepare('UPDATE buckets SET config = ? WHERE name = ?') as Statement<[string | null, string]>,
    bucketExists: db.prepare('SELECT 1 FROM buckets WHERE name = ?').pluck() as Statement<[string], number>,
    dataVersion: db.prepare('PRAGMA data_version').pluck() as Statement<[], number>,
    listBuckets: db.prepare('SELECT * FROM buckets ORDER BY name') as Statement<[], Row>,
    listBucketsOf: db.prepare('SELECT * FROM buckets WHERE owner = ? ORDER BY name') as Statement<[string], Row>,
    deleteBucket: db.prepare('DELETE FROM buckets WHERE name = ?') as Statement<[string]>,
    anyVersion: db.prepare('SELECT 1 FROM versions WHERE bucket = ? LIMIT 1') as Statement<[string]>,
    bucketPartCids: db.prepare('SELECT cid FROM parts WHERE bucket = ?').pluck() as Statement<[string], string>,
    deleteBucketParts: db.prepare('DELETE FROM parts WHERE bucket = ?') as Statement<[string]>,
    deleteBucketUploads: db.prepare('DELETE FROM uploads WHERE bucket = ?') as Statement<[string]>,
    deleteBucketCompleted: db.prepare('DELETE FROM completed_uploads WHERE bucket = ?') as Statement<[string]>,
  }
}

export async function createBucket (db: SqliteDatabase, bucket: BucketRecord, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    db.buckets.clear()
    return db.sql.insertBucket.run(bucket.name, bucket.owner, bucket.ownerDisplayName ?? null,
      bucket.created.getTime(), bucket.region, bucket.versioning, bucket.cidProfile ?? null, configOf(bucket)).changes === 1
  })
}

export async function getBucket (db: SqliteDatabase, name: string, options?: AbortOptions): Promise<BucketRecord | undefined> {
  options?.signal?.throwIfAborted()
  return db.buckets.get(name, () => {
    const row = db.sql.getBucket.get(name)
    return row === undefined ? undefined : toBucket(row)
  })
}

export async function setBucketVersioning (db: SqliteDatabase, name: string, versioning: 'Enabled' | 'Suspended', options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    db.buckets.clear()
    return db.sql.setVersioning.run(versioning, name).changes === 1
  })
}

export async function setBucketConfig (db: SqliteDatabase, name: string, kind: BucketConfigKind, value: string | undefined, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    db.buckets.clear()
    const row = db.sql.getBucket.get(name)
    if (row === undefined) return false
    const config: BucketConfig = row.config === null ? {} : JSON.parse(row.config)
    if (value === undefined) delete config[kind]
    else config[kind] = value
    db.sql.setConfig.run(Object.keys(config).length === 0 ? null : JSON.stringify(config), name)
    return true
  })
}

export async function listBuckets (db: SqliteDatabase, owner?: string, options?: AbortOptions): Promise<BucketRecord[]> {
  options?.signal?.throwIfAborted()
  const found = owner === undefined ? db.sql.listBuckets.all() : db.sql.listBucketsOf.all(owner)
  return found.map(toBucket)
}

export async function deleteBucket (db: SqliteDatabase, name: string, options?: ChangeOptions): Promise<'deleted' | 'not-empty' | 'missing'> {
  options?.signal?.throwIfAborted()
  return await db.write(() => {
    if (db.sql.getBucket.get(name) === undefined) return 'missing' as const
    if (db.sql.anyVersion.get(name) !== undefined) return 'not-empty' as const
    db.buckets.clear()
    for (const cid of db.sql.bucketPartCids.all(name)) release(db, heldCid(false, cid))
    db.sql.deleteBucketParts.run(name)
    db.sql.deleteBucketUploads.run(name)
    db.sql.deleteBucketCompleted.run(name)
    dropBucketSnapshots(db, name)
    db.sql.deleteBucket.run(name)
    return 'deleted' as const
  }, options)
}
