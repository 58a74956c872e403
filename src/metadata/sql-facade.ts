import type { AbortOptions } from '../types.js'
import type { ChangeOptions, ClaimOptions, Job, JobCount, JobListOptions, JobOutcome, JobQueue, NewJob } from './jobs.js'
import type { PinDeleteResult, PinList, PinListOptions, PinRecord, PinState, PinStatusOptions, PinStore } from './pins.js'
import type { ReplicaListOptions, ReplicaRecord, ReplicaStore } from './replicas.js'
import type { ArchiveChange, ArchiveChangeResult, ArchiveRecord, ArchiveStore } from './archives.js'
import type { ObjectVersion } from './metadata-store.js'
import type { SearchCountOptions, SearchDriver, SearchIndex, SearchReadOptions } from './search.js'
import type { SnapshotCidListOptions, SnapshotDeleteResult, SnapshotListOptions, SnapshotMatch, SnapshotRecord, SnapshotStore } from './snapshots.js'

/**
 * A SQL store's functions for the concerns beside objects and uploads (the job queue, replica rows,
 * pins, archive records, the search index, snapshots), each taking the store's connection first:
 * sqlite/{jobs,pins,archives,search,snapshots}.ts and postgres/{jobs,pins,archives,search,snapshots}.ts.
 */
export interface SqlStoreFunctions<DB> {
  enqueueJobs: (db: DB, jobs: NewJob[], options?: AbortOptions) => Promise<void>
  claimJobs: (db: DB, options: ClaimOptions) => Promise<Job[]>
  finishJob: (db: DB, id: string, lease: string, outcome: JobOutcome, options?: AbortOptions) => Promise<boolean>
  extendLease: (db: DB, id: string, lease: string, leaseMs: number, options?: AbortOptions & { now?: Date }) => Promise<boolean>
  getJob: (db: DB, kind: string, key: string, options?: AbortOptions) => Promise<Job | undefined>
  listJobs: (db: DB, options: JobListOptions) => Promise<Job[]>
  countJobs: (db: DB, options?: AbortOptions) => Promise<JobCount[]>
  removeJob: (db: DB, kind: string, key: string, options?: AbortOptions) => Promise<boolean>
  putReplica: (db: DB, record: ReplicaRecord, options?: AbortOptions) => Promise<void>
  getReplicas: (db: DB, cid: string, options?: AbortOptions) => Promise<ReplicaRecord[]>
  deleteReplica: (db: DB, cid: string, service: string, options?: AbortOptions) => Promise<boolean>
  listReplicas: (db: DB, options: ReplicaListOptions) => Promise<ReplicaRecord[]>
  createPin: (db: DB, pin: PinRecord, options?: ChangeOptions) => Promise<PinRecord>
  getPin: (db: DB, requestId: string, options?: AbortOptions) => Promise<PinRecord | undefined>
  setPinStatus: (db: DB, requestId: string, status: PinState, options?: PinStatusOptions) => Promise<boolean>
  deletePin: (db: DB, requestId: string, options?: ChangeOptions) => Promise<PinDeleteResult>
  replacePin: (db: DB, oldRequestId: string, pin: PinRecord, options?: ChangeOptions) => Promise<PinRecord | undefined>
  listPins: (db: DB, options: PinListOptions) => Promise<PinList>
  setVersionArchive: (db: DB, bucket: string, key: string, versionId: string, change: ArchiveChange, options?: ChangeOptions) => Promise<ArchiveChangeResult>
  getArchive: (db: DB, cid: string, options?: AbortOptions) => Promise<ArchiveRecord | undefined>
  markArchiveDeleting: (db: DB, cid: string, options?: AbortOptions) => Promise<ArchiveRecord | undefined>
  deleteArchive: (db: DB, cid: string, options?: AbortOptions) => Promise<boolean>
  searchObjects: (db: DB, bucket: string, driver: SearchDriver, options: SearchReadOptions) => Promise<ObjectVersion[]>
  countSearch: (db: DB, bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: SearchCountOptions) => Promise<number>
  createSnapshot: (db: DB, record: SnapshotRecord, options?: ChangeOptions) => Promise<'created' | 'exists' | 'no-bucket'>
  getSnapshot: (db: DB, bucket: string, id: string, options?: AbortOptions) => Promise<SnapshotRecord | undefined>
  listSnapshots: (db: DB, bucket: string, options: SnapshotListOptions) => Promise<SnapshotRecord[]>
  deleteSnapshot: (db: DB, bucket: string, id: string, options?: ChangeOptions) => Promise<SnapshotDeleteResult>
  listSnapshotsByCid: (db: DB, cid: string, options: SnapshotCidListOptions) => Promise<SnapshotMatch[]>
}

/**
 * The methods of those concerns, written once for both SQL stores: each hands its connection to
 * the store's own function (the SQL differs; the delegation does not).
 */
