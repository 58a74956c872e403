import { aclFromHeaders, cannedAcl, fromStoredAcl, isPublicAcl, parseAccessControlPolicy, renderAccessControlPolicy, toStoredAcl } from '../auth/acl.js'
import type { Acl, AclTarget } from '../auth/acl.js'
import { aclsDisabled, objectOwnership, onlyOwnerFullControl } from '../auth/ownership.js'
import { fromStoredPublicAccessBlock } from '../auth/public-access-block.js'
import { S3Error } from '../errors.js'
import type { BucketRecord, MultipartUpload, ObjectVersion } from '../metadata/metadata-store.js'
import { openPayload, readSmallBody } from '../protocol/payload.js'
import type { S3Response } from '../types.js'
import type { OperationContext } from './context.js'

/**
 * ACLs as the operations use them: the owner an ACL names, the ACL a request asks for (headers or
 * an AccessControlPolicy body), the Block Public Access check, and the Get*Acl reply.
 */

type Owner = Acl['owner']

/** Request headers that set an ACL. */
export const ACL_HEADERS = ['x-amz-acl', 'x-amz-grant-read', 'x-amz-grant-write', 'x-amz-grant-read-acp', 'x-amz-grant-write-acp', 'x-amz-grant-full-control']

/** S3 keeps an AccessControlPolicy document to 100 grants; 64 KB is far more than that needs. */
const MAX_ACL_XML_BYTES = 64 * 1024

export function hasAclHeaders (headers: Record<string, string>): boolean {
  return ACL_HEADERS.some(name => headers[name] !== undefined)
}

export function bucketOwner (bucket: BucketRecord): Owner {
  return bucket.ownerDisplayName === undefined ? { id: bucket.owner } : { id: bucket.owner, displayName: bucket.ownerDisplayName }
}

import { bucketAcl } from '../auth/authorize.js'
export { bucketAcl }

/**
 * The owner of a version, with the display name known for it: the stored ACL's, the bucket
 * owner's, or the requester's.
 */
export function objectOwner (ctx: OperationContext, bucket: BucketRecord, version: ObjectVersion): Owner {
  if (aclsDisabled(bucket)) return bucketOwner(bucket)
  const stored = fromStoredAcl(version.acl)
  if (stored !== undefined) return stored.owner
  if (version.owner === bucket.owner) return bucketOwner(bucket)
  if (version.owner === ctx.principal) return { id: ctx.principal, displayName: ctx.displayName }
  return { id: version.owner }
}

/**
 * A version's ACL: as stored, or (none stored) its owner's FULL_CONTROL. With ACLs disabled
 * (BucketOwnerEnforced), the bucket owner's FULL_CONTROL whatever was stored.
 */
export function objectAcl (ctx: OperationContext, bucket: BucketRecord, version: ObjectVersion): Acl {
  if (aclsDisabled(bucket)) return cannedAcl('private', 'object', bucketOwner(bucket))
  return fromStoredAcl(version.acl) ?? cannedAcl('private', 'object', objectOwner(ctx, bucket, version))
}

/** A bucket's ACL as GetBucketAcl shows it: with ACLs disabled, the owner's FULL_CONTROL. */
export function shownBucketAcl (bucket: BucketRecord): Acl {
  return aclsDisabled(bucket) ? cannedAcl('private', 'bucket', bucketOwner(bucket)) : bucketAcl(bucket)
}

/** With ACLs disabled, an ACL that gives anyone but `ownerId` anything is AccessControlListNotSupported. */
export function assertAclAccepted (bucket: BucketRecord, acl: Acl | undefined, ownerId: string): void {
  if (acl !== undefined && aclsDisabled(bucket) && !onlyOwnerFullControl(acl, ownerId)) {
    throw new S3Error('AccessControlListNotSupported')
  }
}

/** AccessDenied when the bucket's public access block has BlockPublicAcls and `acl` is public. */
export function assertAclAllowed (bucket: BucketRecord, acl: Acl | undefined): void {
  if (acl === undefined || !isPublicAcl(acl)) return
  if (fromStoredPublicAccessBlock(bucket.config?.publicAccessBlock)?.blockPublicAcls === true) {
    throw new S3Error('AccessDenied')
  }
}

