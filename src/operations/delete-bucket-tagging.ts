import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

/** 204 whether or not the bucket had tags, as S3. */
export async function deleteBucketTagging (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'tagging', undefined, { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(204)
}
