import type { AbortOptions } from '../types.js'
import type {
  BucketConfigKind, BucketRecord, CidListOptions, CidMatch, CompletedUpload, CompleteOptions, CompleteResult, DeleteResult, ListOptions, MetadataStore, MultipartUpload,
  ObjectVersion, PartListOptions, PartWriteResult, PutOptions, StatsOptions, StoreStats, WriteOptions, UploadedPart, UploadListOptions,
  VersionListOptions, WriteResult, ListedObject, WriteCondition,
} from './metadata-store.js'
import { noSuchBucket, sourceReleased, storeClosed, uploadExists } from './metadata-store.js'
import { CidIndex, copyBucket, copyCompleted, copyPart, copyUpload, copyTags, copyVersion, count, heldCid, indexOf, latestOf, listedOf, output, partBound, uploadBound, uploadKey } from './memory-state.js'
import type { KeyVersions, UploadState, BucketState, StoredVersion } from './memory-state.js'
import type { ChangeOptions } from './jobs.js'
import { badJob, jobsOf } from './jobs.js'
import { checkCondition } from './conditions.js'
import { MemoryBackground } from './memory-background.js'
import { MemoryArchives } from './memory-archives.js'
import { MemorySnapshots } from './memory-snapshots.js'
import type { SnapshotCidListOptions, SnapshotDeleteResult, SnapshotListOptions, SnapshotMatch, SnapshotRecord } from './snapshots.js'
import type { ArchiveChange, ArchiveChangeResult, ArchiveRecord } from './archives.js'
import { applyArchiveChange, archiveDeleteJob, versionHolds } from './archives.js'
import { MemorySearch } from './memory-search.js'
import type { SearchCountOptions, SearchDriver, SearchReadOptions } from './search.js'
import { compareKeys, lowerBound, prefixSuccessor, seekStart, uploadSeekStart, versionSeek } from './key-order.js'

/** A completed record in the store-wide pruning order. */
interface CompletedEntry {
  at: number
  state: BucketState
  id: string
  record: CompletedUpload
}

/** Completed records are kept at least this long after a newer completion. */
const COMPLETED_TTL = 60 * 60 * 1000

/**
 * Keeps everything in memory, for tests and for `createGateway()` without options.
 *
 * Every method finishes its whole change synchronously after checking its signal, so interleaved
 * async callers never see or leave half a change. Values go in and come out as copies.
 */
