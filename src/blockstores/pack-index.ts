/**
 * The index of a PackBlockstore: which pack and offset hold each block, and which packs exist.
 * One SQLite file (WAL) shared by every process using the directory.
 */
import Database from 'better-sqlite3'
import { fsyncPath, isCode } from './fs-files.js'

const SCHEMA_VERSION = 1

export interface BlockRow {
  pack: number
  offset: number
  length: number
}

export interface ListedRow {
  mh: Buffer
  length: number
  written: number
}

export interface PackRow {
  id: number
  sealed: number
  /** When the row was made (Date.now() of the creating process). */
  created: number
  /** Records before this offset are synced and were indexed: a recovery scan starts here. */
  verified: number
}

export interface IndexedRecord {
  mh: Uint8Array
  pack: number
  offset: number
  length: number
  written: number
}

export type Statement<P extends unknown[], R = unknown> = Database.Statement<P, R>

function prepare (db: Database.Database) {
  return {
    get: db.prepare('SELECT pack, offset, length FROM blocks WHERE mh = ?') as Statement<[Uint8Array], BlockRow>,
    touch: db.prepare('UPDATE blocks SET written = ? WHERE mh = ?') as Statement<[number, Uint8Array]>,
    insert: db.prepare(
      'INSERT INTO blocks (mh, pack, offset, length, written) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mh) DO UPDATE SET written = excluded.written') as Statement<[Uint8Array, number, number, number, number]>,
    recover: db.prepare(
      'INSERT INTO blocks (mh, pack, offset, length, written) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mh) DO NOTHING') as Statement<[Uint8Array, number, number, number, number]>,
    deleteIfOlder: db.prepare('DELETE FROM blocks WHERE mh = ? AND written < ?') as Statement<[Uint8Array, number]>,
    delete: db.prepare('DELETE FROM blocks WHERE mh = ?') as Statement<[Uint8Array]>,
    page: db.prepare('SELECT mh, length, written FROM blocks WHERE mh > ? ORDER BY mh LIMIT ?') as Statement<[Uint8Array, number], ListedRow>,
    newPack: db.prepare('INSERT INTO packs (sealed, created) VALUES (0, ?) RETURNING id') as Statement<[number], { id: number }>,
    seal: db.prepare('UPDATE packs SET sealed = 1 WHERE id = ?') as Statement<[number]>,
    packs: db.prepare('SELECT id, sealed, created, verified FROM packs ORDER BY id') as Statement<[], PackRow>,
    pack: db.prepare('SELECT id, sealed, created, verified FROM packs WHERE id = ?') as Statement<[number], PackRow>,
    verified: db.prepare('UPDATE packs SET verified = max(verified, ?) WHERE id = ?') as Statement<[number, number]>,
    deleteAt: db.prepare('DELETE FROM blocks WHERE mh = ? AND pack = ? AND offset = ?') as Statement<[Uint8Array, number, number]>,
    deletePackRows: db.prepare('DELETE FROM blocks WHERE pack = ?') as Statement<[number]>,
    live: db.prepare('SELECT pack, COUNT(*) AS count, SUM(length) AS bytes FROM blocks GROUP BY pack') as Statement<[], { pack: number, count: number, bytes: number }>,
    rowsOfFrom: db.prepare(
      'SELECT mh, offset, length FROM blocks WHERE pack = ? AND offset > ? ORDER BY offset LIMIT ?') as Statement<[number, number, number], { mh: Buffer, offset: number, length: number }>,
    move: db.prepare('UPDATE blocks SET pack = ?, offset = ? WHERE mh = ? AND pack = ? AND offset = ?') as Statement<[number, number, Uint8Array, number, number]>,
    dropPack: db.prepare('DELETE FROM packs WHERE id = ?') as Statement<[number]>,
    rowsInPack: db.prepare('SELECT COUNT(*) AS n FROM blocks WHERE pack = ?') as Statement<[number], { n: number }>,
  }
}

function migrate (db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > SCHEMA_VERSION) throw new Error(`Pack index schema ${version} is newer than this version reads (${SCHEMA_VERSION})`)
  if (version === SCHEMA_VERSION) return
  db.transaction(() => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS packs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sealed INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL,
        -- Every record before this offset is synced and was indexed (its row may since be deleted).
        verified INTEGER NOT NULL DEFAULT 16
      );
      CREATE TABLE IF NOT EXISTS blocks (
        mh BLOB PRIMARY KEY,
        pack INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        length INTEGER NOT NULL,
        written INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS blocks_by_pack ON blocks (pack, offset);
    `)
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
  }).immediate()
}

/**
 * Commits use `synchronous = NORMAL`: an index row reaches the disk with a later commit or
 * checkpoint, and `PackBlockstore` rebuilds rows lost to a power failure from the (fsynced) packs
 * it has not sealed. Changes that must be durable at once (compaction, before a pack is unlinked)
 * call `sync`, which fsyncs the WAL.
 */
export class PackIndex {
  private readonly db: Database.Database
  readonly sql: ReturnType<typeof prepare>
  private readonly walPath: string
  private readonly insertMany: (rows: IndexedRecord[], also?: () => void) => void
  private readonly recoverMany: (rows: IndexedRecord[]) => void

  constructor (path: string, busyTimeout = 5000) {
    this.db = new Database(path, { timeout: busyTimeout })
    try {
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = NORMAL')
      migrate(this.db)
      this.sql = prepare(this.db)
    } catch (err) {
      this.db.close()
      throw err
    }
    this.walPath = `${path}-wal`
    this.insertMany = this.db.transaction((rows: IndexedRecord[], also?: () => void) => {
      for (const r of rows) this.sql.insert.run(r.mh, r.pack, r.offset, r.length, r.written)
      also?.()
    }).immediate
    this.recoverMany = this.db.transaction((rows: IndexedRecord[]) => {
      for (const r of rows) this.sql.recover.run(r.mh, r.pack, r.offset, r.length, r.written)
    }).immediate
  }

  /**
   * Index finished records in one transaction, with `also` (further statements) in it; a block
   * indexed already keeps its place and gets the new time.
   */
  insert (rows: IndexedRecord[], also?: () => void): void {
    if (rows.length > 0 || also !== undefined) this.insertMany(rows, also)
  }

  /** Index records found by a scan; a block indexed already is left alone. */
  recover (rows: IndexedRecord[]): void {
    if (rows.length > 0) this.recoverMany(rows)
  }

  transaction<T> (fn: () => T): T {
    return this.db.transaction(fn).immediate()
  }

  /** Make every commit so far durable: fsync the WAL file. */
  async sync (): Promise<void> {
    try {
      await fsyncPath(this.walPath, false)
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err // no WAL: every commit is in the database file already
    }
  }

  close (): void {
    if (this.db.open) this.db.close()
  }
}
