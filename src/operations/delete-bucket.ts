import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { emptyResponse } from './common.js'

export async function deleteBucket (ctx: OperationContext) {
  const result = await ctx.metadata.deleteBucket(ctx.bucket, { signal: ctx.signal })
  if (result === 'missing') throw new S3Error('NoSuchBucket', undefined, { BucketName: ctx.bucket })
  if (result === 'not-empty') throw new S3Error('BucketNotEmpty', undefined, { BucketName: ctx.bucket })
  return emptyResponse(204)
}
