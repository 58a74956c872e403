import type { AbortOptions } from '../types.js'
import type {
  BucketConfigKind, BucketRecord, CidListOptions, CidMatch, CompletedUpload, CompleteOptions, CompleteResult, DeleteResult, ListOptions, MetadataStore, MultipartUpload,
  ObjectVersion, PartListOptions, PartWriteResult, PutOptions, StatsOptions, StoreStats, WriteOptions, UploadedPart, UploadListOptions,
  VersionListOptions, WriteResult, ListedObject,
} from './metadata-store.js'
import { sourceReleased, storeClosed } from './metadata-store.js'
import { copyBucket, latestOf, output } from './memory-state.js'
import type { KeyVersions, BucketState } from './memory-state.js'
import type { ChangeOptions } from './jobs.js'
import { badJob, jobsOf } from './jobs.js'
import { MemoryBackground } from './memory-background.js'
import { MemoryArchives } from './memory-archives.js'
import { listKeys, listObjects, listVersions } from './memory-listings.js'
import { MemorySnapshots } from './memory-snapshots.js'
import { MemoryUploads } from './memory-uploads.js'
import { MemoryVersions } from './memory-versions.js'
import type { SnapshotCidListOptions, SnapshotDeleteResult, SnapshotListOptions, SnapshotMatch, SnapshotRecord } from './snapshots.js'
import type { ArchiveChange, ArchiveChangeResult, ArchiveRecord } from './archives.js'
import { MemorySearch } from './memory-search.js'
import type { SearchCountOptions, SearchDriver, SearchReadOptions } from './search.js'
import { compareKeys } from './key-order.js'

/**
 * Keeps everything in memory, for tests and for `createGateway()` without options.
 *
 * Every method finishes its whole change synchronously after checking its signal, so interleaved
 * async callers never see or leave half a change. Values go in and come out as copies.
 * Its parts (versions, uploads, archives, snapshots, search) change state synchronously, so a change
 * here is the signal and job check, one call into a part, and the jobs it enqueues.
 */
export class MemoryMetadataStore extends MemoryBackground implements MetadataStore {
  private readonly buckets = new Map<string, BucketState>()
  private readonly refs = new Map<string, number>()
  private readonly archives = new MemoryArchives()
  private readonly search = new MemorySearch()
  private readonly snapshots = new MemorySnapshots({ retain: (cid) => { this.retain(cid) }, release: (cid) => this.release(cid) })
  private readonly versions = new MemoryVersions({
    buckets: this.buckets,
    retain: (cid) => { this.retain(cid) },
    release: (cid) => this.release(cid),
    archives: this.archives,
    search: this.search,
    jobs: this.jobs,
  })

  private readonly uploads = new MemoryUploads({
    buckets: this.buckets,
    retain: (cid) => { this.retain(cid) },
    release: (cid) => this.release(cid),
    requireReferenced: (cid) => { this.requireReferenced(cid) },
    put: (version, condition) => {
      this.versions.requireCondition(version, condition)
      return this.versions.put(version)
    },
  })

  private closed = false

  async createBucket (bucket: BucketRecord, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    if (this.buckets.has(bucket.name)) return false
    this.buckets.set(bucket.name, {
      record: copyBucket(bucket), versions: new Map(), keys: [], listed: [], uploads: new Map(), uploadOrder: [], completed: new Map(), objects: 0, bytes: 0,
    })
    return true
  }

  async getBucket (name: string, options?: AbortOptions): Promise<BucketRecord | undefined> {
    options?.signal?.throwIfAborted()
    const state = this.buckets.get(name)
    return state === undefined ? undefined : copyBucket(state.record)
  }

  async setBucketVersioning (name: string, versioning: 'Enabled' | 'Suspended', options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const state = this.buckets.get(name)
    if (state === undefined) return false
    state.record.versioning = versioning
    return true
  }

  async setBucketConfig (name: string, kind: BucketConfigKind, value: string | undefined, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const state = this.buckets.get(name)
    if (state === undefined) return false
    const config = { ...state.record.config }
    if (value === undefined) delete config[kind]
    else config[kind] = value
    state.record.config = config
    return true
  }

  async listBuckets (owner?: string, options?: AbortOptions): Promise<BucketRecord[]> {
    options?.signal?.throwIfAborted()
    const out: BucketRecord[] = []
    for (const { record } of this.buckets.values()) {
      if (owner === undefined || record.owner === owner) out.push(copyBucket(record))
    }
    return out.sort((a, b) => compareKeys(a.name, b.name))
  }

