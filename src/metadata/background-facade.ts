import type { AbortOptions } from '../types.js'
import type { ChangeOptions, ClaimOptions, Job, JobCount, JobListOptions, JobOutcome, JobQueue, NewJob } from './jobs.js'
import type { PinDeleteResult, PinList, PinListOptions, PinRecord, PinState, PinStatusOptions, PinStore } from './pins.js'
import type { ReplicaListOptions, ReplicaRecord, ReplicaStore } from './replicas.js'
import type { ArchiveChange, ArchiveChangeResult, ArchiveRecord, ArchiveStore } from './archives.js'

/**
 * A SQL store's functions for its background concerns (the job queue, replica rows, pins, archive
 * records), each taking the store's connection first: sqlite/{jobs,pins,archives}.ts and
 * postgres/{jobs,pins,archives}.ts.
 */
export interface BackgroundFunctions<DB> {
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
}

/**
 * The methods of the background concerns, written once for both SQL stores: each hands its
 * connection to the store's own function (the SQL differs; the delegation does not).
 */
export abstract class BackgroundFacade<DB> implements JobQueue, ReplicaStore, PinStore, ArchiveStore {
  protected constructor (protected readonly db: DB, private readonly fns: BackgroundFunctions<DB>) {}

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
}
