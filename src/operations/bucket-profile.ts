import { S3Error } from '../errors.js'
import { CID_PROFILES, isCidProfileName, type CidProfileName } from '../content/profiles.js'
import type { BucketRecord } from '../metadata/metadata-store.js'
import type { OperationContext } from './context.js'

/** CreateBucket's request header naming the bucket's CID profile, and HeadBucket's reply header. */
export const CID_PROFILE_HEADER = 'x-amz-meta-cid-profile'

/** The profile a CreateBucket asks for: its `x-amz-meta-cid-profile`, or the gateway's default. */
export function requestedProfile (ctx: OperationContext): CidProfileName {
  const value = ctx.req.headers[CID_PROFILE_HEADER]
  if (value === undefined) return ctx.content.profile
  const name = value.trim()
  if (!isCidProfileName(name)) {
    throw new S3Error('InvalidArgument', `Unknown CID profile; expected one of ${CID_PROFILES.join(', ')}.`,
      { ArgumentName: CID_PROFILE_HEADER, ArgumentValue: value })
  }
  return name
}

/**
 * The profile every write into `bucket` imports content under: the one recorded at creation, or
 * the gateway's configured default for a bucket recorded without one (from before profiles were
 * recorded).
 */
export function bucketProfile (ctx: OperationContext, bucket: BucketRecord): CidProfileName {
  const name = bucket.cidProfile
  if (name === undefined) return ctx.content.profile
  if (!isCidProfileName(name)) throw new S3Error('InternalError', `The bucket's CID profile "${name}" is unknown to this gateway.`)
  return name
}
