import type { ArchiveChange, ArchiveChangeResult } from './archives.js'
import { applyArchiveChange, archiveDeleteJob, versionHolds } from './archives.js'
import { checkCondition } from './conditions.js'
import { lowerBound } from './key-order.js'
import type { MemoryArchives } from './memory-archives.js'
import type { MemoryJobs } from './memory-jobs.js'
import type { MemorySearch } from './memory-search.js'
import { CidIndex, copyTags, copyVersion, count, heldCid, indexOf, latestOf, output } from './memory-state.js'
import type { BucketState, KeyVersions, StoredVersion } from './memory-state.js'
import type { CidListOptions, CidMatch, DeleteResult, ObjectVersion, WriteCondition, WriteResult } from './metadata-store.js'
import { noSuchBucket } from './metadata-store.js'

/** What the versions need of the store. */
export interface VersionDeps {
  /** The store's buckets: each holds its keys' versions, its listing and its totals. */
  buckets: ReadonlyMap<string, BucketState>
  /** Takes a reference; none for undefined or ''. */
  retain: (cid: string | undefined) => void
  /** Drops a reference; returns the CID when that was its last one. */
  release: (cid: string | undefined) => string[]
  archives: Pick<MemoryArchives, 'deleting' | 'hold' | 'release'>
  search: Pick<MemorySearch, 'reindex'>
  jobs: Pick<MemoryJobs, 'enqueue'>
}

/**
 * The memory store's object versions: writes and reads of single versions, and what follows each
 * change (the listing, the totals, the CID and search indexes, the references). Every method is
 * synchronous, so each is one "transaction".
 */
export class MemoryVersions {
  private readonly byCid = new CidIndex()
  /** Write order of versions: the last `seq` handed out. */
  private seq = 0

  constructor (private readonly deps: VersionDeps) {}

  get (bucket: string, key: string, versionId: string | undefined): ObjectVersion | undefined {
    const chain = this.deps.buckets.get(bucket)?.versions.get(key)
    const index = chain === undefined ? -1 : indexOf(chain, versionId)
    return chain === undefined || index === -1 ? undefined : output(chain.list[index].version, index === chain.list.length - 1)
  }

  /** Throws when the key's latest version fails the condition; a missing bucket is left to `put`. */
  requireCondition ({ bucket, key }: ObjectVersion, condition: WriteCondition | undefined): void {
    const state = this.deps.buckets.get(bucket)
    if (state === undefined) return
    const chain = state.versions.get(key)
    checkCondition(condition, bucket, key, chain === undefined ? undefined : latestOf(chain))
  }

  put (version: ObjectVersion): WriteResult {
    const state = this.deps.buckets.get(version.bucket)
    if (state === undefined) throw noSuchBucket(version.bucket)
    const stored = copyVersion(version)
    delete stored.archived
    delete stored.restore
    let chain = state.versions.get(stored.key)
    if (chain === undefined) {
      chain = { list: [], seqs: new Map() }
      state.versions.set(stored.key, chain)
      state.keys.splice(lowerBound(state.keys, stored.key), 0, stored.key)
    }
    const index = indexOf(chain, stored.versionId)
    const wasLatest = index === chain.list.length - 1
    const replaced = index === -1 ? undefined : chain.list.splice(index, 1)[0].version
    const seq = ++this.seq
    chain.list.push({ seq, version: stored })
    chain.seqs.set(stored.versionId, seq)

    this.relist(state, stored.key)
    count(state, stored, 1)
    if (replaced !== undefined) count(state, replaced, -1)
    if (replaced !== undefined) this.byCid.remove(replaced)
    this.byCid.add(stored)
    this.deps.retain(heldCid(stored))
    return {
      ...(replaced === undefined ? {} : { replaced: output(replaced, wasLatest) }),
      released: replaced === undefined ? [] : this.releaseHeld(replaced),
    }
  }

