import { S3Error } from '../errors.js'
import { checksumAlgorithmOfHeader } from '../protocol/checksums.js'
import { MAX_CORS_BYTES, parseCorsConfiguration, toStoredCors } from '../protocol/cors.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

/**
 * S3 refuses PutBucketCors without an integrity check of its body: Content-MD5, or (since the
 * flexible checksums) an x-amz-checksum-* header or announced trailer. openPayload verifies
 * whichever was sent.
 */
function requireIntegrityHeader (headers: Record<string, string>): void {
  if (headers['content-md5'] !== undefined) return
  if (Object.keys(headers).some(name => checksumAlgorithmOfHeader(name) !== undefined)) return
  const trailer = (headers['x-amz-trailer'] ?? '').split(',').map(s => s.trim())
  if (trailer.some(name => checksumAlgorithmOfHeader(name) !== undefined)) return
  throw new S3Error('InvalidRequest', 'Missing required header for this request: Content-MD5')
}

/** Replaces the bucket's CORS rules. */
export async function putBucketCors (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  requireIntegrityHeader(ctx.req.headers)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_CORS_BYTES, document: true }), MAX_CORS_BYTES)
  const rules = parseCorsConfiguration(body)
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'cors', toStoredCors(rules), { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(200)
}
