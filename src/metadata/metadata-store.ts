import type { AbortOptions } from '../types.js'
import type { ArchiveStore, RestoreState } from './archives.js'
import type { ChangeOptions, JobQueue } from './jobs.js'
import type { PinStore } from './pins.js'
import type { ReplicaStore } from './replicas.js'
import type { SearchIndex } from './search.js'
import type { CompletedUpload, MultipartUpload, UploadedPart, UploadListOptions } from './uploads.js'
import type { SnapshotStore } from './snapshots.js'

export type Versioning = 'Unversioned' | 'Enabled' | 'Suspended'

export interface BucketRecord {
  name: string
  /** Principal that created the bucket. */
  owner: string
  ownerDisplayName?: string
  created: Date
  region: string
  versioning: Versioning
  /**
   * CID profile every write into the bucket imports content under, fixed when the bucket is
   * created. Absent for buckets recorded before stores kept it (a migrated database): such a bucket
   * uses the gateway's configured default profile.
   */
  cidProfile?: string
  /**
   * The bucket's sub-resource configurations, each as the text the gateway stored (JSON, or the
   * policy document verbatim); absent kinds are not configured. The store keeps them opaque.
   */
  config?: BucketConfig
}

/**
 * Bucket sub-resources a store keeps for the gateway, opaque to the store. `ipns`: the snapshot the
 * bucket's IPNS name points to (src/snapshots/ipns.ts).
 */
export type BucketConfigKind = 'policy' | 'acl' | 'cors' | 'publicAccessBlock' | 'encryption' | 'replication' | 'tagging' | 'ownershipControls' | 'lifecycle' | 'ipns'
export type BucketConfig = Partial<Record<BucketConfigKind, string>>

/**
 * How a version's (or upload's) content is encrypted: its data key, wrapped under the gateway's
 * master key (SSE-S3) or the customer's key (SSE-C). The CID is of the ciphertext.
 */
export interface ObjectEncryption {
  algorithm: 'AES256'
  /** SSE-C: the key is the customer's, never stored; `keyMd5` identifies it. */
  customerKey: boolean
  /** Base64 MD5 of the customer's key (SSE-C). */
  keyMd5?: string
  /** The version's data key wrapped by the key-encryption key (content/encryption.ts). */
  wrappedKey: string
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
  /**
   * Sizes in bytes of the parts of a multipart object, in part order (`partsCount` entries), so a
   * read with `partNumber=N` finds the part's byte range. Absent for single-part objects.
   */
  partSizes?: number[]
  /**
   * The parts' checksums (base64, under `checksum.algorithm`), in part order, for a multipart object
   * whose parts were checksummed (GetObjectAttributes lists them). Absent otherwise.
   */
  partChecksums?: string[]
  /** The version's access control list as the gateway stored it (JSON); absent = owner only. */
  acl?: string
  /** Present when the content is stored encrypted. */
  encryption?: ObjectEncryption
  /**
   * The content is on the archive target (its CID's ArchiveRecord) and no longer held locally,
   * except while restored. Set only by `setVersionArchive`; ignored on writes.
   */
  archived?: boolean
  /** A restore requested or done (RestoreObject). Set only by `setVersionArchive`; ignored on writes. */
  restore?: RestoreState
}

/**
 * What a listing shows of a version: no content headers, user metadata or tags, so a store can
 * answer a page from its listing index without reading whole version records.
 */
export type ListedObject = Pick<ObjectVersion, 'key' | 'versionId' | 'isLatest' | 'deleteMarker' | 'size' | 'etag' |
  'lastModified' | 'owner' | 'checksum' | 'storageClass'>

export type ChecksumType = 'FULL_OBJECT' | 'COMPOSITE'

export type { CompletedUpload, MultipartUpload, UploadedPart, UploadListOptions } from './uploads.js'

export interface VersionListOptions extends AbortOptions {
  prefix?: string
  /**
   * Only versions after this position in listing order (keys ascending, each key's versions newest
   * first): of keys greater than `key`, and, when `versionId` names a version of `key`, also the
   * versions of `key` older than it (ListObjectVersions' key-marker / version-id-marker).
   */
  after?: { key: string, versionId?: string }
  /** Only versions of keys greater than or equal to this. Used to skip a common prefix. */
  from?: string
  /** At most this many versions (>= 1). */
  limit: number
}

