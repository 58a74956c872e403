import { parsePublicAccessBlock, toStoredPublicAccessBlock } from '../auth/public-access-block.js'
import { S3Error } from '../errors.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

const MAX_CONFIGURATION_BYTES = 64 * 1024

/** Replaces the bucket's Block Public Access settings. ACLs and policies already stored stay as they are. */
export async function putPublicAccessBlock (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_CONFIGURATION_BYTES, document: true }), MAX_CONFIGURATION_BYTES)
  const config = parsePublicAccessBlock(body)
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'publicAccessBlock', toStoredPublicAccessBlock(config), { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(200)
}
