import { compareKeys } from './key-order.js'
import type { MemoryRefs } from './memory-pins.js'
import type { SnapshotCidListOptions, SnapshotListOptions, SnapshotMatch, SnapshotRecord } from './snapshots.js'
import { snapshotPageSize } from './snapshots.js'

const copy = (record: SnapshotRecord): SnapshotRecord => ({ ...record, created: new Date(record.created.getTime()), skipped: { ...record.skipped } })

/** The memory store's snapshots, by bucket and id; every method is synchronous, so each is one "transaction". */
export class MemorySnapshots {
  private readonly byBucket = new Map<string, Map<string, SnapshotRecord>>()

  constructor (private readonly refs: MemoryRefs) {}

  create (record: SnapshotRecord): 'created' | 'exists' {
    let snapshots = this.byBucket.get(record.bucket)
    if (snapshots === undefined) this.byBucket.set(record.bucket, snapshots = new Map())
    if (snapshots.has(record.id)) return 'exists'
    snapshots.set(record.id, copy(record))
    this.refs.retain(record.cid)
    return 'created'
  }

  get (bucket: string, id: string): SnapshotRecord | undefined {
    const record = this.byBucket.get(bucket)?.get(id)
    return record === undefined ? undefined : copy(record)
  }

  list (bucket: string, options: SnapshotListOptions): SnapshotRecord[] {
    const ids = [...this.byBucket.get(bucket)?.keys() ?? []]
      .filter((id) => options.after === undefined || compareKeys(id, options.after) > 0)
      .sort(compareKeys)
      .slice(0, snapshotPageSize(options.limit))
    return ids.map((id) => copy(this.byBucket.get(bucket)?.get(id) as SnapshotRecord))
  }

  delete (bucket: string, id: string): { deleted?: SnapshotRecord, released: string[] } {
    const snapshots = this.byBucket.get(bucket)
    const record = snapshots?.get(id)
    if (snapshots === undefined || record === undefined) return { released: [] }
    snapshots.delete(id)
    return { deleted: copy(record), released: this.refs.release(record.cid) }
  }

  /** Removes a deleted bucket's snapshots; returns the CIDs released to zero. */
  dropBucket (bucket: string): string[] {
    const snapshots = this.byBucket.get(bucket)
    this.byBucket.delete(bucket)
    return [...snapshots?.values() ?? []].flatMap((record) => this.refs.release(record.cid))
  }

  listByCid (cid: string, options: SnapshotCidListOptions): SnapshotMatch[] {
    const matches: SnapshotMatch[] = []
    for (const [bucket, snapshots] of this.byBucket) {
      for (const record of snapshots.values()) if (record.cid === cid) matches.push({ bucket, id: record.id, prefix: record.prefix })
    }
    const after = options.after
    return matches
      .filter((m) => after === undefined || compareKeys(m.bucket, after.bucket) > 0 || (m.bucket === after.bucket && compareKeys(m.id, after.id) > 0))
      .sort((a, b) => compareKeys(a.bucket, b.bucket) || compareKeys(a.id, b.id))
      .slice(0, snapshotPageSize(options.limit))
  }
}
