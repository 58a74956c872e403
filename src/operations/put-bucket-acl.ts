import { toStoredAcl } from '../auth/acl.js'
import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { bucketOwner, requestedAcl } from './acl-common.js'
import { emptyResponse, requireBucket } from './common.js'

/** Replaces the bucket's ACL (see requestedAcl for the three ways to give one). */
export async function putBucketAcl (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const acl = await requestedAcl(ctx, 'bucket', bucketOwner(bucket), bucket)
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'acl', toStoredAcl(acl), { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(200)
}
