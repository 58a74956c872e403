import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type { BucketConfigKind, BucketRecord } from '../metadata-store.js'
import type { BucketRow } from '../rows.js'
import { configOf, postgresRows } from '../rows.js'
import { add } from './connection.js'
import type { PostgresConnection } from './connection.js'

const { toBucket } = postgresRows

const BUCKET_COLUMNS = 'name, owner, owner_display_name, created, region, versioning, cid_profile, config'

type Row = BucketRow<'postgres'>

export async function createBucket (db: PostgresConnection, bucket: BucketRecord, options?: AbortOptions): Promise<boolean> {
  const { rows: created } = await db.query(options, `INSERT INTO ${db.s}.buckets (name, owner, owner_display_name, created, region, versioning, cid_profile, config)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING RETURNING 1`,
  [bucket.name, bucket.owner, bucket.ownerDisplayName ?? null, bucket.created.getTime(), bucket.region, bucket.versioning, bucket.cidProfile ?? null, configOf(bucket)])
  return created.length === 1
}

export async function getBucket (db: PostgresConnection, name: string, options?: AbortOptions): Promise<BucketRecord | undefined> {
  const { rows: found } = await db.query<Row>(options, `SELECT ${BUCKET_COLUMNS} FROM ${db.s}.buckets WHERE name = $1`, [name])
  return found.length === 0 ? undefined : toBucket(found[0])
}

export async function setBucketVersioning (db: PostgresConnection, name: string, versioning: 'Enabled' | 'Suspended', options?: AbortOptions): Promise<boolean> {
  const { rowCount } = await db.query(options, `UPDATE ${db.s}.buckets SET versioning = $2 WHERE name = $1`, [name, versioning])
  return rowCount === 1
}

export async function setBucketConfig (db: PostgresConnection, name: string, kind: BucketConfigKind, value: string | undefined, options?: AbortOptions): Promise<boolean> {
  // One statement: concurrent changes of different kinds each keep the other's.
  const { rowCount } = value === undefined
    ? await db.query(options, `UPDATE ${db.s}.buckets SET config = NULLIF(COALESCE(config, '{}'::jsonb) - $2::text, '{}'::jsonb)
        WHERE name = $1`, [name, kind])
    : await db.query(options, `UPDATE ${db.s}.buckets SET config = COALESCE(config, '{}'::jsonb) || jsonb_build_object($2::text, $3::text)
        WHERE name = $1`, [name, kind, value])
  return rowCount === 1
}

export async function listBuckets (db: PostgresConnection, owner?: string, options?: AbortOptions): Promise<BucketRecord[]> {
  const { rows: found } = owner === undefined
    ? await db.query<Row>(options, `SELECT ${BUCKET_COLUMNS} FROM ${db.s}.buckets ORDER BY name`)
    : await db.query<Row>(options, `SELECT ${BUCKET_COLUMNS} FROM ${db.s}.buckets WHERE owner = $1 ORDER BY name`, [owner])
  return found.map(toBucket)
}

export async function deleteBucket (db: PostgresConnection, name: string, options?: ChangeOptions): Promise<'deleted' | 'not-empty' | 'missing'> {
  const { result } = await db.change(options, [{ bucket: name, shared: false }], async (q, deltas) => {
    const { rows: [state] } = await q.query<{ present: boolean, used: boolean }>(db.sql(`SELECT
      EXISTS (SELECT 1 FROM ${db.s}.buckets WHERE name = $1) AS present,
      EXISTS (SELECT 1 FROM ${db.s}.versions WHERE bucket = $1) AS used`, [name]))
    if (!state.present) return 'missing'
    if (state.used) return 'not-empty'
    const { rows: parts } = await q.query<{ cid: string }>(db.sql(`WITH
        parts AS (DELETE FROM ${db.s}.parts WHERE bucket = $1 RETURNING cid),
        uploads AS (DELETE FROM ${db.s}.uploads WHERE bucket = $1),
        completed AS (DELETE FROM ${db.s}.completed_uploads WHERE bucket = $1),
        snapshots AS (DELETE FROM ${db.s}.snapshots WHERE bucket = $1 RETURNING cid),
        buckets AS (DELETE FROM ${db.s}.buckets WHERE name = $1)
      SELECT cid FROM parts UNION ALL SELECT cid FROM snapshots`, [name]))
    for (const { cid } of parts) add(deltas, cid, -1)
    return 'deleted'
  })
  return result
}