export abstract class SqlStoreFacade<DB> implements JobQueue, ReplicaStore, PinStore, ArchiveStore, SearchIndex, SnapshotStore {
  protected constructor (protected readonly db: DB, private readonly fns: SqlStoreFunctions<DB>) {}

  async enqueueJobs (jobs: NewJob[], options?: AbortOptions): Promise<void> { await this.fns.enqueueJobs(this.db, jobs, options) }
  async claimJobs (options: ClaimOptions): Promise<Job[]> { return await this.fns.claimJobs(this.db, options) }
  async finishJob (id: string, lease: string, outcome: JobOutcome, options?: AbortOptions): Promise<boolean> { return await this.fns.finishJob(this.db, id, lease, outcome, options) }
  async extendLease (id: string, lease: string, leaseMs: number, options?: AbortOptions & { now?: Date }): Promise<boolean> { return await this.fns.extendLease(this.db, id, lease, leaseMs, options) }
  async getJob (kind: string, key: string, options?: AbortOptions): Promise<Job | undefined> { return await this.fns.getJob(this.db, kind, key, options) }
  async listJobs (options: JobListOptions): Promise<Job[]> { return await this.fns.listJobs(this.db, options) }
  async countJobs (options?: AbortOptions): Promise<JobCount[]> { return await this.fns.countJobs(this.db, options) }
  async removeJob (kind: string, key: string, options?: AbortOptions): Promise<boolean> { return await this.fns.removeJob(this.db, kind, key, options) }
  async putReplica (record: ReplicaRecord, options?: AbortOptions): Promise<void> { await this.fns.putReplica(this.db, record, options) }
  async getReplicas (cid: string, options?: AbortOptions): Promise<ReplicaRecord[]> { return await this.fns.getReplicas(this.db, cid, options) }
  async deleteReplica (cid: string, service: string, options?: AbortOptions): Promise<boolean> { return await this.fns.deleteReplica(this.db, cid, service, options) }
  async listReplicas (options: ReplicaListOptions): Promise<ReplicaRecord[]> { return await this.fns.listReplicas(this.db, options) }
  async createPin (pin: PinRecord, options?: ChangeOptions): Promise<PinRecord> { return await this.fns.createPin(this.db, pin, options) }
  async getPin (requestId: string, options?: AbortOptions): Promise<PinRecord | undefined> { return await this.fns.getPin(this.db, requestId, options) }
  async setPinStatus (requestId: string, status: PinState, options?: PinStatusOptions): Promise<boolean> { return await this.fns.setPinStatus(this.db, requestId, status, options) }
  async deletePin (requestId: string, options?: ChangeOptions): Promise<PinDeleteResult> { return await this.fns.deletePin(this.db, requestId, options) }
  async replacePin (oldRequestId: string, pin: PinRecord, options?: ChangeOptions): Promise<PinRecord | undefined> { return await this.fns.replacePin(this.db, oldRequestId, pin, options) }
  async listPins (options: PinListOptions): Promise<PinList> { return await this.fns.listPins(this.db, options) }
  async setVersionArchive (bucket: string, key: string, versionId: string, change: ArchiveChange, options?: ChangeOptions): Promise<ArchiveChangeResult> {
    return await this.fns.setVersionArchive(this.db, bucket, key, versionId, change, options)
  }

  async getArchive (cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> { return await this.fns.getArchive(this.db, cid, options) }
  async markArchiveDeleting (cid: string, options?: AbortOptions): Promise<ArchiveRecord | undefined> { return await this.fns.markArchiveDeleting(this.db, cid, options) }
  async deleteArchive (cid: string, options?: AbortOptions): Promise<boolean> { return await this.fns.deleteArchive(this.db, cid, options) }

  async searchObjects (bucket: string, driver: SearchDriver, options: SearchReadOptions): Promise<ObjectVersion[]> { return await this.fns.searchObjects(this.db, bucket, driver, options) }
  async countSearch (bucket: string, driver: Exclude<SearchDriver, { all: true }>, options: SearchCountOptions): Promise<number> {
    return await this.fns.countSearch(this.db, bucket, driver, options)
  }

  async createSnapshot (record: SnapshotRecord, options?: ChangeOptions): Promise<'created' | 'exists' | 'no-bucket'> { return await this.fns.createSnapshot(this.db, record, options) }
  async getSnapshot (bucket: string, id: string, options?: AbortOptions): Promise<SnapshotRecord | undefined> { return await this.fns.getSnapshot(this.db, bucket, id, options) }
  async listSnapshots (bucket: string, options: SnapshotListOptions): Promise<SnapshotRecord[]> { return await this.fns.listSnapshots(this.db, bucket, options) }
  async deleteSnapshot (bucket: string, id: string, options?: ChangeOptions): Promise<SnapshotDeleteResult> { return await this.fns.deleteSnapshot(this.db, bucket, id, options) }
  async listSnapshotsByCid (cid: string, options: SnapshotCidListOptions): Promise<SnapshotMatch[]> { return await this.fns.listSnapshotsByCid(this.db, cid, options) }
}
