import { compareKeys, prefixSuccessor, uploadSeekStart } from './key-order.js'
import type { MemoryRefs } from './memory-pins.js'
import { copyCompleted, copyPart, copyUpload, partBound, uploadBound, uploadKey } from './memory-state.js'
import type { BucketState, UploadState } from './memory-state.js'
import type {
  CompletedUpload, CompleteResult, MultipartUpload, ObjectVersion, PartListOptions, PartWriteResult, UploadedPart, UploadListOptions, WriteCondition, WriteResult,
} from './metadata-store.js'
import { noSuchBucket, uploadExists } from './metadata-store.js'

/** What the uploads need of the store. */
export interface UploadDeps extends MemoryRefs {
  /** The store's buckets: each holds its uploads in progress and its completed records. */
  buckets: ReadonlyMap<string, BucketState>
  /** Throws when a copy source's CID has no reference left. */
  requireReferenced: (cid: string | undefined) => void
  /** Checks the condition, then writes the completed object as putObject does. */
  put: (version: ObjectVersion, condition: WriteCondition | undefined) => WriteResult
}

/** A completed record in the store-wide pruning order. */
interface CompletedEntry {
  at: number
  state: BucketState
  id: string
  record: CompletedUpload
}

/** Completed records are kept at least this long after a newer completion. */
const COMPLETED_TTL = 60 * 60 * 1000

/** The memory store's multipart uploads; every method is synchronous, so each is one "transaction". */
export class MemoryUploads {
  /** Every completed record, oldest completion first. */
  private completedByTime: CompletedEntry[] = []

  constructor (private readonly deps: UploadDeps) {}

  create (upload: MultipartUpload): void {
    const state = this.deps.buckets.get(upload.bucket)
    if (state === undefined) throw noSuchBucket(upload.bucket)
    const id = uploadKey(upload.key, upload.uploadId)
    if (state.uploads.has(id)) throw uploadExists(upload)
    state.uploads.set(id, { upload: copyUpload(upload), parts: [] })
    state.uploadOrder.splice(uploadBound(state.uploadOrder, upload.key, upload.uploadId), 0, [upload.key, upload.uploadId])
  }

  get (bucket: string, key: string, uploadId: string): MultipartUpload | undefined {
    const upload = this.find(bucket, key, uploadId)?.upload
    return upload === undefined ? undefined : copyUpload(upload)
  }

  list (bucket: string, options: UploadListOptions): MultipartUpload[] {
    const state = this.deps.buckets.get(bucket)
    if (state === undefined || !(options.limit >= 1)) return []
    const [startKey, startUploadId] = uploadSeekStart(options)
    const end = options.prefix === undefined ? undefined : prefixSuccessor(options.prefix)
    const limit = Math.floor(options.limit)
    const { uploadOrder, uploads } = state
    const out: MultipartUpload[] = []
    for (let i = uploadBound(uploadOrder, startKey, startUploadId); i < uploadOrder.length && out.length < limit; i++) {
      const [key, uploadId] = uploadOrder[i]
      if (end !== undefined && compareKeys(key, end) >= 0) break
      out.push(copyUpload((uploads.get(uploadKey(key, uploadId)) as UploadState).upload))
    }
    return out
  }

  /** Undefined when there is no such upload. */
  putPart (bucket: string, key: string, uploadId: string, part: UploadedPart, sourceCid: string | undefined): PartWriteResult | undefined {
    const upload = this.find(bucket, key, uploadId)
    if (upload === undefined) return undefined
    this.deps.requireReferenced(sourceCid)
    const { parts } = upload
    const i = partBound(parts, part.partNumber)
    const replaced = parts[i]?.partNumber === part.partNumber ? parts[i] : undefined
    parts.splice(i, replaced === undefined ? 0 : 1, copyPart(part))
    this.deps.retain(part.cid)
    return {
      ...(replaced === undefined ? {} : { replaced: copyPart(replaced) }),
      released: replaced === undefined ? [] : this.deps.release(replaced.cid),
    }
  }

