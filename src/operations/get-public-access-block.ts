import { fromStoredPublicAccessBlock, renderPublicAccessBlock } from '../auth/public-access-block.js'
import { S3Error } from '../errors.js'
import type { OperationContext } from './context.js'
import { requireBucket } from './common.js'

/** The bucket's Block Public Access settings. NoSuchPublicAccessBlockConfiguration when it has none. */
export async function getPublicAccessBlock (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const config = fromStoredPublicAccessBlock(bucket.config?.publicAccessBlock)
  if (config === undefined) throw new S3Error('NoSuchPublicAccessBlockConfiguration', undefined, { BucketName: bucket.name })
  const body = renderPublicAccessBlock(config)
  return { status: 200, headers: { 'content-type': 'application/xml', 'content-length': String(body.byteLength) }, body }
}
