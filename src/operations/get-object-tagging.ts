import { taggingXml } from '../protocol/tag-set.js'
import type { OperationContext } from './context.js'
import { requireObject, versionIdParam, xmlResponse } from './common.js'

export async function getObjectTagging (ctx: OperationContext) {
  const version = await requireObject(ctx, ctx.bucket, ctx.key, versionIdParam(ctx))
  const headers: Record<string, string> = version.versionId === 'null' ? {} : { 'x-amz-version-id': version.versionId }
  return xmlResponse('Tagging', taggingXml(version.tags), 200, headers)
}
