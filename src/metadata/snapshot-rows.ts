import type { SnapshotRecord } from './snapshots.js'

/**
 * The snapshots table's rows and their mapping to records, shared by SQLite and PostgreSQL (the
 * same columns and types in both: times are epoch milliseconds, counts integers).
 */
export interface SnapshotRow {
  bucket: string
  id: string
  cid: string
  prefix: string
  created: number
  owner: string
  profile: string
  keys: number
  bytes: number
  skipped_encrypted: number
  skipped_archived: number
}

export const SNAPSHOT_COLUMNS = 'bucket, id, cid, prefix, created, owner, profile, keys, bytes, skipped_encrypted, skipped_archived'

export function toSnapshot (row: SnapshotRow): SnapshotRecord {
  return {
    bucket: row.bucket,
    id: row.id,
    cid: row.cid,
    prefix: row.prefix,
    created: new Date(Number(row.created)),
    owner: row.owner,
    profile: row.profile,
    keys: Number(row.keys),
    bytes: Number(row.bytes),
    skipped: { encrypted: Number(row.skipped_encrypted), archived: Number(row.skipped_archived) },
  }
}

export function snapshotRowOf (record: SnapshotRecord): SnapshotRow {
  return {
    bucket: record.bucket,
    id: record.id,
    cid: record.cid,
    prefix: record.prefix,
    created: record.created.getTime(),
    owner: record.owner,
    profile: record.profile,
    keys: record.keys,
    bytes: record.bytes,
    skipped_encrypted: record.skipped.encrypted,
    skipped_archived: record.skipped.archived,
  }
}
