import type { AbortOptions } from '../types.js'
import type { CompleteResult } from './metadata-store.js'
import type { ChangeOptions, ClaimOptions, Job, JobCount, JobListOptions, JobOutcome, JobQueue, NewJob } from './jobs.js'
import { MemoryJobs, MemoryReplicas } from './memory-jobs.js'
import { MemoryPins } from './memory-pins.js'
import type { PinDeleteResult, PinList, PinListOptions, PinRecord, PinState, PinStatusOptions, PinStore } from './pins.js'
import type { ReplicaListOptions, ReplicaRecord, ReplicaStore } from './replicas.js'

/**
 * The memory store's background concerns (the job queue, replica rows, pins), apart from its
 * buckets, versions and uploads. A pin's reference and a change's jobs go through the store's own
 * reference counts and change checks, which the store provides.
 */
export abstract class MemoryBackground implements JobQueue, ReplicaStore, PinStore {
  protected readonly jobs = new MemoryJobs()
  protected readonly replicas = new MemoryReplicas()
  protected readonly pins = new MemoryPins({ retain: (cid) => { this.retain(cid) }, release: (cid) => this.release(cid) })

  /** Before a change: its signal, and its jobs. */
  protected abstract checkChange (options: ChangeOptions | undefined): void
  /** At the end of a change: the jobs it enqueues. */
  protected abstract enqueueFor<T extends { released: string[] } | CompleteResult> (options: ChangeOptions | undefined, result: T): T
  protected abstract retain (cid: string | undefined): void
  protected abstract release (cid: string | undefined): string[]

  async enqueueJobs (jobs: NewJob[], options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.jobs.enqueue(jobs)
  }

  async claimJobs (options: ClaimOptions): Promise<Job[]> {
    options.signal?.throwIfAborted()
    return this.jobs.claim(options)
  }

  async finishJob (id: string, lease: string, outcome: JobOutcome, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.jobs.finish(id, lease, outcome)
  }

  async extendLease (id: string, lease: string, leaseMs: number, options?: AbortOptions & { now?: Date }): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.jobs.extend(id, lease, leaseMs, options?.now)
  }

  async getJob (kind: string, key: string, options?: AbortOptions): Promise<Job | undefined> {
    options?.signal?.throwIfAborted()
    return this.jobs.get(kind, key)
  }

  async listJobs (options: JobListOptions): Promise<Job[]> {
    options.signal?.throwIfAborted()
    return this.jobs.list(options)
  }

  async countJobs (options?: AbortOptions): Promise<JobCount[]> {
    options?.signal?.throwIfAborted()
    return this.jobs.count()
  }

  async removeJob (kind: string, key: string, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.jobs.remove(kind, key)
  }

  async putReplica (record: ReplicaRecord, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    this.replicas.put(record)
  }

  async getReplicas (cid: string, options?: AbortOptions): Promise<ReplicaRecord[]> {
    options?.signal?.throwIfAborted()
    return this.replicas.get(cid)
  }

  async deleteReplica (cid: string, service: string, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    return this.replicas.delete(cid, service)
  }

  async listReplicas (options: ReplicaListOptions): Promise<ReplicaRecord[]> {
    options.signal?.throwIfAborted()
    return this.replicas.list(options)
  }

  async createPin (pin: PinRecord, options?: ChangeOptions): Promise<PinRecord> {
    this.checkChange(options)
    const stored = this.pins.create(pin)
    this.enqueueFor(options, { released: [] })
    return stored
  }

  async getPin (requestId: string, options?: AbortOptions): Promise<PinRecord | undefined> {
    options?.signal?.throwIfAborted()
    return this.pins.get(requestId)
  }

  async setPinStatus (requestId: string, status: PinState, options?: PinStatusOptions): Promise<boolean> {
    this.checkChange(options)
    const changed = this.pins.setStatus(requestId, status, options)
    if (changed !== undefined) this.enqueueFor(options, changed)
    return changed !== undefined
  }

  async deletePin (requestId: string, options?: ChangeOptions): Promise<PinDeleteResult> {
    this.checkChange(options)
    const result = this.pins.delete(requestId)
    return result.deleted === undefined ? result : this.enqueueFor(options, result)
  }

  async replacePin (oldRequestId: string, pin: PinRecord, options?: ChangeOptions): Promise<PinRecord | undefined> {
    this.checkChange(options)
    const replaced = this.pins.replace(oldRequestId, pin)
    return replaced === undefined ? undefined : this.enqueueFor(options, replaced).record
  }

  async listPins (options: PinListOptions): Promise<PinList> {
    options.signal?.throwIfAborted()
    return this.pins.list(options)
  }
}
