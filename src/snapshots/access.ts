import type { Authorizer } from '../auth/authorize.js'

/**
 * Who may do what with a bucket's snapshots. A snapshot shows every object under its prefix, so
 * reading one (listing, getting, fetching its directory through /ipfs/) takes what reading all of
 * those objects takes: s3:ListBucket on the bucket and s3:GetObject on every key under the prefix
 * (granted by ownership or a policy on `<bucket>/<prefix>*`, with no Deny that could apply to a key
 * in that range; object ACLs, one object's each, grant nothing here). Taking one takes the same.
 */
export async function mayReadSnapshot (authorizer: Pick<Authorizer, 'allowed' | 'allowedForAll'>, bucket: string, prefix: string): Promise<boolean> {
  return await authorizer.allowed('s3:ListBucket', bucket, undefined) && await authorizer.allowedForAll('s3:GetObject', bucket, prefix)
}

/** Restoring a directory into a bucket writes keys under the prefix: s3:PutObject on every one of them. */
export async function mayRestore (authorizer: Pick<Authorizer, 'allowedForAll'>, bucket: string, prefix: string): Promise<boolean> {
  return await authorizer.allowedForAll('s3:PutObject', bucket, prefix)
}

/** Deleting a snapshot: the bucket's owner, or whoever took it. */
export function mayDeleteSnapshot (principal: string | undefined, bucketOwner: string, snapshotOwner: string): boolean {
  return principal !== undefined && (principal === bucketOwner || principal === snapshotOwner)
}

/**
 * Publishing a snapshot under the bucket's IPNS name, or unpublishing it: the bucket's owner only.
 * A published root CID is public to anyone who has the name, whatever the bucket's policy says.
 */
export function mayPublishSnapshot (principal: string | undefined, bucketOwner: string): boolean {
  return principal !== undefined && principal === bucketOwner
}
