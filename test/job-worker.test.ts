/**
 * The job worker over a real store's queue (MemoryMetadataStore): retries with backoff, giving up,
 * and a stopped worker's job taken over by another once its lease runs out.
 */
import test from 'ava'
import { JobWorker } from '../src/jobs/worker.js'
import type { JobHandler } from '../src/jobs/handler.js'
import { MemoryMetadataStore } from '../src/metadata/memory.js'

async function until (what: string, probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await probe()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

test('a failing job is retried with backoff until it succeeds, then removed; a non-retryable failure fails it at once', async (t) => {
  const store = new MemoryMetadataStore()
  const seen: number[] = []
  const handlers: Record<string, JobHandler> = {
    flaky: async (job) => {
      seen.push(job.attempts)
      if (job.attempts < 3) throw new Error(`try ${job.attempts}`)
      return undefined
    },
    broken: async () => { throw Object.assign(new Error('token refused'), { retryable: false }) },
  }
  const worker = new JobWorker({ queue: store, handlers, pollMs: 20, backoff: () => 20 })
  t.teardown(async () => { await worker.stop() })
  await store.enqueueJobs([{ kind: 'flaky', key: 'a' }, { kind: 'broken', key: 'b' }])
  worker.start()
  await until('flaky done', async () => await store.getJob('flaky', 'a') === undefined)
  t.deepEqual(seen, [1, 2, 3])
  await until('broken failed', async () => (await store.getJob('broken', 'b'))?.state === 'failed')
  t.like(await store.getJob('broken', 'b'), { state: 'failed', attempts: 1, lastError: 'token refused' })
})

test('a job whose worker stopped mid-run stays claimed until its lease runs out, then another worker runs it', async (t) => {
  const store = new MemoryMetadataStore()
  const runs: string[] = []
  const slow: JobHandler = async (_job, { signal }) => {
    runs.push('first')
    await new Promise((resolve, reject) => { signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true }) })
    return undefined
  }
  const first = new JobWorker({ queue: store, handlers: { work: slow }, pollMs: 20, leaseMs: 300 })
  await store.enqueueJobs([{ kind: 'work', key: 'k' }])
  first.start()
  await until('the first run', async () => runs.length === 1)
  await first.stop()
  t.like(await store.getJob('work', 'k'), { state: 'leased' }, 'the stopped run left the job claimed')
  const second = new JobWorker({ queue: store, handlers: { work: async () => { runs.push('second'); return undefined } }, pollMs: 20, leaseMs: 300 })
  t.teardown(async () => { await second.stop() })
  second.start()
  await until('the second run', async () => await store.getJob('work', 'k') === undefined)
  t.deepEqual(runs, ['first', 'second'])
})
