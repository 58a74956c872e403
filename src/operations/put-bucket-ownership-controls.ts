import { onlyOwnerFullControl, parseOwnershipControls } from '../auth/ownership.js'
import { S3Error } from '../errors.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import type { OperationContext } from './context.js'
import { bucketAcl } from './acl-common.js'
import { emptyResponse, requireBucket } from './common.js'

const MAX_CONFIGURATION_BYTES = 64 * 1024

/**
 * Sets the bucket's Object Ownership. BucketOwnerEnforced is refused while the bucket's ACL grants
 * anyone but its owner anything (InvalidBucketAclWithObjectOwnership): those grants would silently stop
 * counting. Object ACLs already stored stay, and count again if ACLs are enabled again.
 */
export async function putBucketOwnershipControls (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_CONFIGURATION_BYTES, document: true }), MAX_CONFIGURATION_BYTES)
  const ownership = parseOwnershipControls(body)
  if (ownership === 'BucketOwnerEnforced' && !onlyOwnerFullControl(bucketAcl(bucket), bucket.owner)) {
    throw new S3Error('InvalidBucketAclWithObjectOwnership')
  }
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'ownershipControls', ownership, { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(200)
}
