import type Database from 'better-sqlite3'
import type { AbortOptions } from '../../types.js'
import { sourceReleased } from '../metadata-store.js'
import type { SqliteDatabase, Statement } from './database.js'

export function refStatements (db: Database.Database) {
  return {
    getRef: db.prepare('SELECT count FROM refs WHERE cid = ?') as Statement<[string], { count: number }>,
    retain: db.prepare('INSERT INTO refs (cid, count) VALUES (?, 1) ON CONFLICT (cid) DO UPDATE SET count = count + 1') as Statement<[string]>,
    decrement: db.prepare('UPDATE refs SET count = count - 1 WHERE cid = ? AND count > 1') as Statement<[string]>,
    deleteRef: db.prepare('DELETE FROM refs WHERE cid = ?') as Statement<[string]>,
    refsFirst: db.prepare('SELECT cid FROM refs ORDER BY cid LIMIT ?').pluck() as Statement<[number], string>,
    refsAfter: db.prepare('SELECT cid FROM refs WHERE cid > ? ORDER BY cid LIMIT ?').pluck() as Statement<[string, number], string>,
  }
}

export async function refCount (db: SqliteDatabase, cid: string, options?: AbortOptions): Promise<number> {
  options?.signal?.throwIfAborted()
  return db.sql.getRef.get(cid)?.count ?? 0
}

export async function * referencedCids (db: SqliteDatabase, options?: AbortOptions): AsyncIterable<string> {
  // Pages rather than one open cursor: a cursor held across yields would block every other
  // statement on this connection.
  let after = ''
  let first = true
  while (true) {
    options?.signal?.throwIfAborted()
    const page = first ? db.sql.refsFirst.all(1000) : db.sql.refsAfter.all(after, 1000)
    first = false
    for (const cid of page) yield cid
    if (page.length < 1000) return
    after = page[page.length - 1]
  }
}

/** Inside a change: `sourceCid` (WriteOptions) must still be referenced. */
export function requireReferenced (db: SqliteDatabase, cid: string | undefined): void {
  if (cid !== undefined && db.sql.getRef.get(cid) === undefined) throw sourceReleased(cid)
}

export function retain (db: SqliteDatabase, cid: string | undefined): void {
  if (cid !== undefined) db.sql.retain.run(cid)
}

/** Drops one reference; returns the CID when that was its last one. */
export function release (db: SqliteDatabase, cid: string | undefined): string[] {
  if (cid === undefined) return []
  if (db.sql.decrement.run(cid).changes > 0) return []
  db.sql.deleteRef.run(cid)
  db.released(cid)
  return [cid]
}
