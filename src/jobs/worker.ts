import { randomUUID } from 'node:crypto'
import type { GatewayLogger } from '../types.js'
import type { Job, JobOutcome, JobQueue } from '../metadata/jobs.js'
import type { JobHandler } from './handler.js'

export interface JobWorkerInit {
  queue: Pick<JobQueue, 'claimJobs' | 'finishJob' | 'extendLease'>
  /** Handlers by job kind. A claimed job of another kind waits (retried later) for a process that has one. */
  handlers: Record<string, JobHandler>
  /** Jobs run at once by this process. Default 4. */
  concurrency?: number
  /** How long a claim holds before others may take the job over; renewed while it runs. Default 60 s. */
  leaseMs?: number
  /** How often an idle worker looks for due jobs. Default 1 s. */
  pollMs?: number
  /** Failures before a job is failed for good. Default 10. */
  maxAttempts?: number
  /** Retry delay after the n-th failure. Default 1 s doubling up to 5 min, with jitter. */
  backoff?: (attempts: number) => number
  logger?: Pick<GatewayLogger, 'warn' | 'error' | 'info'>
  /** Called after each run, for metrics. */
  onFinished?: (job: Job, outcome: JobOutcome, ms: number) => void
  now?: () => Date
}

/** How long a wake waits for others to share its look at the queue. */
const WAKE_DELAY_MS = 10

const defaultBackoff = (attempts: number): number => Math.min(1000 * 2 ** Math.max(0, attempts - 1), 300_000) * (0.75 + Math.random() / 2)

/**
 * Runs jobs from the metadata store's queue. Several workers (in this process or others sharing
 * the store) never run one job at once: each claims with its own lease. Timers here only wake the
 * worker to look for due jobs; the work itself lives in the store, so a SIGKILL loses nothing: the
 * lease runs out and another claim runs the job again.
 */
export class JobWorker {
  private readonly init: Required<Omit<JobWorkerInit, 'logger' | 'onFinished'>> & Pick<JobWorkerInit, 'logger' | 'onFinished'>
  private readonly running = new Set<Promise<void>>()
  private readonly stopping = new AbortController()
  private timer?: NodeJS.Timeout
  private wakeTimer?: NodeJS.Timeout
  private polling?: Promise<void>
  private pollAgain = false
  private started = false

  constructor (init: JobWorkerInit) {
    this.init = {
      ...init,
      concurrency: init.concurrency ?? 4,
      leaseMs: init.leaseMs ?? 60_000,
      pollMs: init.pollMs ?? 1000,
      maxAttempts: init.maxAttempts ?? 10,
      backoff: init.backoff ?? defaultBackoff,
      now: init.now ?? (() => new Date()),
    }
  }

  /** Starts polling. */
  start (): void {
    if (this.started || this.stopping.signal.aborted) return
    this.started = true
    this.pollNow()
  }