/** A version whose content is a given CID (listVersionsByCid): where it is, and whether it is its key's latest. */
export interface CidMatch {
  bucket: string
  key: string
  versionId: string
  isLatest: boolean
}

export interface CidListOptions extends AbortOptions {
  /**
   * Only matches after this position in (bucket, key, versionId) order, each compared in UTF-8 byte
   * order; the position need not be a match itself (a bucket name followed by U+0000 seeks past the
   * bucket's matches).
   */
  after?: { bucket: string, key: string, versionId: string }
  /** At most this many matches (>= 1). */
  limit: number
}

export interface PartListOptions extends AbortOptions {
  /** Only parts with a greater part number. */
  after?: number
  /** At most this many parts (>= 1). */
  limit: number
}

export interface PartWriteResult {
  /** The part this write replaced (same part number), if any. */
  replaced?: UploadedPart
  /** CIDs whose reference count reached zero through this change. */
  released: string[]
}

/**
 * What the key's current version (its latest, unless that is a delete marker) must be for a
 * conditional write to commit: checked in the write's own transaction, so of concurrent writes
 * whose conditions exclude each other exactly one commits.
 * - `{ current: 'none' }`: the key has no current version (no version at all, or its latest is a
 *   delete marker). S3's `If-None-Match: *`.
 * - `{ current: 'object', etags }`: the key has a current version whose ETag (without quotes) is one
 *   of `etags`; any current version when `etags` is undefined. S3's `If-Match`.
 */
export type WriteCondition = { current: 'none' } | { current: 'object', etags?: string[] }

export { conditionFailed, noSuchBucket, sourceReleased, storeClosed, uploadExists } from './store-errors.js'

export type CompleteResult =
  | (WriteResult & { status: 'completed' })
  /** No upload in progress with that id (never created, aborted, or already completed). */
  | { status: 'no-upload' }
  /** A part named in `parts` is not (or no longer) the stored part with that CID. */
  | { status: 'parts-changed' }

/** Options of completeUpload: `condition` as for putObject (PutOptions). */
export interface CompleteOptions extends ChangeOptions {
  condition?: WriteCondition
}

/** Options of writes that may reference existing content (copies). */
export interface WriteOptions extends ChangeOptions {
  /**
   * The write references content that already exists (a copy's source): commit only if this CID
   * is referenced (count > 0) at commit time, checked in the same transaction as the new
   * reference; otherwise change nothing and reject with an error whose `code` is
   * 'ERR_SOURCE_RELEASED'. A released CID's blocks may already be collected by a GC running in
   * another process; this check keeps a copy from resurrecting it.
   */
  sourceCid?: string
}

/** Options of the writes that commit an object version (putObject, completeUpload). */
export interface PutOptions extends WriteOptions {
  /**
   * Commit only if the key's current version is as this says, checked in the same transaction as
   * the version write; otherwise change nothing and reject with an error whose `code` is
   * 'ERR_CONDITION_FAILED' (see `conditionFailed`).
   */
  condition?: WriteCondition
}

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

/**
 * What a store holds, as S3 reports a bucket's size: `objects` counts every object version that is
 * not a delete marker (noncurrent versions included, as NumberOfObjects does), `bytes` is the sum of
 * their sizes (BucketSizeBytes), `uploads` counts multipart uploads in progress (created, neither
 * completed nor aborted), and `buckets` the buckets (1 for one bucket's totals).
 */
export interface StoreStats {
  buckets: number
  objects: number
  bytes: number
  uploads: number
}

