/**
 * The memory store's state and its helpers: how a bucket's keys, versions and uploads are held,
 * searched, and copied in and out (every value crosses the store's boundary as a copy).
 */
import { compareKeys } from './key-order.js'
import type { BucketRecord, CidListOptions, CompletedUpload, ListedObject, MultipartUpload, ObjectVersion, UploadedPart } from './metadata-store.js'

export type StoredVersion = Omit<ObjectVersion, 'isLatest'>

/** The versions of one key. */
export interface KeyVersions {
  /** Oldest first, in write order (ascending `seq`): the last is the latest. */
  list: Array<{ seq: number, version: StoredVersion }>
  /** The `seq` of each version in `list`, by version id, to find a version by binary search. */
  seqs: Map<string, number>
}

export interface UploadState {
  upload: MultipartUpload
  /** In part-number order. */
  parts: UploadedPart[]
}

export interface BucketState {
  record: BucketRecord
  /** The versions of every key. A key with no versions has no entry. */
  versions: Map<string, KeyVersions>
  /** Every key with versions, in UTF-8 byte order. */
  keys: string[]
  /** Keys whose latest version is not a delete marker, in UTF-8 byte order. */
  listed: string[]
  /** Uploads in progress by `uploadKey(key, uploadId)`. */
  uploads: Map<string, UploadState>
  /** The [key, uploadId] of every upload in progress, in listing order. */
  uploadOrder: Array<[string, string]>
  /** Completed uploads by `uploadKey(key, uploadId)`. */
  completed: Map<string, CompletedUpload>
  /** Versions that are not delete markers, and the sum of their sizes. */
  objects: number
  bytes: number
}

/** Index in `chain.list` of the version with that id (the latest when undefined), or -1. */
export function indexOf (chain: KeyVersions, versionId: string | undefined): number {
  if (versionId === undefined) return chain.list.length - 1
  const seq = chain.seqs.get(versionId)
  if (seq === undefined) return -1
  let lo = 0
  let hi = chain.list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (chain.list[mid].seq < seq) lo = mid + 1
    else hi = mid
  }
  return lo
}

export function latestOf (chain: KeyVersions): StoredVersion {
  return chain.list[chain.list.length - 1].version
}

/** Counts a version that is added (1) to or removed (-1) from a bucket in its totals. */
export function count (state: BucketState, version: StoredVersion, sign: 1 | -1): void {
  if (version.deleteMarker) return
  state.objects += sign
  state.bytes += sign * version.size
}

export function heldCid (version: StoredVersion): string | undefined {
  return version.deleteMarker || version.cid === '' ? undefined : version.cid
}

export function uploadKey (key: string, uploadId: string): string {
  return JSON.stringify([key, uploadId])
}

/** Index of the first [key, uploadId] of sorted `order` that is >= [key, uploadId]. */
export function uploadBound (order: ReadonlyArray<[string, string]>, key: string, uploadId: string): number {
  let lo = 0
  let hi = order.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const [k, u] = order[mid]
    const c = compareKeys(k, key)
    if (c < 0 || (c === 0 && u < uploadId)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Index of the first part numbered >= partNumber. */
export function partBound (parts: readonly UploadedPart[], partNumber: number): number {
  let lo = 0
  let hi = parts.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (parts[mid].partNumber < partNumber) lo = mid + 1
    else hi = mid
  }
  return lo
}

export function copyBucket (bucket: BucketRecord): BucketRecord {
  const copy: BucketRecord = {
    name: bucket.name,
    owner: bucket.owner,
    created: new Date(bucket.created.getTime()),
    region: bucket.region,
    versioning: bucket.versioning,
  }
  if (bucket.ownerDisplayName !== undefined) copy.ownerDisplayName = bucket.ownerDisplayName
  if (bucket.cidProfile !== undefined) copy.cidProfile = bucket.cidProfile
  if (bucket.config !== undefined && Object.keys(bucket.config).length > 0) copy.config = { ...bucket.config }
  return copy
}

export function copyTags (tags: Array<[string, string]>): Array<[string, string]> {
  return tags.map(([k, v]) => [k, v])
}

/** A deep copy of a plain record (Dates included), without the optional fields that are undefined. */
export function copyRecord<T extends object> (record: T): T {
  const copy = structuredClone(record)
  for (const name of Object.keys(copy) as Array<keyof T>) {
    if (copy[name] === undefined) delete copy[name]
  }
  return copy
}

// A deep copy without `isLatest`.
export function copyVersion (version: ObjectVersion): StoredVersion {
  const { isLatest: _, ...stored } = copyRecord(version)
  return stored
}

export const copyUpload = copyRecord<MultipartUpload>
export const copyPart = copyRecord<UploadedPart>
export const copyCompleted = copyRecord<CompletedUpload>

export function listedOf (v: StoredVersion, isLatest: boolean): ListedObject {
  const listed: ListedObject = {
    key: v.key,
    versionId: v.versionId,
    isLatest,
    deleteMarker: v.deleteMarker,
    size: v.size,
    etag: v.etag,
    lastModified: new Date(v.lastModified.getTime()),
    owner: v.owner,
  }
  if (v.checksum !== undefined) listed.checksum = { ...v.checksum }
  if (v.storageClass !== undefined) listed.storageClass = v.storageClass
  return listed
}

export function output (version: StoredVersion, isLatest: boolean): ObjectVersion {
  return { ...copyVersion(version), isLatest }
}

/** Where a version is, as the CID index orders it. */
export interface VersionPlace {
  bucket: string
  key: string
  versionId: string
}

function comparePlaces (a: VersionPlace, b: VersionPlace): number {
  return compareKeys(a.bucket, b.bucket) || compareKeys(a.key, b.key) || compareKeys(a.versionId, b.versionId)
}

/** Index of the first place of sorted `places` that is greater than `place` (or >= when `inclusive`). */
function placeBound (places: readonly VersionPlace[], place: VersionPlace, inclusive: boolean): number {
  let lo = 0
  let hi = places.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const c = comparePlaces(places[mid], place)
    if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** The places of the versions holding each CID (delete markers never), each CID's in (bucket, key, versionId) order. */
export class CidIndex {
  private readonly places = new Map<string, VersionPlace[]>()

  add (version: StoredVersion): void {
    const cid = heldCid(version)
    if (cid === undefined) return
    let places = this.places.get(cid)
    if (places === undefined) this.places.set(cid, places = [])
    const place = { bucket: version.bucket, key: version.key, versionId: version.versionId }
    places.splice(placeBound(places, place, true), 0, place)
  }

  remove (version: StoredVersion): void {
    const cid = heldCid(version)
    const places = cid === undefined ? undefined : this.places.get(cid)
    if (cid === undefined || places === undefined) return
    const i = placeBound(places, version, true)
    if (i < places.length && comparePlaces(places[i], version) === 0) places.splice(i, 1)
    if (places.length === 0) this.places.delete(cid)
  }

  /** The places after `options.after`, at most `options.limit`. */
  list (cid: string, options: CidListOptions): VersionPlace[] {
    const places = this.places.get(cid)
    if (places === undefined || !(options.limit >= 1)) return []
    const start = options.after === undefined ? 0 : placeBound(places, options.after, false)
    return places.slice(start, start + Math.min(Math.floor(options.limit), places.length)).map((p) => ({ ...p }))
  }
}
