import { S3Error } from '../errors.js'
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
  const options = { ownerOnly: required.ownerOnly, versionId, uploadId: query.get('uploadId') ?? undefined }
  if (await authorizer.allowed(required.action, match.bucket, match.key, options)) return
  // As Amazon S3: a read of a key that does not exist is NoSuchKey for whoever may list the
  // bucket (they could learn as much from a listing), AccessDenied for anyone else.
  if (READS.has(match.operation) && versionId === undefined && await authorizer.allowed('s3:ListBucket', match.bucket, undefined) &&
    !await authorizer.objectExists(match.bucket, match.key)) {
    throw new S3Error('NoSuchKey', undefined, { Key: match.key })
  }
  throw new S3Error('AccessDenied')
}

/** Reads whose missing key S3 reveals to those allowed to list the bucket. */
const READS = new Set(['GetObject', 'HeadObject', 'GetObjectAttributes', 'GetObjectTagging', 'GetObjectAcl'])
