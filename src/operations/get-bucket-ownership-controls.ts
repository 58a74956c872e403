import { objectOwnership } from '../auth/ownership.js'
import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { requireBucket, xmlResponse } from './common.js'

/** The bucket's Object Ownership; OwnershipControlsNotFoundError when none is set. */
export async function getBucketOwnershipControls (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const ownership = objectOwnership(bucket)
  if (ownership === undefined) throw new S3Error('OwnershipControlsNotFoundError', undefined, { BucketName: bucket.name })
  return xmlResponse('OwnershipControls', { Rule: { ObjectOwnership: ownership } })
}
