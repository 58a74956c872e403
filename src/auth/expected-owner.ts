import { S3Error } from '../errors.js'
import type { Authorizer } from './authorize.js'

/**
 * `x-amz-expected-bucket-owner` (and `x-amz-source-expected-bucket-owner` for a copy's source): a
 * client's guard against writing to or reading from a bucket someone else owns. When the bucket
 * exists and its owner (the principal id that created it) differs, 403 AccessDenied, as Amazon S3.
 * A bucket that does not exist is left to the operation (NoSuchBucket).
 */
export async function checkExpectedOwner (authorizer: Authorizer, bucketName: string, expected: string | undefined): Promise<void> {
  if (expected === undefined || bucketName === '') return
  const bucket = await authorizer.bucket(bucketName)
  if (bucket !== undefined && bucket.owner !== expected.trim()) throw new S3Error('AccessDenied')
}
