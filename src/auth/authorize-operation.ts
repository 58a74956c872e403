import type { RouteMatch } from '../router.js'
import { requiredAction } from './actions.js'
import type { Authorizer } from './authorize.js'

/**
 * Refuses a request whose operation the requester may not perform (AccessDenied), before the
 * operation runs. A bucket that does not exist is left to the operation (NoSuchBucket; CreateBucket
 * creates it), as Amazon S3 answers. DeleteObjects authorizes each key itself.
 */
export async function authorizeOperation (authorizer: Authorizer, match: RouteMatch, query: URLSearchParams): Promise<void> {
  const required = requiredAction(match.operation, query.get('versionId'))
  if (required === undefined) return
  if (match.bucket === '') {
    await authorizer.require(required.action, undefined, undefined)
    return
  }
  if (match.operation === 'CreateBucket') {
    // Whoever owns a bucket of that name, CreateBucket answers BucketAlreadyExists / ...OwnedByYou.
    await authorizer.require(required.action, match.bucket, undefined, { newBucket: true })
    return
  }
  if (await authorizer.bucket(match.bucket) === undefined) return
  const versionId = query.get('versionId') ?? undefined
  await authorizer.require(required.action, match.bucket, match.key, {
    ownerOnly: required.ownerOnly,
    versionId: versionId === 'null' ? 'null' : versionId,
    uploadId: query.get('uploadId') ?? undefined,
  })
}
