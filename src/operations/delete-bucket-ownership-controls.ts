import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

/** Removes the bucket's Object Ownership (the writer owns new objects; ACLs count). 204, as S3. */
export async function deleteBucketOwnershipControls (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'ownershipControls', undefined, { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(204)
}
