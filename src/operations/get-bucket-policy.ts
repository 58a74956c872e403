import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { requireBucket } from './common.js'

/** The policy document exactly as it was put. NoSuchBucketPolicy when the bucket has none. */
export async function getBucketPolicy (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const text = bucket.config?.policy
  if (text === undefined) throw new S3Error('NoSuchBucketPolicy', undefined, { BucketName: bucket.name })
  const body = Buffer.from(text, 'utf8')
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'content-length': String(body.byteLength) },
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
  }
}
