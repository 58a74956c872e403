import type { BucketRecord, ObjectVersion } from '../metadata/metadata-store.js'
import type { OperationContext } from './context.js'
import { timestamp } from './common.js'

/**
 * The version id a write gets: a new unique id in a versioning-enabled bucket, the null version
 * otherwise (in a suspended bucket it replaces the previous null version only).
 */
export function newVersionId (ctx: Pick<OperationContext, 'newId'>, bucket: BucketRecord): string {
  return bucket.versioning === 'Enabled' ? ctx.newId('version') : 'null'
}

/**
 * `x-amz-version-id` on a write's response: present once a bucket has a versioning configuration
 * (`null` for the null version), absent in a bucket that was never versioned.
 */
export function versionIdHeader (bucket: BucketRecord, versionId: string): Record<string, string> {
  return bucket.versioning === 'Unversioned' ? {} : { 'x-amz-version-id': versionId }
}

/** A delete marker for `key`, written instead of deleting when a bucket has versioning. */
export function deleteMarker (ctx: OperationContext, bucket: BucketRecord, key: string): ObjectVersion {
  return {
    bucket: bucket.name,
    key,
    versionId: newVersionId(ctx, bucket),
    deleteMarker: true,
    cid: '',
    size: 0,
    etag: '',
    lastModified: timestamp(ctx),
    owner: ctx.principal,
    headers: {},
    metadata: {},
    tags: [],
  }
}

export interface DeleteOutcome {
  /** The version id the response names: the one removed, or the new delete marker's. */
  versionId?: string
  /** True when a delete marker was written, or when the version removed was one. */
  deleteMarker: boolean
}

/**
 * DeleteObject's semantics for one key. With a version id, that version is removed for good (a
 * removed delete marker brings the previous version back). Without one: in a bucket that was never
 * versioned the object is removed; with versioning a delete marker becomes the latest version
 * (suspended: the null one, replacing the previous null version).
 */
export async function deleteKey (ctx: OperationContext, bucket: BucketRecord, key: string, versionId: string | undefined): Promise<DeleteOutcome> {
  if (versionId !== undefined || bucket.versioning === 'Unversioned') {
    const result = await ctx.metadata.deleteObject(bucket.name, key, versionId ?? 'null', { signal: ctx.signal })
    return { versionId, deleteMarker: result.deleted?.deleteMarker === true }
  }
  const marker = deleteMarker(ctx, bucket, key)
  await ctx.metadata.putObject(marker, { signal: ctx.signal })
  return { versionId: marker.versionId, deleteMarker: true }
}