/**
 * The owner and stored ACL (JSON) of an object a write creates (PutObject, CopyObject,
 * CreateMultipartUpload, PostObject), under the bucket's Object Ownership:
 *
 * - the ACL is from `x-amz-acl` or the `x-amz-grant-*` headers; undefined when the request names
 *   none (the owner-only default, as S3; a copy does not take its source's ACL);
 * - the writer owns the object, except that the bucket owner does when ACLs are disabled
 *   (BucketOwnerEnforced; any ACL but the bucket owner's full control is then
 *   AccessControlListNotSupported and none is stored), and when BucketOwnerPreferred meets
 *   `bucket-owner-full-control`.
 */
export function newObjectOwnership (ctx: OperationContext, bucket: BucketRecord): { owner: string, acl?: string } {
  const acl = aclFromHeaders(ctx.req.headers, 'object', { id: ctx.principal, displayName: ctx.displayName }, bucketOwner(bucket), ctx.knownPrincipal)
  const ownership = objectOwnership(bucket)
  if (ownership === 'BucketOwnerEnforced') {
    const canned = ctx.req.headers['x-amz-acl']
    if (acl !== undefined && canned !== 'bucket-owner-full-control' && !onlyOwnerFullControl(acl, bucket.owner)) {
      throw new S3Error('AccessControlListNotSupported')
    }
    return { owner: bucket.owner }
  }
  if (acl === undefined) return { owner: ctx.principal }
  assertAclAllowed(bucket, acl)
  if (ownership === 'BucketOwnerPreferred' && ctx.req.headers['x-amz-acl'] === 'bucket-owner-full-control') {
    return { owner: bucket.owner, acl: toStoredAcl(cannedAcl('private', 'object', bucketOwner(bucket))) }
  }
  return { owner: ctx.principal, acl: toStoredAcl(acl) }
}

/**
 * The owner of the object a multipart upload completes into: the bucket owner when ACLs are
 * disabled; otherwise its ACL's owner (the bucket owner when BucketOwnerPreferred met
 * `bucket-owner-full-control` at creation), or the initiator.
 */
export function completedObjectOwner (bucket: BucketRecord, upload: MultipartUpload): string {
  if (aclsDisabled(bucket)) return bucket.owner
  return fromStoredAcl(upload.acl)?.owner.id ?? upload.owner
}

/**
 * The ACL a PutBucketAcl / PutObjectAcl request sets, in exactly one way: `x-amz-acl`, the
 * `x-amz-grant-*` headers, or an AccessControlPolicy body. Headers and a body together →
 * UnexpectedContent; neither → MissingSecurityHeader (what S3 answers). Checked against the
 * bucket's public access block.
 */
export async function requestedAcl (ctx: OperationContext, target: AclTarget, owner: Owner, bucket: BucketRecord): Promise<Acl> {
  const body = await readSmallBody(openPayload(ctx.req, ctx.auth, { maxSize: MAX_ACL_XML_BYTES, document: true }), MAX_ACL_XML_BYTES)
  const headers = hasAclHeaders(ctx.req.headers)
  if (headers && body.byteLength > 0) throw new S3Error('UnexpectedContent', 'This request does not support content')
  let acl: Acl | undefined
  if (body.byteLength > 0) {
    acl = parseAccessControlPolicy(body, owner, ctx.knownPrincipal)
  } else {
    acl = aclFromHeaders(ctx.req.headers, target, owner, target === 'object' ? bucketOwner(bucket) : undefined, ctx.knownPrincipal)
  }
  if (acl === undefined) {
    throw new S3Error('MissingSecurityHeader', 'Your request was missing a required header', { MissingHeaderName: 'x-amz-acl' })
  }
  assertAclAccepted(bucket, acl, target === 'bucket' ? bucket.owner : owner.id)
  assertAclAllowed(bucket, acl)
  return acl
}

export function aclResponse (acl: Acl, headers: Record<string, string> = {}): S3Response {
  const body = renderAccessControlPolicy(acl)
  return {
    status: 200,
    headers: { 'content-type': 'application/xml', 'content-length': String(body.byteLength), ...headers },
    body,
  }
}
