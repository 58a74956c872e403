import type { Job, JobOutcome } from '../metadata/jobs.js'

/** What a job handler gets besides its job. */
export interface JobContext {
  /** Aborts when the worker stops or the lease is lost: stop, the job runs again elsewhere. */
  signal: AbortSignal
  now(): Date
}

/**
 * Runs one job. Resolving with nothing means done; with an outcome, that outcome (e.g. `retry`
 * at a later time to poll). Throwing is a failure: the worker retries with backoff (an error with
 * `retryable: false` fails the job at once) and records the message. A job may run more than
 * once (a crash, an expired lease): a handler converges on the current state, it does not replay.
 */
export type JobHandler = (job: Job, context: JobContext) => Promise<JobOutcome | undefined>
