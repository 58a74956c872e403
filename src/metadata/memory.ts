import type { AbortOptions } from '../types.js'
import type { BucketRecord, DeleteResult, ListOptions, MetadataStore, ObjectVersion, WriteResult, ListedObject } from './metadata-store.js'
import { compareKeys, lowerBound, seekStart } from './key-order.js'

type StoredVersion = Omit<ObjectVersion, 'isLatest'>

interface BucketState {
  record: BucketRecord
  /** Every version of every key, newest first. A key with no versions has no entry. */
  versions: Map<string, StoredVersion[]>
  /** Keys whose latest version is not a delete marker, in UTF-8 byte order. */
  listed: string[]
}

/**
 * Keeps everything in memory, for tests and for `createGateway()` without options.
 *
 * Every method finishes its whole change synchronously after checking its signal, so interleaved
 * async callers never see or leave half a change. Values go in and come out as copies.
 */
export class MemoryMetadataStore implements MetadataStore {
  private readonly buckets = new Map<string, BucketState>()
  private readonly refs = new Map<string, number>()

  async createBucket (bucket: BucketRecord, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    if (this.buckets.has(bucket.name)) return false
    this.buckets.set(bucket.name, { record: copyBucket(bucket), versions: new Map(), listed: [] })
    return true
  }

  async getBucket (name: string, options?: AbortOptions): Promise<BucketRecord | undefined> {
    options?.signal?.throwIfAborted()
    const state = this.buckets.get(name)
    return state === undefined ? undefined : copyBucket(state.record)
  }

  async listBuckets (owner?: string, options?: AbortOptions): Promise<BucketRecord[]> {
    options?.signal?.throwIfAborted()
    const out: BucketRecord[] = []
    for (const { record } of this.buckets.values()) {
      if (owner === undefined || record.owner === owner) out.push(copyBucket(record))
    }
    return out.sort((a, b) => compareKeys(a.name, b.name))
  }

  async deleteBucket (name: string, options?: AbortOptions): Promise<'deleted' | 'not-empty' | 'missing'> {
    options?.signal?.throwIfAborted()
    const state = this.buckets.get(name)
    if (state === undefined) return 'missing'
    if (state.versions.size > 0) return 'not-empty'
    this.buckets.delete(name)
    return 'deleted'
  }

  async putObject (version: ObjectVersion, options?: AbortOptions): Promise<WriteResult> {
    options?.signal?.throwIfAborted()
    const state = this.buckets.get(version.bucket)
    if (state === undefined) throw noSuchBucket(version.bucket)
    const stored = copyVersion(version)
    const existing = state.versions.get(stored.key) ?? []
    const index = existing.findIndex((v) => v.versionId === stored.versionId)
    const replaced = index === -1 ? undefined : existing[index]
    const next = [stored, ...existing.filter((_, i) => i !== index)]

    state.versions.set(stored.key, next)
    this.relist(state, stored.key)
    this.retain(stored)
    return {
      ...(replaced === undefined ? {} : { replaced: output(replaced, index === 0) }),
      released: replaced === undefined ? [] : this.release(replaced),
    }
  }

  async getObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<ObjectVersion | undefined> {
    options?.signal?.throwIfAborted()
    const versions = this.buckets.get(bucket)?.versions.get(key)
    if (versions === undefined) return undefined
    const index = versionId === undefined ? 0 : versions.findIndex((v) => v.versionId === versionId)
    return index === -1 ? undefined : output(versions[index], index === 0)
  }

  async deleteObject (bucket: string, key: string, versionId?: string, options?: AbortOptions): Promise<DeleteResult> {
    options?.signal?.throwIfAborted()
    const state = this.buckets.get(bucket)
    const versions = state?.versions.get(key)
    if (state === undefined || versions === undefined) return { released: [] }
    const index = versionId === undefined ? 0 : versions.findIndex((v) => v.versionId === versionId)
    if (index === -1) return { released: [] }
    const deleted = versions[index]
    const next = versions.filter((_, i) => i !== index)

    if (next.length === 0) state.versions.delete(key)
    else state.versions.set(key, next)
    this.relist(state, key)
    return { deleted: output(deleted, index === 0), released: this.release(deleted) }
  }

  async setObjectTags (bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>, options?: AbortOptions): Promise<boolean> {
    options?.signal?.throwIfAborted()
    const versions = this.buckets.get(bucket)?.versions.get(key)
    if (versions === undefined) return false
    const index = versionId === undefined ? 0 : versions.findIndex((v) => v.versionId === versionId)
    if (index === -1) return false
    versions[index] = { ...versions[index], tags: copyTags(tags) }
    return true
  }

