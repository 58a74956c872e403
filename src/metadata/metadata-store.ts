import type { AbortOptions } from '../types.js'

export type Versioning = 'Unversioned' | 'Enabled' | 'Suspended'

export interface BucketRecord {
  name: string
  /** Principal that created the bucket. */
  owner: string
  ownerDisplayName?: string
  created: Date
  region: string
  versioning: Versioning
}

export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256'

export interface ObjectChecksum {
  algorithm: ChecksumAlgorithm
  /** Base64 of the big-endian digest, as S3 prints it. */
  value: string
  type: 'FULL_OBJECT' | 'COMPOSITE'
}

/** One version of one key. The unversioned (and "null") version has versionId 'null'. */
export interface ObjectVersion {
  bucket: string
  key: string
  versionId: string
  /** Filled by the store on reads; ignored on writes (the newest write of a key is the latest). */
  isLatest?: boolean
  deleteMarker: boolean
  /** Root CID of the content (string form). '' for delete markers. */
  cid: string
  size: number
  /** ETag without quotes: hex MD5, or `<hex>-<parts>` for multipart objects. '' for delete markers. */
  etag: string
  lastModified: Date
  owner: string
  /**
   * Stored content headers, lower-case names: content-type, content-encoding, content-disposition,
   * content-language, cache-control, expires.
   */
  headers: Record<string, string>
  /** User metadata, `x-amz-meta-` stripped, names lower-case. */
  metadata: Record<string, string>
  /** Object tags in the order they were given. */
  tags: Array<[string, string]>
  checksum?: ObjectChecksum
  storageClass?: string
  /** Number of parts for multipart objects. */
  partsCount?: number
}

/**
 * What a listing shows of a version: no content headers, user metadata or tags, so a store can
 * answer a page from its listing index without reading whole version records.
 */
export type ListedObject = Pick<ObjectVersion, 'key' | 'versionId' | 'isLatest' | 'deleteMarker' | 'size' | 'etag' |
  'lastModified' | 'owner' | 'checksum' | 'storageClass'>

export interface ListOptions extends AbortOptions {
  /** Only keys starting with this. */
  prefix?: string
  /** Only keys strictly greater than this (UTF-8 byte order). */
  after?: string
  /** Only keys greater than or equal to this (UTF-8 byte order). Used to skip a common prefix. */
  from?: string
  /** At most this many entries (>= 1). */
  limit: number
}

export interface WriteResult {
  /** The version that this write replaced (same versionId), if any. */
  replaced?: ObjectVersion
  /** CIDs whose reference count reached zero through this change. */
  released: string[]
}

export interface DeleteResult {
  /** The version that was removed, if it existed. */
  deleted?: ObjectVersion
  /** CIDs whose reference count reached zero through this change. */
  released: string[]
}

/**
 * Where buckets, object versions and CID reference counts live. Every method that changes state is
 * one transaction: either all of it happens or none of it. Keys compare in UTF-8 byte order.
 *
 * Stores know nothing of S3 errors: "not found" is `undefined` (or a result saying so); anything
 * thrown is their own error and is mapped at one place by the gateway.
 *
 * Every method honours `options.signal` before doing any I/O (rejecting with an AbortError).
 */
export interface MetadataStore {
  /**
   * Creates the bucket. Returns false (and changes nothing) when a bucket of that name exists,
   * whoever owns it. Repeating a successful call returns false.
   */
  createBucket(bucket: BucketRecord, options?: AbortOptions): Promise<boolean>

  /** The bucket, or undefined when there is none of that name. */
  getBucket(name: string, options?: AbortOptions): Promise<BucketRecord | undefined>

  /** All buckets (of `owner` when given), sorted by name. */
  listBuckets(owner?: string, options?: AbortOptions): Promise<BucketRecord[]>

  /**
   * Deletes an empty bucket. 'not-empty' when any object version (delete markers included) remains;
   * 'missing' when there is no such bucket. Repeating a successful call returns 'missing'.
   */
  deleteBucket(name: string, options?: AbortOptions): Promise<'deleted' | 'not-empty' | 'missing'>

  /**
   * Stores a version and makes it the key's latest. A version with the same (bucket, key, versionId)
   * is replaced. In one transaction: the new version's CID gains a reference and the replaced
   * version's CID loses one. The bucket must exist (the store may throw otherwise).
   */
  putObject(version: ObjectVersion, options?: AbortOptions): Promise<WriteResult>

  /**
   * The given version, or the key's latest version (which may be a delete marker) when
   * `versionId` is undefined. Undefined when absent.
   */
  getObject(bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined>

  /**
   * Removes one version (the latest when `versionId` is undefined) and releases its CID reference.
   * When the latest is removed, the next newest version of the key becomes latest. Deleting an
   * absent version is not an error: `deleted` is undefined.
   */
  deleteObject(bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<DeleteResult>

  /** Replaces the tag set of one version (latest when undefined). False when the version is absent. */
  setObjectTags(bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean>

  /**
   * The latest versions of keys, delete markers excluded, in UTF-8 byte order of key, starting at the
   * seek position given by `after` / `from` and restricted to `prefix`; at most `limit` entries.
   * Costs O(log n + limit): the store seeks, it never scans the bucket.
   */
  listObjects(bucket: string, options: ListOptions): Promise<ListedObject[]>

  /**
   * The same keys `listObjects` would list, keys only. Cheap enough to probe one key at a time:
   * listing seeks past each common prefix with it.
   */
  listKeys(bucket: string, options: ListOptions): Promise<string[]>

  /** How many versions (and, later, parts and uploads) reference this CID. 0 when none. */
  refCount(cid: string, options?: AbortOptions): Promise<number>

  /** Every CID with a positive reference count, for garbage collection. */
  referencedCids(options?: AbortOptions): AsyncIterable<string>

  /** Releases resources. Further calls may throw. Repeating it is harmless. */
  close(): Promise<void>
}
