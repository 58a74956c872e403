import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type { SnapshotCidListOptions, SnapshotDeleteResult, SnapshotListOptions, SnapshotMatch, SnapshotRecord } from '../snapshots.js'
import { snapshotPageSize } from '../snapshots.js'
import { SNAPSHOT_COLUMNS, snapshotRowOf, toSnapshot, type SnapshotRow } from '../snapshot-rows.js'
import { add } from './connection.js'
import type { PostgresConnection } from './connection.js'
import { hasNul } from './keys.js'

export async function createSnapshot (db: PostgresConnection, record: SnapshotRecord, options?: ChangeOptions): Promise<'created' | 'exists' | 'no-bucket'> {
  options?.signal?.throwIfAborted()
  if (hasNul(record.bucket, record.id, record.cid, record.prefix, record.owner)) {
    throw Object.assign(new Error(`PostgreSQL text cannot hold NUL (U+0000): snapshot ${JSON.stringify(record.id)}`), { code: 'ERR_NUL_IN_NAME' })
  }
  const row = snapshotRowOf(record)
  // The bucket's shared lock: deleteBucket (which takes it exclusively) either ran before and this
  // finds no bucket, or runs after and removes the snapshot with it.
  const { result } = await db.change(options, [{ bucket: record.bucket, shared: true }], async (q, deltas) => {
    const { rowCount: present } = await q.query(db.sql(`SELECT 1 FROM ${db.s}.buckets WHERE name = $1`, [record.bucket]))
    if (present !== 1) return 'no-bucket' as const
    const { rowCount } = await q.query(db.sql(`INSERT INTO ${db.s}.snapshots (${SNAPSHOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
      ON CONFLICT (bucket, id) DO NOTHING`, [row.bucket, row.id, row.cid, row.prefix, row.created, row.owner, row.profile, row.keys, row.bytes,
      row.skipped_encrypted, row.skipped_archived]))
    if (rowCount !== 1) return 'exists' as const
    add(deltas, record.cid, 1)
    return 'created' as const
  })
  return result
}

export async function getSnapshot (db: PostgresConnection, bucket: string, id: string, options?: AbortOptions): Promise<SnapshotRecord | undefined> {
  if (hasNul(bucket, id)) return undefined
  const { rows } = await db.query<SnapshotRow>(options, `SELECT ${SNAPSHOT_COLUMNS} FROM ${db.s}.snapshots WHERE bucket = $1 AND id = $2`, [bucket, id])
  return rows.length === 0 ? undefined : toSnapshot(rows[0])
}

export async function listSnapshots (db: PostgresConnection, bucket: string, options: SnapshotListOptions): Promise<SnapshotRecord[]> {
  if (hasNul(bucket)) return []
  // An `after` with a NUL: every stored id greater than its part before the NUL is greater than it.
  const after = (options.after ?? '').split('\0')[0]
  const { rows } = await db.query<SnapshotRow>(options, `SELECT ${SNAPSHOT_COLUMNS} FROM ${db.s}.snapshots WHERE bucket = $1 AND id > $2
    ORDER BY id LIMIT $3`, [bucket, after, snapshotPageSize(options.limit)])
  return rows.map(toSnapshot)
}

export async function deleteSnapshot (db: PostgresConnection, bucket: string, id: string, options?: ChangeOptions): Promise<SnapshotDeleteResult> {
  options?.signal?.throwIfAborted()
  if (hasNul(bucket, id)) return { released: [] }
  const { result, released } = await db.change(options, [], async (q, deltas) => {
    const { rows } = await q.query<SnapshotRow>(db.sql(`DELETE FROM ${db.s}.snapshots WHERE bucket = $1 AND id = $2 RETURNING ${SNAPSHOT_COLUMNS}`, [bucket, id]))
    if (rows.length === 0) return undefined
    add(deltas, rows[0].cid, -1)
    return toSnapshot(rows[0])
  })
  return result === undefined ? { released: [] } : { deleted: result, released }
}

export async function listSnapshotsByCid (db: PostgresConnection, cid: string, options: SnapshotCidListOptions): Promise<SnapshotMatch[]> {
  if (hasNul(cid)) return []
  const after = options.after ?? { bucket: '', id: '' }
  const { rows } = await db.query<SnapshotMatch>(options, `SELECT bucket, id, prefix FROM ${db.s}.snapshots
    WHERE cid = $1 AND (bucket, id) > ($2, $3) ORDER BY bucket, id LIMIT $4`, [cid, after.bucket.split('\0')[0], after.id.split('\0')[0], snapshotPageSize(options.limit)])
  return rows
}