  async listObjects (bucket: string, options: ListOptions): Promise<ListedObject[]> {
    options.signal?.throwIfAborted()
    const state = this.buckets.get(bucket)
    if (state === undefined || !(options.limit >= 1)) return []
    const start = seekStart(options)
    const limit = Math.floor(options.limit)
    const { listed, versions } = state
    const out: ListedObject[] = []
    for (let i = start === undefined ? 0 : lowerBound(listed, start); i < listed.length && out.length < limit; i++) {
      const key = listed[i]
      if (options.prefix !== undefined && !key.startsWith(options.prefix)) break
      out.push(listedOf((versions.get(key) as StoredVersion[])[0]))
    }
    return out
  }

  async listKeys (bucket: string, options: ListOptions): Promise<string[]> {
    options.signal?.throwIfAborted()
    const state = this.buckets.get(bucket)
    if (state === undefined || !(options.limit >= 1)) return []
    const start = seekStart(options)
    const limit = Math.floor(options.limit)
    const { listed } = state
    const out: string[] = []
    for (let i = start === undefined ? 0 : lowerBound(listed, start); i < listed.length && out.length < limit; i++) {
      const key = listed[i]
      if (options.prefix !== undefined && !key.startsWith(options.prefix)) break
      out.push(key)
    }
    return out
  }

  async refCount (cid: string, options?: AbortOptions): Promise<number> {
    options?.signal?.throwIfAborted()
    return this.refs.get(cid) ?? 0
  }

  async * referencedCids (options?: AbortOptions): AsyncIterable<string> {
    options?.signal?.throwIfAborted()
    const cids = [...this.refs.keys()]
    for (const cid of cids) {
      options?.signal?.throwIfAborted()
      yield cid
    }
  }

  async close (): Promise<void> {}

  // Keeps `listed` in step with the key's latest version.
  private relist (state: BucketState, key: string): void {
    const latest = state.versions.get(key)?.[0]
    const shouldList = latest !== undefined && !latest.deleteMarker
    const i = lowerBound(state.listed, key)
    const present = state.listed[i] === key
    if (shouldList && !present) state.listed.splice(i, 0, key)
    else if (!shouldList && present) state.listed.splice(i, 1)
  }

  private retain (version: StoredVersion): void {
    const cid = heldCid(version)
    if (cid !== undefined) this.refs.set(cid, (this.refs.get(cid) ?? 0) + 1)
  }

  // Drops the version's reference; returns the CID when that was its last one.
  private release (version: StoredVersion): string[] {
    const cid = heldCid(version)
    if (cid === undefined) return []
    const count = (this.refs.get(cid) ?? 0) - 1
    if (count > 0) {
      this.refs.set(cid, count)
      return []
    }
    this.refs.delete(cid)
    return [cid]
  }
}

function heldCid (version: StoredVersion): string | undefined {
  return version.deleteMarker || version.cid === '' ? undefined : version.cid
}

function noSuchBucket (name: string): Error {
  return Object.assign(new Error(`No bucket named ${JSON.stringify(name)}`), { code: 'ERR_NO_SUCH_BUCKET' })
}

function copyBucket (bucket: BucketRecord): BucketRecord {
  const copy: BucketRecord = {
    name: bucket.name,
    owner: bucket.owner,
    created: new Date(bucket.created.getTime()),
    region: bucket.region,
    versioning: bucket.versioning,
  }
  if (bucket.ownerDisplayName !== undefined) copy.ownerDisplayName = bucket.ownerDisplayName
  return copy
}

function copyTags (tags: Array<[string, string]>): Array<[string, string]> {
  return tags.map(([k, v]) => [k, v])
}

// A deep copy without `isLatest` and without optional fields that are undefined.
function copyVersion (version: ObjectVersion): StoredVersion {
  const copy: StoredVersion = {
    bucket: version.bucket,
    key: version.key,
    versionId: version.versionId,
    deleteMarker: version.deleteMarker,
    cid: version.cid,
    size: version.size,
    etag: version.etag,
    lastModified: new Date(version.lastModified.getTime()),
    owner: version.owner,
    headers: { ...version.headers },
    metadata: { ...version.metadata },
    tags: copyTags(version.tags),
  }
  if (version.checksum !== undefined) copy.checksum = { ...version.checksum }
  if (version.storageClass !== undefined) copy.storageClass = version.storageClass
  if (version.partsCount !== undefined) copy.partsCount = version.partsCount
  return copy
}

function listedOf (v: StoredVersion): ListedObject {
  const listed: ListedObject = {
    key: v.key,
    versionId: v.versionId,
    isLatest: true,
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

function output (version: StoredVersion, isLatest: boolean): ObjectVersion {
  return { ...copyVersion(version), isLatest }
}
