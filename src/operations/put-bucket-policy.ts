import { isPublicPolicy, parsePolicy } from '../auth/policy.js'
import { fromStoredPublicAccessBlock } from '../auth/public-access-block.js'
import { S3Error } from '../errors.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'

/**
 * Room for whitespace: S3's 20 KB limit is on the normalised document, which parsePolicy checks
 * (MalformedPolicy); the body as sent may be larger.
 */
const MAX_POLICY_REQUEST_BYTES = 256 * 1024

/**
 * Stores the policy document verbatim (GetBucketPolicy returns it as given). A document S3 would
 * refuse is MalformedPolicy; a public policy on a bucket whose public access block has
 * BlockPublicPolicy is AccessDenied. 204, as S3.
 */
export async function putBucketPolicy (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_POLICY_REQUEST_BYTES, document: true }), MAX_POLICY_REQUEST_BYTES)
  const policy = parsePolicy(Buffer.from(body).toString('utf8'), { kind: 'bucket', bucket: bucket.name })
  if (isPublicPolicy(policy) && fromStoredPublicAccessBlock(bucket.config?.publicAccessBlock)?.blockPublicPolicy === true) {
    throw new S3Error('AccessDenied')
  }
  if (!await ctx.metadata.setBucketConfig(bucket.name, 'policy', policy.text, { signal: ctx.signal })) {
    throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket.name })
  }
  return emptyResponse(204)
}
