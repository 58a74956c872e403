import type { AbortOptions } from '../../types.js'
import type {
  BucketConfigKind, BucketRecord, CidListOptions, CidMatch, CompletedUpload, CompleteOptions, CompleteResult, DeleteResult, ListedObject, ListOptions, MetadataStore,
  MultipartUpload, ObjectVersion, PartListOptions, PartWriteResult, PutOptions, StatsOptions, StoreStats, UploadedPart, UploadListOptions,
  VersionListOptions, WriteOptions, WriteResult,
} from '../metadata-store.js'
import type { ChangeOptions } from '../jobs.js'
import { SqlStoreFacade } from '../sql-facade.js'
import * as archives from './archives.js'
import * as buckets from './buckets.js'
import * as jobs from './jobs.js'
import { SqliteDatabase } from './database.js'
import type { SqliteMetadataStoreInit } from './database.js'
import * as objects from './objects.js'
import * as pins from './pins.js'
import * as refs from './refs.js'
import * as search from './search.js'
import * as snapshots from './snapshots.js'
import * as statistics from './stats.js'
import * as uploads from './uploads.js'

export type { SqliteMetadataStoreInit } from './database.js'
export { SQLITE_SCHEMA_VERSION } from './schema.js'

/**
 * Metadata in one SQLite file (better-sqlite3, WAL). Every change commits in an immediate transaction
 * (in 'GROUP' mode shared with the changes made concurrently, each in its own savepoint), so
 * several processes may share the file. Listing is one range query on a partial index of the
 * latest, non-deleted versions; listing versions is at most two on versions_by_key.
 */
export class SqliteMetadataStore extends SqlStoreFacade<SqliteDatabase> implements MetadataStore {
  constructor (init: SqliteMetadataStoreInit) {
    super(new SqliteDatabase(init), { ...jobs, ...pins, ...archives, ...search, ...snapshots })
  }

  async createBucket (bucket: BucketRecord, options?: AbortOptions): Promise<boolean> {
    return await buckets.createBucket(this.db, bucket, options)
  }

  async getBucket (name: string, options?: AbortOptions): Promise<BucketRecord | undefined> {
    return await buckets.getBucket(this.db, name, options)
  }

  async setBucketVersioning (name: string, versioning: 'Enabled' | 'Suspended', options?: AbortOptions): Promise<boolean> {
    return await buckets.setBucketVersioning(this.db, name, versioning, options)
  }

  async setBucketConfig (name: string, kind: BucketConfigKind, value: string | undefined, options?: AbortOptions): Promise<boolean> {
    return await buckets.setBucketConfig(this.db, name, kind, value, options)
  }

  async listBuckets (owner?: string, options?: AbortOptions): Promise<BucketRecord[]> {
    return await buckets.listBuckets(this.db, owner, options)
  }

  async deleteBucket (name: string, options?: ChangeOptions): Promise<'deleted' | 'not-empty' | 'missing'> {
    return await buckets.deleteBucket(this.db, name, options)
  }

  async putObject (version: ObjectVersion, options?: PutOptions): Promise<WriteResult> {
    return await objects.putObject(this.db, version, options)
  }

  async getObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined> {
    return await objects.getObject(this.db, bucket, key, versionId, options)
  }

  async deleteObject (bucket: string, key: string, versionId?: string, options?: ChangeOptions): Promise<DeleteResult> {
    return await objects.deleteObject(this.db, bucket, key, versionId, options)
  }

  async setObjectTags (bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean> {
    return await objects.setObjectTags(this.db, bucket, key, versionId, tags, options)
  }

  async setObjectAcl (bucket: string, key: string, versionId: string | undefined, acl: string, options?: AbortOptions): Promise<boolean> {
    return await objects.setObjectAcl(this.db, bucket, key, versionId, acl, options)
  }

  async listObjects (bucket: string, options: ListOptions): Promise<ListedObject[]> {
    return await objects.listObjects(this.db, bucket, options)
  }

  async listVersions (bucket: string, options: VersionListOptions): Promise<ListedObject[]> {
    return await objects.listVersions(this.db, bucket, options)
  }

  async listKeys (bucket: string, options: ListOptions): Promise<string[]> {
    return await objects.listKeys(this.db, bucket, options)
  }

  async listVersionsByCid (cid: string, options: CidListOptions): Promise<CidMatch[]> {
    return await objects.listVersionsByCid(this.db, cid, options)
  }

  async createUpload (upload: MultipartUpload, options?: AbortOptions): Promise<void> {
    await uploads.createUpload(this.db, upload, options)
  }

  async getUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<MultipartUpload | undefined> {
    return await uploads.getUpload(this.db, bucket, key, uploadId, options)
  }

  async listUploads (bucket: string, options: UploadListOptions): Promise<MultipartUpload[]> {
    return await uploads.listUploads(this.db, bucket, options)
  }

  async putPart (bucket: string, key: string, uploadId: string, part: UploadedPart, options?: WriteOptions): Promise<PartWriteResult | undefined> {
    return await uploads.putPart(this.db, bucket, key, uploadId, part, options)
  }

  async listParts (bucket: string, key: string, uploadId: string, options: PartListOptions): Promise<UploadedPart[] | undefined> {
    return await uploads.listParts(this.db, bucket, key, uploadId, options)
  }

  async completeUpload (version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>, completed: CompletedUpload,
    options?: CompleteOptions): Promise<CompleteResult> {
    return await uploads.completeUpload(this.db, version, uploadId, parts, completed, options)
  }

  async getCompletedUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<CompletedUpload | undefined> {
    return await uploads.getCompletedUpload(this.db, bucket, key, uploadId, options)
  }

  async abortUpload (bucket: string, key: string, uploadId: string, options?: ChangeOptions): Promise<{ released: string[] } | undefined> {
    return await uploads.abortUpload(this.db, bucket, key, uploadId, options)
  }

  async refCount (cid: string, options?: AbortOptions): Promise<number> {
    return await refs.refCount(this.db, cid, options)
  }

  referencedCids (options?: AbortOptions): AsyncIterable<string> {
    return refs.referencedCids(this.db, options)
  }

  async stats (options?: StatsOptions): Promise<StoreStats | undefined> {
    return await statistics.stats(this.db, options)
  }

  /** Rejects once the store is closed. */
  async ping (options?: AbortOptions): Promise<void> {
    await statistics.ping(this.db, options)
  }

  async close (): Promise<void> {
    await this.db.close()
  }
}