export interface StatsOptions extends AbortOptions {
  /** Only this bucket's totals. */
  bucket?: string
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
 *
 * Changes take `ChangeOptions`: jobs given there (and jobs for each CID whose last reference the
 * change releases) are enqueued in the change's own transaction, so the background work a change
 * needs exists exactly when the change does. The store is also the job queue and keeps the
 * replica rows and the pin requests it serves (jobs.ts, replicas.ts, pins.ts), the records of
 * archived content (archives.ts), the metadata search index (search.ts) and the bucket snapshots
 * (snapshots.ts).
 */
export interface MetadataStore extends JobQueue, ReplicaStore, PinStore, ArchiveStore, SearchIndex, SnapshotStore {
  /**
   * Creates the bucket. Returns false (and changes nothing) when a bucket of that name exists,
   * whoever owns it. Repeating a successful call returns false.
   */
  createBucket(bucket: BucketRecord, options?: AbortOptions): Promise<boolean>

  /** The bucket, or undefined when there is none of that name. */
  getBucket(name: string, options?: AbortOptions): Promise<BucketRecord | undefined>

  /**
   * Sets a bucket's versioning state (a bucket never returns to 'Unversioned'). False when there
   * is no such bucket.
   */
  setBucketVersioning(name: string, versioning: 'Enabled' | 'Suspended', options?: AbortOptions): Promise<boolean>

  /**
   * Sets (or with `value` undefined, removes) one configuration of a bucket, in one transaction,
   * leaving its other configurations as they are. False when there is no such bucket.
   */
  setBucketConfig(name: string, kind: BucketConfigKind, value: string | undefined, options?: AbortOptions): Promise<boolean>

  /** All buckets (of `owner` when given), sorted by name. */
  listBuckets(owner?: string, options?: AbortOptions): Promise<BucketRecord[]>

  /**
   * Deletes an empty bucket. 'not-empty' when any object version (delete markers included) remains;
   * 'missing' when there is no such bucket. Repeating a successful call returns 'missing'.
   * Multipart uploads in progress do not keep a bucket from being deleted (as in Amazon S3): they
   * are removed with it and their parts' references released, in the same transaction; so are the
   * bucket's snapshots (snapshots.ts) and their references.
   */
  deleteBucket(name: string, options?: ChangeOptions): Promise<'deleted' | 'not-empty' | 'missing'>

  /**
   * Stores a version and makes it the key's latest. A version with the same (bucket, key, versionId)
   * is replaced. In one transaction: the new version's CID gains a reference and the replaced
   * version's CID loses one. The bucket must exist (the store may throw otherwise).
   *
   * With `options.condition`, the key's latest version is checked against it in that same
   * transaction: when it does not hold, nothing changes and the call rejects with
   * `conditionFailed` (code 'ERR_CONDITION_FAILED'). Of concurrent writes to one key whose
   * conditions each exclude the others' results (e.g. all `{ current: 'none' }`), exactly one
   * commits, also when they come from several processes sharing the store.
   */
  putObject(version: ObjectVersion, options?: PutOptions): Promise<WriteResult>

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
  deleteObject(bucket: string, key: string, versionId?: string, options?: ChangeOptions): Promise<DeleteResult>

