import type { OperationContext } from './context.js'
import { requireBucket, xmlResponse } from './common.js'

/** A bucket that was never versioned answers with an empty configuration, as S3 does. */
export async function getBucketVersioning (ctx: OperationContext) {
  const bucket = await requireBucket(ctx)
  return xmlResponse('VersioningConfiguration', {
    Status: bucket.versioning === 'Unversioned' ? undefined : bucket.versioning,
  })
}
