import type { OperationContext } from './context.js'
import { bucketProfile, CID_PROFILE_HEADER } from './bucket-profile.js'
import { emptyResponse, requireBucket } from './common.js'

export async function headBucket (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  return emptyResponse(200, { 'x-amz-bucket-region': bucket.region, [CID_PROFILE_HEADER]: bucketProfile(ctx, bucket) })
}
