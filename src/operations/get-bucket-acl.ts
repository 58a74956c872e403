import type { OperationContext } from './context.js'
import { aclResponse, shownBucketAcl } from './acl-common.js'
import { requireBucket } from './common.js'

/** The stored ACL, or the default: the bucket owner's FULL_CONTROL (always, with ACLs disabled). */
export async function getBucketAcl (ctx: OperationContext) {
  return aclResponse(shownBucketAcl(await requireBucket(ctx)))
}
