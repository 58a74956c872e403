import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireObject, versionIdParam } from './common.js'

export async function deleteObjectTagging (ctx: OperationContext) {
  const version = await requireObject(ctx, ctx.bucket, ctx.key, versionIdParam(ctx))
  const found = await ctx.metadata.setObjectTags(ctx.bucket, ctx.key, version.versionId, [], { signal: ctx.signal })
  if (!found) throw new S3Error('NoSuchKey', undefined, { Key: ctx.key })
  return emptyResponse(204, version.versionId === 'null' ? {} : { 'x-amz-version-id': version.versionId })
}
