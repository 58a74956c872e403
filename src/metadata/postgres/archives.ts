import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type { ArchiveChange, ArchiveChangeResult, ArchiveRecord } from '../archives.js'
import { applyArchiveChange, archiveDeleteJob, versionHolds } from '../archives.js'
import type { ObjectVersion } from '../metadata-store.js'
import { extraOf, postgresRows, type VersionRow } from '../rows.js'
import { add } from './connection.js'
import type { Deltas, PostgresConnection, Queryable } from './connection.js'
import { enqueue } from './jobs.js'
import { hasNul } from './keys.js'

interface ArchiveRow {
  cid: string
  target: string
  location: Record<string, unknown>
  archived: number
  versions: number
  deleting: boolean
}


function toRecord (row: ArchiveRow): ArchiveRecord {
  return { cid: row.cid, target: row.target, location: row.location, archived: new Date(Number(row.archived)), versions: row.versions, deleting: row.deleting }
}

/** Inside a change: releases what a version that is gone held (its local reference, its count in an archive record). */
export async function releaseHeld (db: PostgresConnection, q: Queryable, deltas: Deltas, version: Pick<ObjectVersion, 'deleteMarker' | 'cid' | 'archived' | 'restore'>): Promise<void> {
  const holds = versionHolds(version)
  add(deltas, holds.local, -1)
  if (holds.archive === undefined) return
  const { rows } = await q.query<{ versions: number }>(db.sql(`UPDATE ${db.s}.archives SET versions = versions - 1
    WHERE cid = $1 AND versions > 0 RETURNING versions`, [holds.archive]))
  if (rows[0]?.versions === 0) await enqueue(db, q, [archiveDeleteJob(holds.archive)])
}

export async function setVersionArchive (db: PostgresConnection, bucket: string, key: string, versionId: string, change: ArchiveChange,
  options?: ChangeOptions): Promise<ArchiveChangeResult> {
  options?.signal?.throwIfAborted()
  if (hasNul(key, versionId, change.cid)) return { status: 'missing' }
  const { result, released } = await db.change(options, [{ key: [bucket, key] }], async (q, deltas): Promise<ArchiveChangeResult> => {
    const { rows: [row] } = await q.query<VersionRow<'postgres'>>(db.sql(`SELECT * FROM ${db.s}.versions
      WHERE bucket = $1 AND key = $2 AND version_id = $3`, [bucket, key, versionId]))
    const version = row === undefined ? undefined : postgresRows.toVersion(row)
    // The record's row lock orders this change after (or before) a clean-up marking it deleting.
    const { rows: [record] } = await q.query<ArchiveRow>(db.sql(`SELECT * FROM ${db.s}.archives WHERE cid = $1 FOR UPDATE`, [change.cid]))
    const outcome = applyArchiveChange(version, change, record?.deleting === true)
    if (version === undefined || outcome.status === 'missing') return { status: 'missing' }
    if (outcome.status === 'conflict') return { status: 'conflict', version }
    const next = outcome.next
    await q.query(db.sql(`UPDATE ${db.s}.versions SET storage_class = $1, extra = $2 WHERE seq = $3`, [next.storageClass ?? null, extraOf(next), row.seq]))
    if (change.archive !== undefined) {
      const inserted = await q.query(db.sql(`INSERT INTO ${db.s}.archives AS a (cid, target, location, archived, versions) VALUES ($1, $2, $3, $4, 1)
        ON CONFLICT (cid) DO UPDATE SET versions = a.versions + 1 WHERE NOT a.deleting`,
      [change.cid, change.archive.target, JSON.stringify(change.archive.location), change.archive.archived.getTime()]))
      // A record inserted and marked deleting by another change since the read above: store the CAR again.
      if (inserted.rowCount !== 1) return { status: 'conflict', version }
    }
    const before = versionHolds(version)
    const after = versionHolds(next)
    if (after.local !== undefined && before.local === undefined) add(deltas, after.local, 1)
    if (before.local !== undefined && after.local === undefined) add(deltas, before.local, -1)
    return { status: 'changed', version: next, released: [] }
  })
  // The released CIDs are those of the change's reference deltas (the connection applies them).
  return result.status === 'changed' ? { ...result, released } : result
}

export async function getArchive (db: PostgresConnection, cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> {
  if (hasNul(cid)) return undefined
  const { rows } = await db.query<ArchiveRow>(options, `SELECT * FROM ${db.s}.archives WHERE cid = $1`, [cid])
  return rows.length === 0 ? undefined : toRecord(rows[0])
}

export async function markArchiveDeleting (db: PostgresConnection, cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> {
  if (hasNul(cid)) return undefined
  const { rows } = await db.query<ArchiveRow>(options, `UPDATE ${db.s}.archives SET deleting = true WHERE cid = $1 AND versions = 0 RETURNING *`, [cid])
  return rows.length === 0 ? undefined : toRecord(rows[0])
}

export async function deleteArchive (db: PostgresConnection, cid: string, options?: AbortOptions): Promise<boolean> {
  if (hasNul(cid)) return false
  const { rowCount } = await db.query(options, `DELETE FROM ${db.s}.archives WHERE cid = $1 AND versions = 0 AND deleting`, [cid])
  return rowCount === 1
}
