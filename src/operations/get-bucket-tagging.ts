import { S3Error } from '../errors.js'
import { fromStoredTags, taggingXml } from '../protocol/tag-set.js'
import type { OperationContext } from './context.js'
import { requireBucket, xmlResponse } from './common.js'

/** The bucket's tag set; NoSuchTagSet when it has none. */
export async function getBucketTagging (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  const tags = fromStoredTags(bucket.config?.tagging)
  if (tags === undefined) throw new S3Error('NoSuchTagSet', undefined, { BucketName: bucket.name })
  return xmlResponse('Tagging', taggingXml(tags))
}
