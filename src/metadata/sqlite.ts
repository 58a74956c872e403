import { mkdirSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { AbortOptions } from '../types.js'
import type { BucketRecord, DeleteResult, ListOptions, MetadataStore, ObjectVersion, Versioning, WriteResult, ListedObject } from './metadata-store.js'
import { prefixSuccessor, seekStart } from './key-order.js'

export interface SqliteMetadataStoreInit {
  /** Database file; its directory is created when missing. ':memory:' for a private in-memory database. */
  path: string
  /**
   * How a commit reaches the disk before its promise resolves.
   * - 'GROUP' (default): `PRAGMA synchronous = NORMAL`, then the WAL file is fsynced off the event
   *   loop, one fsync covering every commit made while the previous one ran (group commit). An
   *   acknowledged write survives a power loss, and concurrent writers share the cost of the sync.
   * - 'FULL': SQLite fsyncs the WAL inside every commit, blocking the event loop for each.
   * - 'NORMAL': no sync per commit; the last commits may be lost on power loss (never on a process
   *   crash). For tests and scratch data.
   */
  synchronous?: 'GROUP' | 'FULL' | 'NORMAL'
  /** How long a write waits for another process holding the write lock, in ms. Default 5000. */
  busyTimeout?: number
}

/** Version of the schema below, kept in `PRAGMA user_version`. */
export const SQLITE_SCHEMA_VERSION = 2

// Keys are TEXT with BINARY collation, which compares the UTF-8 bytes: S3's key order.
const SCHEMA = `
CREATE TABLE buckets (
  name TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL,
  owner_display_name TEXT,
  created INTEGER NOT NULL,
  region TEXT NOT NULL,
  versioning TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX buckets_by_owner ON buckets (owner, name);

CREATE TABLE versions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  bucket TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  version_id TEXT NOT NULL,
  is_latest INTEGER NOT NULL,
  delete_marker INTEGER NOT NULL,
  cid TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  owner TEXT NOT NULL,
  headers TEXT NOT NULL,
  metadata TEXT NOT NULL,
  tags TEXT NOT NULL,
  checksum TEXT,
  storage_class TEXT,
  parts_count INTEGER,
  UNIQUE (bucket, key, version_id)
);
CREATE INDEX versions_by_key ON versions (bucket, key, seq);
-- Covers a listing page: the rows a listing shows are read from the index alone.
CREATE INDEX versions_listing ON versions (bucket, key, version_id, delete_marker, size, etag, last_modified, owner, checksum, storage_class)
  WHERE is_latest = 1 AND delete_marker = 0;

CREATE TABLE refs (
  cid TEXT NOT NULL PRIMARY KEY,
  count INTEGER NOT NULL CHECK (count > 0)
) WITHOUT ROWID;
`

interface BucketRow {
  name: string
  owner: string
  owner_display_name: string | null
  created: number
  region: string
  versioning: string
}

interface VersionRow {
  seq: number
  bucket: string
  key: string
  version_id: string
  is_latest: number
  delete_marker: number
  cid: string
  size: number
  etag: string
  last_modified: number
  owner: string
  headers: string
  metadata: string
  tags: string
  checksum: string | null
  storage_class: string | null
  parts_count: number | null
}

interface PendingWrite {
  change: () => unknown
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
}

type Statement<P extends unknown[], R = unknown> = Database.Statement<P, R>

/** The columns a listing reads: the large JSON columns stay on disk. */
const LISTED_COLUMNS = 'key, version_id, delete_marker, size, etag, last_modified, owner, checksum, storage_class'
type ListedRow = Pick<VersionRow, 'key' | 'version_id' | 'delete_marker' | 'size' | 'etag' | 'last_modified' | 'owner' | 'checksum' | 'storage_class'>

/** Rows of the listing index are latest versions by construction. */
function toListed (row: ListedRow): ListedObject {
  const listed: ListedObject = {
    key: row.key,
    versionId: row.version_id,
    isLatest: true,
    deleteMarker: row.delete_marker === 1,
    size: row.size,
    etag: row.etag,
    lastModified: new Date(row.last_modified),
    owner: row.owner,
  }
  if (row.checksum !== null) listed.checksum = JSON.parse(row.checksum)
  if (row.storage_class !== null) listed.storageClass = row.storage_class
  return listed
}

/**
 * Metadata in one SQLite file (better-sqlite3, WAL). Every change commits in an immediate transaction
 * (in 'GROUP' mode shared with the changes made concurrently, each in its own savepoint), so
 * several processes may share the file. Listing is one range query on a partial index of the
 * latest, non-deleted versions.
 */
export class SqliteMetadataStore implements MetadataStore {
  private readonly db: Database.Database
  private readonly sql: ReturnType<typeof prepare>
  /** Runs a change as one immediate transaction. */
  private readonly changeTx: (change: () => unknown) => unknown
  /** Set in 'GROUP' mode on a file database: the WAL file to fsync after commits. */
  private readonly walPath?: string
  private syncInFlight?: Promise<void>
  private syncQueued?: Promise<void>
  /** 'GROUP' mode: changes waiting for the next group commit, and the loop committing them. */
  private pending: PendingWrite[] = []
  private committing?: Promise<void>
  private readonly groupTx: (group: PendingWrite[], outcomes: Array<{ ok: boolean, value: unknown }>) => void

  constructor (init: SqliteMetadataStoreInit) {
    const path = init.path
    if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true })
    this.db = new Database(path, { timeout: init.busyTimeout ?? 5000 })
    try {
      this.db.pragma('journal_mode = WAL')
      const mode = init.synchronous ?? 'GROUP'
      this.db.pragma(`synchronous = ${mode === 'FULL' ? 'FULL' : 'NORMAL'}`)
      if (mode === 'GROUP' && path !== ':memory:' && path !== '') this.walPath = `${path}-wal`
      migrate(this.db)
      this.sql = prepare(this.db)
    } catch (err) {
      this.db.close()
      throw err
    }
    this.changeTx = this.db.transaction((change: () => unknown) => change()).immediate
    // Each change of a group runs in a nested transaction, which better-sqlite3 makes a savepoint.
    const inSavepoint = this.db.transaction((change: () => unknown) => change())
    this.groupTx = this.db.transaction((group: PendingWrite[], outcomes: Array<{ ok: boolean, value: unknown }>) => {
      for (const w of group) {
        try {
          outcomes.push({ ok: true, value: inSavepoint(w.change) })
        } catch (err) {
          outcomes.push({ ok: false, value: err })
        }
      }
    }).immediate
  }

  /**
   * Group commit: resolves once a WAL fsync that started after this call has finished. A call made
   * while a sync runs joins the one queued behind it, so N concurrent commits cost about two fsyncs.
   */
  private async durable<T> (result: T): Promise<T> {
    if (this.walPath === undefined) return result
    if (this.syncQueued === undefined) {
      const previous = this.syncInFlight ?? Promise.resolve()
      this.syncQueued = previous.catch(() => {}).then(async () => {
        this.syncQueued = undefined
        const current = this.syncWal()
        this.syncInFlight = current
        try {
          await current
        } finally {
          if (this.syncInFlight === current) this.syncInFlight = undefined
        }
      })
    }
    await this.syncQueued
    return result
  }

  /**
   * Runs a change and resolves, once it is durable, with its result. In 'GROUP' mode on a file,
   * changes made while the previous group's WAL fsync runs are queued and then committed together
   * in one immediate transaction, each change inside its own savepoint (a change that throws
   * rolls back alone and rejects alone), followed by one fsync for the group. A commit costs much
   * more than the statements of one change, so concurrent writers share it as they share the fsync.
   * Changes apply in call order. Other modes run each change as its own transaction at once.
   */
  private async write<T> (change: () => T): Promise<T> {
    if (this.walPath === undefined) return this.changeTx(change) as T
    return await new Promise<T>((resolve, reject) => {
      this.pending.push({ change, resolve: resolve as (value: unknown) => void, reject })
      if (this.committing === undefined) this.committing = this.commitGroups()
    })
  }

  private async commitGroups (): Promise<void> {
    try {
      // Let the writes issued in this turn of the event loop join the first group.
      await new Promise<void>(resolve => setImmediate(resolve))
      while (this.pending.length > 0) {
        const group = this.pending
        this.pending = []
        const outcomes: Array<{ ok: boolean, value: unknown }> = []
        try {
          this.groupTx(group, outcomes)
        } catch (err) {
          // BEGIN or COMMIT failed: nothing of the group was committed.
          for (const w of group) w.reject(err)
          continue
        }
        let syncError: { error: unknown } | undefined
        try {
          await this.durable(undefined)
        } catch (error) {
          syncError = { error }
        }
        for (let i = 0; i < group.length; i++) {
          const outcome = outcomes[i]
          if (syncError !== undefined && outcome.ok) group[i].reject(syncError.error)
          else if (outcome.ok) group[i].resolve(outcome.value)
          else group[i].reject(outcome.value)
        }
      }
    } finally {
      this.committing = undefined
    }
  }

  private async syncWal (): Promise<void> {
    const file = await open(this.walPath as string, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined // no WAL yet: nothing to sync
      throw err
    })
    if (file === undefined) return
    try {
      await file.datasync()
    } finally {
      await file.close()
    }
  }

  async createBucket (bucket: BucketRecord, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return await this.write(() => this.sql.insertBucket.run(bucket.name, bucket.owner, bucket.ownerDisplayName ?? null,
      bucket.created.getTime(), bucket.region, bucket.versioning).changes === 1)
  }

  async getBucket (name: string, options?: AbortOptions): Promise<BucketRecord | undefined> {
    options?.signal?.throwIfAborted()
    const row = this.sql.getBucket.get(name)
    return row === undefined ? undefined : toBucket(row)
  }

  async listBuckets (owner?: string, options?: AbortOptions): Promise<BucketRecord[]> {
    options?.signal?.throwIfAborted()
    const rows = owner === undefined ? this.sql.listBuckets.all() : this.sql.listBucketsOf.all(owner)
    return rows.map(toBucket)
  }

  async deleteBucket (name: string, options?: AbortOptions): Promise<'deleted' | 'not-empty' | 'missing'> {
    options?.signal?.throwIfAborted()
    return await this.write(() => {
      if (this.sql.getBucket.get(name) === undefined) return 'missing' as const
      if (this.sql.anyVersion.get(name) !== undefined) return 'not-empty' as const
      this.sql.deleteBucket.run(name)
      return 'deleted' as const
    })
  }

  async putObject (version: ObjectVersion, options?: AbortOptions): Promise<WriteResult> {
    options?.signal?.throwIfAborted()
    return await this.write(() => this.put(version))
  }

  async getObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined> {
    options?.signal?.throwIfAborted()
    const row = versionId === undefined ? this.sql.getLatest.get(bucket, key) : this.sql.getVersion.get(bucket, key, versionId)
    return row === undefined ? undefined : toVersion(row)
  }

  async deleteObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<DeleteResult> {
    options?.signal?.throwIfAborted()
    return await this.write(() => this.delete(bucket, key, versionId))
  }

  async setObjectTags (bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const json = JSON.stringify(tags)
    return await this.write(() => (versionId === undefined
      ? this.sql.setLatestTags.run(json, bucket, key)
      : this.sql.setVersionTags.run(json, bucket, key, versionId)).changes > 0)
  }

  async listObjects (bucket: string, options: ListOptions): Promise<ListedObject[]> {
    options.signal?.throwIfAborted()
    if (!(options.limit >= 1)) return []
    const start = seekStart(options) ?? ''
    const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
    const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
    const rows = end === undefined
      ? this.sql.listFrom.all(bucket, start, limit)
      : this.sql.listRange.all(bucket, start, end, limit)
    return rows.map(toListed)
  }

  async listKeys (bucket: string, options: ListOptions): Promise<string[]> {
    options.signal?.throwIfAborted()
    if (!(options.limit >= 1)) return []
    const start = seekStart(options) ?? ''
    const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
    const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
    return end === undefined
      ? this.sql.listKeysFrom.all(bucket, start, limit)
      : this.sql.listKeysRange.all(bucket, start, end, limit)
  }

  async refCount (cid: string, options?: AbortOptions): Promise<number> {
    options?.signal?.throwIfAborted()
    return this.sql.getRef.get(cid)?.count ?? 0
  }

  async * referencedCids (options?: AbortOptions): AsyncIterable<string> {
    // Pages rather than one open cursor: a cursor held across yields would block every other
    // statement on this connection.
    let after = ''
    let first = true
    while (true) {
      options?.signal?.throwIfAborted()
      const page = first ? this.sql.refsFirst.all(1000) : this.sql.refsAfter.all(after, 1000)
      first = false
      for (const cid of page) yield cid
      if (page.length < 1000) return
      after = page[page.length - 1]
    }
  }

  async close (): Promise<void> {
    while (this.committing !== undefined) await this.committing
    await this.syncQueued?.catch(() => {})
    await this.syncInFlight?.catch(() => {})
    if (this.db.open) this.db.close()
  }

  private put (version: ObjectVersion): WriteResult {
    const { bucket, key, versionId } = version
    if (this.sql.bucketExists.get(bucket) === undefined) throw noSuchBucket(bucket)
    const old = this.sql.getVersion.get(bucket, key, versionId)
    if (old !== undefined) this.sql.deleteVersion.run(old.seq)
    // At most one version of a key is the latest: when the replaced one was, none is left to demote.
    if (old?.is_latest !== 1) {
      const latest = this.sql.getLatest.get(bucket, key)
      if (latest !== undefined && latest.is_latest === 1) this.sql.setLatest.run(0, latest.seq)
    }
    this.sql.insertVersion.run({
      bucket,
      key,
      version_id: versionId,
      delete_marker: version.deleteMarker ? 1 : 0,
      cid: version.cid,
      size: version.size,
      etag: version.etag,
      last_modified: version.lastModified.getTime(),
      owner: version.owner,
      headers: JSON.stringify(version.headers),
      metadata: JSON.stringify(version.metadata),
      tags: JSON.stringify(version.tags),
      checksum: version.checksum === undefined ? null : JSON.stringify(version.checksum),
      storage_class: version.storageClass ?? null,
      parts_count: version.partsCount ?? null,
    })
    this.retain(heldCid(version.deleteMarker, version.cid))
    return {
      ...(old === undefined ? {} : { replaced: toVersion(old) }),
      released: old === undefined ? [] : this.release(heldCid(old.delete_marker === 1, old.cid)),
    }
  }

  private delete (bucket: string, key: string, versionId: string | undefined): DeleteResult {
    const row = versionId === undefined ? this.sql.getLatest.get(bucket, key) : this.sql.getVersion.get(bucket, key, versionId)
    if (row === undefined) return { released: [] }
    this.sql.deleteVersion.run(row.seq)
    if (row.is_latest === 1) {
      const next = this.sql.getLatest.get(bucket, key)
      if (next !== undefined) this.sql.setLatest.run(1, next.seq)
    }
    return { deleted: toVersion(row), released: this.release(heldCid(row.delete_marker === 1, row.cid)) }
  }

  private retain (cid: string | undefined): void {
    if (cid !== undefined) this.sql.retain.run(cid)
  }

  private release (cid: string | undefined): string[] {
    if (cid === undefined) return []
    if (this.sql.decrement.run(cid).changes > 0) return []
    this.sql.deleteRef.run(cid)
    return [cid]
  }
}

