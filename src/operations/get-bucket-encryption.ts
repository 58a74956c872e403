import { S3Error } from '../errors.js'
import { fromStoredBucketEncryption, renderBucketEncryption } from '../protocol/bucket-encryption.js'
import type { OperationContext } from './context.js'
import { requireBucket } from './common.js'

/**
 * The bucket's default encryption. Without one, ServerSideEncryptionConfigurationNotFoundError:
 * Amazon S3 now reports SSE-S3 for every bucket, but this gateway stores objects unencrypted
 * unless asked, so it does not claim a default it does not apply.
 */
export async function getBucketEncryption (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const config = fromStoredBucketEncryption(bucket.config?.encryption)
  if (config === undefined) throw new S3Error('ServerSideEncryptionConfigurationNotFoundError', undefined, { BucketName: bucket.name })
  const body = renderBucketEncryption(config)
  return { status: 200, headers: { 'content-type': 'application/xml', 'content-length': String(body.byteLength) }, body }
}