  /**
   * Looks for due jobs soon (e.g. after enqueuing one) rather than at the next poll. Wakes within a
   * few milliseconds of each other share one look: a burst of writes costs one claim, not one each.
   */
  wake (): void {
    if (!this.started || this.stopping.signal.aborted) return
    if (this.polling !== undefined) {
      this.pollAgain = true
      return
    }
    if (this.wakeTimer !== undefined) return
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined
      this.pollNow()
    }, WAKE_DELAY_MS)
    this.wakeTimer.unref()
  }

  private pollNow (): void {
    if (!this.started || this.stopping.signal.aborted) return
    if (this.polling !== undefined) {
      this.pollAgain = true
      return
    }
    clearTimeout(this.timer)
    this.polling = this.poll().finally(() => {
      this.polling = undefined
      if (this.stopping.signal.aborted) return
      if (this.pollAgain) {
        this.pollAgain = false
        this.pollNow()
      } else {
        this.timer = setTimeout(() => { this.pollNow() }, this.init.pollMs)
        this.timer.unref()
      }
    })
  }

  /**
   * Claims and runs due jobs until none is due or `limit` ran; resolves when they finished. For
   * tests and for one-shot use (`gc`-like commands); a started worker does this by itself.
   */
  async drain (limit = Infinity): Promise<number> {
    let ran = 0
    while (ran < limit && !this.stopping.signal.aborted) {
      const jobs = await this.claim(Math.min(this.init.concurrency, limit - ran))
      if (jobs.length === 0) break
      await Promise.all(jobs.map(async (job) => { await this.run(job) }))
      ran += jobs.length
    }
    return ran
  }

  /** Stops claiming, aborts running handlers, and waits for them to end (their jobs run again later). */
  async stop (): Promise<void> {
    this.stopping.abort()
    clearTimeout(this.timer)
    clearTimeout(this.wakeTimer)
    await this.polling
    await Promise.allSettled([...this.running])
  }

  private async poll (): Promise<void> {
    try {
      while (!this.stopping.signal.aborted) {
        const free = this.init.concurrency - this.running.size
        if (free <= 0) return
        const jobs = await this.claim(free)
        for (const job of jobs) {
          const run = this.run(job).finally(() => {
            this.running.delete(run)
            this.pollNow()
          })
          this.running.add(run)
        }
        if (jobs.length < free) return
      }
    } catch (err) {
      this.init.logger?.warn({ err }, 'claiming jobs failed; retrying at the next poll')
    }
  }

  private async claim (limit: number): Promise<Job[]> {
    if (limit <= 0) return []
    return await this.init.queue.claimJobs({ lease: randomUUID(), limit, leaseMs: this.init.leaseMs, now: this.init.now() })
  }

  private async run (job: Job): Promise<void> {
    const lease = job.lease as string
    const started = Date.now()
    const aborter = new AbortController()
    const onStop = (): void => { aborter.abort(this.stopping.signal.reason) }
    this.stopping.signal.addEventListener('abort', onStop, { once: true })
    // Renew the lease while the handler runs; a lost lease means another worker has the job now.
    const renew = setInterval(() => {
      this.init.queue.extendLease(job.id, lease, this.init.leaseMs, { now: this.init.now() }).then((held) => {
        if (!held) aborter.abort(new Error('lease lost'))
      }, () => {})
    }, Math.max(10, Math.floor(this.init.leaseMs / 3)))
    renew.unref()
    let outcome: JobOutcome
    try {
      const handler = this.init.handlers[job.kind]
      if (handler === undefined) {
        outcome = { state: 'retry', runAt: new Date(this.init.now().getTime() + this.init.leaseMs), error: `no handler for jobs of kind ${job.kind} in this process` }
      } else {
        outcome = await handler(job, { signal: aborter.signal, now: this.init.now }) ?? { state: 'done' }
      }
    } catch (err) {
      // Stopped or lease lost: leave the job as it is; its lease runs out and it runs again.
      if (aborter.signal.aborted) return
      outcome = this.failure(job, err)
    } finally {
      clearInterval(renew)
      this.stopping.signal.removeEventListener('abort', onStop)
    }
    try {
      const finished = await this.init.queue.finishJob(job.id, lease, outcome)
      if (!finished) this.init.logger?.warn({ job: job.id, kind: job.kind }, 'a job\'s lease ran out before it finished; another worker runs it again')
      else this.init.onFinished?.(job, outcome, Date.now() - started)
    } catch (err) {
      this.init.logger?.warn({ err, job: job.id, kind: job.kind }, 'recording a job\'s outcome failed; it runs again when its lease runs out')
    }
  }

  private failure (job: Job, err: unknown): JobOutcome {
    const message = err instanceof Error ? err.message : String(err)
    const permanent = (err as { retryable?: unknown }).retryable === false || job.attempts >= this.init.maxAttempts
    if (permanent) {
      this.init.logger?.error({ job: job.id, kind: job.kind, key: job.key, attempts: job.attempts, error: message }, 'a job failed for good')
      return { state: 'failed', error: message }
    }
    this.init.logger?.warn({ job: job.id, kind: job.kind, key: job.key, attempts: job.attempts, error: message }, 'a job failed; retrying')
    return { state: 'retry', runAt: new Date(this.init.now().getTime() + this.init.backoff(job.attempts)), error: message }
  }
}
