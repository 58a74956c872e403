import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket } from './common.js'
import { noSuchUpload, uploadIdParam } from './multipart.js'

/**
 * Removes an upload and its parts, releasing their content. A part still uploading is refused
 * when it finishes (its upload is gone), so nothing of the upload stays referenced.
 */
export async function abortMultipartUpload (ctx: OperationContext) {
  const uploadId = uploadIdParam(ctx)
  const result = uploadId === '' ? undefined : await ctx.metadata.abortUpload(ctx.bucket, ctx.key, uploadId, { signal: ctx.signal })
  if (result === undefined) {
    await requireBucket(ctx)
    throw noSuchUpload(uploadId)
  }
  return emptyResponse(204)
}
