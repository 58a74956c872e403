import type { AbortOptions } from '../types.js'

/**
 * Background work kept in the metadata store: replication, remote unpins, pin fetches, scrubbing
 * (and later lifecycle passes). A job is a row, never only memory: it is enqueued in the transaction
 * of the change that needs it, claimed with a lease, retried with backoff, and claimed again by
 * anyone once a lease runs out (a worker that crashed).
 *
 * A job is named by `kind` and `key` (what it is about, e.g. a CID): there is at most one job of a
 * name. Enqueuing a name that is waiting merges into it (payload replaced, run time the earlier);
 * enqueuing a name that is running marks it to run once more after the current run; enqueuing a
 * name that failed for good starts it afresh. So handlers are written to converge on the current
 * state ("make the replicas of this CID what they should be"), not to replay events.
 */
export interface NewJob {
  kind: string
  key: string
  /** JSON-serialisable details for the handler. */
  payload?: Record<string, unknown>
  /** Not before this time. Default: now. */
  runAt?: Date
}

export type JobState = 'ready' | 'leased' | 'failed'

export interface Job {
  id: string
  kind: string
  key: string
  payload: Record<string, unknown>
  state: JobState
  /**
   * Claims since the job last succeeded or waited (this one included; a crashed run counts): the
   * failures in a row, for backoff and giving up. 0 before the first claim; a `retry` without an
   * error (a wait, e.g. polling) starts the count again.
   */
  attempts: number
  runAt: Date
  created: Date
  updated: Date
  /** The claim's token: a lease is proven by it, so a worker whose lease was taken over cannot finish the job. */
  lease?: string
  leaseUntil?: Date
  /** The last failure's message (never a credential). */
  lastError?: string
}

export interface ClaimOptions extends AbortOptions {
  /** Token naming this claim; the store records it as the lease. */
  lease: string
  /** At most this many jobs (>= 1). */
  limit: number
  /** How long the claimed jobs are this worker's before others may claim them again. */
  leaseMs: number
  /** The current time (a clock for tests). Default: the store's clock. */
  now?: Date
}

/** How a run ended. */
export type JobOutcome =
  /** Finished: the job is removed (or, if it was enqueued again meanwhile, waits to run again). */
  | { state: 'done' }
  /**
   * Try again at `runAt`; `error` says why (absent when the job only waits, e.g. polling: then its
   * attempts start again from 0, a wait is not a failure);
   * `payload`, when given, replaces the job's (a long job's progress, so the next run resumes).
   * A job enqueued again while it ran keeps the enqueued payload instead.
   */
  | { state: 'retry', runAt: Date, error?: string, payload?: Record<string, unknown> }
  /** Given up: kept as failed, for the operator to see, until enqueued again or removed. */
  | { state: 'failed', error: string }

export interface JobListOptions extends AbortOptions {
  state?: JobState
  kind?: string
  /** Only jobs with a greater id (paging). */
  after?: string
  limit: number
}

export interface JobCount {
  kind: string
  state: JobState
  count: number
}

/** What a store keeps of background work. Every method is one transaction. */
export interface JobQueue {
  /** Enqueues outside any other change (see NewJob for how a name merges). */
  enqueueJobs(jobs: NewJob[], options?: AbortOptions): Promise<void>

  /**
   * Takes up to `limit` jobs that are due (ready with runAt <= now) or whose lease ran out, oldest
   * due first: each becomes leased to `options.lease` until now + leaseMs, its attempts counted.
   * Several processes may claim concurrently: a job goes to one of them.
   */
  claimJobs(options: ClaimOptions): Promise<Job[]>

  /**
   * Ends the run of a job still leased by `lease`. False (and nothing changes) when the lease is no
   * longer this one's (it ran out and another worker claimed the job).
   */
  finishJob(id: string, lease: string, outcome: JobOutcome, options?: AbortOptions): Promise<boolean>

  /** Extends a lease still held to now + leaseMs. False when it is no longer held. */
  extendLease(id: string, lease: string, leaseMs: number, options?: AbortOptions & { now?: Date }): Promise<boolean>

  /** The job of that name, if there is one. */
  getJob(kind: string, key: string, options?: AbortOptions): Promise<Job | undefined>

  /** Jobs in id order (the order they were first enqueued). */
  listJobs(options: JobListOptions): Promise<Job[]>

  /** Number of jobs per kind and state. */
  countJobs(options?: AbortOptions): Promise<JobCount[]>

  /** Removes a job that is not running (e.g. a failed one the operator dismisses). False when absent or leased. */
  removeJob(kind: string, key: string, options?: AbortOptions): Promise<boolean>
}

/**
 * Options every change takes, so that the work it creates exists exactly when it commits.
 */
export interface ChangeOptions extends AbortOptions {
  /** Enqueued in the change's transaction. */
  jobs?: NewJob[]
  /**
   * For each CID whose last reference the change releases, the jobs to enqueue in its
   * transaction (e.g. remove that CID's remote replicas).
   */
  jobsOnRelease?: (cid: string) => NewJob[]
  /**
   * Call `jobsOnRelease` only for released CIDs that have replica rows (ReplicaStore): the others
   * have no remote copy to clean up, and a write that replaces an object then enqueues nothing more.
   */
  releaseJobsOnlyWithReplicas?: boolean
}

/** The outcome of a run as a row update, shared by the stores. */
export function jobsOf (options: ChangeOptions | undefined, released: readonly string[], hasReplicas?: (cid: string) => boolean): NewJob[] {
  const jobs = [...options?.jobs ?? []]
  const onRelease = options?.jobsOnRelease
  const only = options?.releaseJobsOnlyWithReplicas === true && hasReplicas !== undefined
  if (onRelease !== undefined) for (const cid of released) if (!only || hasReplicas(cid)) jobs.push(...onRelease(cid))
  return jobs
}

export function badJob (job: NewJob): Error | undefined {
  if (typeof job.kind !== 'string' || job.kind === '' || typeof job.key !== 'string') {
    return Object.assign(new TypeError('A job needs a kind and a key'), { code: 'ERR_BAD_JOB' })
  }
  return undefined
}
