import { S3Error } from '../errors.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import { parseTagging } from '../protocol/tag-set.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireObject, versionIdParam } from './common.js'

const MAX_TAGGING_XML = 64 * 1024

export async function putObjectTagging (ctx: OperationContext) {
  const version = await requireObject(ctx, ctx.bucket, ctx.key, versionIdParam(ctx))
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_TAGGING_XML, document: true }), MAX_TAGGING_XML)
  const tags = parseTagging(body, 'object')
  const found = await ctx.metadata.setObjectTags(ctx.bucket, ctx.key, version.versionId, tags, { signal: ctx.signal })
  if (!found) throw new S3Error('NoSuchKey', undefined, { Key: ctx.key })
  return emptyResponse(200, version.versionId === 'null' ? {} : { 'x-amz-version-id': version.versionId })
}
