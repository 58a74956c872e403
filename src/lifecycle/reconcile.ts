import type { MetadataStore } from '../metadata/metadata-store.js'
import { LIFECYCLE, lifecycleJob } from './pass.js'

/**
 * Every bucket with lifecycle rules has its pass job: one that lost it (a crash between storing
 * the rules and enqueuing the job) gets it again. A job waiting or in progress is left as it is.
 */
export async function reconcileLifecycle (metadata: Pick<MetadataStore, 'listBuckets' | 'getJob' | 'enqueueJobs'>, options: { signal?: AbortSignal } = {}): Promise<number> {
  let enqueued = 0
  for (const bucket of await metadata.listBuckets(undefined, options)) {
    if (bucket.config?.lifecycle === undefined) continue
    if (await metadata.getJob(LIFECYCLE, bucket.name, options) !== undefined) continue
    await metadata.enqueueJobs([lifecycleJob(bucket.name)], options)
    enqueued++
  }
  return enqueued
}
