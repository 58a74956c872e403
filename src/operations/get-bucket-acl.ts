import type { OperationContext } from './context.js'
import { aclResponse, bucketAcl } from './acl-common.js'
import { requireBucket } from './common.js'

/** The stored ACL, or the default: the bucket owner's FULL_CONTROL. */
export async function getBucketAcl (ctx: OperationContext) {
  return aclResponse(bucketAcl(await requireBucket(ctx)))
}
