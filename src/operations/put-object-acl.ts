import { toStoredAcl } from '../auth/acl.js'
import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { objectOwner, requestedAcl } from './acl-common.js'
import { emptyResponse, requireBucket, requireObject, versionIdParam } from './common.js'

/**
 * Replaces one version's ACL (the latest, or `versionId`). The ACL's owner stays the version's
 * owner (see requestedAcl for the three ways to give one).
 */
export async function putObjectAcl (ctx: OperationContext) {
  const version = await requireObject(ctx, ctx.bucket, ctx.key, versionIdParam(ctx))
  const bucket = await requireBucket(ctx)
  const acl = await requestedAcl(ctx, 'object', objectOwner(ctx, bucket, version), bucket)
  if (!await ctx.metadata.setObjectAcl(bucket.name, ctx.key, version.versionId, toStoredAcl(acl), { signal: ctx.signal })) {
    throw new S3Error('NoSuchKey', undefined, { Key: ctx.key })
  }
  return emptyResponse(200, version.versionId === 'null' ? {} : { 'x-amz-version-id': version.versionId })
}
