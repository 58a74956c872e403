import type {
  BucketConfig, BucketRecord, ChecksumAlgorithm, ChecksumType, CompletedUpload, ListedObject, MultipartUpload, ObjectChecksum, ObjectVersion,
  UploadedPart, Versioning,
} from './metadata-store.js'

/**
 * Rows of the SQL stores and their mapping to records, shared by SQLite and PostgreSQL. The two
 * drivers hand back the same columns except in three types: flags (SQLite 0/1, PostgreSQL boolean),
 * JSON (SQLite text, PostgreSQL jsonb already parsed) and part sizes (SQLite comma-separated text,
 * PostgreSQL bigint[]). A row type takes the driver as a parameter for those, and a `Columns` decodes them.
 */
export type Driver = 'sqlite' | 'postgres'
export type Flag<D extends Driver> = D extends 'sqlite' ? number : boolean
export type Json<D extends Driver, T> = D extends 'sqlite' ? string : T
export type Sizes<D extends Driver> = D extends 'sqlite' ? string : number[]

interface Columns<D extends Driver> {
  flag: (value: Flag<D>) => boolean
  json: <T>(value: Json<D, T>) => T
  sizes: (value: Sizes<D>) => number[]
}

const sqliteColumns: Columns<'sqlite'> = {
  flag: (value) => value === 1,
  // The empty values most rows hold, without the parser.
  json: (text) => text === '{}' ? {} : text === '[]' ? [] : JSON.parse(text),
  sizes: (text) => text === '' ? [] : text.split(',').map(Number),
}

/** The PostgreSQL store's type parsers already give booleans, parsed JSON and number arrays. */
const postgresColumns: Columns<'postgres'> = {
  flag: (value) => value,
  json: (value) => value,
  sizes: (value) => value,
}

export type Extra = Pick<ObjectVersion, 'acl' | 'encryption' | 'partChecksums' | 'archived' | 'restore'>

/** The `extra` column as JSON holds it: dates as ISO text. */
type StoredExtra = Omit<Extra, 'restore'> & { restore?: { ongoing: boolean, days?: number, requested?: string, expiry?: string } }

export interface BucketRow<D extends Driver> {
  name: string
  owner: string
  owner_display_name: string | null
  created: number
  region: string
  versioning: string
  cid_profile: string | null
  config: Json<D, BucketConfig> | null
}

export interface VersionRow<D extends Driver> {
  seq: number
  bucket: string
  key: string
  version_id: string
  is_latest: Flag<D>
  delete_marker: Flag<D>
  cid: string
  size: number
  etag: string
  last_modified: number
  owner: string
  headers: Json<D, Record<string, string>>
  metadata: Json<D, Record<string, string>>
  tags: Json<D, Array<[string, string]>>
  checksum: Json<D, ObjectChecksum> | null
  storage_class: string | null
  parts_count: number | null
  part_sizes: Sizes<D> | null
  extra: Json<D, StoredExtra> | null
}

/** What a listing reads of a version; PostgreSQL's object listing reads neither flag. */
export type ListedRow<D extends Driver> = Pick<VersionRow<D>, 'key' | 'version_id' | 'size' | 'etag' | 'last_modified' | 'owner' | 'checksum' | 'storage_class'> &
  Partial<Pick<VersionRow<D>, 'is_latest' | 'delete_marker'>>

export interface UploadRow<D extends Driver> {
  bucket: string
  key: string
  upload_id: string
  initiated: number
  owner: string
  owner_display_name: string | null
  headers: Json<D, Record<string, string>>
  metadata: Json<D, Record<string, string>>
  tags: Json<D, Array<[string, string]>>
  storage_class: string | null
  checksum_algorithm: string | null
  checksum_type: string | null
  profile: string
  extra: Json<D, StoredExtra> | null
}

export interface PartRow<D extends Driver> {
  part_number: number
  cid: string
  size: number
  etag: string
  last_modified: number
  checksum: Json<D, NonNullable<UploadedPart['checksum']>> | null
}

export interface CompletedRow<D extends Driver> {
  bucket: string
  key: string
  upload_id: string
  version_id: string
  etag: string
  checksum: Json<D, ObjectChecksum> | null
  cid: string
  parts_digest: string
  completed: number
}

