import { S3Error } from '../errors.js'
import { parseBucketEncryption, toStoredBucketEncryption } from '../protocol/bucket-encryption.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

const MAX_CONFIGURATION_BYTES = 64 * 1024

/** Sets the bucket's default encryption: SSE-S3 (AES256) only; KMS is NotImplemented. */
export async function putBucketEncryption (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_CONFIGURATION_BYTES, document: true }), MAX_CONFIGURATION_BYTES)
  const config = parseBucketEncryption(body)
  if (ctx.encryption.masterKey === undefined) {
    throw new S3Error('NotImplemented', 'Default encryption with AES256 (SSE-S3) needs a master key, and this gateway has none configured.')
  }
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'encryption', toStoredBucketEncryption(config), { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(200)
}
