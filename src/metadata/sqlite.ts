import { mkdirSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { AbortOptions } from '../types.js'
import type {
  BucketConfig, BucketConfigKind, BucketRecord, ChecksumAlgorithm, ChecksumType, CompletedUpload, CompleteResult, DeleteResult, ListOptions, MetadataStore,
  MultipartUpload, ObjectVersion, PartListOptions, PartWriteResult, WriteOptions, UploadedPart, UploadListOptions, Versioning, VersionListOptions,
  WriteResult, ListedObject,
} from './metadata-store.js'
import { sourceReleased } from './metadata-store.js'
import { compareKeys, prefixSuccessor, seekStart, versionSeek } from './key-order.js'

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
export const SQLITE_SCHEMA_VERSION = 6

/** Completed-upload records older than the newest completion by more than this are dropped. */
const COMPLETED_TTL = 60 * 60 * 1000

// Schema 3: multipart uploads in progress, their parts, and completed uploads kept for retries.
const MULTIPART_SCHEMA = `
CREATE TABLE uploads (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  upload_id TEXT NOT NULL COLLATE BINARY,
  initiated INTEGER NOT NULL,
  owner TEXT NOT NULL,
  owner_display_name TEXT,
  headers TEXT NOT NULL,
  metadata TEXT NOT NULL,
  tags TEXT NOT NULL,
  storage_class TEXT,
  checksum_algorithm TEXT,
  checksum_type TEXT,
  profile TEXT NOT NULL,
  PRIMARY KEY (bucket, key, upload_id)
) WITHOUT ROWID;

CREATE TABLE parts (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  upload_id TEXT NOT NULL COLLATE BINARY,
  part_number INTEGER NOT NULL,
  cid TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  checksum TEXT,
  PRIMARY KEY (bucket, key, upload_id, part_number)
) WITHOUT ROWID;

CREATE TABLE completed_uploads (
  bucket TEXT NOT NULL,
  key TEXT NOT NULL COLLATE BINARY,
  upload_id TEXT NOT NULL COLLATE BINARY,
  version_id TEXT NOT NULL,
  etag TEXT NOT NULL,
  checksum TEXT,
  cid TEXT NOT NULL,
  parts_digest TEXT NOT NULL,
  completed INTEGER NOT NULL,
  PRIMARY KEY (bucket, key, upload_id)
) WITHOUT ROWID;
CREATE INDEX completed_uploads_by_time ON completed_uploads (completed);
`

// Keys are TEXT with BINARY collation, which compares the UTF-8 bytes: S3's key order.
const SCHEMA = `
CREATE TABLE buckets (
  name TEXT NOT NULL PRIMARY KEY,
  owner TEXT NOT NULL,
  owner_display_name TEXT,
  created INTEGER NOT NULL,
  region TEXT NOT NULL,
  versioning TEXT NOT NULL,
  -- NULL: the gateway's configured default (buckets from before schema 5)
  cid_profile TEXT,
  -- JSON object of the bucket's configurations (policy, acl, cors, ...); NULL when none
  config TEXT
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
  -- comma-separated part sizes of a multipart object
  part_sizes TEXT,
  -- JSON { acl, encryption } when either is set
  extra TEXT,
  UNIQUE (bucket, key, version_id)
);
-- seq DESC: a key's newest version first, so that a version listing (keys ascending, each key's
-- versions newest first) is one forward range scan, with no sort of a key's many versions.
CREATE INDEX versions_by_key ON versions (bucket, key, seq DESC);
-- Covers a listing page: the rows a listing shows are read from the index alone.
CREATE INDEX versions_listing ON versions (bucket, key, version_id, delete_marker, size, etag, last_modified, owner, checksum, storage_class)
  WHERE is_latest = 1 AND delete_marker = 0;

CREATE TABLE refs (
  cid TEXT NOT NULL PRIMARY KEY,
  count INTEGER NOT NULL CHECK (count > 0)
) WITHOUT ROWID;
${MULTIPART_SCHEMA}
ALTER TABLE uploads ADD COLUMN extra TEXT;`

interface BucketRow {
  name: string
  owner: string
  owner_display_name: string | null
  created: number
  region: string
  versioning: string
  cid_profile: string | null
  config: string | null
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
  part_sizes: string | null
  extra: string | null
}

interface UploadRow {
  bucket: string
  key: string
  upload_id: string
  initiated: number
  owner: string
  owner_display_name: string | null
  headers: string
  metadata: string
  tags: string
  storage_class: string | null
  checksum_algorithm: string | null
  checksum_type: string | null
  profile: string
  extra: string | null
}

interface PartRow {
  bucket: string
  key: string
  upload_id: string
  part_number: number
  cid: string
  size: number
  etag: string
  last_modified: number
  checksum: string | null
}

interface CompletedRow {
  bucket: string
  key: string
  upload_id: string
  version_id: string
  etag: string
  checksum: string | null
  cid: string
  parts_digest: string
  completed: number
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
type ListedVersionRow = ListedRow & Pick<VersionRow, 'is_latest'>

/** Rows of the listing index are latest versions by construction; a version listing reads is_latest. */
function toListed (row: ListedRow, isLatest = true): ListedObject {
  const listed: ListedObject = {
    key: row.key,
    versionId: row.version_id,
    isLatest,
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
 * latest, non-deleted versions; listing versions is at most two on versions_by_key.
 */
export class SqliteMetadataStore implements MetadataStore {
  private readonly db: Database.Database
  private readonly sql: ReturnType<typeof prepare>
  /** Runs a change as one immediate transaction. */
  private readonly changeTx: (change: () => unknown) => unknown
  /** Runs reads in one deferred transaction, so that they see one snapshot whoever else writes the file. */
  private readonly readTx: (read: () => unknown) => unknown
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
    this.readTx = this.db.transaction((read: () => unknown) => read()).deferred
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
      bucket.created.getTime(), bucket.region, bucket.versioning, bucket.cidProfile ?? null, configOf(bucket)).changes === 1)
  }

  async getBucket (name: string, options?: AbortOptions): Promise<BucketRecord | undefined> {
    options?.signal?.throwIfAborted()
    const row = this.sql.getBucket.get(name)
    return row === undefined ? undefined : toBucket(row)
  }

  async setBucketVersioning (name: string, versioning: 'Enabled' | 'Suspended', options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return await this.write(() => this.sql.setVersioning.run(versioning, name).changes === 1)
  }

  async setBucketConfig (name: string, kind: BucketConfigKind, value: string | undefined, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return await this.write(() => {
      const row = this.sql.getBucket.get(name)
      if (row === undefined) return false
      const config: BucketConfig = row.config === null ? {} : JSON.parse(row.config)
      if (value === undefined) delete config[kind]
      else config[kind] = value
      this.sql.setConfig.run(Object.keys(config).length === 0 ? null : JSON.stringify(config), name)
      return true
    })
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
      for (const cid of this.sql.bucketPartCids.all(name)) this.release(heldCid(false, cid))
      this.sql.deleteBucketParts.run(name)
      this.sql.deleteBucketUploads.run(name)
      this.sql.deleteBucketCompleted.run(name)
      this.sql.deleteBucket.run(name)
      return 'deleted' as const
    })
  }

  async putObject (version: ObjectVersion, options?: WriteOptions): Promise<WriteResult> {
    options?.signal?.throwIfAborted()
    return await this.write(() => {
      this.requireReferenced(options?.sourceCid)
      return this.put(version)
    })
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

  async setObjectAcl (bucket: string, key: string, versionId: string | undefined, acl: string, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return await this.write(() => {
      const row = versionId === undefined ? this.sql.getLatest.get(bucket, key) : this.sql.getVersion.get(bucket, key, versionId)
      if (row === undefined) return false
      this.sql.setExtra.run(extraOf({ acl, encryption: toVersion(row).encryption }), row.seq)
      return true
    })
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
    return rows.map((row) => toListed(row))
  }

  async listVersions (bucket: string, options: VersionListOptions): Promise<ListedObject[]> {
    options.signal?.throwIfAborted()
    if (!(options.limit >= 1)) return []
    const { marker, start } = versionSeek(options)
    const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
    const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
    const rows = this.readTx(() => {
      // An unknown marker version id lists none of its key: the subquery's seq is NULL.
      const older = marker === undefined ? [] : this.sql.listOlderVersions.all({ bucket, ...marker, limit })
      if (older.length === limit) return older
      const rest = limit - older.length
      return [...older, ...(end === undefined
        ? this.sql.listVersionsFrom.all(bucket, start ?? '', rest)
        : this.sql.listVersionsRange.all(bucket, start ?? '', end, rest))]
    }) as ListedVersionRow[]
    return rows.map((row) => toListed(row, row.is_latest === 1))
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

  async createUpload (upload: MultipartUpload, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    await this.write(() => {
      if (this.sql.bucketExists.get(upload.bucket) === undefined) throw noSuchBucket(upload.bucket)
      if (this.sql.getUpload.get(upload.bucket, upload.key, upload.uploadId) !== undefined) throw uploadExists(upload)
      this.sql.insertUpload.run({
        bucket: upload.bucket,
        key: upload.key,
        upload_id: upload.uploadId,
        initiated: upload.initiated.getTime(),
        owner: upload.owner,
        owner_display_name: upload.ownerDisplayName ?? null,
        headers: JSON.stringify(upload.headers),
        metadata: JSON.stringify(upload.metadata),
        tags: JSON.stringify(upload.tags),
        storage_class: upload.storageClass ?? null,
        checksum_algorithm: upload.checksumAlgorithm ?? null,
        checksum_type: upload.checksumType ?? null,
        profile: upload.profile,
        extra: extraOf(upload),
      })
    })
  }

  async getUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<MultipartUpload | undefined> {
    options?.signal?.throwIfAborted()
    const row = this.sql.getUpload.get(bucket, key, uploadId)
    return row === undefined ? undefined : toUpload(row)
  }

  async listUploads (bucket: string, options: UploadListOptions): Promise<MultipartUpload[]> {
    options.signal?.throwIfAborted()
    if (!(options.limit >= 1)) return []
    const [key, uploadId] = uploadSeekStart(options)
    const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
    const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
    const rows = end === undefined
      ? this.sql.listUploadsFrom.all(bucket, key, uploadId, limit)
      : this.sql.listUploadsRange.all(bucket, key, uploadId, end, limit)
    return rows.map(toUpload)
  }

  async putPart (bucket: string, key: string, uploadId: string, part: UploadedPart, options?: WriteOptions): Promise<PartWriteResult | undefined> {
    options?.signal?.throwIfAborted()
    return await this.write(() => {
      if (this.sql.getUpload.get(bucket, key, uploadId) === undefined) return undefined
      this.requireReferenced(options?.sourceCid)
      const old = this.sql.getPart.get(bucket, key, uploadId, part.partNumber)
      this.sql.putPart.run({
        bucket,
        key,
        upload_id: uploadId,
        part_number: part.partNumber,
        cid: part.cid,
        size: part.size,
        etag: part.etag,
        last_modified: part.lastModified.getTime(),
        checksum: part.checksum === undefined ? null : JSON.stringify(part.checksum),
      })
      this.retain(heldCid(false, part.cid))
      return {
        ...(old === undefined ? {} : { replaced: toPart(old) }),
        released: old === undefined ? [] : this.release(heldCid(false, old.cid)),
      }
    })
  }

  async listParts (bucket: string, key: string, uploadId: string, options: PartListOptions): Promise<UploadedPart[] | undefined> {
    options.signal?.throwIfAborted()
    if (this.sql.getUpload.get(bucket, key, uploadId) === undefined) return undefined
    if (!(options.limit >= 1)) return []
    const after = options.after === undefined ? 0 : Math.floor(options.after)
    const limit = Math.min(Math.floor(options.limit), Number.MAX_SAFE_INTEGER)
    return this.sql.listParts.all(bucket, key, uploadId, after, limit).map(toPart)
  }

  async completeUpload (version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>, completed: CompletedUpload, options?: AbortOptions): Promise<CompleteResult> {
    options?.signal?.throwIfAborted()
    return await this.write((): CompleteResult => {
      const { bucket, key } = version
      if (this.sql.getUpload.get(bucket, key, uploadId) === undefined) return { status: 'no-upload' }
      for (const { partNumber, cid } of parts) {
        if (this.sql.getPart.get(bucket, key, uploadId, partNumber)?.cid !== cid) return { status: 'parts-changed' }
      }
      // The version's reference is taken first, so a part CID the object shares is not released.
      const result = this.put(version)
      const released = [...result.released, ...this.removeUpload(bucket, key, uploadId)]
      this.sql.putCompleted.run({
        bucket,
        key,
        upload_id: uploadId,
        version_id: completed.versionId,
        etag: completed.etag,
        checksum: completed.checksum === undefined ? null : JSON.stringify(completed.checksum),
        cid: completed.cid,
        parts_digest: completed.partsDigest,
        completed: completed.completed.getTime(),
      })
      this.sql.pruneCompleted.run(completed.completed.getTime() - COMPLETED_TTL)
      return { status: 'completed', ...result, released }
    })
  }

  async getCompletedUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<CompletedUpload | undefined> {
    options?.signal?.throwIfAborted()
    const row = this.sql.getCompleted.get(bucket, key, uploadId)
    return row === undefined ? undefined : toCompleted(row)
  }

  async abortUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<{ released: string[] } | undefined> {
    options?.signal?.throwIfAborted()
    return await this.write(() => {
      if (this.sql.getUpload.get(bucket, key, uploadId) === undefined) return undefined
      return { released: this.removeUpload(bucket, key, uploadId) }
    })
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
      part_sizes: version.partSizes === undefined ? null : version.partSizes.join(','),
      extra: extraOf(version),
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

  // Deletes an upload and all its parts; returns the part CIDs whose last reference that was.
  private removeUpload (bucket: string, key: string, uploadId: string): string[] {
    const cids = this.sql.partCids.all(bucket, key, uploadId)
    this.sql.deleteParts.run(bucket, key, uploadId)
    this.sql.deleteUpload.run(bucket, key, uploadId)
    return cids.flatMap((cid) => this.release(heldCid(false, cid)))
  }

  private requireReferenced (cid: string | undefined): void {
    if (cid !== undefined && this.sql.getRef.get(cid) === undefined) throw sourceReleased(cid)
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
  // 2 → 3: multipart uploads, and the part sizes of multipart objects
  2: `ALTER TABLE versions ADD COLUMN part_sizes TEXT;
${MULTIPART_SCHEMA}`,
  // 3 → 4: versions_by_key orders each key's versions newest first, for version listings
  3: `DROP INDEX versions_by_key;
CREATE INDEX versions_by_key ON versions (bucket, key, seq DESC);`,
  // 4 → 5: each bucket's CID profile. Existing buckets get NULL, read as "the gateway's configured
  // default": the profile their objects were written with was never recorded.
  4: 'ALTER TABLE buckets ADD COLUMN cid_profile TEXT;',
  // 5 → 6: bucket configurations (policy, ACL, CORS, ...), and object and upload ACLs and encryption
  5: `ALTER TABLE buckets ADD COLUMN config TEXT;
ALTER TABLE versions ADD COLUMN extra TEXT;
ALTER TABLE uploads ADD COLUMN extra TEXT;`,
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
  // Seeks to the inclusive (key, upload_id) start on the primary key.
  const listUploads = (upper: string): string => `SELECT * FROM uploads
    WHERE bucket = ? AND (key, upload_id) >= (?, ?) ${upper} ORDER BY key, upload_id LIMIT ?`
  // Keys ascending, each key's versions newest first: versions_by_key's order.
  const listVersions = (upper: string): string => `SELECT ${LISTED_COLUMNS}, is_latest FROM versions INDEXED BY versions_by_key
    WHERE bucket = ? AND key >= ? ${upper} ORDER BY key, seq DESC LIMIT ?`
  const list = (upper: string, columns = '*'): string => `SELECT ${columns} FROM versions INDEXED BY versions_listing
    WHERE bucket = ? AND is_latest = 1 AND delete_marker = 0 AND key >= ? ${upper} ORDER BY key LIMIT ?`
  return {
    insertBucket: db.prepare(`INSERT INTO buckets (name, owner, owner_display_name, created, region, versioning, cid_profile, config)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`) as Statement<[string, string, string | null, number, string, string, string | null, string | null]>,
    getBucket: db.prepare('SELECT * FROM buckets WHERE name = ?') as Statement<[string], BucketRow>,
    setVersioning: db.prepare('UPDATE buckets SET versioning = ? WHERE name = ?') as Statement<[string, string]>,
    setConfig: db.prepare('UPDATE buckets SET config = ? WHERE name = ?') as Statement<[string | null, string]>,
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
        last_modified, owner, headers, metadata, tags, checksum, storage_class, parts_count, part_sizes, extra)
      VALUES (@bucket, @key, @version_id, 1, @delete_marker, @cid, @size, @etag,
        @last_modified, @owner, @headers, @metadata, @tags, @checksum, @storage_class, @parts_count, @part_sizes, @extra)`) as Statement<[Omit<VersionRow, 'seq' | 'is_latest'>]>,
    setVersionTags: db.prepare('UPDATE versions SET tags = ? WHERE bucket = ? AND key = ? AND version_id = ?') as Statement<[string, string, string, string]>,
    setLatestTags: db.prepare(`UPDATE versions SET tags = ? WHERE seq =
      (SELECT seq FROM versions WHERE bucket = ? AND key = ? ORDER BY seq DESC LIMIT 1)`) as Statement<[string, string, string]>,
    setExtra: db.prepare('UPDATE versions SET extra = ? WHERE seq = ?') as Statement<[string | null, number]>,
    listFrom: db.prepare(list('', LISTED_COLUMNS)) as Statement<[string, string, number], ListedRow>,
    listRange: db.prepare(list('AND key < ?', LISTED_COLUMNS)) as Statement<[string, string, string, number], ListedRow>,
    listVersionsFrom: db.prepare(listVersions('')) as Statement<[string, string, number], ListedVersionRow>,
    listVersionsRange: db.prepare(listVersions('AND key < ?')) as Statement<[string, string, string, number], ListedVersionRow>,
    listOlderVersions: db.prepare(`SELECT ${LISTED_COLUMNS}, is_latest FROM versions INDEXED BY versions_by_key
      WHERE bucket = @bucket AND key = @key AND seq < (SELECT seq FROM versions WHERE bucket = @bucket AND key = @key AND version_id = @versionId)
      ORDER BY seq DESC LIMIT @limit`) as Statement<[{ bucket: string, key: string, versionId: string, limit: number }], ListedVersionRow>,
    listKeysFrom: db.prepare(list('', 'key')).pluck() as Statement<[string, string, number], string>,
    listKeysRange: db.prepare(list('AND key < ?', 'key')).pluck() as Statement<[string, string, string, number], string>,
    getRef: db.prepare('SELECT count FROM refs WHERE cid = ?') as Statement<[string], { count: number }>,
    retain: db.prepare('INSERT INTO refs (cid, count) VALUES (?, 1) ON CONFLICT (cid) DO UPDATE SET count = count + 1') as Statement<[string]>,
    decrement: db.prepare('UPDATE refs SET count = count - 1 WHERE cid = ? AND count > 1') as Statement<[string]>,
    deleteRef: db.prepare('DELETE FROM refs WHERE cid = ?') as Statement<[string]>,
    refsFirst: db.prepare('SELECT cid FROM refs ORDER BY cid LIMIT ?').pluck() as Statement<[number], string>,
    refsAfter: db.prepare('SELECT cid FROM refs WHERE cid > ? ORDER BY cid LIMIT ?').pluck() as Statement<[string, number], string>,
    insertUpload: db.prepare(`INSERT INTO uploads (bucket, key, upload_id, initiated, owner, owner_display_name, headers, metadata,
        tags, storage_class, checksum_algorithm, checksum_type, profile, extra)
      VALUES (@bucket, @key, @upload_id, @initiated, @owner, @owner_display_name, @headers, @metadata,
        @tags, @storage_class, @checksum_algorithm, @checksum_type, @profile, @extra)`) as Statement<[UploadRow]>,
    getUpload: db.prepare('SELECT * FROM uploads WHERE bucket = ? AND key = ? AND upload_id = ?') as Statement<[string, string, string], UploadRow>,
    deleteUpload: db.prepare('DELETE FROM uploads WHERE bucket = ? AND key = ? AND upload_id = ?') as Statement<[string, string, string]>,
    listUploadsFrom: db.prepare(listUploads('')) as Statement<[string, string, string, number], UploadRow>,
    listUploadsRange: db.prepare(listUploads('AND key < ?')) as Statement<[string, string, string, string, number], UploadRow>,
    getPart: db.prepare('SELECT * FROM parts WHERE bucket = ? AND key = ? AND upload_id = ? AND part_number = ?') as Statement<[string, string, string, number], PartRow>,
    putPart: db.prepare(`INSERT OR REPLACE INTO parts (bucket, key, upload_id, part_number, cid, size, etag, last_modified, checksum)
      VALUES (@bucket, @key, @upload_id, @part_number, @cid, @size, @etag, @last_modified, @checksum)`) as Statement<[PartRow]>,
    listParts: db.prepare(`SELECT * FROM parts WHERE bucket = ? AND key = ? AND upload_id = ? AND part_number > ?
      ORDER BY part_number LIMIT ?`) as Statement<[string, string, string, number, number], PartRow>,
    partCids: db.prepare('SELECT cid FROM parts WHERE bucket = ? AND key = ? AND upload_id = ?').pluck() as Statement<[string, string, string], string>,
    deleteParts: db.prepare('DELETE FROM parts WHERE bucket = ? AND key = ? AND upload_id = ?') as Statement<[string, string, string]>,
    bucketPartCids: db.prepare('SELECT cid FROM parts WHERE bucket = ?').pluck() as Statement<[string], string>,
    deleteBucketParts: db.prepare('DELETE FROM parts WHERE bucket = ?') as Statement<[string]>,
    deleteBucketUploads: db.prepare('DELETE FROM uploads WHERE bucket = ?') as Statement<[string]>,
    deleteBucketCompleted: db.prepare('DELETE FROM completed_uploads WHERE bucket = ?') as Statement<[string]>,
    putCompleted: db.prepare(`INSERT OR REPLACE INTO completed_uploads (bucket, key, upload_id, version_id, etag, checksum, cid, parts_digest, completed)
      VALUES (@bucket, @key, @upload_id, @version_id, @etag, @checksum, @cid, @parts_digest, @completed)`) as Statement<[CompletedRow]>,
    getCompleted: db.prepare('SELECT * FROM completed_uploads WHERE bucket = ? AND key = ? AND upload_id = ?') as Statement<[string, string, string], CompletedRow>,
    pruneCompleted: db.prepare('DELETE FROM completed_uploads WHERE completed < ?') as Statement<[number]>,
  }
}

function heldCid (deleteMarker: boolean, cid: string): string | undefined {
  return deleteMarker || cid === '' ? undefined : cid
}

function noSuchBucket (name: string): Error {
  return Object.assign(new Error(`No bucket named ${JSON.stringify(name)}`), { code: 'ERR_NO_SUCH_BUCKET' })
}

function uploadExists (upload: MultipartUpload): Error {
  return Object.assign(new Error(`Upload ${JSON.stringify(upload.uploadId)} of ${JSON.stringify(upload.key)} is already in progress`), { code: 'ERR_UPLOAD_EXISTS' })
}

/**
 * The inclusive (key, upload_id) where an upload listing starts: keys from `prefix` / `from` / just
 * after `after.key` with any upload id, or just after (after.key, after.uploadId), whichever is later.
 */
function uploadSeekStart (options: UploadListOptions): [string, string] {
  const { after } = options
  const key = seekStart({ prefix: options.prefix, from: options.from, after: after?.uploadId === undefined ? after?.key : undefined }) ?? ''
  if (after?.uploadId === undefined || compareKeys(key, after.key) > 0) return [key, '']
  return [after.key, after.uploadId + '\0']
}

/** The `config` column: the bucket's configurations as JSON; null when none. */
function configOf (bucket: BucketRecord): string | null {
  return bucket.config === undefined || Object.keys(bucket.config).length === 0 ? null : JSON.stringify(bucket.config)
}

type Extra = Pick<ObjectVersion, 'acl' | 'encryption'>

/** The `extra` column: a version's or upload's ACL and encryption, as JSON; null when neither. */
function extraOf (record: Extra): string | null {
  if (record.acl === undefined && record.encryption === undefined) return null
  return JSON.stringify({ acl: record.acl, encryption: record.encryption })
}

function parseExtra (text: string): Extra {
  const { acl, encryption } = JSON.parse(text) as Extra
  const extra: Extra = {}
  if (acl !== undefined && acl !== null) extra.acl = acl
  if (encryption !== undefined && encryption !== null) extra.encryption = encryption
  return extra
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
  if (row.cid_profile !== null) bucket.cidProfile = row.cid_profile
  if (row.config !== null) bucket.config = JSON.parse(row.config)
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
  if (row.part_sizes !== null) version.partSizes = row.part_sizes === '' ? [] : row.part_sizes.split(',').map(Number)
  if (row.extra !== null) Object.assign(version, parseExtra(row.extra))
  return version
}

function toUpload (row: UploadRow): MultipartUpload {
  const upload: MultipartUpload = {
    bucket: row.bucket,
    key: row.key,
    uploadId: row.upload_id,
    initiated: new Date(row.initiated),
    owner: row.owner,
    headers: row.headers === '{}' ? {} : JSON.parse(row.headers),
    metadata: row.metadata === '{}' ? {} : JSON.parse(row.metadata),
    tags: row.tags === '[]' ? [] : JSON.parse(row.tags),
    profile: row.profile,
  }
  if (row.owner_display_name !== null) upload.ownerDisplayName = row.owner_display_name
  if (row.storage_class !== null) upload.storageClass = row.storage_class
  if (row.checksum_algorithm !== null) upload.checksumAlgorithm = row.checksum_algorithm as ChecksumAlgorithm
  if (row.checksum_type !== null) upload.checksumType = row.checksum_type as ChecksumType
  if (row.extra !== null) Object.assign(upload, parseExtra(row.extra))
  return upload
}

function toPart (row: PartRow): UploadedPart {
  const part: UploadedPart = {
    partNumber: row.part_number,
    cid: row.cid,
    size: row.size,
    etag: row.etag,
    lastModified: new Date(row.last_modified),
  }
  if (row.checksum !== null) part.checksum = JSON.parse(row.checksum)
  return part
}

function toCompleted (row: CompletedRow): CompletedUpload {
  const record: CompletedUpload = {
    bucket: row.bucket,
    key: row.key,
    uploadId: row.upload_id,
    versionId: row.version_id,
    etag: row.etag,
    cid: row.cid,
    partsDigest: row.parts_digest,
    completed: new Date(row.completed),
  }
  if (row.checksum !== null) record.checksum = JSON.parse(row.checksum)
  return record
}
