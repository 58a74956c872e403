import { assertValidKey } from '../protocol/names.js'
import type { OperationContext } from './context.js'
import { emptyResponse, requireBucket, versionIdParam } from './common.js'
import { deleteKey } from './versioning.js'

/** Idempotent: deleting a key that is not there is a success (and, with versioning, a marker). */
export async function deleteObject (ctx: OperationContext) {
  // No such key can exist; with versioning a marker would be stored under it.
  assertValidKey(ctx.key)
  const bucket = await requireBucket(ctx)
  const outcome = await deleteKey(ctx, bucket, ctx.key, versionIdParam(ctx))
  const headers: Record<string, string> = {}
  if (outcome.versionId !== undefined) headers['x-amz-version-id'] = outcome.versionId
  if (outcome.deleteMarker) headers['x-amz-delete-marker'] = 'true'
  return emptyResponse(204, headers)
}
