import { aclFromHeaders, toStoredAcl } from '../auth/acl.js'
import { onlyOwnerFullControl, ownershipHeader } from '../auth/ownership.js'
import { S3Error } from '../errors.js'
import { assertValidBucketName } from '../protocol/names.js'
import { readSmallBody, openPayload } from '../protocol/payload.js'
import { childText, parseXml } from '../xml/parse.js'
import type { OperationContext } from './context.js'
import { requestedProfile } from './bucket-profile.js'
import { emptyResponse, timestamp } from './common.js'

export async function createBucket (ctx: OperationContext) {
  assertValidBucketName(ctx.bucket)
  if (ctx.bucket === 'ipfs') {
    throw new S3Error('InvalidBucketName', 'The bucket name "ipfs" is reserved by this gateway: the copy source ipfs/<cid> names IPFS content.', { BucketName: ctx.bucket })
  }
  // A new bucket has no public access block, so no ACL is refused here.
  const requested = aclFromHeaders(ctx.req.headers, 'bucket', { id: ctx.principal, displayName: ctx.displayName }, undefined, ctx.knownPrincipal)
  const acl = requested === undefined ? undefined : toStoredAcl(requested)
  const ownership = ownershipHeader(ctx.req.headers)
  if (ownership === 'BucketOwnerEnforced' && requested !== undefined && !onlyOwnerFullControl(requested, ctx.principal)) {
    throw new S3Error('InvalidBucketAclWithObjectOwnership')
  }
  if (ctx.req.headers['x-amz-bucket-object-lock-enabled']?.toLowerCase() === 'true') {
    throw new S3Error('NotImplemented', 'Object Lock is not implemented by this gateway.')
  }
  const cidProfile = requestedProfile(ctx)
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: 64 * 1024, document: true }), 64 * 1024)
  if (body.byteLength > 0) {
    const config = parseXml(body, 'CreateBucketConfiguration')
    const location = childText(config, 'LocationConstraint')
    if (location !== undefined && location !== '' && location !== ctx.region) {
      throw new S3Error('IllegalLocationConstraintException',
        `The ${location} location constraint is incompatible for the region specific endpoint this request was sent to.`)
    }
  }
  const existing = await ctx.metadata.getBucket(ctx.bucket, { signal: ctx.signal })
  const created = existing === undefined && await ctx.metadata.createBucket({
    name: ctx.bucket,
    owner: ctx.principal,
    ownerDisplayName: ctx.displayName,
    created: timestamp(ctx),
    region: ctx.region,
    versioning: 'Unversioned',
    cidProfile,
    ...(acl === undefined && ownership === undefined
      ? {}
      : { config: { ...(acl === undefined ? {} : { acl }), ...(ownership === undefined ? {} : { ownershipControls: ownership }) } }),
  }, { signal: ctx.signal })
  if (!created) {
    const owner = existing?.owner ?? (await ctx.metadata.getBucket(ctx.bucket))?.owner
    // Amazon S3's legacy us-east-1 answer to re-creating a bucket you own is 200, and the SDKs and
    // test suites rely on it; every other region says BucketAlreadyOwnedByYou.
    if (owner === ctx.principal && ctx.region === 'us-east-1') return emptyResponse(200, { location: `/${ctx.bucket}` })
    if (owner === ctx.principal) throw new S3Error('BucketAlreadyOwnedByYou', undefined, { BucketName: ctx.bucket })
    throw new S3Error('BucketAlreadyExists', 'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.', { BucketName: ctx.bucket })
  }
  return emptyResponse(200, { location: `/${ctx.bucket}` })
}
