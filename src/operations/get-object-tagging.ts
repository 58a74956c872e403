import type { OperationContext } from './context.js'
import { requireObject, versionIdParam, xmlResponse } from './common.js'

export async function getObjectTagging (ctx: OperationContext) {
  const version = await requireObject(ctx, ctx.bucket, ctx.key, versionIdParam(ctx))
  const headers: Record<string, string> = version.versionId === 'null' ? {} : { 'x-amz-version-id': version.versionId }
  return xmlResponse('Tagging', {
    TagSet: { Tag: version.tags.map(([Key, Value]) => ({ Key, Value })) },
  }, 200, headers)
}
