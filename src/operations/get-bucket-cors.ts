import { S3Error } from '../errors.js'
import { fromStoredCors, renderCorsConfiguration } from '../protocol/cors.js'
import type { OperationContext } from './context.js'
import { requireBucket } from './common.js'

/** The bucket's CORS rules. NoSuchCORSConfiguration when it has none. */
export async function getBucketCors (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const rules = fromStoredCors(bucket.config?.cors)
  if (rules === undefined) throw new S3Error('NoSuchCORSConfiguration', undefined, { BucketName: bucket.name })
  const body = renderCorsConfiguration(rules)
  return { status: 200, headers: { 'content-type': 'application/xml', 'content-length': String(body.byteLength) }, body }
}
