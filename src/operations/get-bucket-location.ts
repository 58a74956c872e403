import type { OperationContext } from './context.js'
import { requireBucket, xmlResponse } from './common.js'

export async function getBucketLocation (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  // S3 reports us-east-1 as an empty LocationConstraint.
  return xmlResponse('LocationConstraint', bucket.region === 'us-east-1' ? '' : bucket.region)
}