/** The row mappers of one driver. */
function rowMapping<D extends Driver> (columns: Columns<D>) {
  const { flag, json } = columns

  const toBucket = (row: BucketRow<D>): BucketRecord => {
    const bucket: BucketRecord = {
      name: row.name,
      owner: row.owner,
      created: new Date(row.created),
      region: row.region,
      versioning: row.versioning as Versioning,
    }
    if (row.owner_display_name !== null) bucket.ownerDisplayName = row.owner_display_name
    if (row.cid_profile !== null) bucket.cidProfile = row.cid_profile
    if (row.config !== null) bucket.config = json<BucketConfig>(row.config)
    return bucket
  }

  const toVersion = (row: VersionRow<D>): ObjectVersion => {
    const version: ObjectVersion = {
      bucket: row.bucket,
      key: row.key,
      versionId: row.version_id,
      isLatest: flag(row.is_latest),
      deleteMarker: flag(row.delete_marker),
      cid: row.cid,
      size: row.size,
      etag: row.etag,
      lastModified: new Date(row.last_modified),
      owner: row.owner,
      headers: json<Record<string, string>>(row.headers),
      metadata: json<Record<string, string>>(row.metadata),
      tags: json<Array<[string, string]>>(row.tags),
    }
    if (row.checksum !== null) version.checksum = json<ObjectChecksum>(row.checksum)
    if (row.storage_class !== null) version.storageClass = row.storage_class
    if (row.parts_count !== null) version.partsCount = row.parts_count
    if (row.part_sizes !== null) version.partSizes = columns.sizes(row.part_sizes)
    if (row.extra !== null) Object.assign(version, fromExtra(json<StoredExtra>(row.extra)))
    return version
  }

  const toListed = (row: ListedRow<D>, isLatest: boolean): ListedObject => {
    const listed: ListedObject = {
      key: row.key,
      versionId: row.version_id,
      isLatest,
      deleteMarker: row.delete_marker !== undefined && flag(row.delete_marker),
      size: row.size,
      etag: row.etag,
      lastModified: new Date(row.last_modified),
      owner: row.owner,
    }
    if (row.checksum !== null) listed.checksum = json<ObjectChecksum>(row.checksum)
    if (row.storage_class !== null) listed.storageClass = row.storage_class
    return listed
  }

  const toUpload = (row: UploadRow<D>): MultipartUpload => {
    const upload: MultipartUpload = {
      bucket: row.bucket,
      key: row.key,
      uploadId: row.upload_id,
      initiated: new Date(row.initiated),
      owner: row.owner,
      headers: json<Record<string, string>>(row.headers),
      metadata: json<Record<string, string>>(row.metadata),
      tags: json<Array<[string, string]>>(row.tags),
      profile: row.profile,
    }
    if (row.owner_display_name !== null) upload.ownerDisplayName = row.owner_display_name
    if (row.storage_class !== null) upload.storageClass = row.storage_class
    if (row.checksum_algorithm !== null) upload.checksumAlgorithm = row.checksum_algorithm as ChecksumAlgorithm
    if (row.checksum_type !== null) upload.checksumType = row.checksum_type as ChecksumType
    if (row.extra !== null) Object.assign(upload, fromExtra(json<StoredExtra>(row.extra)))
    return upload
  }

  const toPart = (row: PartRow<D>): UploadedPart => {
    const part: UploadedPart = {
      partNumber: row.part_number,
      cid: row.cid,
      size: row.size,
      etag: row.etag,
      lastModified: new Date(row.last_modified),
    }
    if (row.checksum !== null) part.checksum = json<NonNullable<UploadedPart['checksum']>>(row.checksum)
    return part
  }

  const toCompleted = (row: CompletedRow<D>): CompletedUpload => {
    const record: CompletedUpload = {
      bucket: row.bucket,
      key: row.key,
      uploadId: row.upload_id,
      versionId: row.version_id,
      etag: row.etag,
      cid: row.cid,
      partsDigest: row.parts_digest,
      completed: new Date(row.completed),
    }
    if (row.checksum !== null) record.checksum = json<ObjectChecksum>(row.checksum)
    return record
  }

  return { toBucket, toVersion, toListed, toUpload, toPart, toCompleted }
}

export const sqliteRows = rowMapping(sqliteColumns)
export const postgresRows = rowMapping(postgresColumns)

/** The `config` column: the bucket's configurations as JSON text; null when none. */
export function configOf (bucket: BucketRecord): string | null {
  return bucket.config === undefined || Object.keys(bucket.config).length === 0 ? null : JSON.stringify(bucket.config)
}

/**
 * The `extra` column: a version's or upload's ACL, encryption, part checksums and archive state, as
 * JSON text; null when none.
 */
export function extraOf (record: Extra): string | null {
  if (record.acl === undefined && record.encryption === undefined && record.partChecksums === undefined &&
    record.archived !== true && record.restore === undefined) return null
  return JSON.stringify({
    acl: record.acl,
    encryption: record.encryption,
    partChecksums: record.partChecksums,
    archived: record.archived === true ? true : undefined,
    restore: record.restore,
  })
}

/** A nullable JSON column's text. */
export function jsonOrNull (value: object | undefined): string | null {
  return value === undefined ? null : JSON.stringify(value)
}

function fromExtra (extra: StoredExtra): Extra {
  const out: Extra = {}
  if (extra.acl !== undefined && extra.acl !== null) out.acl = extra.acl
  if (extra.encryption !== undefined && extra.encryption !== null) out.encryption = extra.encryption
  if (Array.isArray(extra.partChecksums)) out.partChecksums = extra.partChecksums
  if (extra.archived === true) out.archived = true
  const restore = extra.restore
  if (restore !== undefined && restore !== null) {
    out.restore = restore.ongoing
      ? { ongoing: true, days: restore.days ?? 1, requested: new Date(restore.requested ?? 0) }
      : { ongoing: false, expiry: new Date(restore.expiry ?? 0) }
  }
  return out
}

/** The CID a version or part holds a reference on: none for delete markers. */
export function heldCid (deleteMarker: boolean, cid: string): string | undefined {
  return deleteMarker || cid === '' ? undefined : cid
}
