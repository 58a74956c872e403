import { CID } from 'multiformats/cid'
import type { Pinner } from '../content/pins.js'
import type { AbortOptions, GatewayLogger } from '../types.js'
import type {
  BucketConfigKind, BucketRecord, CidListOptions, CidMatch, CompletedUpload, CompleteOptions, CompleteResult, DeleteResult, ListedObject, ListOptions, MetadataStore,
  MultipartUpload, ObjectVersion, PartListOptions, PartWriteResult, PutOptions, UploadedPart, UploadListOptions, VersionListOptions, WriteOptions,
  WriteResult,
} from './metadata-store.js'
import type { SearchCountOptions, SearchDriver, SearchReadOptions } from './search.js'
import type { ChangeOptions, ClaimOptions, Job, JobCount, JobListOptions, JobOutcome, NewJob } from './jobs.js'
import type { PinDeleteResult, PinList, PinListOptions, PinRecord, PinState, PinStatusOptions } from './pins.js'
import type { ReplicaListOptions, ReplicaRecord } from './replicas.js'
import type { ArchiveChange, ArchiveChangeResult, ArchiveRecord } from './archives.js'
import type { SnapshotCidListOptions, SnapshotDeleteResult, SnapshotListOptions, SnapshotMatch, SnapshotRecord } from './snapshots.js'

/**
 * A MetadataStore whose reference changes are mirrored as pins on a networked node: a root is
 * pinned before the change that references it commits, and unpinned after the change that
 * releases its last reference. If the process dies in between, the pinned set has an extra root
 * (harmless) or misses an unpin, which `reconcilePins` (at start-up and in `gc`) repairs. A failed
 * unpin is logged, not thrown: the metadata change has happened.
 */
export class PinnedMetadataStore implements MetadataStore {
  /** The wrapped store's, when it has them. */
  readonly stats?: MetadataStore['stats']
  readonly ping?: MetadataStore['ping']

  constructor (private readonly store: MetadataStore, private readonly pinner: Pinner, private readonly logger?: Pick<GatewayLogger, 'warn'>) {
    if (store.stats !== undefined) this.stats = store.stats.bind(store)
    if (store.ping !== undefined) this.ping = store.ping.bind(store)
  }

  private async pin (cid: string, options?: AbortOptions): Promise<void> {
    if (cid !== '') await this.pinner.pin(CID.parse(cid), options)
  }

  /** After a change that was refused: its root's pin goes unless the CID is referenced (a failed check leaves it to reconcile). */
  private async unpinUnreferenced (cid: string): Promise<void> {
    if (cid !== '' && await this.store.refCount(cid).catch(() => 1) === 0) await this.unpin([cid])
  }

  private async unpin (released: string[]): Promise<void> {
    for (const cid of released) {
      try {
        await this.pinner.unpin(CID.parse(cid))
      } catch (err) {
        this.logger?.warn({ cid, err }, 'unpin failed; the next reconcile retries it')
      }
    }
  }

  async createBucket (bucket: BucketRecord, options?: AbortOptions): Promise<boolean> { return await this.store.createBucket(bucket, options) }
  async getBucket (name: string, options?: AbortOptions): Promise<BucketRecord | undefined> { return await this.store.getBucket(name, options) }
  async setBucketVersioning (name: string, versioning: 'Enabled' | 'Suspended', options?: AbortOptions): Promise<boolean> { return await this.store.setBucketVersioning(name, versioning, options) }
  async setBucketConfig (name: string, kind: BucketConfigKind, value: string | undefined, options?: AbortOptions): Promise<boolean> { return await this.store.setBucketConfig(name, kind, value, options) }
  async listBuckets (owner?: string, options?: AbortOptions): Promise<BucketRecord[]> { return await this.store.listBuckets(owner, options) }
  /** Parts of uploads and snapshots removed with a bucket are unpinned by the next reconcile (their CIDs are not reported). */
  async deleteBucket (name: string, options?: ChangeOptions): Promise<'deleted' | 'not-empty' | 'missing'> { return await this.store.deleteBucket(name, options) }

  async putObject (version: ObjectVersion, options?: PutOptions): Promise<WriteResult> {
    if (!version.deleteMarker) await this.pin(version.cid, options)
    const result = await this.store.putObject(version, options).catch(async (err: unknown) => {
      // Refused (a condition, a released source): the pin taken for it goes unless something else holds the CID.
      if (!version.deleteMarker) await this.unpinUnreferenced(version.cid)
      throw err
    })
    await this.unpin(result.released)
    return result
  }

  async getObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined> { return await this.store.getObject(bucket, key, versionId, options) }

