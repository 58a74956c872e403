import type Database from 'better-sqlite3'
import type { AbortOptions } from '../../types.js'
import type { ChangeOptions } from '../jobs.js'
import type { ArchiveChange, ArchiveChangeResult, ArchiveRecord } from '../archives.js'
import { applyArchiveChange, archiveDeleteJob, versionHolds } from '../archives.js'
import type { ObjectVersion } from '../metadata-store.js'
import { extraOf, sqliteRows, type VersionRow } from '../rows.js'
import type { SqliteDatabase, Statement } from './database.js'
import { enqueue } from './jobs.js'
import { release, retain } from './refs.js'

export interface ArchiveRow {
  cid: string
  target: string
  location: string
  archived: number
  versions: number
  deleting: number
}


export function archiveStatements (db: Database.Database) {
  return {
    getArchive: db.prepare('SELECT * FROM archives WHERE cid = ?') as Statement<[string], ArchiveRow>,
    insertArchive: db.prepare(`INSERT INTO archives (cid, target, location, archived, versions, deleting)
      VALUES (@cid, @target, @location, @archived, 1, 0)`) as Statement<[Omit<ArchiveRow, 'versions' | 'deleting'>]>,
    holdArchive: db.prepare('UPDATE archives SET versions = versions + 1 WHERE cid = ?') as Statement<[string]>,
    releaseArchive: db.prepare('UPDATE archives SET versions = versions - 1 WHERE cid = ? AND versions > 0 RETURNING versions').pluck() as Statement<[string], number>,
    markArchiveDeleting: db.prepare('UPDATE archives SET deleting = 1 WHERE cid = ? AND versions = 0 RETURNING *') as Statement<[string], ArchiveRow>,
    deleteArchive: db.prepare('DELETE FROM archives WHERE cid = ? AND versions = 0 AND deleting = 1') as Statement<[string]>,
    setVersionArchive: db.prepare('UPDATE versions SET storage_class = ?, extra = ? WHERE seq = ?') as Statement<[string | null, string | null, number]>,
  }
}

function toRecord (row: ArchiveRow): ArchiveRecord {
  return {
    cid: row.cid,
    target: row.target,
    location: JSON.parse(row.location) as Record<string, unknown>,
    archived: new Date(row.archived),
    versions: row.versions,
    deleting: row.deleting === 1,
  }
}

/** Inside a change: releases what a version that is gone held (its local reference, its count in an archive record). */
export function releaseHeld (db: SqliteDatabase, version: Pick<ObjectVersion, 'deleteMarker' | 'cid' | 'archived' | 'restore'>): string[] {
  const holds = versionHolds(version)
  if (holds.archive !== undefined && db.sql.releaseArchive.get(holds.archive) === 0) enqueue(db, [archiveDeleteJob(holds.archive)])
  return release(db, holds.local)
}

export async function setVersionArchive (db: SqliteDatabase, bucket: string, key: string, versionId: string, change: ArchiveChange,
  options?: ChangeOptions): Promise<ArchiveChangeResult> {
  options?.signal?.throwIfAborted()
  return await db.write((): ArchiveChangeResult => {
    const row: VersionRow<'sqlite'> | undefined = db.sql.getVersion.get(bucket, key, versionId)
    const version = row === undefined ? undefined : sqliteRows.toVersion(row)
    const record = db.sql.getArchive.get(change.cid)
    const outcome = applyArchiveChange(version, change, record?.deleting === 1)
    if (row === undefined || version === undefined || outcome.status === 'missing') return { status: 'missing' }
    if (outcome.status === 'conflict') return { status: 'conflict', version }
    const next = outcome.next
    db.sql.setVersionArchive.run(next.storageClass ?? null, extraOf(next), row.seq)
    if (change.archive !== undefined) {
      if (record === undefined) {
        db.sql.insertArchive.run({ cid: change.cid, target: change.archive.target, location: JSON.stringify(change.archive.location), archived: change.archive.archived.getTime() })
      } else {
        db.sql.holdArchive.run(change.cid)
      }
    }
    const before = versionHolds(version)
    const after = versionHolds(next)
    if (after.local !== undefined && before.local === undefined) retain(db, after.local)
    const released = before.local !== undefined && after.local === undefined ? release(db, before.local) : []
    return { status: 'changed', version: next, released }
  }, options)
}

export async function getArchive (db: SqliteDatabase, cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> {
  options?.signal?.throwIfAborted()
  const row = db.sql.getArchive.get(cid)
  return row === undefined ? undefined : toRecord(row)
}

export async function markArchiveDeleting (db: SqliteDatabase, cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> {
  options?.signal?.throwIfAborted()
  const row = await db.write(() => db.sql.markArchiveDeleting.get(cid))
  return row === undefined ? undefined : toRecord(row)
}

export async function deleteArchive (db: SqliteDatabase, cid: string, options?: AbortOptions): Promise<boolean> {
  options?.signal?.throwIfAborted()
  return await db.write(() => db.sql.deleteArchive.run(cid).changes > 0)
}