  async deleteBucket (name: string, options?: ChangeOptions): Promise<'deleted' | 'not-empty' | 'missing'> {
    this.checkChange(options)
    const state = this.buckets.get(name)
    if (state === undefined) return 'missing'
    if (state.versions.size > 0) return 'not-empty'
    const released = [...this.uploads.dropBucket(state), ...this.snapshots.dropBucket(name)]
    this.buckets.delete(name)
    this.enqueueFor(options, { released })
    return 'deleted'
  }

  async putObject (version: ObjectVersion, options?: PutOptions): Promise<WriteResult> {
    this.checkChange(options)
    this.versions.requireCondition(version, options?.condition)
    this.requireReferenced(options?.sourceCid)
    return this.enqueueFor(options, this.versions.put(version))
  }

  async getObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined> {
    options?.signal?.throwIfAborted()
    return this.versions.get(bucket, key, versionId)
  }

  async deleteObject (bucket: string, key: string, versionId?: string, options?: ChangeOptions): Promise<DeleteResult> {
    this.checkChange(options)
    return this.enqueueFor(options, this.versions.delete(bucket, key, versionId))
  }

  async setObjectTags (bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.versions.setTags(bucket, key, versionId, tags)
  }

  async setObjectAcl (bucket: string, key: string, versionId: string | undefined, acl: string, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.versions.setAcl(bucket, key, versionId, acl)
  }

  async listObjects (bucket: string, options: ListOptions): Promise<ListedObject[]> {
    options.signal?.throwIfAborted()
    return listObjects(this.buckets.get(bucket), options)
  }

  async listVersions (bucket: string, options: VersionListOptions): Promise<ListedObject[]> {
    options.signal?.throwIfAborted()
    return listVersions(this.buckets.get(bucket), options)
  }

  async listKeys (bucket: string, options: ListOptions): Promise<string[]> {
    options.signal?.throwIfAborted()
    return listKeys(this.buckets.get(bucket), options)
  }

  async searchObjects (bucket: string, driver: SearchDriver, options: SearchReadOptions): Promise<ObjectVersion[]> {
    options.signal?.throwIfAborted()
    const state = this.buckets.get(bucket)
    if (state === undefined) return []
    const keys = 'all' in driver
      ? listKeys(state, { prefix: options.prefix, after: options.after, limit: options.limit })
      : this.search.keys(bucket, driver, options)
    return keys.map((key) => output(latestOf(state.versions.get(key) as KeyVersions), true))
  }

  async countSearch (bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: SearchCountOptions): Promise<number> {
    options.signal?.throwIfAborted()
    return this.search.count(bucket, driver, options)
  }

  async listVersionsByCid (cid: string, options: CidListOptions): Promise<CidMatch[]> {
    options.signal?.throwIfAborted()
    return this.versions.listByCid(cid, options)
  }

  async createUpload (upload: MultipartUpload, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.uploads.create(upload)
  }

  async getUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<MultipartUpload | undefined> {
    options?.signal?.throwIfAborted()
    return this.uploads.get(bucket, key, uploadId)
  }

  async listUploads (bucket: string, options: UploadListOptions): Promise<MultipartUpload[]> {
    options.signal?.throwIfAborted()
    return this.uploads.list(bucket, options)
  }

  async putPart (bucket: string, key: string, uploadId: string, part: UploadedPart, options?: WriteOptions): Promise<PartWriteResult | undefined> {
    this.checkChange(options)
    const result = this.uploads.putPart(bucket, key, uploadId, part, options?.sourceCid)
    return result === undefined ? undefined : this.enqueueFor(options, result)
  }

  async listParts (bucket: string, key: string, uploadId: string, options: PartListOptions): Promise<UploadedPart[] | undefined> {
    options.signal?.throwIfAborted()
    return this.uploads.listParts(bucket, key, uploadId, options)
  }

  async completeUpload (version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>, completed: CompletedUpload, options?: CompleteOptions): Promise<CompleteResult> {
    this.checkChange(options)
    const result = this.uploads.complete(version, uploadId, parts, completed, options?.condition)
    return result.status === 'completed' ? this.enqueueFor(options, result) : result
  }

  async getCompletedUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<CompletedUpload | undefined> {
    options?.signal?.throwIfAborted()
    return this.uploads.getCompleted(bucket, key, uploadId)
  }

  async abortUpload (bucket: string, key: string, uploadId: string, options?: ChangeOptions): Promise<{ released: string[] } | undefined> {
    this.checkChange(options)
    const result = this.uploads.abort(bucket, key, uploadId)
    return result === undefined ? undefined : this.enqueueFor(options, result)
  }

