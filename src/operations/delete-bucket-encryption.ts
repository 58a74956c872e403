import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

/** Removes the bucket's default encryption; 204 whether or not it had one. Objects stored encrypted stay so. */
export async function deleteBucketEncryption (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'encryption', undefined, { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(204)
}