/** Steps from each older schema version to the next; a new database gets SCHEMA directly. */
const MIGRATIONS: Record<number, string> = {
  // 1 → 2: the listing index covers the listing columns
  1: `DROP INDEX versions_listing;
CREATE INDEX versions_listing ON versions (bucket, key, version_id, delete_marker, size, etag, last_modified, owner, checksum, storage_class)
  WHERE is_latest = 1 AND delete_marker = 0;`,
}

function migrate (db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current === SQLITE_SCHEMA_VERSION) return
  if (current > SQLITE_SCHEMA_VERSION) {
    throw new Error(`Metadata database schema version ${current} is newer than this gateway supports (${SQLITE_SCHEMA_VERSION})`)
  }
  db.transaction(() => {
    // Re-read inside the write lock: another process may have created the schema meanwhile.
    let version = db.pragma('user_version', { simple: true }) as number
    if (version === SQLITE_SCHEMA_VERSION) return
    if (version === 0) {
      db.exec(SCHEMA)
    } else {
      for (; version < SQLITE_SCHEMA_VERSION; version++) db.exec(MIGRATIONS[version])
    }
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`)
  }).immediate()
}

function prepare (db: Database.Database) {
  const list = (upper: string, columns = '*'): string => `SELECT ${columns} FROM versions INDEXED BY versions_listing
    WHERE bucket = ? AND is_latest = 1 AND delete_marker = 0 AND key >= ? ${upper} ORDER BY key LIMIT ?`
  return {
    insertBucket: db.prepare(`INSERT INTO buckets (name, owner, owner_display_name, created, region, versioning)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`) as Statement<[string, string, string | null, number, string, string]>,
    getBucket: db.prepare('SELECT * FROM buckets WHERE name = ?') as Statement<[string], BucketRow>,
    bucketExists: db.prepare('SELECT 1 FROM buckets WHERE name = ?').pluck() as Statement<[string], number>,
    listBuckets: db.prepare('SELECT * FROM buckets ORDER BY name') as Statement<[], BucketRow>,
    listBucketsOf: db.prepare('SELECT * FROM buckets WHERE owner = ? ORDER BY name') as Statement<[string], BucketRow>,
    deleteBucket: db.prepare('DELETE FROM buckets WHERE name = ?') as Statement<[string]>,
    anyVersion: db.prepare('SELECT 1 FROM versions WHERE bucket = ? LIMIT 1') as Statement<[string]>,
    getVersion: db.prepare('SELECT * FROM versions WHERE bucket = ? AND key = ? AND version_id = ?') as Statement<[string, string, string], VersionRow>,
    getLatest: db.prepare('SELECT * FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1') as Statement<[string, string], VersionRow>,
    deleteVersion: db.prepare('DELETE FROM versions WHERE seq = ?') as Statement<[number]>,
    setLatest: db.prepare('UPDATE versions SET is_latest = ? WHERE seq = ?') as Statement<[number, number]>,
    insertVersion: db.prepare(`INSERT INTO versions (bucket, key, version_id, is_latest, delete_marker, cid, size, etag,
        last_modified, owner, headers, metadata, tags, checksum, storage_class, parts_count)
      VALUES (@bucket, @key, @version_id, 1, @delete_marker, @cid, @size, @etag,
        @last_modified, @owner, @headers, @metadata, @tags, @checksum, @storage_class, @parts_count)`) as Statement<[Omit<VersionRow, 'seq' | 'is_latest'>]>,
    setVersionTags: db.prepare('UPDATE versions SET tags = ? WHERE bucket = ? AND key = ? AND version_id = ?') as Statement<[string, string, string, string]>,
    setLatestTags: db.prepare(`UPDATE versions SET tags = ? WHERE seq =
      (SELECT seq FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1)`) as Statement<[string, string, string]>,
    listFrom: db.prepare(list('', LISTED_COLUMNS)) as Statement<[string, string, number], ListedRow>,
    listRange: db.prepare(list('AND key < ?', LISTED_COLUMNS)) as Statement<[string, string, string, number], ListedRow>,
    listKeysFrom: db.prepare(list('', 'key')).pluck() as Statement<[string, string, number], string>,
    listKeysRange: db.prepare(list('AND key < ?', 'key')).pluck() as Statement<[string, string, string, number], string>,
    getRef: db.prepare('SELECT count FROM refs WHERE cid = ?') as Statement<[string], { count: number }>,
    retain: db.prepare('INSERT INTO refs (cid, count) VALUES (?, 1) ON CONFLICT (cid) DO UPDATE SET count = count + 1') as Statement<[string]>,
    decrement: db.prepare('UPDATE refs SET count = count - 1 WHERE cid = ? AND count > 1') as Statement<[string]>,
    deleteRef: db.prepare('DELETE FROM refs WHERE cid = ?') as Statement<[string]>,
    refsFirst: db.prepare('SELECT cid FROM refs ORDER BY cid LIMIT ?').pluck() as Statement<[number], string>,
    refsAfter: db.prepare('SELECT cid FROM refs WHERE cid > ? ORDER BY cid LIMIT ?').pluck() as Statement<[string, number], string>,
  }
}

function heldCid (deleteMarker: boolean, cid: string): string | undefined {
  return deleteMarker || cid === '' ? undefined : cid
}

function noSuchBucket (name: string): Error {
  return Object.assign(new Error(`No bucket named ${JSON.stringify(name)}`), { code: 'ERR_NO_SUCH_BUCKET' })
}

function toBucket (row: BucketRow): BucketRecord {
  const bucket: BucketRecord = {
    name: row.name,
    owner: row.owner,
    created: new Date(row.created),
    region: row.region,
    versioning: row.versioning as Versioning,
  }
  if (row.owner_display_name !== null) bucket.ownerDisplayName = row.owner_display_name
  return bucket
}

function toVersion (row: VersionRow): ObjectVersion {
  const version: ObjectVersion = {
    bucket: row.bucket,
    key: row.key,
    versionId: row.version_id,
    isLatest: row.is_latest === 1,
    deleteMarker: row.delete_marker === 1,
    cid: row.cid,
    size: row.size,
    etag: row.etag,
    lastModified: new Date(row.last_modified),
    owner: row.owner,
    headers: row.headers === '{}' ? {} : JSON.parse(row.headers),
    metadata: row.metadata === '{}' ? {} : JSON.parse(row.metadata),
    tags: row.tags === '[]' ? [] : JSON.parse(row.tags),
  }
  if (row.checksum !== null) version.checksum = JSON.parse(row.checksum)
  if (row.storage_class !== null) version.storageClass = row.storage_class
  if (row.parts_count !== null) version.partsCount = row.parts_count
  return version
}
