import { S3Error } from '../errors.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import { parseTagging, toStoredTags } from '../protocol/tag-set.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

const MAX_TAGGING_XML = 64 * 1024

/** Replaces the bucket's tag set (up to 50 tags). 204, as S3. */
export async function putBucketTagging (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_TAGGING_XML, document: true }), MAX_TAGGING_XML)
  const tags = parseTagging(body, 'bucket')
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'tagging', toStoredTags(tags), { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(204)
}
