import { S3Error } from '../errors.js'
import type { BucketRecord } from '../metadata/metadata-store.js'
import { childText, children, parseXml } from '../xml/parse.js'
import type { Acl } from './acl.js'

/**
 * S3 Object Ownership: who owns the objects written into a bucket, and whether ACLs still count.
 *
 * - `BucketOwnerEnforced`: the bucket owner owns every object; ACLs are disabled (they grant nothing;
 *   reads of them show the bucket owner's FULL_CONTROL; writes of any ACL but the owner's full control
 *   are AccessControlListNotSupported).
 * - `BucketOwnerPreferred`: an object written with `bucket-owner-full-control` is owned by the bucket owner.
 * - `ObjectWriter`: the writer owns what it writes. A bucket without ownership controls behaves so
 *   (as buckets created before Amazon S3 made BucketOwnerEnforced the default, and as Ceph RGW).
 */
export type ObjectOwnership = 'BucketOwnerEnforced' | 'BucketOwnerPreferred' | 'ObjectWriter'

const SETTINGS = new Set<string>(['BucketOwnerEnforced', 'BucketOwnerPreferred', 'ObjectWriter'])

export function isObjectOwnership (value: string): value is ObjectOwnership {
  return SETTINGS.has(value)
}

/** The bucket's Object Ownership setting; undefined when it has no ownership controls. */
export function objectOwnership (bucket: BucketRecord | undefined): ObjectOwnership | undefined {
  const value = bucket?.config?.ownershipControls
  return value !== undefined && isObjectOwnership(value) ? value : undefined
}

/** ACLs no longer grant anything in this bucket. */
export function aclsDisabled (bucket: BucketRecord | undefined): boolean {
  return objectOwnership(bucket) === 'BucketOwnerEnforced'
}

/**
 * The `<OwnershipControls><Rule><ObjectOwnership>…` document of PutBucketOwnershipControls: exactly one
 * rule with a known setting, or MalformedXML (what Amazon S3 answers for both).
 */
export function parseOwnershipControls (body: Uint8Array): ObjectOwnership {
  const doc = parseXml(body, 'OwnershipControls')
  const rules = children(doc, 'Rule')
  if (rules.length !== 1) throw new S3Error('MalformedXML')
  const value = childText(rules[0], 'ObjectOwnership')
  if (value === undefined || !isObjectOwnership(value)) throw new S3Error('MalformedXML')
  return value
}

/** The `x-amz-object-ownership` header of CreateBucket; an unknown value is InvalidArgument. */
export function ownershipHeader (headers: Record<string, string>): ObjectOwnership | undefined {
  const value = headers['x-amz-object-ownership']
  if (value === undefined) return undefined
  if (!isObjectOwnership(value)) {
    throw new S3Error('InvalidArgument', 'Invalid x-amz-object-ownership header', { ArgumentName: 'x-amz-object-ownership', ArgumentValue: value })
  }
  return value
}

/**
 * True when an ACL gives nothing to anyone but `ownerId` (its FULL_CONTROL, or no grant at all):
 * the only ACL a bucket with ACLs disabled accepts (`bucket-owner-full-control`, `private` on a
 * bucket, or the same grant spelled out).
 */
export function onlyOwnerFullControl (acl: Acl, ownerId: string): boolean {
  return acl.grants.every(g => g.grantee.type === 'CanonicalUser' && g.grantee.id === ownerId && g.permission === 'FULL_CONTROL')
}