  async deleteObject (bucket: string, key: string, versionId?: string, options?: ChangeOptions): Promise<DeleteResult> {
    const result = await this.store.deleteObject(bucket, key, versionId, options)
    await this.unpin(result.released)
    return result
  }

  async setObjectTags (bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean> { return await this.store.setObjectTags(bucket, key, versionId, tags, options) }
  async setObjectAcl (bucket: string, key: string, versionId: string | undefined, acl: string, options?: AbortOptions): Promise<boolean> { return await this.store.setObjectAcl(bucket, key, versionId, acl, options) }
  async listObjects (bucket: string, options: ListOptions): Promise<ListedObject[]> { return await this.store.listObjects(bucket, options) }
  async listVersions (bucket: string, options: VersionListOptions): Promise<ListedObject[]> { return await this.store.listVersions(bucket, options) }
  async listKeys (bucket: string, options: ListOptions): Promise<string[]> { return await this.store.listKeys(bucket, options) }
  async listVersionsByCid (cid: string, options: CidListOptions): Promise<CidMatch[]> { return await this.store.listVersionsByCid(cid, options) }
  async searchObjects (bucket: string, driver: SearchDriver, options: SearchReadOptions): Promise<ObjectVersion[]> { return await this.store.searchObjects(bucket, driver, options) }
  async countSearch (bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: SearchCountOptions): Promise<number> { return await this.store.countSearch(bucket, driver, options) }
  async createUpload (upload: MultipartUpload, options?: AbortOptions): Promise<void> { await this.store.createUpload(upload, options) }
  async getUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<MultipartUpload | undefined> { return await this.store.getUpload(bucket, key, uploadId, options) }
  async listUploads (bucket: string, options: UploadListOptions): Promise<MultipartUpload[]> { return await this.store.listUploads(bucket, options) }

  async putPart (bucket: string, key: string, uploadId: string, part: UploadedPart, options?: WriteOptions): Promise<PartWriteResult | undefined> {
    await this.pin(part.cid, options)
    const result = await this.store.putPart(bucket, key, uploadId, part, options)
    // A part refused (upload gone) leaves its pin to the next reconcile, unless nothing references it now.
    if (result === undefined) {
      if (await this.store.refCount(part.cid) === 0) await this.unpin([part.cid])
      return result
    }
    await this.unpin(result.released)
    return result
  }

  async listParts (bucket: string, key: string, uploadId: string, options: PartListOptions): Promise<UploadedPart[] | undefined> { return await this.store.listParts(bucket, key, uploadId, options) }

  async completeUpload (version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>, completed: CompletedUpload, options?: CompleteOptions): Promise<CompleteResult> {
    await this.pin(version.cid, options)
    const result = await this.store.completeUpload(version, uploadId, parts, completed, options).catch(async (err: unknown) => {
      await this.unpinUnreferenced(version.cid)
      throw err
    })
    if (result.status === 'completed') await this.unpin(result.released)
    else if (await this.store.refCount(version.cid) === 0) await this.unpin([version.cid])
    return result
  }

  async getCompletedUpload (bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<CompletedUpload | undefined> { return await this.store.getCompletedUpload(bucket, key, uploadId, options) }

  async abortUpload (bucket: string, key: string, uploadId: string, options?: ChangeOptions): Promise<{ released: string[] } | undefined> {
    const result = await this.store.abortUpload(bucket, key, uploadId, options)
    if (result !== undefined) await this.unpin(result.released)
    return result
  }

  async refCount (cid: string, options?: AbortOptions): Promise<number> { return await this.store.refCount(cid, options) }
  referencedCids (options?: AbortOptions): AsyncIterable<string> { return this.store.referencedCids(options) }
  async enqueueJobs (jobs: NewJob[], options?: AbortOptions): Promise<void> { await this.store.enqueueJobs(jobs, options) }
  async claimJobs (options: ClaimOptions): Promise<Job[]> { return await this.store.claimJobs(options) }
  async finishJob (id: string, lease: string, outcome: JobOutcome, options?: AbortOptions): Promise<boolean> { return await this.store.finishJob(id, lease, outcome, options) }
  async extendLease (id: string, lease: string, leaseMs: number, options?: AbortOptions & { now?: Date }): Promise<boolean> { return await this.store.extendLease(id, lease, leaseMs, options) }
  async getJob (kind: string, key: string, options?: AbortOptions): Promise<Job | undefined> { return await this.store.getJob(kind, key, options) }
  async listJobs (options: JobListOptions): Promise<Job[]> { return await this.store.listJobs(options) }
  async countJobs (options?: AbortOptions): Promise<JobCount[]> { return await this.store.countJobs(options) }
  async removeJob (kind: string, key: string, options?: AbortOptions): Promise<boolean> { return await this.store.removeJob(kind, key, options) }
  async putReplica (record: ReplicaRecord, options?: AbortOptions): Promise<void> { await this.store.putReplica(record, options) }
  async getReplicas (cid: string, options?: AbortOptions): Promise<ReplicaRecord[]> { return await this.store.getReplicas(cid, options) }
  async deleteReplica (cid: string, service: string, options?: AbortOptions): Promise<boolean> { return await this.store.deleteReplica(cid, service, options) }
  async listReplicas (options: ReplicaListOptions): Promise<ReplicaRecord[]> { return await this.store.listReplicas(options) }

  async createPin (pin: PinRecord, options?: ChangeOptions): Promise<PinRecord> {
    if (pin.status === 'pinned') await this.pin(pin.cid, options)
    return await this.store.createPin(pin, options)
  }

  async getPin (requestId: string, options?: AbortOptions): Promise<PinRecord | undefined> { return await this.store.getPin(requestId, options) }

  async setPinStatus (requestId: string, status: PinState, options?: PinStatusOptions): Promise<boolean> {
    const before = await this.store.getPin(requestId, options)
    if (before === undefined) return false
    if (status === 'pinned') await this.pin(before.cid, options)
    const changed = await this.store.setPinStatus(requestId, status, options)
    // Leaving pinned may have released the CID's last reference (the store does not say which).
    if (changed && before.status === 'pinned' && status !== 'pinned' && await this.store.refCount(before.cid) === 0) await this.unpin([before.cid])
    return changed
  }

  async deletePin (requestId: string, options?: ChangeOptions): Promise<PinDeleteResult> {
    const result = await this.store.deletePin(requestId, options)
    await this.unpin(result.released)
    return result
  }

  async replacePin (oldRequestId: string, pin: PinRecord, options?: ChangeOptions): Promise<PinRecord | undefined> {
    const old = await this.store.getPin(oldRequestId, options)
    const replaced = await this.store.replacePin(oldRequestId, pin, options)
    if (replaced !== undefined && old?.status === 'pinned' && old.cid !== pin.cid && await this.store.refCount(old.cid) === 0) await this.unpin([old.cid])
    return replaced
  }

  async listPins (options: PinListOptions): Promise<PinList> { return await this.store.listPins(options) }

  /** A restore takes the version's reference again: pinned before it commits, like a write. */
  async setVersionArchive (bucket: string, key: string, versionId: string, change: ArchiveChange, options?: ChangeOptions): Promise<ArchiveChangeResult> {
    const retaking = change.restore !== undefined && change.restore !== null && !change.restore.ongoing
    if (retaking) await this.pin(change.cid, options)
    const result = await this.store.setVersionArchive(bucket, key, versionId, change, options).catch(async (err: unknown) => {
      if (retaking) await this.unpinUnreferenced(change.cid)
      throw err
    })
    if (result.status === 'changed') await this.unpin(result.released)
    else if (retaking) await this.unpinUnreferenced(change.cid)
    return result
  }

  async getArchive (cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> { return await this.store.getArchive(cid, options) }
  async markArchiveDeleting (cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> { return await this.store.markArchiveDeleting(cid, options) }
  async deleteArchive (cid: string, options?: AbortOptions): Promise<boolean> { return await this.store.deleteArchive(cid, options) }
  /** A snapshot's root is pinned (the whole directory, and so every file it links) before its record commits. */
  async createSnapshot (record: SnapshotRecord, options?: ChangeOptions): Promise<'created' | 'exists' | 'no-bucket'> {
    await this.pin(record.cid, options)
    const outcome = await this.store.createSnapshot(record, options).catch(async (err: unknown) => {
      await this.unpinUnreferenced(record.cid)
      throw err
    })
    if (outcome !== 'created') await this.unpinUnreferenced(record.cid)
    return outcome
  }

  async getSnapshot (bucket: string, id: string, options?: AbortOptions): Promise<SnapshotRecord | undefined> { return await this.store.getSnapshot(bucket, id, options) }
  async listSnapshots (bucket: string, options: SnapshotListOptions): Promise<SnapshotRecord[]> { return await this.store.listSnapshots(bucket, options) }

  async deleteSnapshot (bucket: string, id: string, options?: ChangeOptions): Promise<SnapshotDeleteResult> {
    const result = await this.store.deleteSnapshot(bucket, id, options)
    await this.unpin(result.released)
    return result
  }

  async listSnapshotsByCid (cid: string, options: SnapshotCidListOptions): Promise<SnapshotMatch[]> { return await this.store.listSnapshotsByCid(cid, options) }
  async close (): Promise<void> { await this.store.close() }
}