  listParts (bucket: string, key: string, uploadId: string, options: PartListOptions): UploadedPart[] | undefined {
    const upload = this.find(bucket, key, uploadId)
    if (upload === undefined) return undefined
    if (!(options.limit >= 1)) return []
    const start = options.after === undefined ? 0 : partBound(upload.parts, Math.floor(options.after) + 1)
    return upload.parts.slice(start, start + Math.min(Math.floor(options.limit), upload.parts.length)).map(copyPart)
  }

  complete (version: ObjectVersion, uploadId: string, parts: Array<{ partNumber: number, cid: string }>, completed: CompletedUpload, condition: WriteCondition | undefined): CompleteResult {
    const state = this.deps.buckets.get(version.bucket)
    const id = uploadKey(version.key, uploadId)
    const upload = state?.uploads.get(id)
    if (state === undefined || upload === undefined) return { status: 'no-upload' }
    for (const { partNumber, cid } of parts) {
      const stored = upload.parts[partBound(upload.parts, partNumber)]
      if (stored?.partNumber !== partNumber || stored.cid !== cid) return { status: 'parts-changed' }
    }
    // The version's reference is taken first, so a part CID the object shares is not released.
    const result = this.deps.put(version, condition)
    const released = [...result.released, ...this.remove(state, version.key, uploadId)]
    this.recordCompleted(state, id, copyCompleted(completed))
    return { status: 'completed', ...result, released }
  }

  getCompleted (bucket: string, key: string, uploadId: string): CompletedUpload | undefined {
    const record = this.deps.buckets.get(bucket)?.completed.get(uploadKey(key, uploadId))
    return record === undefined ? undefined : copyCompleted(record)
  }

  /** Undefined when there is no such upload. */
  abort (bucket: string, key: string, uploadId: string): { released: string[] } | undefined {
    const state = this.deps.buckets.get(bucket)
    if (state?.uploads.has(uploadKey(key, uploadId)) !== true) return undefined
    return { released: this.remove(state, key, uploadId) }
  }

  /** Releases the parts of a bucket's uploads in progress, as the bucket is deleted; returns the CIDs released to zero. */
  dropBucket (state: BucketState): string[] {
    return [...state.uploads.values()].flatMap(({ parts }) => parts.flatMap((part) => this.deps.release(part.cid)))
  }

  private find (bucket: string, key: string, uploadId: string): UploadState | undefined {
    return this.deps.buckets.get(bucket)?.uploads.get(uploadKey(key, uploadId))
  }

  // Removes an upload in progress and releases its parts; returns the CIDs released to zero.
  private remove (state: BucketState, key: string, uploadId: string): string[] {
    const id = uploadKey(key, uploadId)
    const upload = state.uploads.get(id)
    if (upload === undefined) return []
    state.uploads.delete(id)
    state.uploadOrder.splice(uploadBound(state.uploadOrder, key, uploadId), 1)
    return upload.parts.flatMap((part) => this.deps.release(part.cid))
  }

  // Keeps the record, and drops those completed more than COMPLETED_TTL before it.
  private recordCompleted (state: BucketState, id: string, record: CompletedUpload): void {
    const at = record.completed.getTime()
    state.completed.set(id, record)
    const order = this.completedByTime
    let lo = 0
    let hi = order.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (order[mid].at <= at) lo = mid + 1
      else hi = mid
    }
    order.splice(lo, 0, { at, state, id, record })

    let stale = 0
    while (stale < order.length && order[stale].at < at - COMPLETED_TTL) stale++
    for (const entry of order.slice(0, stale)) {
      // The entry may be outdated: its bucket deleted, or the record replaced since.
      if (entry.state.completed.get(entry.id) === entry.record) entry.state.completed.delete(entry.id)
    }
    if (stale > 0) this.completedByTime = order.slice(stale)
  }
}