  async refCount (cid: string, options?: AbortOptions): Promise<number> {
    options?.signal?.throwIfAborted()
    return this.refs.get(cid) ?? 0
  }

  async * referencedCids (options?: AbortOptions): AsyncIterable<string> {
    options?.signal?.throwIfAborted()
    const cids = [...this.refs.keys()].sort(compareKeys)
    for (const cid of cids) {
      options?.signal?.throwIfAborted()
      yield cid
    }
  }

  async stats (options?: StatsOptions): Promise<StoreStats | undefined> {
    options?.signal?.throwIfAborted()
    if (options?.bucket !== undefined) {
      const state = this.buckets.get(options.bucket)
      return state === undefined ? undefined : { buckets: 1, objects: state.objects, bytes: state.bytes, uploads: state.uploads.size }
    }
    const totals: StoreStats = { buckets: this.buckets.size, objects: 0, bytes: 0, uploads: 0 }
    for (const state of this.buckets.values()) {
      totals.objects += state.objects
      totals.bytes += state.bytes
      totals.uploads += state.uploads.size
    }
    return totals
  }

  /** Rejects once the store is closed. */
  async ping (options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    if (this.closed) throw storeClosed()
  }

  async setVersionArchive (bucket: string, key: string, versionId: string, change: ArchiveChange, options?: ChangeOptions): Promise<ArchiveChangeResult> {
    this.checkChange(options)
    const result = this.versions.setArchive(bucket, key, versionId, change)
    return result.status === 'changed' ? this.enqueueFor(options, result) : result
  }

  async getArchive (cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> {
    options?.signal?.throwIfAborted()
    return this.archives.get(cid)
  }

  async markArchiveDeleting (cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> {
    options?.signal?.throwIfAborted()
    return this.archives.markDeleting(cid)
  }

  async deleteArchive (cid: string, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.archives.delete(cid)
  }

  async createSnapshot (record: SnapshotRecord, options?: ChangeOptions): Promise<'created' | 'exists' | 'no-bucket'> {
    this.checkChange(options)
    if (!this.buckets.has(record.bucket)) return 'no-bucket'
    const outcome = this.snapshots.create(record)
    if (outcome === 'created') this.enqueueFor(options, { released: [] })
    return outcome
  }

  async getSnapshot (bucket: string, id: string, options?: AbortOptions): Promise<SnapshotRecord | undefined> {
    options?.signal?.throwIfAborted()
    return this.snapshots.get(bucket, id)
  }

  async listSnapshots (bucket: string, options: SnapshotListOptions): Promise<SnapshotRecord[]> {
    options.signal?.throwIfAborted()
    return this.snapshots.list(bucket, options)
  }

  async deleteSnapshot (bucket: string, id: string, options?: ChangeOptions): Promise<SnapshotDeleteResult> {
    this.checkChange(options)
    const result = this.snapshots.delete(bucket, id)
    return result.deleted === undefined ? result : this.enqueueFor(options, result)
  }

  async listSnapshotsByCid (cid: string, options: SnapshotCidListOptions): Promise<SnapshotMatch[]> {
    options.signal?.throwIfAborted()
    return this.snapshots.listByCid(cid, options)
  }

  async close (): Promise<void> {
    this.closed = true
  }

  private requireReferenced (cid: string | undefined): void {
    if (cid !== undefined && (this.refs.get(cid) ?? 0) === 0) throw sourceReleased(cid)
  }

  /** Before a change: its signal, and its jobs (a bad one must refuse the change before any of it happens). */
  protected checkChange (options: ChangeOptions | undefined): void {
    options?.signal?.throwIfAborted()
    for (const job of options?.jobs ?? []) {
      const bad = badJob(job)
      if (bad !== undefined) throw bad
    }
  }

  /** At the end of a change: the jobs it enqueues. */
  protected enqueueFor<T extends { released: string[] } | CompleteResult> (options: ChangeOptions | undefined, result: T): T {
    const released = 'released' in result ? result.released : []
    if (options?.jobs !== undefined || options?.jobsOnRelease !== undefined) this.jobs.enqueue(jobsOf(options, released, (cid) => this.replicas.get(cid).length > 0))
    return result
  }

  protected retain (cid: string | undefined): void {
    if (cid !== undefined && cid !== '') this.refs.set(cid, (this.refs.get(cid) ?? 0) + 1)
  }

  // Drops one reference; returns the CID when that was its last one.
  protected release (cid: string | undefined): string[] {
    if (cid === undefined || cid === '') return []
    const count = (this.refs.get(cid) ?? 0) - 1
    if (count > 0) {
      this.refs.set(cid, count)
      return []
    }
    this.refs.delete(cid)
    return [cid]
  }
}