  delete (bucket: string, key: string, versionId: string | undefined): DeleteResult {
    const state = this.deps.buckets.get(bucket)
    const chain = state?.versions.get(key)
    if (state === undefined || chain === undefined) return { released: [] }
    const index = indexOf(chain, versionId)
    if (index === -1) return { released: [] }
    const wasLatest = index === chain.list.length - 1
    const [{ version: deleted }] = chain.list.splice(index, 1)
    chain.seqs.delete(deleted.versionId)

    if (chain.list.length === 0) {
      state.versions.delete(key)
      state.keys.splice(lowerBound(state.keys, key), 1)
    }
    this.relist(state, key)
    count(state, deleted, -1)
    this.byCid.remove(deleted)
    return { deleted: output(deleted, wasLatest), released: this.releaseHeld(deleted) }
  }

  setTags (bucket: string, key: string, versionId: string | undefined, tags: Array<[string, string]>): boolean {
    const state = this.deps.buckets.get(bucket)
    const chain = state?.versions.get(key)
    const index = chain === undefined ? -1 : indexOf(chain, versionId)
    if (state === undefined || chain === undefined || index === -1) return false
    const entry = chain.list[index]
    entry.version = { ...entry.version, tags: copyTags(tags) }
    if (index === chain.list.length - 1) this.relist(state, key)
    return true
  }

  setAcl (bucket: string, key: string, versionId: string | undefined, acl: string): boolean {
    const chain = this.deps.buckets.get(bucket)?.versions.get(key)
    const index = chain === undefined ? -1 : indexOf(chain, versionId)
    if (chain === undefined || index === -1) return false
    const entry = chain.list[index]
    entry.version = { ...entry.version, acl }
    return true
  }

  setArchive (bucket: string, key: string, versionId: string, change: ArchiveChange): ArchiveChangeResult {
    const state = this.deps.buckets.get(bucket)
    const chain = state?.versions.get(key)
    const index = chain === undefined ? -1 : indexOf(chain, versionId)
    const entry = chain === undefined || index === -1 ? undefined : chain.list[index]
    const outcome = applyArchiveChange(entry?.version, change, this.deps.archives.deleting(change.cid))
    if (state === undefined || entry === undefined || outcome.status === 'missing') return { status: 'missing' }
    const isLatest = index === (chain?.list.length ?? 0) - 1
    if (outcome.status === 'conflict') return { status: 'conflict', version: output(entry.version, isLatest) }
    const before = versionHolds(entry.version)
    const after = versionHolds(outcome.next)
    entry.version = outcome.next
    if (isLatest) this.relist(state, key)
    if (change.archive !== undefined) this.deps.archives.hold(change.cid, change.archive)
    if (after.local !== undefined && before.local === undefined) this.deps.retain(after.local)
    const released = before.local !== undefined && after.local === undefined ? this.deps.release(before.local) : []
    return { status: 'changed', version: output(entry.version, isLatest), released }
  }

  listByCid (cid: string, options: CidListOptions): CidMatch[] {
    return this.byCid.list(cid, options).map((place) => {
      const chain = this.deps.buckets.get(place.bucket)?.versions.get(place.key) as KeyVersions
      return { ...place, isLatest: indexOf(chain, place.versionId) === chain.list.length - 1 }
    })
  }

  /** Releases what a version that is gone held: its local reference, its count in an archive record. */
  private releaseHeld (version: StoredVersion): string[] {
    const holds = versionHolds(version)
    if (holds.archive !== undefined && this.deps.archives.release(holds.archive)) this.deps.jobs.enqueue([archiveDeleteJob(holds.archive)])
    return this.deps.release(holds.local)
  }

  // Keeps `listed` and the search index in step with the key's latest version.
  private relist (state: BucketState, key: string): void {
    const chain = state.versions.get(key)
    const latest = chain === undefined ? undefined : latestOf(chain)
    const shouldList = latest !== undefined && !latest.deleteMarker
    const i = lowerBound(state.listed, key)
    const present = state.listed[i] === key
    if (shouldList && !present) state.listed.splice(i, 0, key)
    else if (!shouldList && present) state.listed.splice(i, 1)
    this.deps.search.reindex(state.record.name, key, shouldList ? latest : undefined)
  }
}
