import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket, versionIdParam } from './common.js'

/** Idempotent: deleting a key that is not there is a success. */
export async function deleteObject (ctx: OperationContext) {
  await requireBucket(ctx)
  const versionId = versionIdParam(ctx)
  const result = await ctx.metadata.deleteObject(ctx.bucket, ctx.key, versionId ?? 'null', { signal: ctx.signal })
  const headers: Record<string, string> = {}
  if (versionId !== undefined) headers['x-amz-version-id'] = versionId
  if (result.deleted?.deleteMarker === true) headers['x-amz-delete-marker'] = 'true'
  return emptyResponse(204, headers)
}
