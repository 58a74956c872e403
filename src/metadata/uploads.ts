import type { AbortOptions } from '../types.js'
import type { ChecksumAlgorithm, ChecksumType, ObjectChecksum, ObjectEncryption } from './metadata-store.js'

// The records of multipart uploads a MetadataStore keeps (createUpload, putPart, completeUpload, ...).

/** A multipart upload in progress: what CreateMultipartUpload fixed for the object to be. */
export interface MultipartUpload {
  bucket: string
  key: string
  /** Unique, URL-safe, time-ordered: uploads of one key list in initiation order by upload id. */
  uploadId: string
  initiated: Date
  /** Principal that created the upload (Initiator and Owner in listings). */
  owner: string
  ownerDisplayName?: string
  /** Content headers, user metadata, tags and storage class for the completed object. */
  headers: Record<string, string>
  metadata: Record<string, string>
  tags: Array<[string, string]>
  storageClass?: string
  /** Checksum algorithm every part is checksummed with, and how the object's checksum is formed. */
  checksumAlgorithm?: ChecksumAlgorithm
  checksumType?: ChecksumType
  /** CID profile the parts are imported under, fixed at create so that all parts agree. */
  profile: string
  /** The completed object's ACL (JSON), fixed at create. */
  acl?: string
  /** Present when every part is stored encrypted under this upload's data key. */
  encryption?: ObjectEncryption
}

/** One uploaded part of a multipart upload. */
export interface UploadedPart {
  /** 1..10000 */
  partNumber: number
  /** Root CID of the part's content. */
  cid: string
  size: number
  /** Hex MD5 of the part's bytes, without quotes. */
  etag: string
  lastModified: Date
  /** The part's checksum under the upload's algorithm (base64), when there is one. */
  checksum?: { algorithm: ChecksumAlgorithm, value: string }
}

/** A completed upload, kept a while so that a retried CompleteMultipartUpload gets the same answer. */
export interface CompletedUpload {
  bucket: string
  key: string
  uploadId: string
  /** The version the upload became. */
  versionId: string
  etag: string
  checksum?: ObjectChecksum
  cid: string
  /** Fingerprint of the part list Complete was given; a retry must send the same list. */
  partsDigest: string
  completed: Date
}

export interface UploadListOptions extends AbortOptions {
  prefix?: string
  /**
   * Only uploads after this position: of keys greater than `key`, and, when `uploadId` is given,
   * also uploads of `key` itself with a greater upload id (ListMultipartUploads' markers).
   */
  after?: { key: string, uploadId?: string }
  /** Only uploads of keys greater than or equal to this. Used to skip a common prefix. */
  from?: string
  /** At most this many uploads (>= 1). */
  limit: number
}
