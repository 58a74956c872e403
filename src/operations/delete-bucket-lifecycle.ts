import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

/** Removes the bucket's lifecycle rules (its pass ends at its next run). 204, as S3. */
export async function deleteBucketLifecycle (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'lifecycle', undefined, { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(204)
}
