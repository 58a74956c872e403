import { S3Error } from '../errors.js'
import { parseLifecycleConfiguration, toStoredLifecycle } from '../lifecycle/configuration.js'
import { lifecycleJob } from '../lifecycle/pass.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

/** S3 allows 1,000 rules; each fits in a few hundred bytes. */
const MAX_CONFIGURATION_BYTES = 1024 * 1024

/**
 * Replaces the bucket's lifecycle rules and schedules a pass now (the pass then runs at every day
 * boundary). Transitions to archive classes need an archive target (NotImplemented without one).
 */
export async function putBucketLifecycleConfiguration (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_CONFIGURATION_BYTES, document: true }), MAX_CONFIGURATION_BYTES)
  const config = parseLifecycleConfiguration(body, {
    archiving: ctx.archive !== undefined,
    minimumObjectSize: ctx.req.headers['x-amz-transition-default-minimum-object-size'],
  })
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'lifecycle', toStoredLifecycle(config), { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  // A crash before this line leaves rules without a job: the gateway's start-up enqueues it.
  await ctx.metadata.enqueueJobs([lifecycleJob(bucket.name)], { signal: ctx.signal })
  ctx.wakeJobs?.()
  return emptyResponse(200, { 'x-amz-transition-default-minimum-object-size': config.minimumObjectSize ?? 'all_storage_classes_128K' })
}
