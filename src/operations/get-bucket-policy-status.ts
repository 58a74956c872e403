import { isPublicPolicy, parsePolicy } from '../auth/policy.js'
import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { requireBucket, xmlResponse } from './common.js'

/** Whether the bucket's policy is public (S3's Block Public Access meaning). NoSuchBucketPolicy without one, as S3. */
export async function getBucketPolicyStatus (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const text = bucket.config?.policy
  if (text === undefined) throw new S3Error('NoSuchBucketPolicy', undefined, { BucketName: bucket.name })
  const policy = parsePolicy(text, { kind: 'bucket', bucket: bucket.name })
  return xmlResponse('PolicyStatus', { IsPublic: isPublicPolicy(policy) })
}
