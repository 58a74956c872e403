import type { OperationContext } from './context.js'
import { aclResponse, objectAcl } from './acl-common.js'
import { requireBucket, requireObject, versionIdParam } from './common.js'

/** The version's stored ACL, or the default: its owner's FULL_CONTROL. */
export async function getObjectAcl (ctx: OperationContext) {
  const version = await requireObject(ctx, ctx.bucket, ctx.key, versionIdParam(ctx))
  const bucket = await requireBucket(ctx)
  return aclResponse(objectAcl(ctx, bucket, version), version.versionId === 'null' ? {} : { 'x-amz-version-id': version.versionId })
}