export class MemoryMetadataStore extends MemoryBackground implements MetadataStore {
  private readonly buckets = new Map<string, BucketState>()
  private readonly refs = new Map<string, number>()
  private readonly archives = new MemoryArchives()
  private readonly snapshots = new MemorySnapshots({ retain: (cid) => { this.retain(cid) }, release: (cid) => this.release(cid) })
  private readonly byCid = new CidIndex()
  private readonly search = new MemorySearch()
  /** Every completed record, oldest completion first. */
  private completedByTime: CompletedEntry[] = []
  /** Write order of versions: the last `seq` handed out. */
  private seq = 0
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
    const released: string[] = []
    for (const { parts } of state.uploads.values()) {
      for (const part of parts) released.push(...this.release(part.cid))
    }
    released.push(...this.snapshots.dropBucket(name))
    this.buckets.delete(name)
    this.enqueueFor(options, { released })
    return 'deleted'
  }

  async putObject (version: ObjectVersion, options?: PutOptions): Promise<WriteResult> {
    this.checkChange(options)
    this.requireCondition(version, options?.condition)
    this.requireReferenced(options?.sourceCid)
    return this.enqueueFor(options, this.put(version))
  }

  async getObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined> {
    options?.signal?.throwIfAborted()
    const chain = this.buckets.get(bucket)?.versions.get(key)
    const index = chain === undefined ? -1 : indexOf(chain, versionId)
    return chain === undefined || index === -1 ? undefined : output(chain.list[index].version, index === chain.list.length - 1)
  }

  async deleteObject (bucket: string, key: string, versionId?: string, options?: ChangeOptions): Promise<DeleteResult> {
    this.checkChange(options)
    const state = this.buckets.get(bucket)
    const chain = state?.versions.get(key)
    if (state === undefined || chain === undefined) return this.enqueueFor(options, { released: [] })
    const index = indexOf(chain, versionId)
    if (index === -1) return this.enqueueFor(options, { released: [] })
    const wasLatest = index === chain.list.length - 1
    const [{ version: deleted }] = chain.list.splice(index, 1)
    chain.seqs.delete(deleted.versionId)

    if (chain.list.length === 0) {
      state.versions.delete(key)
      state.keys.splice(lowerBound(state.keys, key), 1)
    }
    this.relist(state, key)
    count(state, deleted, -1)
    this.byCid.remove(deleted)
    return this.enqueueFor(options, { deleted: output(deleted, wasLatest), released: this.releaseHeld(deleted) })
  }

  async setObjectTags (bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const chain = this.buckets.get(bucket)?.versions.get(key)
    const index = chain === undefined ? -1 : indexOf(chain, versionId)
    if (chain === undefined || index === -1) return false
    const entry = chain.list[index]
    entry.version = { ...entry.version, tags: copyTags(tags) }
    if (index === chain.list.length - 1) this.relist(this.buckets.get(bucket) as BucketState, key)
    return true
  }

  async setObjectAcl (bucket: string, key: string, versionId: string | undefined, acl: string, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const chain = this.buckets.get(bucket)?.versions.get(key)
    const index = chain === undefined ? -1 : indexOf(chain, versionId)
    if (chain === undefined || index === -1) return false
    const entry = chain.list[index]
    entry.version = { ...entry.version, acl }
    return true
  }

  async listObjects (bucket: string, options: ListOptions): Promise<ListedObject[]> {
    options.signal?.throwIfAborted()
    const state = this.buckets.get(bucket)
    if (state === undefined || !(options.limit >= 1)) return []
    const start = seekStart(options)
    const limit = Math.floor(options.limit)
    const { listed, versions } = state
    const out: ListedObject[] = []
    for (let i = start === undefined ? 0 : lowerBound(listed, start); i < listed.length && out.length < limit; i++) {
      const key = listed[i]
      if (options.prefix !== undefined && !key.startsWith(options.prefix)) break
      out.push(listedOf(latestOf(versions.get(key) as KeyVersions), true))
    }
    return out
  }

  async listVersions (bucket: string, options: VersionListOptions): Promise<ListedObject[]> {
    options.signal?.throwIfAborted()
    const state = this.buckets.get(bucket)
    if (state === undefined || !(options.limit >= 1)) return []
    const { marker, start } = versionSeek(options)
    const limit = Math.floor(options.limit)
    const { keys, versions } = state
    const out: ListedObject[] = []
    const chain = marker === undefined ? undefined : versions.get(marker.key)
    if (marker !== undefined && chain !== undefined) {
      // Older than the marker version: earlier in the list. An unknown id lists none of the key.
      for (let j = indexOf(chain, marker.versionId) - 1; j >= 0 && out.length < limit; j--) out.push(listedOf(chain.list[j].version, false))
    }
    for (let i = start === undefined ? 0 : lowerBound(keys, start); i < keys.length && out.length < limit; i++) {
      const key = keys[i]
      if (options.prefix !== undefined && !key.startsWith(options.prefix)) break
      const { list } = versions.get(key) as KeyVersions
      for (let j = list.length - 1; j >= 0 && out.length < limit; j--) out.push(listedOf(list[j].version, j === list.length - 1))
    }
    return out
  }

  async listKeys (bucket: string, options: ListOptions): Promise<string[]> {
    options.signal?.throwIfAborted()
    const state = this.buckets.get(bucket)
    if (state === undefined || !(options.limit >= 1)) return []
    const start = seekStart(options)
    const limit = Math.floor(options.limit)
    const { listed } = state
    const out: string[] = []
    for (let i = start === undefined ? 0 : lowerBound(listed, start); i < listed.length && out.length < limit; i++) {
      const key = listed[i]
      if (options.prefix !== undefined && !key.startsWith(options.prefix)) break
      out.push(key)
    }
    return out
  }

  async searchObjects (bucket: string, driver: SearchDriver, options: SearchReadOptions): Promise<ObjectVersion[]> {
    options.signal?.throwIfAborted()
    const state = this.buckets.get(bucket)
    if (state === undefined) return []
    const keys = 'all' in driver
      ? await this.listKeys(bucket, { prefix: options.prefix, after: options.after, limit: options.limit })
      : this.search.keys(bucket, driver, options)
    return keys.map((key) => output(latestOf(state.versions.get(key) as KeyVersions), true))
  }

  async countSearch (bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: SearchCountOptions): Promise<number> {
    options.signal?.throwIfAborted()
    return this.search.count(bucket, driver, options)
  }

  async listVersionsByCid (cid: string, options: CidListOptions): Promise<CidMatch[]> {
    options.signal?.throwIfAborted()
    return this.byCid.list(cid, options).map((place) => {
      const chain = this.buckets.get(place.bucket)?.versions.get(place.key) as KeyVersions
      return { ...place, isLatest: indexOf(chain, place.versionId) === chain.list.length - 1 }
    })
  }

  async createUpload (upload: MultipartUpload, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    const state = this.buckets.get(upload.bucket)
    if (state === undefined) throw noSuchBucket(upload.bucket)
    const id = uploadKey(upload.key, upload.uploadId)
    if (state.uploads.has(id)) throw uploadExists(upload)
    state.uploads.set(id, { upload: copyUpload(upload), parts: [] })
    state.uploadOrder.splice(uploadBound(state.uploadOrder, upload.key, upload.uploadId), 0, [upload.key, upload.uploadId])
  }

  async getUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<MultipartUpload | undefined> {
    options?.signal?.throwIfAborted()
    const upload = this.buckets.get(bucket)?.uploads.get(uploadKey(key, uploadId))?.upload
    return upload === undefined ? undefined : copyUpload(upload)
  }

  async listUploads (bucket: string, options: UploadListOptions): Promise<MultipartUpload[]> {
    options.signal?.throwIfAborted()
    const state = this.buckets.get(bucket)
    if (state === undefined || !(options.limit >= 1)) return []
    const [startKey, startUploadId] = uploadSeekStart(options)
    const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
    const limit = Math.floor(options.limit)
    const { uploadOrder, uploads } = state
    const out: MultipartUpload[] = []
    for (let i = uploadBound(uploadOrder, startKey, startUploadId); i < uploadOrder.length && out.length < limit; i++) {
      const [key, uploadId] = uploadOrder[i]
      if (end !== undefined && compareKeys(key, end) >= 0) break
      out.push(copyUpload((uploads.get(uploadKey(key, uploadId)) as UploadState).upload))
    }
    return out
  }

  async putPart (bucket: string, key: string, uploadId: string, part: UploadedPart, options?: WriteOptions): Promise<PartWriteResult | undefined> {
    this.checkChange(options)
    const upload = this.buckets.get(bucket)?.uploads.get(uploadKey(key, uploadId))
    if (upload === undefined) return undefined
    this.requireReferenced(options?.sourceCid)
    const { parts } = upload
    const i = partBound(parts, part.partNumber)
    const replaced = parts[i]?.partNumber === part.partNumber ? parts[i] : undefined
    parts.splice(i, replaced === undefined ? 0 : 1, copyPart(part))
    this.retain(part.cid)
    return this.enqueueFor(options, {
      ...(replaced === undefined ? {} : { replaced: copyPart(replaced) }),
      released: replaced === undefined ? [] : this.release(replaced.cid),
    })
  }

  async listParts (bucket: string, key: string, uploadId: string, options: PartListOptions): Promise<UploadedPart[] | undefined> {
    options.signal?.throwIfAborted()
    const upload = this.buckets.get(bucket)?.uploads.get(uploadKey(key, uploadId))
    if (upload === undefined) return undefined
    if (!(options.limit >= 1)) return []
    const start = options.after === undefined ? 0 : partBound(upload.parts, Math.floor(options.after) + 1)
    return upload.parts.slice(start, start + Math.min(Math.floor(options.limit), upload.parts.length)).map(copyPart)
  }

  async completeUpload (version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>, completed: CompletedUpload, options?: CompleteOptions): Promise<CompleteResult> {
    this.checkChange(options)
    const state = this.buckets.get(version.bucket)
    const id = uploadKey(version.key, uploadId)
    const upload = state?.uploads.get(id)
    if (state === undefined || upload === undefined) return { status: 'no-upload' }
    for (const { partNumber, cid } of parts) {
      const stored = upload.parts[partBound(upload.parts, partNumber)]
      if (stored?.partNumber !== partNumber || stored.cid !== cid) return { status: 'parts-changed' }
    }
    this.requireCondition(version, options?.condition)
    // The version's reference is taken first, so a part CID the object shares is not released.
    const result = this.put(version)
    const released = [...result.released]
    for (const part of this.removeUpload(state, version.key, uploadId)) released.push(...this.release(part.cid))
    this.recordCompleted(state, id, copyCompleted(completed))
    return this.enqueueFor<CompleteResult>(options, { status: 'completed', ...result, released })
  }

  async getCompletedUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<CompletedUpload | undefined> {
    options?.signal?.throwIfAborted()
    const record = this.buckets.get(bucket)?.completed.get(uploadKey(key, uploadId))
    return record === undefined ? undefined : copyCompleted(record)
  }

  async abortUpload (bucket: string, key: string, uploadId: string, options?: ChangeOptions): Promise<{ released: string[] } | undefined> {
    this.checkChange(options)
    const state = this.buckets.get(bucket)
    if (state?.uploads.has(uploadKey(key, uploadId)) !== true) return undefined
    return this.enqueueFor(options, { released: this.removeUpload(state, key, uploadId).flatMap((part) => this.release(part.cid)) })
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
    const chain = this.buckets.get(bucket)?.versions.get(key)
    const index = chain === undefined ? -1 : indexOf(chain, versionId)
    const entry = chain === undefined || index === -1 ? undefined : chain.list[index]
    const outcome = applyArchiveChange(entry?.version, change, this.archives.deleting(change.cid))
    if (entry === undefined || outcome.status === 'missing') return { status: 'missing' }
    const isLatest = index === (chain?.list.length ?? 0) - 1
    if (outcome.status === 'conflict') return { status: 'conflict', version: output(entry.version, isLatest) }
    const before = versionHolds(entry.version)
    const after = versionHolds(outcome.next)
    entry.version = outcome.next
    if (isLatest) this.relist(this.buckets.get(bucket) as BucketState, key)
    if (change.archive !== undefined) this.archives.hold(change.cid, change.archive)
    if (after.local !== undefined && before.local === undefined) this.retain(after.local)
    const released = before.local !== undefined && after.local === undefined ? this.release(before.local) : []
    return this.enqueueFor(options, { status: 'changed', version: output(entry.version, isLatest), released })
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

  private requireCondition ({ bucket, key }: ObjectVersion, condition: WriteCondition | undefined): void {
    const state = this.buckets.get(bucket)
    if (state === undefined) return // put throws noSuchBucket
    const chain = state.versions.get(key)
    checkCondition(condition, bucket, key, chain === undefined ? undefined : latestOf(chain))
  }

  private requireReferenced (cid: string | undefined): void {
    if (cid !== undefined && (this.refs.get(cid) ?? 0) === 0) throw sourceReleased(cid)
  }

  private put (version: ObjectVersion): WriteResult {
    const state = this.buckets.get(version.bucket)
    if (state === undefined) throw noSuchBucket(version.bucket)
    const stored = copyVersion(version)
    delete stored.archived
    delete stored.restore
    let chain = state.versions.get(stored.key)
    if (chain === undefined) {
      chain = { list: [], seqs: new Map() }
      state.versions.set(stored.key, chain)
      state.keys.splice(lowerBound(state.keys, stored.key), 0, stored.key)
    }
    const index = indexOf(chain, stored.versionId)
    const wasLatest = index === chain.list.length - 1
    const replaced = index === -1 ? undefined : chain.list.splice(index, 1)[0].version
    const seq = ++this.seq
    chain.list.push({ seq, version: stored })
    chain.seqs.set(stored.versionId, seq)

    this.relist(state, stored.key)
    count(state, stored, 1)
    if (replaced !== undefined) count(state, replaced, -1)
    if (replaced !== undefined) this.byCid.remove(replaced)
    this.byCid.add(stored)
    this.retain(heldCid(stored))
    return {
      ...(replaced === undefined ? {} : { replaced: output(replaced, wasLatest) }),
      released: replaced === undefined ? [] : this.releaseHeld(replaced),
    }
  }

  /** Releases what a version that is gone held: its local reference, its count in an archive record. */
  private releaseHeld (version: StoredVersion): string[] {
    const holds = versionHolds(version)
    if (holds.archive !== undefined && this.archives.release(holds.archive)) this.jobs.enqueue([archiveDeleteJob(holds.archive)])
    return this.release(holds.local)
  }

  // Removes an upload in progress; returns its parts, whose references the caller releases.
  private removeUpload (state: BucketState, key: string, uploadId: string): UploadedPart[] {
    const id = uploadKey(key, uploadId)
    const upload = state.uploads.get(id)
    if (upload === undefined) return []
    state.uploads.delete(id)
    state.uploadOrder.splice(uploadBound(state.uploadOrder, key, uploadId), 1)
    return upload.parts
  }

  // Keeps the record, and drops those completed more than COMPLETED_TTL before it.
  private recordCompleted (state: BucketState, id: string, record: CompletedUpload): void {
    const at = record.completed.getTime()
    state.completed.set(id, record)
    const order = this.completedByTime
    let lo = 0
    let hi = order.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (order[mid].at <= at) lo = mid + 1
      else hi = mid
    }
    order.splice(lo, 0, { at, state, id, record })

    let stale = 0
    while (stale < order.length && order[stale].at < at - COMPLETED_TTL) stale++
    for (const entry of order.slice(0, stale)) {
      // The entry may be outdated: its bucket deleted, or the record replaced since.
      if (entry.state.completed.get(entry.id) === entry.record) entry.state.completed.delete(entry.id)
    }
    if (stale > 0) this.completedByTime = order.slice(stale)
  }

  // Keeps `listed` and the search index in step with the key's latest version.
  private relist (state: BucketState, key: string): void {
    const chain = state.versions.get(key)
    const latest = chain === undefined ? undefined : latestOf(chain)
    const shouldList = latest !== undefined && !latest.deleteMarker
    const i = lowerBound(state.listed, key)
    const present = state.listed[i] === key
    if (shouldList && !present) state.listed.splice(i, 0, key)
    else if (!shouldList && present) state.listed.splice(i, 1)
    this.search.reindex(state.record.name, key, shouldList ? latest : undefined)
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