  /** Replaces the tag set of one version (latest when undefined). False when the version is absent. */
  setObjectTags(bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean>

  /** Replaces the ACL of one version (latest when undefined). False when the version is absent. */
  setObjectAcl(bucket: string, key: string, versionId: string | undefined, acl: string, options?: AbortOptions): Promise<boolean>

  /**
   * The latest versions of keys, delete markers excluded, in UTF-8 byte order of key, starting at the
   * seek position given by `after` / `from` and restricted to `prefix`; at most `limit` entries.
   * Costs O(log n + limit): the store seeks, it never scans the bucket.
   */
  listObjects(bucket: string, options: ListOptions): Promise<ListedObject[]>

  /**
   * Every version of keys (delete markers included, `isLatest` set), keys in UTF-8 byte order and
   * each key's versions newest first, from the seek position given by `after` / `from`, restricted
   * to `prefix`; at most `limit`. Costs O(log n + limit) however many versions keys have.
   */
  listVersions(bucket: string, options: VersionListOptions): Promise<ListedObject[]>

  /**
   * The versions (of any bucket, latest or not; never delete markers) whose root CID is `cid`, as
   * stored (the string form the version was written with), ordered by bucket, key and version id
   * (each in UTF-8 byte order), after `options.after`; at most `limit`. Costs O(log n + limit): the
   * store keeps an index by CID, it never scans versions. A version removed or replaced (same id,
   * another CID) is no longer listed; an unknown CID lists nothing.
   */
  listVersionsByCid(cid: string, options: CidListOptions): Promise<CidMatch[]>

  /**
   * The same keys `listObjects` would list, keys only. Cheap enough to probe one key at a time:
   * listing seeks past each common prefix with it.
   */
  listKeys(bucket: string, options: ListOptions): Promise<string[]>

  /** Starts a multipart upload. The bucket must exist (the store may throw otherwise). */
  createUpload(upload: MultipartUpload, options?: AbortOptions): Promise<void>

  /** The upload in progress, or undefined (never created, aborted, completed, or another key). */
  getUpload(bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<MultipartUpload | undefined>

  /**
   * Uploads in progress in a bucket, ordered by key (UTF-8 byte order) and then by upload id,
   * from the seek position given by `after` / `from`, restricted to `prefix`; at most `limit`.
   */
  listUploads(bucket: string, options: UploadListOptions): Promise<MultipartUpload[]>

  /**
   * Stores a part of an upload in progress, replacing any part with the same number. In one
   * transaction: the part's CID gains a reference and the replaced part's CID loses one.
   * Undefined (and nothing changes) when the upload is not in progress.
   */
  putPart(bucket: string, key: string, uploadId: string, part: UploadedPart, options?: WriteOptions): Promise<PartWriteResult | undefined>

  /** Parts of an upload in progress in part-number order; undefined when it is not in progress. */
  listParts(bucket: string, key: string, uploadId: string, options: PartListOptions): Promise<UploadedPart[] | undefined>

  /**
   * Completes an upload in one transaction: checks that the upload is in progress and that every
   * part in `parts` is still stored with that CID; stores `version` as putObject does (taking a
   * reference on its CID, releasing a replaced version's); removes the upload and all its parts,
   * releasing their references; and records `completed` for retries (getCompletedUpload).
   * Records of uploads completed long before (an hour or more) may be dropped at the same time.
   *
   * `options.condition` is checked as putObject checks it, in the same transaction, after the
   * upload and its parts (so 'no-upload' and 'parts-changed' come first): when it does not hold the
   * call rejects with `conditionFailed` and nothing changes (the upload stays in progress).
   */
  completeUpload(version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>, completed: CompletedUpload, options?: CompleteOptions): Promise<CompleteResult>

  /** The record of a completed upload, if it is still kept. */
  getCompletedUpload(bucket: string, key: string, uploadId: string, options?: AbortOptions): Promise<CompletedUpload | undefined>

  /**
   * Removes an upload in progress and its parts, releasing their references. Undefined when it
   * was not in progress.
   */
  abortUpload(bucket: string, key: string, uploadId: string, options?: ChangeOptions): Promise<{ released: string[] } | undefined>

  /** How many versions, uploaded parts and pinned pins reference this CID. 0 when none. */
  refCount(cid: string, options?: AbortOptions): Promise<number>

  /** Every CID with a positive reference count, in UTF-8 byte order (for garbage collection, and to merge with `listReplicas`). */
  referencedCids(options?: AbortOptions): AsyncIterable<string>

  /**
   * Totals the store keeps up to date as it changes, so that reading them costs the same however
   * many objects there are: never a scan of objects. The store's totals (summed over buckets), or
   * with `options.bucket` that bucket's, or undefined when that bucket does not exist. The totals
   * of a deleted bucket are gone with it. Optional: a store without counters leaves it out.
   */
  stats?(options?: StatsOptions): Promise<StoreStats | undefined>

  /**
   * A cheap round trip to the store, for readiness probes: resolves when the store answers, rejects
   * with the store's own error when it does not (unreachable, or closed). Rejects with the signal's
   * reason when the signal aborts, also while waiting for the answer. Changes nothing.
   */
  ping?(options?: AbortOptions): Promise<void>

  /** Releases resources. Further calls may throw. Repeating it is harmless. */
  close(): Promise<void>
}
