import { aclFromHeaders, cannedAcl, fromStoredAcl, isPublicAcl, parseAccessControlPolicy, renderAccessControlPolicy, toStoredAcl } from '../auth/acl.js'
import type { Acl, AclTarget } from '../auth/acl.js'
import { fromStoredPublicAccessBlock } from '../auth/public-access-block.js'
import { S3Error } from '../errors.js'
import type { BucketRecord, ObjectVersion } from '../metadata/metadata-store.js'
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

export { bucketAcl } from '../auth/authorize.js'

/**
 * The owner of a version, with the display name known for it: the stored ACL's, the bucket
 * owner's, or the requester's.
 */
export function objectOwner (ctx: OperationContext, bucket: BucketRecord, version: ObjectVersion): Owner {
  const stored = fromStoredAcl(version.acl)
  if (stored !== undefined) return stored.owner
  if (version.owner === bucket.owner) return bucketOwner(bucket)
  if (version.owner === ctx.principal) return { id: ctx.principal, displayName: ctx.displayName }
  return { id: version.owner }
}

/** A version's ACL: as stored, or (none stored) its owner's FULL_CONTROL. */
export function objectAcl (ctx: OperationContext, bucket: BucketRecord, version: ObjectVersion): Acl {
  return fromStoredAcl(version.acl) ?? cannedAcl('private', 'object', objectOwner(ctx, bucket, version))
}

/** AccessDenied when the bucket's public access block has BlockPublicAcls and `acl` is public. */
export function assertAclAllowed (bucket: BucketRecord, acl: Acl | undefined): void {
  if (acl === undefined || !isPublicAcl(acl)) return
  if (fromStoredPublicAccessBlock(bucket.config?.publicAccessBlock)?.blockPublicAcls === true) {
    throw new S3Error('AccessDenied')
  }
}

/**
 * The stored ACL (JSON) of an object a write creates (PutObject, CopyObject, CreateMultipartUpload):
 * from `x-amz-acl` or the `x-amz-grant-*` headers, owned by the requester; undefined when the
 * request names none (the owner-only default, as S3; a copy does not take its source's ACL).
 */
export function newObjectAcl (ctx: OperationContext, bucket: BucketRecord): string | undefined {
  const acl = aclFromHeaders(ctx.req.headers, 'object', { id: ctx.principal, displayName: ctx.displayName }, bucketOwner(bucket), ctx.knownPrincipal)
  if (acl === undefined) return undefined
  assertAclAllowed(bucket, acl)
  return toStoredAcl(acl)
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
