import type { ArchiveRecord } from './archives.js'
import { copyRecord } from './memory-state.js'

/** The memory store's archive records, by CID. */
export class MemoryArchives {
  private readonly records = new Map<string, ArchiveRecord>()

  get (cid: string): ArchiveRecord | undefined {
    const record = this.records.get(cid)
    return record === undefined ? undefined : copyRecord(record)
  }

  deleting (cid: string): boolean {
    return this.records.get(cid)?.deleting === true
  }

  /** Counts one more version archived with the CID, creating its record from `init` when there is none. */
  hold (cid: string, init: Pick<ArchiveRecord, 'target' | 'location' | 'archived'>): void {
    const record = this.records.get(cid)
    if (record !== undefined) record.versions++
    else this.records.set(cid, { cid, ...copyRecord(init), versions: 1, deleting: false })
  }

  /** Counts one version fewer; true when the record counts none now (its clean-up job is due). */
  release (cid: string): boolean {
    const record = this.records.get(cid)
    if (record === undefined) return false
    record.versions = Math.max(0, record.versions - 1)
    return record.versions === 0
  }

  markDeleting (cid: string): ArchiveRecord | undefined {
    const record = this.records.get(cid)
    if (record === undefined || record.versions > 0) return undefined
    record.deleting = true
    return copyRecord(record)
  }

  delete (cid: string): boolean {
    const record = this.records.get(cid)
    if (record === undefined || !record.deleting || record.versions > 0) return false
    this.records.delete(cid)
    return true
  }
}
